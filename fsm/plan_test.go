package fsm

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/berth-dev/berth/api"
)

func testNode(name, cpu, mem string, gpus int) *api.Node {
	n := &api.Node{Metadata: api.ObjectMeta{Name: name, Labels: map[string]string{api.LabelHostname: name}}}
	n.Status.Capacity = api.ResourceList{api.ResourceCPU: api.Quantity(cpu), api.ResourceMemory: api.Quantity(mem)}
	if gpus > 0 {
		n.Status.Capacity[api.ResourceGPU] = api.Quantity(string(rune('0' + gpus)))
	}
	n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}
	api.Default(n)
	return n
}

func testPod(name, cpu, mem string, gpus int) *api.Pod {
	p := &api.Pod{Metadata: api.ObjectMeta{Name: name, Namespace: "default"}}
	c := api.Container{Name: "main", Image: "busybox", Resources: api.ResourceRequirements{Requests: api.ResourceList{
		api.ResourceCPU: api.Quantity(cpu), api.ResourceMemory: api.Quantity(mem)}}}
	if gpus > 0 {
		c.Resources.Limits = api.ResourceList{api.ResourceGPU: api.Quantity(string(rune('0' + gpus)))}
	}
	p.Spec.Containers = []api.Container{c}
	api.Default(p)
	return p
}

func objOp(t *testing.T, verb Verb, obj api.Object) Op {
	t.Helper()
	if err := api.Validate(obj); err != nil {
		t.Fatal(err)
	}
	op, err := ObjectOp(verb, obj)
	if err != nil {
		t.Fatal(err)
	}
	op.UID = "uid-" + op.Name
	return op
}

func plan(f *FSM, index uint64, p Plan) *Result {
	return f.ApplyCommand(index, &Command{Type: CmdPlan, Time: t0, Plan: &p})
}

// podsFSM holds node n1 (2 CPUs, 4Gi, 2 GPUs) and pods a, b, c asking 1 CPU
// and 1 GPU each, at index 5.
func podsFSM(t *testing.T) *FSM {
	f := newTestFSM(t)
	ops := []Op{objOp(t, VerbCreate, testNode("n1", "2", "4Gi", 2))}
	for _, name := range []string{"a", "b", "c"} {
		ops = append(ops, objOp(t, VerbCreate, testPod(name, "1", "1Gi", 1)))
	}
	if res := write(f, 5, ops...); res.Err != nil {
		t.Fatal(res.Err)
	}
	return f
}

func TestPlanBindsAndRechecks(t *testing.T) {
	f := podsFSM(t)
	if got := len(f.View().PendingPods()); got != 3 {
		t.Fatalf("%d pending pods, want 3", got)
	}
	// Two planners saw the same free node; their plans commit one after the
	// other. The second is re-checked against the first.
	res := plan(f, 6, Plan{Binds: []Bind{
		{Namespace: "default", Name: "a", UID: "uid-a", Node: "n1", GPUs: []string{"0"}},
		{Namespace: "default", Name: "b", UID: "uid-b", Node: "n1", GPUs: []string{"0"}}, // the same GPU
	}})
	if res.Err != nil || len(res.Results) != 1 || len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0].Reason, `GPU "0" is in use`) {
		t.Fatalf("plan 1: %+v %v", res, res.Err)
	}
	res = plan(f, 7, Plan{Binds: []Bind{
		{Namespace: "default", Name: "b", UID: "uid-b", Node: "n1", GPUs: []string{"1"}},
		{Namespace: "default", Name: "c", UID: "uid-c", Node: "n1", GPUs: []string{"0"}}, // no CPU left
		{Namespace: "default", Name: "a", UID: "uid-a", Node: "n1", GPUs: []string{"1"}}, // already bound
		{Namespace: "default", Name: "x", UID: "uid-x", Node: "n1"},                      // no such pod
	}})
	want := []string{"Insufficient cpu", "already bound", "not found"}
	if res.Err != nil || len(res.Results) != 1 || len(res.Rejected) != 3 {
		t.Fatalf("plan 2: %+v %v", res, res.Err)
	}
	for i, w := range want {
		if !strings.Contains(res.Rejected[i].Reason, w) {
			t.Errorf("rejection %d: %q, want %q", i, res.Rejected[i].Reason, w)
		}
	}
	rec, _ := f.Get("Pod", "default", "b")
	p := rec.Pod()
	if p.Spec.NodeName != "n1" || p.Spec.AssignedGPUs[0] != "1" || p.Condition(api.PodScheduled).Status != api.ConditionTrue {
		t.Fatalf("bound pod: %+v %+v", p.Spec, p.Status)
	}
	u := f.View().Usage("n1")
	if u.Total() != (api.Resources{MilliCPU: 2000, Memory: 2 << 30, GPU: 2, Pods: 2}) {
		t.Fatalf("usage %+v", u.Total())
	}
	if got := f.View().PendingPods(); len(got) != 1 || got[0].Name != "c" {
		t.Fatalf("pending %v", got)
	}
	// A pod deleted gives its room back.
	if res := write(f, 8, Op{Verb: VerbDelete, Kind: "Pod", Namespace: "default", Name: "a"}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := plan(f, 9, Plan{Binds: []Bind{{Namespace: "default", Name: "c", UID: "uid-c", Node: "n1", GPUs: []string{"0"}}}}); len(res.Rejected) != 0 {
		t.Fatalf("after delete: %+v", res.Rejected)
	}
}

