package fsm

import (
	"errors"
	"testing"

	"github.com/berth-dev/berth/api"
)

func deployOp(t *testing.T, verb Verb, image string, replicas int32, ready int32) Op {
	t.Helper()
	d := &api.Deployment{Metadata: api.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}}}
	d.Spec.Replicas = &replicas
	d.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	d.Spec.Template.Metadata.Labels = map[string]string{"app": "web"}
	d.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: image}}
	d.Status.ReadyReplicas = ready
	api.Default(d)
	op, err := ObjectOp(verb, d)
	if err != nil {
		t.Fatal(err)
	}
	op.UID = "uid-web"
	return op
}

func storedDeploy(t *testing.T, f *FSM) (*api.Deployment, *Record) {
	t.Helper()
	r, err := f.Get("Deployment", "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	obj, err := api.DecodeStored("Deployment", r.Object)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*api.Deployment), r
}

// A user's write keeps the controller's status; the controller's status
// write keeps the user's spec and the generation.
func TestStatusSubresource(t *testing.T) {
	f := newTestFSM(t)
	if res := write(f, 2, deployOp(t, VerbCreate, "img:1", 3, 0)); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := write(f, 3, deployOp(t, VerbStatus, "ignored:9", 9, 2)); res.Err != nil {
		t.Fatal(res.Err)
	}
	d, r := storedDeploy(t, f)
	if d.Status.ReadyReplicas != 2 || d.Spec.Template.Spec.Containers[0].Image != "img:1" || *d.Spec.Replicas != 3 || r.Meta.Generation != 1 {
		t.Fatalf("after status write: ready %d image %s replicas %d generation %d", d.Status.ReadyReplicas,
			d.Spec.Template.Spec.Containers[0].Image, *d.Spec.Replicas, r.Meta.Generation)
	}
	// The same manifest applied again, with no status: nothing changes.
	res := write(f, 4, deployOp(t, VerbApply, "img:1", 3, 0))
	if res.Err != nil || res.Results[0].Action != ActionUnchanged {
		t.Fatalf("re-apply: %v %v", res.Err, res.Results)
	}
	// A new image: the generation moves, the status stays.
	res = write(f, 5, deployOp(t, VerbApply, "img:2", 3, 0))
	if res.Err != nil || res.Results[0].Action != ActionConfigured {
		t.Fatalf("apply img:2: %v %v", res.Err, res.Results)
	}
	d, r = storedDeploy(t, f)
	if d.Status.ReadyReplicas != 2 || r.Meta.Generation != 2 || d.Spec.Template.Spec.Containers[0].Image != "img:2" {
		t.Fatalf("after apply: ready %d generation %d", d.Status.ReadyReplicas, r.Meta.Generation)
	}
	// Status of a kind without the subresource, and of nothing: refused.
	if res := write(f, 6, mkOp(VerbStatus, "ConfigMap", cm("x", "default", nil), "u")); !errors.Is(res.Err, ErrInvalid) {
		t.Fatalf("status of a configmap: %v", res.Err)
	}
	op := deployOp(t, VerbStatus, "img", 1, 1)
	op.Name, op.Meta.Name = "nope", "nope"
	if res := write(f, 7, op); !errors.Is(res.Err, ErrNotFound) {
		t.Fatalf("status of a missing deployment: %v", res.Err)
	}
}

// Deleting a Deployment deletes its ReplicaSets and their pods in the same
// command; a pod of another owner stays.
func TestDeleteCascades(t *testing.T) {
	f := newTestFSM(t)
	if res := write(f, 2, deployOp(t, VerbCreate, "img:1", 1, 0)); res.Err != nil {
		t.Fatal(res.Err)
	}
	ctrl := true
	rs := &api.ReplicaSet{Metadata: api.ObjectMeta{Name: "web-abc", Namespace: "default",
		OwnerReferences: []api.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "uid-web", Controller: &ctrl}}}}
	rs.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	rs.Spec.Template.Metadata.Labels = map[string]string{"app": "web"}
	rs.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: "img:1"}}
	api.Default(rs)
	rsOp, _ := ObjectOp(VerbCreate, rs)
	rsOp.UID = "uid-rs"
	pod := func(name, owner string) Op {
		p := &api.Pod{Metadata: api.ObjectMeta{Name: name, Namespace: "default",
			OwnerReferences: []api.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "x", UID: owner, Controller: &ctrl}}}}
		p.Spec.Containers = []api.Container{{Name: "c", Image: "img:1"}}
		api.Default(p)
		op, _ := ObjectOp(VerbCreate, p)
		op.UID = "uid-" + name
		return op
	}
	if res := write(f, 3, rsOp, pod("web-abc-1", "uid-rs"), pod("other", "uid-other")); res.Err != nil {
		t.Fatal(res.Err)
	}
	res := write(f, 4, Op{Verb: VerbDelete, Kind: "Deployment", Namespace: "default", Name: "web"})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, k := range [][2]string{{"ReplicaSet", "web-abc"}, {"Pod", "web-abc-1"}} {
		if _, err := f.Get(k[0], "default", k[1]); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s %s after the deployment's deletion: %v", k[0], k[1], err)
		}
	}
	if _, err := f.Get("Pod", "default", "other"); err != nil {
		t.Errorf("a pod of another owner: %v", err)
	}
}
