package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"google.golang.org/grpc/codes"
)

// pod is a running pod ns/name on node, controlled by owner ("" for none,
// else "Kind/name").
func pod(ns, name, node, owner string) *api.Pod {
	p := &api.Pod{Metadata: meta(ns, name, 0), Spec: api.PodSpec{NodeName: node}, Status: api.PodStatus{Phase: api.PodRunning}}
	if kind, n, ok := strings.Cut(owner, "/"); ok {
		p.Metadata.OwnerReferences = []api.OwnerReference{{Kind: kind, Name: n, UID: "u-" + n, Controller: boolp(true)}}
	}
	return p
}

func TestNodeChanges(t *testing.T) {
	n := &api.Node{Metadata: api.ObjectMeta{Name: "n1", Annotations: map[string]string{"keep": "me"}}}
	if !cordonNode(n) || !n.Spec.Unschedulable || cordonNode(n) {
		t.Fatal("cordon")
	}
	if !drainNode(n) || n.Metadata.Annotations[api.AnnotationDraining] != "true" || drainNode(n) {
		t.Fatal("drain")
	}
	if !uncordonNode(n) || n.Spec.Unschedulable || uncordonNode(n) {
		t.Fatal("uncordon")
	}
	if _, ok := n.Metadata.Annotations[api.AnnotationDraining]; ok || n.Metadata.Annotations["keep"] != "me" {
		t.Fatalf("annotations after uncordon: %v", n.Metadata.Annotations)
	}
	bare := &api.Node{}
	if !drainNode(bare) || !bare.Spec.Unschedulable || bare.Metadata.Annotations[api.AnnotationDraining] != "true" {
		t.Fatal("drain of a node without annotations")
	}
	// A node left draining but schedulable is uncordoned too.
	half := &api.Node{Metadata: api.ObjectMeta{Annotations: map[string]string{api.AnnotationDraining: "true"}}}
	if !uncordonNode(half) || len(half.Metadata.Annotations) != 0 {
		t.Fatal("uncordon of a draining, schedulable node")
	}
}

func TestPlanDrain(t *testing.T) {
	done := pod("default", "job", "n1", "")
	done.Status.Phase = api.PodSucceeded
	objs := []api.Object{
		pod("default", "web-abc-1", "n1", "ReplicaSet/web-abc"),
		pod("default", "db-0", "n1", "StatefulSet/db"),
		pod("prod", "bare", "n1", ""),
		pod("default", "elsewhere", "n2", ""),
		done,
		configMap("default", "cm", 0),
	}
	p := planDrain(objs, "n1")
	if podNames(p.managed) != "default/web-abc-1" || podNames(p.stateful) != "default/db-0" || podNames(p.unmanaged) != "prod/bare" {
		t.Fatalf("plan: managed %s, stateful %s, unmanaged %s", podNames(p.managed), podNames(p.stateful), podNames(p.unmanaged))
	}
	tests := []struct {
		force, deleteLocal bool
		want               string
	}{
		{false, true, `cannot drain node "n1": 1 pod(s) are not managed by a controller and would be lost: prod/bare (use --force to delete them)`},
		{true, false, `cannot drain node "n1": 1 StatefulSet pod(s) keep their data in local volumes of the node: default/db-0 (use --delete-local-data to delete them and their PersistentVolumeClaims)`},
		{true, true, ""},
	}
	for _, tt := range tests {
		err := p.check("n1", tt.force, tt.deleteLocal)
		if (err == nil) != (tt.want == "") || (err != nil && err.Error() != tt.want) {
			t.Errorf("force=%v delete-local-data=%v: error %v, want %q", tt.force, tt.deleteLocal, err, tt.want)
		}
	}
	if err := planDrain(objs[:1], "n1").check("n1", false, false); err != nil {
		t.Errorf("managed pods only: %v", err)
	}
}

func TestClaimRefs(t *testing.T) {
	p := pod("default", "db-0", "n1", "StatefulSet/db")
	p.Spec.Volumes = []api.Volume{
		{Name: "data", PersistentVolumeClaim: &api.PersistentVolumeClaimVolumeSource{ClaimName: "data-db-0"}},
		{Name: "logs", PersistentVolumeClaim: &api.PersistentVolumeClaimVolumeSource{ClaimName: "logs-db-0"}},
		{Name: "shared", PersistentVolumeClaim: &api.PersistentVolumeClaimVolumeSource{ClaimName: "shared"}},
		{Name: "tmp", EmptyDir: &api.EmptyDirVolumeSource{}},
	}
	got := claimRefs(p)
	want := []client.Ref{
		{Kind: "PersistentVolumeClaim", Namespace: "default", Name: "data-db-0"},
		{Kind: "PersistentVolumeClaim", Namespace: "default", Name: "logs-db-0"},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("claims %v, want %v", got, want)
	}
}

// TestDrainTracker follows pods leaving a node: each is reported once as
// it goes, by a watch event or by a new list, and the last one ends it.
func TestDrainTracker(t *testing.T) {
	var out bytes.Buffer
	tr := &drainTracker{w: &out, node: "n1"}
	if tr.reset([]api.Object{pod("default", "a", "n1", "ReplicaSet/w"), pod("default", "b", "n1", "ReplicaSet/w"), pod("default", "c", "n2", "ReplicaSet/w")}) {
		t.Fatal("done with pods on the node")
	}
	// A relist after a compaction: b went meanwhile, d came.
	if tr.reset([]api.Object{pod("default", "a", "n1", "ReplicaSet/w"), pod("default", "d", "n1", "")}) {
		t.Fatal("done with pods on the node")
	}
	finished := pod("default", "d", "n1", "")
	finished.Status.Phase = api.PodFailed
	events := make(chan client.Event, 4)
	events <- client.Event{Type: "ADDED", Object: pod("default", "e", "n2", "ReplicaSet/w")}
	events <- client.Event{Type: "MODIFIED", Object: finished}
	events <- client.Event{Type: "DELETED", Object: pod("default", "a", "n1", "ReplicaSet/w")}
	close(events)
	if err := tr.follow(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	want := "evicting pod default/b (1 of 3)\nevicting pod default/d (2 of 3)\nevicting pod default/a (3 of 3)\nnode/n1 drained\n"
	if out.String() != want {
		t.Fatalf("printed\n%s\nwant\n%s", out.String(), want)
	}

	tr = &drainTracker{w: &out, node: "n1"}
	tr.reset([]api.Object{pod("prod", "x", "n1", "ReplicaSet/w"), pod("default", "y", "n1", "ReplicaSet/w")})
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-ctx.Done()
	empty := make(chan client.Event)
	close(empty)
	err := tr.ended(ctx, 5*time.Minute, tr.follow(ctx, empty))
	if want := `drain node "n1": timed out after 5m0s with 2 pod(s) still on it: default/y, prod/x`; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	compacted := make(chan client.Event, 1)
	compacted <- client.Event{Err: &client.Error{Code: codes.OutOfRange, Message: "compacted"}}
	if err := tr.follow(context.Background(), compacted); !errors.Is(err, errRelist) {
		t.Fatalf("compacted: %v", err)
	}
}

func TestDrainFlagErrors(t *testing.T) {
	_, _, err := run(t, "", "--addr", "127.0.0.1:1", "drain", "n1", "--timeout", "0s")
	if want := "drain: --timeout must be positive, got 0s"; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	if _, _, err := run(t, "", "--addr", "127.0.0.1:1", "drain"); err == nil {
		t.Fatal("drain without a node")
	}
}
