// Package api holds Berth's resource types, in Kubernetes' shapes, and the
// rules that make an object acceptable: strict decoding of YAML and JSON
// manifests, defaulting, validation, and label selectors.
//
// It is the root of Berth's import tree: it imports only the standard
// library and sigs.k8s.io/yaml, and none of Berth's packages. Every other
// package may import it.
//
// The kinds are Namespace (cluster-scoped), ConfigMap and Secret, each a
// pointer type implementing Object. Kinds, LookupKind and ResolveResource
// describe them. Every decoding or validation error wraps ErrInvalid and
// reads like kubectl's, naming the object and the field path:
//
//	configmap "web": unknown field "metadata.lables"
//
// A manifest is decoded, defaulted and validated in one call; its objects
// are stored with Encode and read back with DecodeStored:
//
//	objs, err := api.DecodeDocuments(manifest)
//	if err != nil {
//		return err // errors.Is(err, api.ErrInvalid)
//	}
//	for _, obj := range objs {
//		b, _ := api.Encode(obj)
//		fmt.Println(api.Describe(obj), len(b))
//	}
//
//	sel, err := api.ParseSelector("app=web,tier notin (db)")
//	if err == nil && sel.Matches(map[string]string{"app": "web"}) {
//		// ...
//	}
package api
