package api

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const goodManifest = `# the whole app
apiVersion: v1
kind: Namespace
metadata:
  name: shop
--- # the config
apiVersion: v1
kind: ConfigMap
metadata:
  name: web
  namespace: shop
  labels: {app: web}
data:
  greeting: hello
binaryData:
  blob: AAEC
---
# only a comment
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
data:
  user: YWRtaW4=
  password: b2xk
stringData:
  password: new
`

func TestDecodeDocumentsGood(t *testing.T) {
	objs, err := DecodeDocuments([]byte(goodManifest))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 {
		t.Fatalf("got %d objects, want 3", len(objs))
	}
	ns := objs[0].(*Namespace)
	if ns.Metadata.Name != "shop" || ns.Metadata.Namespace != "" {
		t.Errorf("namespace metadata = %+v", ns.Metadata)
	}
	cm := objs[1].(*ConfigMap)
	if cm.Data["greeting"] != "hello" || !bytes.Equal(cm.BinaryData["blob"], []byte{0, 1, 2}) || cm.Metadata.Labels["app"] != "web" {
		t.Errorf("configmap = %+v", cm)
	}
	s := objs[2].(*Secret)
	if s.Type != SecretTypeOpaque || s.Metadata.Namespace != "default" || s.StringData != nil {
		t.Errorf("secret not defaulted: %+v", s)
	}
	if string(s.Data["user"]) != "admin" || string(s.Data["password"]) != "new" {
		t.Errorf("secret data = %q, want user=admin (base64 decoded) and password=new (stringData wins)", s.Data)
	}
	if got := Describe(s); got != `secret "creds"` {
		t.Errorf("Describe = %s", got)
	}
}

