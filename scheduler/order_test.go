package scheduler

import (
	"slices"
	"testing"

	"github.com/berth-dev/berth/api"
)

func TestOrder(t *testing.T) {
	nodes := []*api.Node{mkNode("a", "16", "64Gi", 0), mkNode("g", "64", "256Gi", 8)}
	pods := []*api.Pod{
		mkPod("d", "small", "250m", "1Gi", 0),
		mkPod("d", "cpu-1", "4", "4Gi", 0),  // CPU share .25, memory .0625
		mkPod("d", "mem-1", "1", "16Gi", 0), // CPU .0625, memory .25
		mkPod("d", "cpu-2", "4", "4Gi", 0),
		mkPod("d", "gpu-1", "8", "32Gi", 1),
		mkPod("d", "mem-2", "1", "16Gi", 0),
		mkPod("d", "gpu-4", "8", "32Gi", 4),
		mkPod("d", "cpu-3", "4", "4Gi", 0),
		mkPod("d", "bound", "1", "1Gi", 0, func(p *api.Pod) { p.Spec.NodeName = "a" }),
		nil,
	}
	c := newCycle(New(Options{}), snapshotOf(nodes...), pods)
	var got []string
	for _, i := range c.order {
		got = append(got, c.pods[i].pod.Metadata.Name)
	}
	// GPUs first; then CPU and memory kept in step: cpu-1 (+.1875), then
	// mem-1 (0), cpu-2, mem-2, cpu-3, and small last.
	want := []string{"gpu-4", "gpu-1", "cpu-1", "mem-1", "cpu-2", "mem-2", "cpu-3", "small"}
	if !slices.Equal(got, want) {
		t.Errorf("order %q, want %q", got, want)
	}
}

func TestNodesToFind(t *testing.T) {
	for _, tt := range []struct {
		nodes, pct, want int
	}{
		{50, 0, 50},       // fewer than 100 nodes: all
		{150, 0, 100},     // 48% is 72: at least 100
		{1000, 0, 420},    // 50 - 8 = 42%
		{5000, 0, 500},    // 10%
		{100000, 0, 5000}, // at least 5%
		{1000, 30, 300},
		{1000, 5, 100},
		{1000, 100, 1000},
		{1000, -1, 1000},
	} {
		if got := New(Options{PercentageOfNodesToScore: tt.pct}).nodesToFind(tt.nodes); got != tt.want {
			t.Errorf("nodesToFind(%d) with %d%% = %d, want %d", tt.nodes, tt.pct, got, tt.want)
		}
	}
}

// TestSampling: a scan stops once it has found enough feasible nodes, and
// binpack scans start at the node the seed picks.
func TestSampling(t *testing.T) {
	var nodes []*api.Node
	for _, name := range []string{"n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9"} {
		nodes = append(nodes, mkNode(name, "4", "8Gi", 0))
	}
	snap := snapshotOf(nodes...)
	for seed := range int64(20) {
		s := New(Options{Seed: seed, PercentageOfNodesToScore: 30})
		s.minNodes = 1
		start := int(mix(uint64(seed)) % 10)
		// Empty nodes all score alike: the first by name of the three
		// nodes from start wins.
		scanned := []int{start, (start + 1) % 10, (start + 2) % 10}
		want := nodes[slices.Min(scanned)].Metadata.Name
		plan := s.Schedule(snap, []*api.Pod{mkPod("d", "p", "1", "1Gi", 0)})
		if got := placedOn(plan, "p"); got != want {
			t.Errorf("seed %d: placed on %s, want %s", seed, got, want)
		}
	}
	// Without sampling, the first name wins.
	plan := New(Options{Seed: 3}).Schedule(snap, []*api.Pod{mkPod("d", "p", "1", "1Gi", 0)})
	if got := placedOn(plan, "p"); got != "n0" {
		t.Errorf("placed on %s, want n0", got)
	}
}
