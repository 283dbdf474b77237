package scheduler

import (
	"slices"
	"testing"

	"github.com/berth-dev/berth/api"
)

func TestScorers(t *testing.T) {
	n := mkNode("n1", "4", "8Gi", 0)
	used := bind(nil, n, mkPod("d", "old", "1", "2Gi", 0))
	g := mkNode("g1", "8", "16Gi", 4)
	gUsed := bind(nil, g, mkPod("d", "old", "2", "4Gi", 2), "g1-gpu0", "g1-gpu1")
	tests := []struct {
		name  string
		s     scorer
		node  *api.Node
		usage *api.NodeUsage
		pod   *api.Pod
		want  int64
	}{
		{"binpack, empty node", allocation{}, n, nil, mkPod("d", "p", "1", "2Gi", 0), 25 * point},
		{"binpack, half full after", allocation{}, n, used, mkPod("d", "p", "1", "2Gi", 0), 50 * point},
		{"spread, empty node", allocation{}, n, nil, mkPod("d", "p", "1", "2Gi", 0, spread), 75 * point},
		{"spread, half full after", allocation{}, n, used, mkPod("d", "p", "1", "2Gi", 0, spread), 50 * point},
		{"binpack, mean of cpu and memory", allocation{}, n, nil, mkPod("d", "p", "2", "0", 0), 25 * point},
		// (1*0.5 + 1*0.5 + 4*0.75) / 6 of 100 points.
		{"binpack, GPUs weigh 4", allocation{}, g, gUsed, mkPod("d", "p", "2", "4Gi", 1), 4_000_000 / 6},
		{"GPU node for a pod with no GPU", gpuAvoidance{}, g, nil, mkPod("d", "p", "1", "1Gi", 0), -1000 * point},
		{"GPU node for a GPU pod", gpuAvoidance{}, g, nil, mkPod("d", "p", "1", "1Gi", 1), 0},
		{"node without GPUs", gpuAvoidance{}, n, nil, mkPod("d", "p", "1", "1Gi", 0), 0},
		{"preferred, matched", preferredAffinity{}, mkNode("n1", "4", "8Gi", 0, label("zone", "a")), nil,
			mkPod("d", "p", "1", "1Gi", 0, preferred(30, "zone", "a"), preferred(5, "zone", "b")), 200 * point * 30 / 35},
		{"preferred, none matched", preferredAffinity{}, n, nil, mkPod("d", "p", "1", "1Gi", 0, preferred(30, "zone", "a")), 0},
		{"PreferNoSchedule untolerated", preferNoSchedule{}, mkNode("n1", "4", "8Gi", 0,
			taint("a", "1", api.TaintPreferNoSchedule), taint("b", "1", api.TaintPreferNoSchedule), taint("c", "1", api.TaintNoSchedule)),
			nil, mkPod("d", "p", "1", "1Gi", 0), -600 * point},
		{"PreferNoSchedule tolerated", preferNoSchedule{}, mkNode("n1", "4", "8Gi", 0, taint("a", "1", api.TaintPreferNoSchedule)),
			nil, mkPod("d", "p", "1", "1Gi", 0, tolerate("a", "1", api.TaintPreferNoSchedule)), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ns, pi := oneNode(tt.node, tt.usage, tt.pod)
			if got := tt.s.score(ns, pi); got != tt.want {
				t.Errorf("score %d, want %d", got, tt.want)
			}
		})
	}
}

