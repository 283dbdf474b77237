package controller

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/fsm"
	"github.com/berth-dev/berth/scheduler"
	"pgregory.net/rapid"
)

const t0 = "2026-01-02T15:04:05Z"

// applier commits commands to an FSM in log order, as Raft would on a
// single server; it counts the commands.
type applier struct {
	mu    sync.Mutex
	f     *fsm.FSM
	index uint64
	plans int
}

func newApplier(tb testing.TB) *applier {
	a := &applier{f: fsm.New(fsm.Options{})}
	ns := &api.Namespace{Metadata: api.ObjectMeta{Name: "default"}}
	a.write(tb, ns)
	return a
}

func (a *applier) Apply(_ context.Context, cmd *fsm.Command) (*fsm.Result, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cmd.Type == fsm.CmdPlan {
		a.plans++
	}
	a.index++
	res := a.f.ApplyCommand(a.index, cmd)
	return res, res.Err
}

func (a *applier) planCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.plans
}

func (a *applier) write(tb testing.TB, objs ...api.Object) {
	tb.Helper()
	cmd := &fsm.Command{Type: fsm.CmdWrite, Time: t0}
	for _, obj := range objs {
		api.Default(obj)
		if err := api.Validate(obj); err != nil {
			tb.Fatal(err)
		}
		op, err := fsm.ObjectOp(fsm.VerbApply, obj)
		if err != nil {
			tb.Fatal(err)
		}
		op.UID = "uid-" + op.Namespace + "-" + op.Name
		cmd.Ops = append(cmd.Ops, op)
	}
	if _, err := a.Apply(context.Background(), cmd); err != nil {
		tb.Fatal(err)
	}
}

func node(name string, cpu, gpus int) *api.Node {
	n := &api.Node{Metadata: api.ObjectMeta{Name: name, Labels: map[string]string{api.LabelHostname: name}}}
	n.Status.Capacity = api.ResourceList{api.ResourceCPU: api.Quantity(fmt.Sprint(cpu)), api.ResourceMemory: "64Gi"}
	if gpus > 0 {
		n.Status.Capacity[api.ResourceGPU] = api.Quantity(fmt.Sprint(gpus))
	}
	n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}
	return n
}

func pod(name string, milliCPU, gpus int, hostPort int32) *api.Pod {
	p := &api.Pod{Metadata: api.ObjectMeta{Name: name, Namespace: "default"}}
	c := api.Container{Name: "c", Image: "busybox", Resources: api.ResourceRequirements{Requests: api.ResourceList{
		api.ResourceCPU: api.Quantity(fmt.Sprintf("%dm", milliCPU)), api.ResourceMemory: "1Gi"}}}
	if gpus > 0 {
		c.Resources.Limits = api.ResourceList{api.ResourceGPU: api.Quantity(fmt.Sprint(gpus))}
	}
	if hostPort > 0 {
		c.Ports = []api.ContainerPort{{ContainerPort: 80, HostPort: hostPort}}
	}
	p.Spec.Containers = []api.Container{c}
	return p
}

// checkNoOvercommit recomputes, from the bound pods themselves (not the
// store's usage table), what each node gives out, and fails if any node is
// over what it has, or one GPU or host port went to two pods.
func checkNoOvercommit(t interface{ Fatalf(string, ...any) }, v *fsm.View) {
	nodes := map[string]*api.Node{}
	recs, _ := v.List("Node", "", api.Selector{})
	for _, r := range recs {
		nodes[r.Name] = r.Node()
	}
	used := map[string]api.Resources{}
	gpus := map[string]string{}
	ports := map[string]string{}
	pods, _ := v.List("Pod", "", api.Selector{})
	for _, r := range pods {
		p := r.Pod()
		if p.Spec.NodeName == "" {
			continue
		}
		n := nodes[p.Spec.NodeName]
		if n == nil {
			t.Fatalf("pod %s bound to missing node %s", r.Name, p.Spec.NodeName)
		}
		used[n.Metadata.Name] = used[n.Metadata.Name].Add(p.Requests())
		if !used[n.Metadata.Name].Fits(n.Allocatable()) {
			t.Fatalf("node %s over capacity: %+v of %+v", n.Metadata.Name, used[n.Metadata.Name], n.Allocatable())
		}
		if int64(len(p.Spec.AssignedGPUs)) != p.Requests().GPU {
			t.Fatalf("pod %s asked %d GPUs, got %v", r.Name, p.Requests().GPU, p.Spec.AssignedGPUs)
		}
		for _, g := range p.Spec.AssignedGPUs {
			key := n.Metadata.Name + "/" + g
			if other, ok := gpus[key]; ok {
				t.Fatalf("GPU %s given to %s and %s", key, other, r.Name)
			}
			gpus[key] = r.Name
		}
		for _, hp := range api.PodHostPorts(p) {
			key := fmt.Sprintf("%s/%s/%d", n.Metadata.Name, hp.Protocol, hp.Port)
			if other, ok := ports[key]; ok {
				t.Fatalf("host port %s given to %s and %s", key, other, r.Name)
			}
			ports[key] = r.Name
		}
	}
}

