package api

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fuzzManifests are realistic manifests: the examples, the good manifests of
// decode_test.go and a few of its error cases, as YAML and JSON.
func fuzzManifests(f *testing.F) [][]byte {
	seeds := [][]byte{
		[]byte(goodManifest),
		[]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}`),
		[]byte(`{"apiVersion":"v1","kind":"List","metadata":{},"items":[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}]}`),
		[]byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}} {"apiVersion":"v1","kind":"Namespace","metadata":{"name":"b"}}`),
		[]byte("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: web}}\n"),
		[]byte("apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\nmetadata: {name: t}\nstringData: {tls.crt: c, tls.key: k}\n"),
		[]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  labels: {Ex.com/a: x}\nbinaryData:\n  x: '%%%'\n"),
		[]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    ports: [{name: http, containerPort: 80}]\n    livenessProbe: {httpGet: {path: /, port: http}}\n  volumes:\n  - name: cfg\n    configMap: {name: app, items: [{key: a, path: nested/a}]}\n"),
		[]byte("\xef\xbb\xbf--- # first\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n# only a comment\n"),
	}
	files, _ := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	// The canonical JSON of every object above, for DecodeObject's fast path.
	for _, s := range seeds {
		objs, _ := DecodeDocuments(s)
		for _, o := range objs {
			if enc, err := Encode(o); err == nil {
				seeds = append(seeds, enc)
			}
		}
	}
	return seeds
}

// checkAccepted holds for every object a decoder accepted: it encodes; its
// JSON decodes again through DecodeObject (defaulted and valid still) and
// through DecodeStored; and as Default is idempotent, the second decode
// encodes to the same bytes.
func checkAccepted(t *testing.T, obj Object) {
	t.Helper()
	if isNil(obj) {
		t.Fatal("a decoder returned a nil object without an error")
	}
	enc, err := Encode(obj)
	if err != nil {
		t.Fatalf("an accepted object does not encode: %v", err)
	}
	again, err := DecodeObject(enc)
	if err != nil {
		t.Fatalf("the JSON of an accepted object does not decode: %v\n%s", err, enc)
	}
	enc2, err := Encode(again)
	if err != nil {
		t.Fatalf("second encode: %v", err)
	}
	if !bytes.Equal(enc, enc2) {
		t.Fatalf("decode∘encode changed the object:\n%s\n%s", enc, enc2)
	}
	if _, err := DecodeStored(obj.GetTypeMeta().Kind, enc); err != nil {
		t.Fatalf("DecodeStored refuses the JSON of an accepted object: %v\n%s", err, enc)
	}
}

// FuzzDecodeDocuments: DecodeDocuments never panics, every error it returns
// wraps ErrInvalid, and every object it returns is accepted again from its
// JSON.
func FuzzDecodeDocuments(f *testing.F) {
	for _, s := range fuzzManifests(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := DecodeDocuments(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		for _, o := range objs {
			checkAccepted(t, o)
		}
	})
}

// FuzzDecodeObject: as FuzzDecodeDocuments, for one document, through the
// canonical fast path or the strict one.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range fuzzManifests(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		obj, err := DecodeObject(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		checkAccepted(t, obj)
	})
}

// FuzzDecodeStored: DecodeStored never panics, errors wrap ErrInvalid, and
// what it accepts encodes and is accepted again as the same kind.
func FuzzDecodeStored(f *testing.F) {
	for _, s := range fuzzManifests(f) {
		objs, _ := DecodeDocuments(s)
		for _, o := range objs {
			if enc, err := Encode(o); err == nil {
				f.Add(o.GetTypeMeta().Kind, enc)
			}
		}
	}
	f.Add("Pod", []byte(`{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[]}} `))
	f.Add("Secret", []byte(`{"kind":"Secret","data":{"k":"AAEC"}}`))
	f.Add("ConfigMap", []byte(`{"apiVersion":""}`)) // normalized by the first round
	f.Fuzz(func(t *testing.T, kind string, data []byte) {
		obj, err := DecodeStored(kind, data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		enc, err := Encode(obj)
		if err != nil {
			t.Fatalf("a stored object does not encode: %v", err)
		}
		// The first decode may normalize what Encode never writes (New
		// fills apiVersion, which an explicit "" then clears): from the
		// second on, decode∘encode is the identity.
		again, err := DecodeStored(kind, enc)
		if err != nil {
			t.Fatalf("re-encoded stored object does not decode: %v\n%s", err, enc)
		}
		enc2, err := Encode(again)
		if err != nil {
			t.Fatalf("second encode: %v", err)
		}
		third, err := DecodeStored(kind, enc2)
		if err != nil {
			t.Fatalf("second re-encoding does not decode: %v\n%s", err, enc2)
		}
		if enc3, err := Encode(third); err != nil || !bytes.Equal(enc2, enc3) {
			t.Fatalf("decode∘encode is not stable (%v):\n%s\n%s", err, enc2, enc3)
		}
	})
}

// TestManyDocumentsLinear: the cost of a manifest grows with its size, not
// with its number of documents times its number of lines (each document
// was once parsed behind a newline per line before it: 144 KB of "x: 1"
// documents took 4 s and 885 MiB), for DecodeObject too, which the server
// runs on a request body. Line numbers in errors still count from the top.
func TestManyDocumentsLinear(t *testing.T) {
	cost := func(n int) uint64 {
		in := []byte(strings.Repeat("x: 1\n---\n", n))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := DecodeDocuments(in)
		_, oerr := DecodeObject(in)
		runtime.ReadMemStats(&after)
		if fmt.Sprint(err) != "document 1: document has no kind" || oerr == nil {
			t.Errorf("%d documents: %v, %v", n, err, oerr)
		}
		return after.TotalAlloc - before.TotalAlloc
	}
	// Eight times the documents: eight times the cost, not 64.
	if c1, c8 := cost(1000), cost(8000); c8 > 16*c1 {
		t.Errorf("1000 documents: %d KiB allocated, 8000: %d KiB", c1>>10, c8>>10)
	}

	doc := "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"
	if objs, err := DecodeDocuments([]byte(strings.Repeat(doc, 1000))); err != nil || len(objs) != 1000 {
		t.Errorf("%d objects, error %v", len(objs), err)
	}
	_, err := DecodeDocuments([]byte(strings.Repeat(doc, 1000) + "kind: ConfigMap\nmetadata: name: x\n"))
	if want := "document 1001: invalid YAML: yaml: line 4002: mapping values are not allowed in this context"; fmt.Sprint(err) != want {
		t.Errorf("error %v, want %q", err, want)
	}
}
