package api

import (
	"slices"
	"strings"
)

// KindInfo describes one resource kind.
type KindInfo struct {
	Kind       string        // "ConfigMap"
	APIVersion string        // "v1"
	Namespaced bool          // false for cluster-scoped kinds such as Namespace
	Plural     string        // "configmaps", lower case
	Aliases    []string      // singular and short names, lower case: "configmap", "cm"
	New        func() Object // a new zero object with TypeMeta filled in
}

// kinds is the registry, sorted by Kind. Never handed out: Kinds copies it.
var kinds = []KindInfo{
	{
		Kind: "ACLToken", APIVersion: APIVersionBerth, Namespaced: false,
		Plural: "acltokens", Aliases: []string{"acltoken", "acl"},
		New: func() Object { return &ACLToken{TypeMeta: TypeMeta{APIVersion: APIVersionBerth, Kind: "ACLToken"}} },
	},
	{
		Kind: "ConfigMap", APIVersion: "v1", Namespaced: true,
		Plural: "configmaps", Aliases: []string{"configmap", "cm"},
		New: func() Object { return &ConfigMap{TypeMeta: TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}} },
	},
	{
		Kind: "Deployment", APIVersion: "apps/v1", Namespaced: true,
		Plural: "deployments", Aliases: []string{"deployment", "deploy"},
		New: func() Object { return &Deployment{TypeMeta: TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}} },
	},
	{
		Kind: "Endpoints", APIVersion: "v1", Namespaced: true,
		Plural: "endpoints", Aliases: []string{"ep"},
		New: func() Object { return &Endpoints{TypeMeta: TypeMeta{APIVersion: "v1", Kind: "Endpoints"}} },
	},
	{
		Kind: "Event", APIVersion: "v1", Namespaced: true,
		Plural: "events", Aliases: []string{"event", "ev"},
		New: func() Object { return &Event{TypeMeta: TypeMeta{APIVersion: "v1", Kind: "Event"}} },
	},
	{
		Kind: "HorizontalPodAutoscaler", APIVersion: "autoscaling/v2", Namespaced: true,
		Plural: "horizontalpodautoscalers", Aliases: []string{"horizontalpodautoscaler", "hpa"},
		New: func() Object {
			return &HorizontalPodAutoscaler{TypeMeta: TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"}}
		},
	},
	{
		Kind: "Ingress", APIVersion: "networking.k8s.io/v1", Namespaced: true,
		Plural: "ingresses", Aliases: []string{"ingress", "ing"},
		New: func() Object {
			return &Ingress{TypeMeta: TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"}}
		},
	},
	{
		Kind: "JoinToken", APIVersion: APIVersionBerth, Namespaced: false,
		Plural: "jointokens", Aliases: []string{"jointoken", "token"},
		New: func() Object { return &JoinToken{TypeMeta: TypeMeta{APIVersion: APIVersionBerth, Kind: "JoinToken"}} },
	},
	{
		Kind: "Namespace", APIVersion: "v1", Namespaced: false,
		Plural: "namespaces", Aliases: []string{"namespace", "ns"},
		New: func() Object { return &Namespace{TypeMeta: TypeMeta{APIVersion: "v1", Kind: "Namespace"}} },
	},
	{
		Kind: "Node", APIVersion: "v1", Namespaced: false,
		Plural: "nodes", Aliases: []string{"node", "no"},
		New: func() Object { return &Node{TypeMeta: TypeMeta{APIVersion: "v1", Kind: "Node"}} },
	},
	{
		Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespaced: true,
		Plural: "persistentvolumeclaims", Aliases: []string{"persistentvolumeclaim", "pvc"},
		New: func() Object {
			return &PersistentVolumeClaim{TypeMeta: TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"}}
		},
	},
	{
		Kind: "Pod", APIVersion: "v1", Namespaced: true,
		Plural: "pods", Aliases: []string{"pod", "po"},
		New: func() Object { return &Pod{TypeMeta: TypeMeta{APIVersion: "v1", Kind: "Pod"}} },
	},
	{
		Kind: "ReplicaSet", APIVersion: "apps/v1", Namespaced: true,
		Plural: "replicasets", Aliases: []string{"replicaset", "rs"},
		New: func() Object { return &ReplicaSet{TypeMeta: TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"}} },
	},
	{
		Kind: "Secret", APIVersion: "v1", Namespaced: true,
		Plural: "secrets", Aliases: []string{"secret"},
		New: func() Object { return &Secret{TypeMeta: TypeMeta{APIVersion: "v1", Kind: "Secret"}} },
	},
	{
		Kind: "Service", APIVersion: "v1", Namespaced: true,
		Plural: "services", Aliases: []string{"service", "svc"},
		New: func() Object { return &Service{TypeMeta: TypeMeta{APIVersion: "v1", Kind: "Service"}} },
	},
	{
		Kind: "StatefulSet", APIVersion: "apps/v1", Namespaced: true,
		Plural: "statefulsets", Aliases: []string{"statefulset", "sts"},
		New: func() Object { return &StatefulSet{TypeMeta: TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"}} },
	},
}

func (k KindInfo) clone() KindInfo {
	k.Aliases = slices.Clone(k.Aliases)
	return k
}

// Kinds returns every kind, sorted by Kind. The result is a copy.
func Kinds() []KindInfo {
	out := make([]KindInfo, len(kinds))
	for i, k := range kinds {
		out[i] = k.clone()
	}
	return out
}

// LookupKind finds a kind by its exact Kind, such as "ConfigMap".
func LookupKind(kind string) (KindInfo, bool) {
	for _, k := range kinds {
		if k.Kind == kind {
			return k.clone(), true
		}
	}
	return KindInfo{}, false
}

// ResolveResource finds a kind by a name a user types on the command line,
// ignoring case: the plural ("configmaps"), an alias ("configmap", "cm") or
// the Kind ("ConfigMap").
func ResolveResource(name string) (KindInfo, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" {
		return KindInfo{}, false
	}
	for _, k := range kinds {
		if n == k.Plural || n == strings.ToLower(k.Kind) || slices.Contains(k.Aliases, n) {
			return k.clone(), true
		}
	}
	return KindInfo{}, false
}

func lower(s string) string { return strings.ToLower(s) }
