package main

import (
	"strings"
	"testing"
	"time"
)

func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{
		"bash": "# bash completion V2 for berth",
		"zsh":  "#compdef berth",
		"fish": "complete -c berth",
	} {
		out, _, err := run(t, "", "completion", shell)
		if err != nil || !strings.Contains(out, want) || !strings.Contains(out, "__complete") {
			t.Errorf("completion %s: %v, %d bytes without %q", shell, err, len(out), want)
		}
	}
}

// TestCompleteArgs asks what the scripts ask. Names come from a cluster;
// with none (--addr points nowhere) there are none, no error, and soon.
func TestCompleteArgs(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"get", "p"}, "persistentvolumeclaims\npods\n:4\n"},
		{[]string{"describe", "dep"}, "deployments\n:4\n"},
		{[]string{"delete", "no"}, "nodes\n:4\n"},
		{[]string{"watch", "svc", ""}, ":4\n"},
		{[]string{"get", "pods", "-o", ""}, "table\nwide\nyaml\njson\nname\n:4\n"},
		{[]string{"rollout", "status", ""}, "deployment/\nstatefulset/\n:6\n"},
		{[]string{"scale", "r"}, "replicaset/\n:6\n"},
		// These would ask the cluster.
		{[]string{"get", "pods", ""}, ":4\n"},
		{[]string{"delete", "cm", "a", ""}, ":4\n"},
		{[]string{"drain", ""}, ":4\n"},
		{[]string{"get", "pods", "-n", ""}, ":4\n"},
		{[]string{"rollout", "status", "deployment/w"}, ":4\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			out, _, err := run(t, "", append([]string{"__complete", "--addr", "127.0.0.1:1"}, tt.args...)...)
			if err != nil || out != tt.want {
				t.Errorf("%v\n%q, want %q", err, out, tt.want)
			}
			if d := time.Since(start); d > 2*completionTimeout {
				t.Errorf("took %v", d)
			}
		})
	}
}