func TestDecodeJSONAndList(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		kinds []string
	}{
		{"json object", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}`, []string{"ConfigMap"}},
		{"json stream", "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a\"}}\n\t{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"}}", []string{"Namespace", "Secret"}},
		{"yaml list", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n", []string{"Namespace", "ConfigMap"}},
		{"json list", `{"apiVersion":"v1","kind":"List","metadata":{},"items":[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}]}`, []string{"Secret"}},
		{"empty list", "apiVersion: v1\nkind: List\nitems: []\n", nil},
		{"only comments", "# nothing\n---\n  \n", nil},
		{"separator with spaces", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---   \napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n", []string{"Namespace", "Namespace"}},
		{"crlf", "apiVersion: v1\r\nkind: Namespace\r\nmetadata: {name: a}\r\n---\r\napiVersion: v1\r\nkind: Namespace\r\nmetadata: {name: b}\r\n", []string{"Namespace", "Namespace"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := DecodeDocuments([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, o.GetTypeMeta().Kind)
			}
			if strings.Join(kinds, ",") != strings.Join(tt.kinds, ",") {
				t.Errorf("kinds = %v, want %v", kinds, tt.kinds)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n"
	big := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  k: " + strings.Repeat("x", 1500000) + "\n"
	tests := []struct {
		name string
		in   string
		want string // the exact message, or with a leading "~" a substring
	}{
		{"unknown field", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  lables: {a: b}\n", `configmap "web": unknown field "metadata.lables"`},
		{"unknown top field", cm + "date: {}\n", `configmap "web": unknown field "date"`},
		{"field case matters", "apiVersion: v1\nkind: ConfigMap\nMetadata: {name: web}\n", `configmap (no name): unknown field "Metadata"`},
		{"type mismatch", cm + "data:\n  x: 1\n", `configmap "web": field "data.x": expected string, got number`},
		{"not an object", cm + "data: [a]\n", `configmap "web": field "data": expected object, got array`},
		{"bad base64", cm + "binaryData:\n  x: '%%%'\n", `configmap "web": field "binaryData.x": invalid base64 data`},
		{"bad generation", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, generation: 1.5}\n", `configmap "web": field "metadata.generation": expected integer, got 1.5`},
		{"no kind", "apiVersion: v1\nmetadata: {name: web}\n", "document has no kind"},
		{"kind not string", "apiVersion: v1\nkind: 3\n", `field "kind": expected string, got number`},
		{"unsupported kind", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: web}\n", `kind "Job" is not supported`},
		{"no apiVersion", "kind: ConfigMap\nmetadata: {name: web}\n", `configmap "web": apiVersion: required`},
		{"wrong apiVersion", "apiVersion: apps/v1\nkind: ConfigMap\nmetadata: {name: web}\n", `configmap "web": apiVersion "apps/v1" is not valid for kind ConfigMap (want "v1")`},
		{"no name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", `configmap (no name): metadata.name: required`},
		{"no metadata", "apiVersion: v1\nkind: ConfigMap\n", `configmap (no name): metadata.name: required`},
		{"bad namespace name", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a.b}\n", `~namespace "a.b": metadata.name: "a.b" must be a DNS-1123 label`},
		{"long namespace name", "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + strings.Repeat("a", 64) + "}\n", "~metadata.name: \"aaaa"},
		{"bad configmap name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Web}\n", `~configmap "Web": metadata.name: "Web" must be a DNS-1123 subdomain`},
		{"bad metadata namespace", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: a.b}\n", `~configmap "web": metadata.namespace: "a.b" must be a DNS-1123 label`},
		{"namespace on namespace", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, namespace: b}\n", `namespace "a": metadata.namespace: must be empty: kind Namespace is not namespaced`},
		{"bad label key", cm + "  labels: {bad key: x}\n", `configmap "web": metadata.labels: key "bad key": name must be at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character`},
		{"bad label prefix", cm + "  labels: {Ex.com/a: x}\n", `~configmap "web": metadata.labels: key "Ex.com/a": prefix must be a DNS-1123 subdomain`},
		{"bad label value", cm + "  labels: {a: -x}\n", `~configmap "web": metadata.labels: value "-x" of key "a": must be empty or at most 63`},
		{"bad annotation key", cm + "  annotations: {/a: x}\n", `configmap "web": metadata.annotations: key "/a": prefix before '/' must not be empty`},
		{"bad data key", cm + "data: {a b: x}\n", `configmap "web": data: key "a b": must consist of alphanumeric characters, '-', '_' or '.'`},
		{"key in data and binaryData", cm + "data: {k: x}\nbinaryData: {k: AA==}\n", `configmap "web": binaryData: key "k" is also in data`},
		{"tls secret without key", "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\nmetadata: {name: t}\nstringData: {tls.crt: c}\n", `secret "t": data: key "tls.key": required for type "kubernetes.io/tls"`},
		{"invalid yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: name: x\n", "invalid YAML: yaml: line 3: mapping values are not allowed in this context"},
		{"duplicate key", "apiVersion: v1\nkind: ConfigMap\nkind: ConfigMap\n", `~invalid YAML: yaml: unmarshal errors: line 3: key "kind" already set in map`},
		{"invalid json", "{\"kind\":\n\"ConfigMap\",}", "~invalid JSON: line 2: invalid character '}'"},
		{"top-level list", "- a\n- b\n", "document must be a mapping of fields, got array"},
		{"top-level scalar", "hello\n", "document must be a mapping of fields, got string"},
		{"oversized", big, `configmap "big": object is 1500102 bytes, larger than the 1048576-byte limit`},
		{"second document", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a, x: 1}\n", `document 2: namespace "a": unknown field "metadata.x"`},
		{"yaml line counts from file top", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: ConfigMap\nmetadata: name: x\n", "document 2: invalid YAML: yaml: line 6: mapping values are not allowed in this context"},
		{"list item unknown field", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: web, lables: {}}}\n", `configmap "web": unknown field "items[2].metadata.lables"`},
		{"list item invalid", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {}}\n", `configmap (no name): items[0].metadata.name: required`},
		{"list item unsupported", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ReplicationController}\n", `items[0]: kind "ReplicationController" is not supported`},
		{"list unknown field", "apiVersion: v1\nkind: List\nitemz: []\n", `list: unknown field "itemz"`},
		{"list apiVersion", "apiVersion: v2\nkind: List\nitems: []\n", `list: apiVersion "v2" is not valid for kind List (want "v1")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeDocuments([]byte(tt.in))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			got := err.Error()
			if strings.Contains(got, "\n") {
				t.Errorf("message is not one line: %q", got)
			}
			if want, ok := strings.CutPrefix(tt.want, "~"); ok {
				if !strings.Contains(got, want) {
					t.Errorf("error = %s\nwant it to contain %s", got, want)
				}
			} else if got != tt.want {
				t.Errorf("error = %s\n want %s", got, tt.want)
			}
		})
	}
}