// TestChoice checks which node Schedule picks for one pod.
func TestChoice(t *testing.T) {
	small := func(name string, mods ...func(*api.Node)) NodeInfo {
		return NodeInfo{Node: mkNode(name, "4", "8Gi", 0, mods...)}
	}
	half := func(name string, mods ...func(*api.Node)) NodeInfo {
		n := mkNode(name, "4", "8Gi", 0, mods...)
		return NodeInfo{Node: n, Usage: bind(nil, n, mkPod("d", "old", "2", "4Gi", 0))}
	}
	gpuBox := func(name string, held int) NodeInfo {
		n := mkNode(name, "32", "128Gi", 8)
		var u *api.NodeUsage
		if held > 0 {
			var ids []string
			for _, g := range n.Status.GPUs[:held] {
				ids = append(ids, g.ID)
			}
			u = bind(nil, n, mkPod("d", "job-0", "4", "16Gi", held), ids...)
		}
		return NodeInfo{Node: n, Usage: u}
	}
	pod := func(mods ...func(*api.Pod)) *api.Pod { return mkPod("d", "p", "1", "1Gi", 0, mods...) }
	tests := []struct {
		name  string
		nodes []NodeInfo
		pod   *api.Pod
		want  string
	}{
		{"binpack prefers the fuller node", []NodeInfo{small("a"), half("b"), small("c")}, pod(), "b"},
		{"spread prefers the emptier node", []NodeInfo{half("a"), small("b"), half("c")}, pod(spread), "b"},
		{"ties go to the first name", []NodeInfo{small("a"), small("b"), small("c")}, pod(), "a"},
		{"ties go to the first name, spread", []NodeInfo{half("a"), half("b")}, pod(spread), "a"},
		{"GPU pods fill a partly used GPU node", []NodeInfo{gpuBox("g0", 0), gpuBox("g1", 4), gpuBox("g2", 0)},
			mkPod("d", "job-1", "4", "16Gi", 2), "g1"},
		{"GPU pods skip a box too full", []NodeInfo{gpuBox("g0", 0), gpuBox("g1", 7), gpuBox("g2", 0)},
			mkPod("d", "job-1", "4", "16Gi", 2), "g0"},
		{"pods with no GPU avoid GPU nodes", []NodeInfo{gpuBox("a", 4), small("b")}, pod(), "b"},
		{"unless only a GPU node fits", []NodeInfo{gpuBox("a", 4), small("b")}, mkPod("d", "p", "8", "1Gi", 0), "a"},
		{"preferred affinity beats fullness", []NodeInfo{half("a"), small("b", label("zone", "x"))}, pod(preferred(10, "zone", "x")), "b"},
		{"the heavier preference wins", []NodeInfo{small("a", label("zone", "x")), small("b", label("zone", "y"))},
			pod(preferred(10, "zone", "x"), preferred(20, "zone", "y")), "b"},
		{"PreferNoSchedule repels", []NodeInfo{half("a", taint("k", "v", api.TaintPreferNoSchedule)), small("b")}, pod(), "b"},
		{"PreferNoSchedule tolerated", []NodeInfo{half("a", taint("k", "v", api.TaintPreferNoSchedule)), small("b")},
			pod(tolerate("k", "v", "")), "a"},
		{"PreferNoSchedule is better than nothing", []NodeInfo{half("a", taint("k", "v", api.TaintPreferNoSchedule)), small("b", cordoned)}, pod(), "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, opts := range []Options{{}, {PercentageOfNodesToScore: 100}} {
				plan := New(opts).Schedule(&Snapshot{Nodes: tt.nodes}, []*api.Pod{tt.pod})
				if got := placedOn(plan, tt.pod.Metadata.Name); got != tt.want {
					t.Errorf("%+v: placed on %q, want %q (plan %+v)", opts, got, tt.want, plan)
				}
			}
		})
	}
}

