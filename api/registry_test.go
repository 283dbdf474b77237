package api

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestKinds(t *testing.T) {
	ks := Kinds()
	var names []string
	for _, k := range ks {
		names = append(names, k.Kind)
		obj := k.New()
		if kindOf(obj) != k.Kind || obj.GetTypeMeta().Kind != k.Kind || obj.GetTypeMeta().APIVersion != k.APIVersion {
			t.Errorf("%s: New() = %#v", k.Kind, obj)
		}
	}
	if got := strings.Join(names, ","); got != "ACLToken,ConfigMap,Deployment,Endpoints,Event,HorizontalPodAutoscaler,Ingress,JoinToken,Namespace,Node,PersistentVolumeClaim,Pod,ReplicaSet,Secret,Service,StatefulSet" {
		t.Errorf("Kinds() = %s", got)
	}
	ks[1].Aliases[0] = "mutated"
	if k, _ := LookupKind("ConfigMap"); k.Aliases[0] != "configmap" {
		t.Error("Kinds() shares its alias slices with the registry")
	}
	if _, ok := LookupKind("configmap"); ok {
		t.Error("LookupKind must match the Kind exactly")
	}
}

func TestResolveResource(t *testing.T) {
	tests := map[string]string{
		"configmaps": "ConfigMap", "configmap": "ConfigMap", "cm": "ConfigMap", "ConfigMap": "ConfigMap", "CM": "ConfigMap",
		"namespaces": "Namespace", "namespace": "Namespace", "ns": "Namespace", "NS": "Namespace",
		"secrets": "Secret", "secret": "Secret", "Secret": "Secret",
		"pods": "Pod", "po": "Pod", "nodes": "Node", "rc": "", "": "", "c": "",
	}
	for in, want := range tests {
		k, ok := ResolveResource(in)
		if ok != (want != "") || k.Kind != want {
			t.Errorf("ResolveResource(%q) = %q, %v; want %q", in, k.Kind, ok, want)
		}
	}
	if k, _ := ResolveResource("ns"); k.Namespaced {
		t.Error("Namespace must be cluster-scoped")
	}
}

// TestImports keeps the package at the root of the import tree: the
// standard library and sigs.k8s.io/yaml only.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if path != "sigs.k8s.io/yaml" && strings.Contains(first, ".") {
				t.Errorf("%s imports %s; api may import only the standard library and sigs.k8s.io/yaml", name, path)
			}
		}
	}
}
