package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/api"
)

const cmWeb = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  a: \"1\"\n"

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func names(files []manifest) string {
	var out []string
	for _, f := range files {
		out = append(out, filepath.Base(f.name))
	}
	return strings.Join(out, " ")
}

func TestReadManifestsDir(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.yml", "a.yaml", "c.json", "notes.txt", "D.YAML"} {
		writeFile(t, filepath.Join(dir, n), "x")
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sub.yaml", "e.yaml"), "x")
	files, err := readManifests([]string{dir}, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(files), "D.YAML a.yaml b.yml c.json"; got != want {
		t.Fatalf("files = %q, want %q (sorted, not recursive)", got, want)
	}
}

func TestReadManifestsOrder(t *testing.T) {
	dir := t.TempDir()
	one := filepath.Join(dir, "one.txt") // a named file is read whatever its extension
	writeFile(t, one, "1")
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	writeFile(t, filepath.Join(sub, "two.yaml"), "2")
	files, err := readManifests([]string{one, "-", sub}, strings.NewReader("stdin"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(files), "one.txt <stdin> two.yaml"; got != want {
		t.Fatalf("files = %q, want %q", got, want)
	}
	if string(files[1].data) != "stdin" {
		t.Fatalf("stdin data = %q", files[1].data)
	}
}

func TestDecodeManifests(t *testing.T) {
	bad := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  lables: {}\n"
	multi := cmWeb + "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n"
	tests := []struct {
		name    string
		files   []manifest
		want    string // object names, or the error
		wantErr bool
	}{
		{"all documents in order", []manifest{{"a.yaml", []byte(multi)}, {stdinName, []byte(cmWeb)}}, "configmap/web namespace/prod configmap/web", false},
		{"stdin alone keeps api's message", []manifest{{stdinName, []byte(bad)}}, `configmap "web": unknown field "metadata.lables"`, true},
		{"a file path is named", []manifest{{"web.yaml", []byte(bad)}}, `web.yaml: configmap "web": unknown field "metadata.lables"`, true},
		{"stdin among files is named", []manifest{{"a.yaml", []byte(cmWeb)}, {stdinName, []byte(bad)}}, `<stdin>: configmap "web": unknown field "metadata.lables"`, true},
		{"document number kept", []manifest{{"m.yaml", []byte(cmWeb + "---\n" + bad)}}, `m.yaml: document 2: configmap "web": unknown field "metadata.lables"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := decodeManifests(tt.files)
			if tt.wantErr {
				if err == nil || err.Error() != tt.want {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := objNames(objs); got != tt.want {
				t.Fatalf("objects %q, want %q", got, tt.want)
			}
		})
	}
}

func objNames(objs []api.Object) string {
	var out []string
	for _, o := range objs {
		out = append(out, objectName(o))
	}
	return strings.Join(out, " ")
}
