package main

import (
	"bytes"
	"strings"
	"testing"
)

// run executes the berth root command in-process and returns its stdout,
// stderr and the message main would print.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// TestFlagErrors covers the mistakes caught before any server is called:
// none of these cases reaches the network (--addr points nowhere anyway).
func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"get without kind", []string{"get"}, "get needs a resource type (one of: acltokens, configmaps, deployments, endpoints, events, horizontalpodautoscalers, ingresses, jointokens, namespaces, nodes, persistentvolumeclaims, pods, replicasets, secrets, services, statefulsets)"},
		{"get bogus output", []string{"get", "cm", "-o", "bogus"}, `unknown output format "bogus" (want table, wide, yaml, json or name)`},
		{"get unknown kind", []string{"get", "foo"}, `unknown resource type "foo" (one of: acltokens, configmaps, deployments, endpoints, events, horizontalpodautoscalers, ingresses, jointokens, namespaces, nodes, persistentvolumeclaims, pods, replicasets, secrets, services, statefulsets)`},
		{"get too many args", []string{"get", "cm", "a", "b"}, "get takes at most 2 arguments, got 3"},
		{"get name across namespaces", []string{"get", "cm", "web", "-A"}, "a resource cannot be retrieved by name across all namespaces"},
		{"get name and selector", []string{"get", "cm", "web", "-l", "app=web"}, "a name cannot be given together with a label selector"},
		{"get bad selector", []string{"get", "cm", "-l", "app in"}, `selector "app in"`},
		{"get bad addr", []string{"get", "cm", "--addr", "nowhere"}, `--addr "nowhere": want HOST:PORT`},
		{"get empty addr", []string{"get", "cm", "--addr", " , "}, "--addr: no server address"},
		{"get zero timeout", []string{"get", "cm", "--timeout", "0s"}, "--timeout must be positive, got 0s"},
		{"apply without -f", []string{"apply"}, "-f is required: a file, a directory or - for stdin"},
		{"apply with args", []string{"apply", "x.yaml"}, `unknown command "x.yaml" for "berth apply"`},
		{"apply missing file", []string{"apply", "-f", "/nonexistent/x.yaml"}, "/nonexistent/x.yaml: no such file or directory"},
		{"apply empty stdin", []string{"apply", "-f", "-"}, "no objects passed to apply"},
		{"create stdin twice", []string{"create", "-f", "-", "-f", "-"}, "-f - given more than once"},
		{"describe without name", []string{"describe", "cm"}, "describe needs the name of the object after its resource type"},
		{"describe unknown kind", []string{"describe", "jobs", "x"}, `unknown resource type "jobs"`},
		{"delete nothing", []string{"delete"}, "delete needs a resource type and names, or -f"},
		{"delete without name", []string{"delete", "secret"}, "delete needs the name of at least one secret"},
		{"delete -f and args", []string{"delete", "-f", "-", "cm", "web"}, "delete takes either -f or KIND NAME arguments, not both"},
		{"watch bogus output", []string{"watch", "cm", "-o", "yaml"}, `unknown output format "yaml" (want table or json)`},
		{"watch without kind", []string{"watch"}, "watch needs a resource type"},
		{"remove-server without id", []string{"raft", "remove-server"}, "remove-server needs the ID of one server (see berth raft peers)"},
		{"snapshot save without file", []string{"snapshot", "save"}, "snapshot save needs one FILE argument"},
		{"snapshot restore missing file", []string{"snapshot", "restore", "/nonexistent/snap"}, "/nonexistent/snap: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A later --addr in tt.args wins over this one.
			_, _, err := run(t, "", append([]string{"--addr", "127.0.0.1:1"}, tt.args...)...)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to start with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is more than one line", err)
			}
		})
	}
}

func TestManifestErrorNamesFile(t *testing.T) {
	_, _, err := run(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  lables: {}\n", "apply", "-f", "-", "--addr", "127.0.0.1:1")
	want := `configmap "web": unknown field "metadata.lables"`
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q (stdin alone: no file name)", err, want)
	}
}

func TestParseAddrs(t *testing.T) {
	got, err := parseAddrs(" 10.0.0.1:7400, ,[::1]:7400,")
	if err != nil {
		t.Fatal(err)
	}
	if want := "10.0.0.1:7400 [::1]:7400"; strings.Join(got, " ") != want {
		t.Fatalf("parseAddrs = %q, want %q", got, want)
	}
}

func TestAddrFromEnv(t *testing.T) {
	t.Setenv("BERTH_ADDR", "10.1.2.3:7000")
	root := newRootCmd()
	if got := root.PersistentFlags().Lookup("addr").DefValue; got != "10.1.2.3:7000" {
		t.Fatalf("--addr default = %q, want BERTH_ADDR", got)
	}
	t.Setenv("BERTH_ADDR", "")
	if got := newRootCmd().PersistentFlags().Lookup("addr").DefValue; got != defaultAddr {
		t.Fatalf("--addr default = %q, want %q", got, defaultAddr)
	}
}

func TestUserError(t *testing.T) {
	err := userError(errString(`configmap "web": not found`))
	if err.Error() != `configmap "web" not found` {
		t.Fatalf("userError = %q", err)
	}
	if err := userError(errString(`configmap "web" not found`)); err.Error() != `configmap "web" not found` {
		t.Fatalf("userError = %q", err)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