// Planners working from the same view, on overlapping pods, commit one
// after another: Apply re-checks each placement, so whatever the
// interleaving no node is overcommitted and no GPU or host port is given
// twice; what it rejects stays pending.
func TestConcurrentPlanners(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		a := newApplier(t)
		var objs []api.Object
		for i := range rapid.IntRange(1, 6).Draw(rt, "nodes") {
			objs = append(objs, node(fmt.Sprintf("n%d", i), rapid.IntRange(1, 8).Draw(rt, "cpu"), rapid.SampledFrom([]int{0, 0, 2, 8}).Draw(rt, "gpus")))
		}
		npods := rapid.IntRange(1, 40).Draw(rt, "pods")
		for i := range npods {
			objs = append(objs, pod(fmt.Sprintf("p%d", i), rapid.IntRange(100, 4000).Draw(rt, "milli"),
				rapid.SampledFrom([]int{0, 0, 0, 1, 2, 4}).Draw(rt, "gpu"), int32(rapid.SampledFrom([]int{0, 0, 0, 80, 443}).Draw(rt, "port"))))
		}
		a.write(t, objs...)
		planners := rapid.IntRange(2, 4).Draw(rt, "planners")
		view := a.f.View()
		var plans []*fsm.Plan
		for i := range planners {
			// Each planner takes its own slice of the pending pods; the
			// slices overlap.
			var batch []*api.Pod
			uids := map[string]string{}
			for j, r := range view.PendingPods() {
				if (j+i)%planners != 0 && rapid.Bool().Draw(rt, "skip") {
					continue
				}
				batch = append(batch, r.Pod())
				uids[r.Key] = r.Meta.UID
			}
			plan := scheduler.New(scheduler.Options{Seed: int64(i)}).Schedule(Snapshot(view), batch)
			plans = append(plans, PlanCommand(plan, uids))
		}
		for _, i := range rapid.Permutation(rangeOf(planners)).Draw(rt, "order") {
			if _, err := a.Apply(context.Background(), &fsm.Command{Type: fsm.CmdPlan, Time: t0, Plan: plans[i]}); err != nil {
				rt.Fatal(err)
			}
		}
		checkNoOvercommit(rt, a.f.View())
		bound := 0
		recs, _ := a.f.View().List("Pod", "", api.Selector{})
		for _, r := range recs {
			if r.Pod().Spec.NodeName != "" {
				bound++
			}
		}
		if bound+len(a.f.View().PendingPods()) != npods {
			rt.Fatalf("%d bound + %d pending != %d pods", bound, len(a.f.View().PendingPods()), npods)
		}
	})
}

func rangeOf(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// The loop binds what fits, leaves what does not Pending with the reason,
// does not spin while nothing changes, and retries when a node joins.
func TestSchedulingLoop(t *testing.T) {
	a := newApplier(t)
	a.write(t, node("n1", 2, 0), pod("small", 500, 0, 0), pod("huge", 16000, 0, 0))
	s := NewScheduler(SchedulerConfig{FSM: a.f, Proposer: a, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Now: func() time.Time { return time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC) }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitUntil(t, "small bound and huge marked unschedulable", func() bool {
		small, _ := a.f.Get("Pod", "default", "small")
		huge, _ := a.f.Get("Pod", "default", "huge")
		c := huge.Pod().Condition(api.PodScheduled)
		return small.Pod().Spec.NodeName == "n1" && c != nil && c.Status == api.ConditionFalse &&
			c.Message == "0/1 nodes are available: 1 Insufficient cpu."
	})
	// Nothing changes: no more plans.
	plans := a.planCount()
	a.write(t, &api.ConfigMap{Metadata: api.ObjectMeta{Name: "unrelated", Namespace: "default"}})
	time.Sleep(200 * time.Millisecond)
	if got := a.planCount(); got != plans {
		t.Fatalf("%d plans while nothing that frees room changed", got-plans)
	}
	a.write(t, node("n2", 32, 0))
	waitUntil(t, "huge bound to the new node", func() bool {
		huge, _ := a.f.Get("Pod", "default", "huge")
		return huge.Pod().Spec.NodeName == "n2"
	})
	if st := s.Stats(); st.Bound != 2 || st.Rejected != 0 || st.Unschedulable != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func waitUntil(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// A steady stream of unrelated writes does not keep the loop from
// planning.
func TestSchedulingUnderLoad(t *testing.T) {
	a := newApplier(t)
	a.write(t, node("n1", 2, 0))
	s := NewScheduler(SchedulerConfig{FSM: a.f, Proposer: a})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.Run(ctx) }()
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			cm := &api.ConfigMap{Metadata: api.ObjectMeta{Name: fmt.Sprint("cm", i%100), Namespace: "default"}, Data: map[string]string{"i": fmt.Sprint(i)}}
			api.Default(cm)
			op, err := fsm.ObjectOp(fsm.VerbApply, cm)
			if err == nil {
				_, err = a.Apply(ctx, &fsm.Command{Type: fsm.CmdWrite, Time: t0, Ops: []fsm.Op{op}})
			}
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	a.write(t, pod("p", 100, 0, 0))
	waitUntil(t, "p bound while writes go on", func() bool {
		r, _ := a.f.Get("Pod", "default", "p")
		return r.Pod().Spec.NodeName == "n1"
	})
}
