package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestVersionClientOnly(t *testing.T) {
	out, _, err := run(t, "", "version", "--client", "--addr", "127.0.0.1:1")
	if err != nil || out != "Client Version: dev\n" {
		t.Fatalf("version --client = %q, %v", out, err)
	}
	out, _, err = run(t, "", "version", "--client", "-o", "json")
	var v versionInfo
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || v.Client.Version != "dev" || !strings.HasPrefix(v.Client.GoVersion, "go") || v.Server != nil {
		t.Fatalf("version --client -o json = %q, %v", out, err)
	}
	if _, _, err := run(t, "", "version", "-o", "xml"); err == nil || err.Error() != `unknown output format "xml" (want yaml or json)` {
		t.Fatalf("-o xml: %v", err)
	}
}

// TestVersionNoServer prints the client's version, then fails: no
// server answered.
func TestVersionNoServer(t *testing.T) {
	out, _, err := run(t, "", "version", "--addr", "127.0.0.1:1")
	if out != "Client Version: dev\n" || err == nil || !strings.HasPrefix(err.Error(), "server version unknown: cannot reach any server of 127.0.0.1:1") {
		t.Fatalf("version without a server: %q, %v", out, err)
	}
}

func TestPrintVersion(t *testing.T) {
	v := versionInfo{Client: clientVersion{Version: "v0.5.0", GoVersion: "go1.26", Platform: "linux/amd64"}, Server: &serverVersion{Version: "v0.4.0", Node: "s1"}}
	var out bytes.Buffer
	if err := printVersion(&out, "", v); err != nil {
		t.Fatal(err)
	}
	if want := "Client Version: v0.5.0\nServer Version: v0.4.0 (s1)\n"; out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
	out.Reset()
	if err := printVersion(&out, outYAML, v); err != nil {
		t.Fatal(err)
	}
	want := "clientVersion:\n  goVersion: go1.26\n  platform: linux/amd64\n  version: v0.5.0\nserverVersion:\n  node: s1\n  version: v0.4.0\n"
	if out.String() != want {
		t.Fatalf("yaml:\n%s\nwant\n%s", out.String(), want)
	}
}
