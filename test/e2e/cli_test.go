package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testcluster"
	"github.com/berth-dev/berth/internal/testcreds"
)

// berth runs the CLI against a server and returns its output and exit code.
func berth(t *testing.T, addr string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return testcluster.CLI(t, addr, "", args...)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodCM = `apiVersion: v1
kind: ConfigMap
metadata:
  name: first
data:
  a: "1"
`

// A bad manifest is refused with a message naming what is wrong, and a
// multi-document apply with one bad document changes nothing.
func TestBadManifests(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Servers: 1})
	addr := c.Nodes[0].APIAddr()
	dir := t.TempDir()
	big := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  x: " + strings.Repeat("a", 1100000) + "\n"
	cases := []struct {
		name, manifest, want string
	}{
		{"unknown field", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  lables: {a: b}\n", `configmap "web": unknown field "metadata.lables"`},
		{"missing name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\ndata: {a: b}\n", `metadata.name: required`},
		{"wrong apiVersion", "apiVersion: apps/v1\nkind: ConfigMap\nmetadata:\n  name: web\n", `apiVersion "apps/v1" is not valid for kind ConfigMap`},
		{"unsupported kind", "apiVersion: v1\nkind: Frobnicator\nmetadata:\n  name: web\n", `kind "Frobnicator" is not supported`},
		{"invalid yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n data: x\n", `invalid YAML`},
		{"oversized", big, `larger than the 1048576-byte limit`},
		{"one bad document", goodCM + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: second\n  lables: {}\n", `document 2: configmap "second": unknown field "metadata.lables"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := writeFile(t, dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml", tc.manifest)
			_, stderr, code := berth(t, addr, "apply", "-f", f)
			if code == 0 || !strings.Contains(stderr, tc.want) || !strings.HasPrefix(stderr, "error: ") {
				t.Fatalf("exit %d, stderr %q; want an error containing %q", code, stderr, tc.want)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
				t.Fatalf("the error is %d lines:\n%s", n+1, stderr)
			}
		})
	}
	if _, stderr, code := berth(t, addr, "get", "configmap", "first"); code == 0 || !strings.Contains(stderr, "not found") {
		t.Fatalf("a refused apply left an object behind: exit %d %s", code, stderr)
	}

	// All or nothing on the server too: a create whose second object exists.
	if _, stderr, code := berth(t, addr, "apply", "-f", writeFile(t, dir, "exists.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: exists\n")); code != 0 {
		t.Fatalf("apply: %s", stderr)
	}
	two := writeFile(t, dir, "two.yaml", goodCM+"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: exists\n")
	if _, stderr, code := berth(t, addr, "create", "-f", two); code == 0 || !strings.Contains(stderr, `configmap "exists": already exists`) {
		t.Fatalf("create over an existing object: exit %d %q", code, stderr)
	}
	if _, _, code := berth(t, addr, "get", "configmap", "first"); code == 0 {
		t.Fatal("a failed create applied half of its objects")
	}
	out, stderr, code := berth(t, addr, "apply", "-f", two)
	if code != 0 || !strings.Contains(out, "configmap/first created") || !strings.Contains(out, "configmap/exists unchanged") {
		t.Fatalf("apply: exit %d %q %q", code, out, stderr)
	}
}

// A CLI pointed at no server says so in one line, soon.
func TestCLIUnreachable(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testcluster.FreePort(t))
	creds, err := testcreds.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(t.TempDir(), "config")
	if err := creds.Config(nil).Save(config); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, stderr, code := berth(t, addr, "--config", config, "get", "configmaps")
	if code == 0 || !strings.Contains(stderr, "cannot reach any server of "+addr+" (connection refused)") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("took %v to give up", d)
	}
}
