package fsm

import (
	"testing"

	"github.com/berth-dev/berth/api"
)

func TestPodStatusReports(t *testing.T) {
	f := podsFSM(t)
	if res := plan(f, 6, Plan{Binds: []Bind{{Namespace: "default", Name: "a", UID: "uid-a", Node: "n1", GPUs: []string{"0"}}}}); res.Err != nil || len(res.Rejected) > 0 {
		t.Fatalf("bind: %v %v", res.Err, res.Rejected)
	}
	running := api.PodStatus{Phase: api.PodRunning, PodIP: "10.1.0.5",
		Conditions:        []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue}, {Type: api.PodScheduled, Status: api.ConditionFalse}},
		ContainerStatuses: []api.ContainerStatus{{Name: "main", Ready: true, State: api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: t0}}}}}
	cmd := &Command{Type: CmdPodStatus, Time: t0, PodStatuses: []PodStatusReport{
		{Namespace: "default", Name: "a", UID: "uid-a", Node: "n1", Status: running},
		{Namespace: "default", Name: "a", UID: "old-uid", Node: "n1", Status: api.PodStatus{Phase: api.PodFailed}},
		{Namespace: "default", Name: "b", UID: "uid-b", Node: "n1", Status: running}, // not bound to n1
		{Namespace: "default", Name: "gone", UID: "x", Node: "n1", Status: running},
	}}
	// Through the binary codec, as the log carries it.
	b, err := cmd.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if cmd, err = DecodeCommand(b); err != nil {
		t.Fatal(err)
	}
	res := f.ApplyCommand(7, cmd)
	if res.Err != nil || len(res.Results) != 1 || len(res.Rejected) != 3 {
		t.Fatalf("results %+v rejected %+v err %v", res.Results, res.Rejected, res.Err)
	}
	r, _ := f.Get("Pod", "default", "a")
	p := r.Pod()
	if p.Status.Phase != api.PodRunning || p.Status.PodIP != "10.1.0.5" || len(p.Status.ContainerStatuses) != 1 {
		t.Fatalf("status: %+v", p.Status)
	}
	// The scheduler's condition is kept, not the node's copy of it.
	if c := p.Condition(api.PodScheduled); c == nil || c.Status != api.ConditionTrue {
		t.Fatalf("PodScheduled: %+v", c)
	}
	if c := p.Condition(api.PodReady); c == nil || c.Status != api.ConditionTrue {
		t.Fatalf("Ready: %+v", c)
	}
	// A finished pod frees its node's resources.
	done := running
	done.Phase = api.PodSucceeded
	res = f.ApplyCommand(8, &Command{Type: CmdPodStatus, Time: t0, PodStatuses: []PodStatusReport{{Namespace: "default", Name: "a", UID: "uid-a", Node: "n1", Status: done}}})
	if res.Err != nil || len(res.Rejected) > 0 {
		t.Fatalf("%v %v", res.Err, res.Rejected)
	}
	if u := f.View().Usage("n1"); u != nil && len(u.Pods) > 0 {
		t.Fatalf("usage after the pod finished: %+v", u)
	}
}
