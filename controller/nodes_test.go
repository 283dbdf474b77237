package controller

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
)

// gossipView is a settable gossip view.
type gossipView struct {
	mu      sync.Mutex
	members []Member
}

func (g *gossipView) set(ms ...Member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.members = ms
}

func (g *gossipView) get() []Member {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Member(nil), g.members...)
}

// announced is the node an agent announces through gossip.
func announced(name string, labels map[string]string) *api.Node {
	n := &api.Node{Metadata: api.ObjectMeta{Name: name, Labels: labels}}
	n.Status.Capacity = api.ResourceList{api.ResourceCPU: "4", api.ResourceMemory: "8Gi", api.ResourceGPU: "1", api.ResourcePods: "110"}
	n.Status.Allocatable = api.ResourceList{api.ResourceCPU: "3500m", api.ResourceMemory: "7Gi", api.ResourceGPU: "1", api.ResourcePods: "110"}
	n.Status.GPUs = []api.NodeGPU{{ID: "GPU-1", Index: 0, Model: "NVIDIA H100", MemoryBytes: 80 << 30}}
	n.Status.Addresses = []api.NodeAddress{{Type: "InternalIP", Address: "10.0.0.1"}}
	return n
}

func newNodesTest(t *testing.T) (*applier, *gossipView, *Nodes, *time.Time) {
	a := newApplier(t)
	g := &gossipView{}
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	c := NewNodes(NodesConfig{FSM: a.f, Proposer: a, Members: g.get, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	return a, g, c, &now
}

func reconcile(t *testing.T, c *Nodes) {
	t.Helper()
	if err := c.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func storedNode(t *testing.T, a *applier, name string) *api.Node {
	t.Helper()
	r, err := a.f.Get("Node", "", name)
	if err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	return r.Node()
}

func TestNodeLifecycle(t *testing.T) {
	a, g, c, now := newNodesTest(t)

	// A member without an inventory yet is not recorded.
	g.set(Member{Name: "n1", State: MemberAlive})
	reconcile(t, c)
	if _, err := a.f.Get("Node", "", "n1"); err == nil {
		t.Fatal("node recorded before its inventory arrived")
	}

	g.set(Member{Name: "n1", State: MemberAlive, Node: announced("n1", map[string]string{"zone": "a", api.LabelHostname: "n1"})})
	reconcile(t, c)
	n := storedNode(t, a, "n1")
	ready := readyOf(n)
	if ready.Status != api.ConditionTrue || ready.Reason != ReasonNodeReady || ready.LastTransitionTime != "2026-01-02T15:00:00Z" {
		t.Fatalf("ready: %+v", ready)
	}
	if n.Metadata.Labels["zone"] != "a" || n.Status.Allocatable[api.ResourceCPU] != "3500m" || len(n.Status.GPUs) != 1 ||
		n.Metadata.Annotations[AnnotationManaged] != "gossip" || n.Status.Addresses[0].Address != "10.0.0.1" {
		t.Fatalf("node: %+v", n)
	}
	if s := c.Stats(); s.Created != 1 || s.Updated != 0 {
		t.Fatalf("stats %+v", s)
	}

	// Nothing changed: nothing is written.
	*now = now.Add(time.Minute)
	reconcile(t, c)
	if s := c.Stats(); s.Created != 1 || s.Updated != 0 {
		t.Fatalf("a reconcile without change wrote: %+v", s)
	}

	// A user cordons the node and labels it; the agent drops a label. The
	// user's changes stay; the agent's dropped label goes.
	n.Spec.Unschedulable = true
	n.Metadata.Labels["team"] = "ml"
	a.write(t, n)
	g.set(Member{Name: "n1", State: MemberAlive, Node: announced("n1", map[string]string{api.LabelHostname: "n1"})})
	reconcile(t, c)
	n = storedNode(t, a, "n1")
	if !n.Spec.Unschedulable || n.Metadata.Labels["team"] != "ml" || n.Metadata.Labels["zone"] != "" {
		t.Fatalf("after the agent dropped a label: spec %+v labels %v", n.Spec, n.Metadata.Labels)
	}

	// Dead: Unknown, with a new transition time.
	*now = now.Add(time.Minute)
	g.set(Member{Name: "n1", State: MemberDead, Node: announced("n1", map[string]string{api.LabelHostname: "n1"})})
	reconcile(t, c)
	n = storedNode(t, a, "n1")
	if r := readyOf(n); r.Status != api.ConditionUnknown || r.Reason != ReasonNodeStatusUnknown || r.LastTransitionTime != "2026-01-02T15:02:00Z" || n.Ready() {
		t.Fatalf("dead member's node: %+v", r)
	}

	// Forgotten by gossip (a new leader that never saw it): Unknown too.
	g.set()
	reconcile(t, c)
	if r := readyOf(storedNode(t, a, "n1")); r.Status != api.ConditionUnknown || r.Message != "berth agent is not in the gossip pool" {
		t.Fatalf("node unknown to gossip: %+v", r)
	}

	// Back: Ready again. Then it leaves: False.
	*now = now.Add(time.Minute)
	g.set(Member{Name: "n1", State: MemberAlive, Node: announced("n1", nil)})
	reconcile(t, c)
	if r := readyOf(storedNode(t, a, "n1")); r.Status != api.ConditionTrue || r.LastTransitionTime != "2026-01-02T15:03:00Z" {
		t.Fatalf("node back: %+v", r)
	}
	g.set(Member{Name: "n1", State: MemberLeft, Node: announced("n1", nil)})
	reconcile(t, c)
	if r := readyOf(storedNode(t, a, "n1")); r.Status != api.ConditionFalse || r.Reason != ReasonNodeLeft {
		t.Fatalf("node that left: %+v", r)
	}
}

// A node registered through the API without the managed annotation is
// static: the lifecycle leaves it as written.
func TestStaticNodesAreLeftAlone(t *testing.T) {
	a, g, c, _ := newNodesTest(t)
	a.write(t, node("sim", 8, 0))
	g.set()
	reconcile(t, c)
	if n := storedNode(t, a, "sim"); !n.Ready() || n.Metadata.Annotations[AnnotationManaged] != "" {
		t.Fatalf("static node changed: %+v", n)
	}
}

// Run reconciles on each change of the gossip view.
func TestNodeLifecycleRun(t *testing.T) {
	a, g, _, _ := newNodesTest(t)
	changes := make(chan struct{}, 1)
	c := NewNodes(NodesConfig{FSM: a.f, Proposer: a, Members: g.get, Changes: changes, Resync: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	g.set(Member{Name: "n1", State: MemberAlive, Node: announced("n1", nil)})
	changes <- struct{}{}
	waitFor(t, func() bool { r, err := a.f.Get("Node", "", "n1"); return err == nil && r.Node().Ready() })
	g.set(Member{Name: "n1", State: MemberDead, Node: announced("n1", nil)})
	changes <- struct{}{}
	waitFor(t, func() bool { r, _ := a.f.Get("Node", "", "n1"); return !r.Node().Ready() })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNodePodCIDRs(t *testing.T) {
	a, g, c, _ := newNodesTest(t)
	c.cfg.PodCIDR = "10.50.0.0/16"
	g.set(Member{Name: "n1", State: MemberAlive, Node: announced("n1", nil)},
		Member{Name: "n2", State: MemberAlive, Node: announced("n2", nil)})
	reconcile(t, c)
	n1, n2 := storedNode(t, a, "n1").Spec.PodCIDR, storedNode(t, a, "n2").Spec.PodCIDR
	if n1 != "10.50.0.0/24" || n2 != "10.50.1.0/24" {
		t.Fatalf("pod subnets %q and %q", n1, n2)
	}
	// A subnet stays with its node across rounds, and a third node gets a
	// free one.
	g.set(Member{Name: "n1", State: MemberAlive, Node: announced("n1", nil)},
		Member{Name: "n2", State: MemberDead, Node: announced("n2", nil)},
		Member{Name: "n3", State: MemberAlive, Node: announced("n3", nil)})
	reconcile(t, c)
	if got := []string{storedNode(t, a, "n1").Spec.PodCIDR, storedNode(t, a, "n2").Spec.PodCIDR, storedNode(t, a, "n3").Spec.PodCIDR}; got[0] != n1 || got[1] != n2 || got[2] != "10.50.2.0/24" {
		t.Fatalf("pod subnets after a change: %v", got)
	}
}