// TestBinpackFillsOneNodeAtATime: replicas go to one node until it is full.
func TestBinpackFillsOneNodeAtATime(t *testing.T) {
	snap := snapshotOf(mkNode("a", "4", "8Gi", 0), mkNode("b", "4", "8Gi", 0), mkNode("c", "4", "8Gi", 0))
	var pods []*api.Pod
	for _, name := range []string{"p1", "p2", "p3", "p4", "p5", "p6"} {
		pods = append(pods, mkPod("d", name, "1", "1Gi", 0))
	}
	plan := New(Options{}).Schedule(snap, pods)
	var got []string
	for _, p := range plan.Placements {
		got = append(got, p.Node)
	}
	if want := []string{"a", "a", "a", "a", "b", "b"}; !slices.Equal(got, want) {
		t.Errorf("nodes %q, want %q", got, want)
	}
	// Spread puts one on each, then starts again.
	for _, p := range pods {
		spread(p)
	}
	plan = New(Options{}).Schedule(snap, pods)
	count := map[string]int{}
	for _, p := range plan.Placements {
		count[p.Node]++
	}
	if count["a"] != 2 || count["b"] != 2 || count["c"] != 2 {
		t.Errorf("spread %v, want 2 on each", count)
	}
}

// TestGPUJobStaysTogether: the pods of a GPU job fill the box that has
// room for all of them, rather than starting empty boxes.
func TestGPUJobStaysTogether(t *testing.T) {
	var nodes []*api.Node
	for _, name := range []string{"g0", "g1", "g2", "g3"} {
		nodes = append(nodes, mkNode(name, "64", "256Gi", 8))
	}
	var pods []*api.Pod
	for _, name := range []string{"w0", "w1", "w2", "w3"} {
		pods = append(pods, mkPod("ml", name, "8", "32Gi", 2))
	}
	pods = append(pods, mkPod("ml", "big", "8", "32Gi", 8))
	plan := New(Options{}).Schedule(snapshotOf(nodes...), pods)
	count := map[string]int{}
	for _, p := range plan.Placements {
		count[p.Node] += len(p.GPUs)
	}
	if len(count) != 2 || count["g0"] != 8 || count["g1"] != 8 {
		t.Errorf("GPUs per node %v, want g0 and g1 full and two boxes free", count)
	}
}

func TestGPUAssignment(t *testing.T) {
	n := mkNode("g", "32", "64Gi", 4)
	held := bind(nil, n, mkPod("d", "old", "1", "1Gi", 2), "g-gpu1", "g-gpu2")
	pods := []*api.Pod{mkPod("d", "a", "1", "1Gi", 1), mkPod("d", "b", "2", "1Gi", 1), mkPod("d", "c", "1", "1Gi", 0), mkPod("d", "e", "1", "1Gi", 1)}
	plan := New(Options{}).Schedule(&Snapshot{Nodes: []NodeInfo{{Node: n, Usage: held}}}, pods)
	got := map[string][]string{}
	for _, p := range plan.Placements {
		got[p.Name] = p.GPUs
	}
	// b (2 CPUs) goes first and takes the lowest free index; a, then the
	// last free one; e finds none left.
	want := map[string][]string{"b": {"g-gpu0"}, "a": {"g-gpu3"}, "c": nil}
	if len(got) != len(want) || !slices.Equal(got["a"], want["a"]) || !slices.Equal(got["b"], want["b"]) || got["c"] != nil {
		t.Errorf("GPUs %q, want %q", got, want)
	}
	if len(plan.Failures) != 1 || plan.Failures[0].Name != "e" || plan.Failures[0].Message != "0/1 nodes are available: 1 Insufficient nvidia.com/gpu." {
		t.Errorf("failures %+v, want e short of GPUs", plan.Failures)
	}
	// A node whose GPU list is shorter than its capacity gives only the IDs it has.
	short := mkNode("s", "32", "64Gi", 4, func(n *api.Node) { n.Status.GPUs = n.Status.GPUs[:2] })
	plan = New(Options{}).Schedule(snapshotOf(short), []*api.Pod{mkPod("d", "a", "1", "1Gi", 3), mkPod("d", "b", "1", "1Gi", 2)})
	if len(plan.Placements) != 1 || plan.Placements[0].Name != "b" || !slices.Equal(plan.Placements[0].GPUs, []string{"s-gpu0", "s-gpu1"}) {
		t.Errorf("plan %+v, want only b, on s-gpu0 and s-gpu1", plan)
	}
}