func TestPlanPendingStatus(t *testing.T) {
	f := podsFSM(t)
	msg := "0/1 nodes are available: 1 Insufficient cpu."
	res := plan(f, 6, Plan{Pending: []PendingStatus{{Namespace: "default", Name: "a", UID: "uid-a", Message: msg}}})
	if res.Err != nil || len(res.Results) != 1 {
		t.Fatalf("%+v %v", res, res.Err)
	}
	rec, _ := f.Get("Pod", "default", "a")
	c := rec.Pod().Condition(api.PodScheduled)
	if c == nil || c.Status != api.ConditionFalse || c.Reason != api.ReasonUnschedulable || c.Message != msg || c.LastTransitionTime != t0 {
		t.Fatalf("condition %+v", c)
	}
	// The same message again writes nothing.
	if res := plan(f, 7, Plan{Pending: []PendingStatus{{Namespace: "default", Name: "a", UID: "uid-a", Message: msg}}}); len(res.Results) != 0 {
		t.Fatalf("repeated status wrote %+v", res.Results)
	}
	if rec2, _ := f.Get("Pod", "default", "a"); rec2.Revision != rec.Revision {
		t.Fatal("repeated status changed the pod")
	}
}

func TestWritesThatBind(t *testing.T) {
	f := podsFSM(t)
	big := testPod("big", "3", "1Gi", 0)
	big.Spec.NodeName = "n1"
	if res := write(f, 6, objOp(t, VerbCreate, big)); !errors.Is(res.Err, ErrConflict) || !strings.Contains(res.Err.Error(), `does not fit node "n1": Insufficient cpu`) {
		t.Fatalf("over-capacity pod: %v", res.Err)
	}
	ok := testPod("ok", "1", "1Gi", 0)
	ok.Spec.NodeName = "n1"
	if res := write(f, 7, objOp(t, VerbCreate, ok)); res.Err != nil {
		t.Fatal(res.Err)
	}
	ok.Spec.NodeName = "n2"
	if res := write(f, 8, objOp(t, VerbUpdate, ok)); !errors.Is(res.Err, ErrInvalid) || !strings.Contains(res.Err.Error(), "spec.nodeName may not change") {
		t.Fatalf("moving a bound pod: %v", res.Err)
	}
	// A finished pod gives its room back; its node stays.
	ok.Spec.NodeName = "n1"
	ok.Status.Phase = api.PodSucceeded
	if res := write(f, 9, objOp(t, VerbUpdate, ok)); res.Err != nil {
		t.Fatal(res.Err)
	}
	if u := f.View().Usage("n1"); u != nil {
		t.Fatalf("finished pod still holds %+v", u.Total())
	}
	orphan := testPod("orphan", "1", "1Gi", 0)
	orphan.Spec.NodeName = "nowhere"
	if res := write(f, 10, objOp(t, VerbCreate, orphan)); !errors.Is(res.Err, ErrConflict) || !strings.Contains(res.Err.Error(), `node "nowhere" not found`) {
		t.Fatalf("pod on a missing node: %v", res.Err)
	}
}

func TestRestoreRebuildsUsage(t *testing.T) {
	f := podsFSM(t)
	plan(f, 6, Plan{Binds: []Bind{{Namespace: "default", Name: "a", UID: "uid-a", Node: "n1", GPUs: []string{"1"}}}})
	var buf bytes.Buffer
	if _, err := f.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte(tableUsage)) {
		t.Fatal("the derived usage table is in the snapshot")
	}
	g := New(Options{})
	if err := g.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if got, want := g.View().Usage("n1").Total(), f.View().Usage("n1").Total(); got != want {
		t.Fatalf("restored usage %+v, want %+v", got, want)
	}
	if got := len(g.View().PendingPods()); got != 2 {
		t.Fatalf("restored %d pending pods, want 2", got)
	}
	if res := plan(g, 7, Plan{Binds: []Bind{{Namespace: "default", Name: "b", UID: "uid-b", Node: "n1", GPUs: []string{"1"}}}}); len(res.Rejected) != 1 {
		t.Fatal("a restored FSM gave a held GPU again")
	}
}

func TestReapplyKeepsBinding(t *testing.T) {
	f := podsFSM(t)
	plan(f, 6, Plan{Binds: []Bind{{Namespace: "default", Name: "a", UID: "uid-a", Node: "n1", GPUs: []string{"1"}}}})
	before, _ := f.Get("Pod", "default", "a")
	// The user applies the manifest again, as written: no node, no status.
	res := write(f, 7, objOp(t, VerbApply, testPod("a", "1", "1Gi", 1)))
	if res.Err != nil || res.Results[0].Action != ActionUnchanged {
		t.Fatalf("re-apply: %+v %v", res, res.Err)
	}
	if after, _ := f.Get("Pod", "default", "a"); after.Revision != before.Revision || after.Pod().Spec.NodeName != "n1" {
		t.Fatalf("re-apply changed the pod: %s", after.Object)
	}
	// A changed manifest keeps the binding too.
	p := testPod("a", "1", "1Gi", 1)
	p.Metadata.Labels = map[string]string{"v": "2"}
	if res := write(f, 8, objOp(t, VerbApply, p)); res.Err != nil || res.Results[0].Action != ActionConfigured {
		t.Fatalf("apply with a label: %+v %v", res, res.Err)
	}
	if after, _ := f.Get("Pod", "default", "a"); after.Pod().Spec.NodeName != "n1" || after.Pod().Condition(api.PodScheduled) == nil {
		t.Fatalf("apply lost the binding: %s", after.Object)
	}
}
