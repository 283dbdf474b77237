package api

import (
	"errors"
	"strings"
	"testing"
)

func TestDefault(t *testing.T) {
	s := &Secret{
		Metadata:   ObjectMeta{Name: "s"},
		Data:       map[string][]byte{"a": []byte("1"), "b": []byte("2")},
		StringData: map[string]string{"b": "two", "c": "three"},
	}
	Default(s)
	if s.Kind != "Secret" || s.APIVersion != "v1" || s.Metadata.Namespace != "default" || s.Type != SecretTypeOpaque {
		t.Errorf("not defaulted: %+v", s)
	}
	if s.StringData != nil || string(s.Data["a"]) != "1" || string(s.Data["b"]) != "two" || string(s.Data["c"]) != "three" {
		t.Errorf("data = %q, stringData = %q", s.Data, s.StringData)
	}
	ns := &Namespace{Metadata: ObjectMeta{Name: "n"}}
	Default(ns)
	if ns.Kind != "Namespace" || ns.Metadata.Namespace != "" {
		t.Errorf("namespace defaulted wrongly: %+v", ns)
	}
}

func TestValidate(t *testing.T) {
	ok := func() *ConfigMap {
		cm := &ConfigMap{Metadata: ObjectMeta{Name: "web", Labels: map[string]string{"example.com/app": "web", "empty": ""}}}
		Default(cm)
		return cm
	}
	tests := []struct {
		name   string
		mutate func(*ConfigMap)
		want   string // "" for valid
	}{
		{"valid", func(*ConfigMap) {}, ""},
		{"dotted name", func(c *ConfigMap) { c.Metadata.Name = "a.b-c" }, ""},
		{"wrong kind", func(c *ConfigMap) { c.Kind = "Secret" }, `configmap "web": kind: must be "ConfigMap", not "Secret"`},
		{"two errors", func(c *ConfigMap) { c.Metadata.Namespace = ""; c.Metadata.Generation = -1 },
			`configmap "web": metadata.namespace: required; metadata.generation: must not be negative`},
		{"bad timestamp", func(c *ConfigMap) { c.Metadata.CreationTimestamp = "yesterday" },
			`configmap "web": metadata.creationTimestamp: "yesterday" is not an RFC 3339 time`},
		{"long label value", func(c *ConfigMap) { c.Metadata.Labels["a"] = strings.Repeat("v", 64) }, "~metadata.labels: value"},
		{"dot data key", func(c *ConfigMap) { c.Data = map[string]string{"..": "x"} }, `configmap "web": data: key "..": must not be '.' or '..'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := ok()
			tt.mutate(cm)
			err := Validate(cm)
			switch want, sub := strings.CutPrefix(tt.want, "~"); {
			case tt.want == "":
				if err != nil {
					t.Errorf("unexpected error: %v", err)
				}
			case err == nil:
				t.Errorf("no error, want %s", tt.want)
			case !errors.Is(err, ErrInvalid):
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			case sub && !strings.Contains(err.Error(), want), !sub && err.Error() != want:
				t.Errorf("error = %s\n want %s", err, tt.want)
			}
		})
	}
}

func TestValidateSecretTypes(t *testing.T) {
	tests := []struct {
		typ  string
		data map[string][]byte
		ok   bool
	}{
		{"Opaque", nil, true},
		{"example.com/custom", nil, true},
		{SecretTypeTLS, map[string][]byte{"tls.crt": nil, "tls.key": nil}, true},
		{SecretTypeTLS, map[string][]byte{"tls.crt": nil}, false},
	}
	for _, tt := range tests {
		s := &Secret{Metadata: ObjectMeta{Name: "s"}, Type: tt.typ, Data: tt.data}
		Default(s)
		if err := Validate(s); (err == nil) != tt.ok {
			t.Errorf("type %s with %d keys: error = %v", tt.typ, len(tt.data), err)
		}
	}
}

func TestNamespaceValidation(t *testing.T) {
	ns := &Namespace{Metadata: ObjectMeta{Name: "n"}, Spec: NamespaceSpec{Finalizers: []string{"kubernetes", "bad finalizer"}}, Status: NamespaceStatus{Phase: "Gone"}}
	Default(ns)
	err := Validate(ns)
	want := `namespace "n": spec.finalizers[1]: "bad finalizer": name must be at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character; status.phase: "Gone" is not "Active" or "Terminating"`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\n want %s", err, want)
	}
}

func TestNilObjects(t *testing.T) {
	var cm *ConfigMap
	Default(cm)
	if err := Validate(cm); !errors.Is(err, ErrInvalid) {
		t.Errorf("Validate(nil) = %v", err)
	}
	if _, err := Encode(cm); !errors.Is(err, ErrInvalid) {
		t.Errorf("Encode(nil) = %v", err)
	}
	if got := Describe(cm); got != "object (no name)" {
		t.Errorf("Describe(nil) = %s", got)
	}
}
