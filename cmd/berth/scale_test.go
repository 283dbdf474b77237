package main

import (
	"strings"
	"testing"

	"github.com/berth-dev/berth/api"
)

func TestSetReplicas(t *testing.T) {
	d := deployment(3, 1, api.DeploymentStatus{})
	if setReplicas(d, 3) {
		t.Error("changed a Deployment that had 3 replicas")
	}
	if !setReplicas(d, 0) || *d.Spec.Replicas != 0 {
		t.Errorf("Deployment: replicas %v", d.Spec.Replicas)
	}
	rs := &api.ReplicaSet{}
	if !setReplicas(rs, 1) || *rs.Spec.Replicas != 1 {
		t.Errorf("ReplicaSet without replicas: %v", rs.Spec.Replicas)
	}
	ss := &api.StatefulSet{Spec: api.StatefulSetSpec{Replicas: int32p(1)}}
	if !setReplicas(ss, 5) || *ss.Spec.Replicas != 5 {
		t.Errorf("StatefulSet: %v", ss.Spec.Replicas)
	}
	if setReplicas(configMap("default", "x", 0), 2) {
		t.Error("scaled a ConfigMap")
	}
}

func TestAndList(t *testing.T) {
	for words, want := range map[string]string{
		"a":     "a",
		"a b":   "a and b",
		"a b c": "a, b and c",
	} {
		if got := andList(strings.Fields(words)); got != want {
			t.Errorf("andList(%s) = %q, want %q", words, got, want)
		}
	}
}

// The errors of scale that come before any call (--addr points nowhere).
func TestScaleCommandErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"scale", "deployment/web"}, "scale: --replicas is required"},
		{[]string{"scale", "deployment", "web", "--replicas", "-1"}, "scale: --replicas must be 0 or more, got -1"},
		{[]string{"scale", "--replicas", "2"}, "scale needs a TYPE/NAME or TYPE NAME argument, such as deployment/web"},
		{[]string{"scale", "foo/web", "--replicas", "2"}, `scale: unknown resource type "foo" (one of: deployments, replicasets, statefulsets)`},
		{[]string{"scale", "pod/web", "--replicas", "2"}, "scale is only for deployments, replicasets and statefulsets, not pods"},
		{[]string{"scale", "deploy/web", "--replicas", "x"}, `invalid argument "x" for "--replicas" flag`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := run(t, "", append([]string{"--addr", "127.0.0.1:1"}, tt.args...)...)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to start with %q", err, tt.want)
			}
		})
	}
}