func TestDecodeObject(t *testing.T) {
	obj, err := DecodeObject([]byte("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := Describe(obj); got != `configmap "web"` || obj.GetObjectMeta().Namespace != "default" {
		t.Errorf("got %s in %q", got, obj.GetObjectMeta().Namespace)
	}
	for in, want := range map[string]string{
		"# nothing\n": "document is empty",
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n": "expected one document, got 2",
		"apiVersion: v1\nkind: List\nitems: []\n": `kind "List" is not supported`,
	} {
		if _, err := DecodeObject([]byte(in)); err == nil || err.Error() != want || !errors.Is(err, ErrInvalid) {
			t.Errorf("DecodeObject(%q) error = %v, want %s", in, err, want)
		}
	}
}

func TestEncodeDecodeStoredRoundTrip(t *testing.T) {
	objs, err := DecodeDocuments([]byte(goodManifest))
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range objs {
		obj.GetObjectMeta().UID = "u-1"
		obj.GetObjectMeta().CreationTimestamp = "2025-01-02T03:04:05Z"
		b1, err := Encode(obj)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeStored(obj.GetTypeMeta().Kind, b1)
		if err != nil {
			t.Fatalf("DecodeStored(%s): %v", b1, err)
		}
		b2, err := Encode(back)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Errorf("round trip changed bytes:\n%s\n%s", b1, b2)
		}
	}
}

func TestDecodeStoredErrors(t *testing.T) {
	tests := []struct{ kind, in, want string }{
		{"ReplicationController", `{}`, `kind "ReplicationController" is not supported`},
		{"ConfigMap", `{"kind":"ConfigMap","metadata":{"name":"a","x":1}}`, `configmap "a": unknown field "metadata.x"`},
		{"ConfigMap", `{"kind":"Secret","metadata":{"name":"a"}}`, `configmap "a": stored object has kind "Secret"`},
		{"ConfigMap", `[]`, `stored configmap must be a JSON object, got array`},
		{"ConfigMap", `{} {}`, `invalid JSON: data after the object`},
	}
	for _, tt := range tests {
		_, err := DecodeStored(tt.kind, []byte(tt.in))
		if err == nil || err.Error() != tt.want || !errors.Is(err, ErrInvalid) {
			t.Errorf("DecodeStored(%s, %s) error = %v, want %s", tt.kind, tt.in, err, tt.want)
		}
	}
}

// Canonical JSON takes the fast path; the same object with a misspelt or
// differently cased field still fails with the strict path's message.
func TestDecodeObjectCanonical(t *testing.T) {
	cm := &ConfigMap{Metadata: ObjectMeta{Name: "web", Labels: map[string]string{"a": "b"}}, Data: map[string]string{"k": "v"}}
	Default(cm)
	enc, err := Encode(cm)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := decodeCanonical(enc); !ok {
		t.Fatalf("canonical JSON missed the fast path: %s", enc)
	}
	obj, err := DecodeObject(enc)
	if err != nil || obj.(*ConfigMap).Data["k"] != "v" {
		t.Fatalf("decode: %v", err)
	}
	for _, tc := range []struct{ in, want string }{
		{strings.Replace(string(enc), `"labels"`, `"lables"`, 1), `configmap "web": unknown field "metadata.lables"`},
		{strings.Replace(string(enc), `"metadata"`, `"Metadata"`, 1), `unknown field "Metadata"`},
		{strings.Replace(string(enc), `"name":"web"`, `"name":"Bad_Name"`, 1), `metadata.name`},
	} {
		_, err := DecodeObject([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestDecodeProbePorts(t *testing.T) {
	pod := func(port string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: i\n    ports: [{name: http, containerPort: 80}]\n" +
			"    readinessProbe: {httpGet: {port: " + port + "}}\n"
	}
	for _, port := range []string{"80", "http", `"8080"`} {
		if _, err := DecodeDocuments([]byte(pod(port))); err != nil {
			t.Errorf("port %s: %v", port, err)
		}
	}
	for port, want := range map[string]string{
		"[1]":   `expected integer or string, got array`,
		"https": `"https" names no port of the container`,
		"70000": `70000 is not in 1..65535`,
	} {
		_, err := DecodeDocuments([]byte(pod(port)))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("port %s: %v, want %q", port, err, want)
		}
	}
}
