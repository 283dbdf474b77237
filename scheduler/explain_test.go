package scheduler

import (
	"maps"
	"slices"
	"testing"

	"github.com/berth-dev/berth/api"
)

func TestFailureMessage(t *testing.T) {
	tests := []struct {
		total   int
		reasons map[string]int
		want    string
	}{
		{0, nil, "no nodes available to schedule pods"},
		{5, map[string]int{api.ReasonNodeSelector: 2, api.ReasonInsufficientCPU: 3},
			"0/5 nodes are available: 3 Insufficient cpu, 2 node(s) didn't match node selector."},
		{4, map[string]int{api.ReasonInsufficientMemory: 2, api.ReasonInsufficientCPU: 2, api.ReasonNodeNotReady: 1, api.ReasonTooManyPods: 1},
			"0/4 nodes are available: 2 Insufficient cpu, 2 Insufficient memory, 1 Too many pods, 1 node(s) were not ready."},
		{1, map[string]int{}, "0/1 nodes are available."},
	}
	for _, tt := range tests {
		if got := FailureMessage(tt.total, tt.reasons); got != tt.want {
			t.Errorf("FailureMessage(%d, %v) = %q, want %q", tt.total, tt.reasons, got, tt.want)
		}
	}
}

// TestFailures checks the failures Schedule reports: every node counted,
// with api's wording.
func TestFailures(t *testing.T) {
	gpuNode := mkNode("g", "64", "256Gi", 8, label(api.LabelGPUProduct, "NVIDIA-H100"), taint("nvidia.com/gpu", "present", api.TaintNoSchedule))
	nodes := []*api.Node{
		mkNode("a", "2", "4Gi", 0, label("disk", "ssd")),
		mkNode("b", "2", "4Gi", 0),
		mkNode("c", "8", "1Gi", 0, label("disk", "ssd")),
		mkNode("d", "8", "16Gi", 0, label("disk", "ssd"), cordoned),
		mkNode("e", "8", "16Gi", 0, label("disk", "ssd"), notReady),
		gpuNode,
	}
	tests := []struct {
		name    string
		nodes   []*api.Node
		pod     *api.Pod
		message string
		reasons map[string]int
	}{
		{"no nodes", nil, mkPod("d", "p", "1", "1Gi", 0), "no nodes available to schedule pods", map[string]int{}},
		{"selector and resources", nodes, mkPod("d", "p", "4", "2Gi", 0, selector("disk", "ssd")),
			"0/6 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 node(s) didn't match node selector, " +
				"1 node(s) had untolerated taint {nvidia.com/gpu: present}, 1 node(s) were not ready, 1 node(s) were unschedulable.",
			map[string]int{api.ReasonNodeSelector: 1, api.ReasonInsufficientCPU: 1, api.ReasonInsufficientMemory: 1,
				"node(s) had untolerated taint {nvidia.com/gpu: present}": 1, api.ReasonNodeNotReady: 1, api.ReasonNodeUnschedulable: 1}},
		{"counts first", append(slices.Clone(nodes[:3]), mkNode("f", "1", "1Gi", 0, label("disk", "ssd"))), mkPod("d", "p", "4", "2Gi", 0),
			"0/4 nodes are available: 3 Insufficient cpu, 2 Insufficient memory.",
			map[string]int{api.ReasonInsufficientCPU: 3, api.ReasonInsufficientMemory: 2}},
		{"taint", nodes[5:], mkPod("d", "p", "1", "1Gi", 1),
			"0/1 nodes are available: 1 node(s) had untolerated taint {nvidia.com/gpu: present}.",
			map[string]int{"node(s) had untolerated taint {nvidia.com/gpu: present}": 1}},
		{"GPU model", nodes[5:], mkPod("d", "p", "1", "1Gi", 1, selector(api.LabelGPUProduct, "NVIDIA-A100"), func(p *api.Pod) {
			p.Spec.Tolerations = []api.Toleration{{Key: "nvidia.com/gpu", Operator: "Exists"}}
		}),
			"0/1 nodes are available: 1 node(s) didn't match node selector.",
			map[string]int{api.ReasonNodeSelector: 1}},
		{"GPU count", nodes[5:], mkPod("d", "p", "1", "1Gi", 9, func(p *api.Pod) {
			p.Spec.Tolerations = []api.Toleration{{Operator: "Exists"}}
		}), "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",
			map[string]int{api.ReasonInsufficientGPU: 1}},
		{"affinity", nodes[:2], mkPod("d", "p", "1", "1Gi", 0, requiredIn("zone", "a")),
			"0/2 nodes are available: 2 node(s) didn't match Pod's node affinity.",
			map[string]int{api.ReasonNodeAffinity: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, opts := range []Options{{}, {PercentageOfNodesToScore: 100}, {PercentageOfNodesToScore: 1}} {
				s := New(opts)
				s.minNodes = 1
				plan := s.Schedule(snapshotOf(tt.nodes...), []*api.Pod{tt.pod})
				if len(plan.Placements) != 0 || len(plan.Failures) != 1 {
					t.Fatalf("plan %+v, want one failure", plan)
				}
				f := plan.Failures[0]
				if f.Namespace != "d" || f.Name != "p" || f.Message != tt.message || !maps.Equal(f.Reasons, tt.reasons) {
					t.Errorf("failure %+v, want %q %v", f, tt.message, tt.reasons)
				}
			}
		})
	}
}

// TestFailuresOfARun: pods alike that fit nowhere each get their failure,
// with their own map.
func TestFailuresOfARun(t *testing.T) {
	var pods []*api.Pod
	for _, name := range []string{"a", "b", "c", "d"} {
		pods = append(pods, mkPod("ns", name, "3", "1Gi", 0))
	}
	plan := New(Options{}).Schedule(snapshotOf(mkNode("n1", "4", "8Gi", 0), mkNode("n2", "2", "8Gi", 0)), pods)
	if len(plan.Placements) != 1 || plan.Placements[0].Name != "a" || len(plan.Failures) != 3 {
		t.Fatalf("plan %+v, want a placed and three failures", plan)
	}
	for _, f := range plan.Failures {
		if f.Message != "0/2 nodes are available: 2 Insufficient cpu." {
			t.Errorf("%s: %q", f.Name, f.Message)
		}
	}
	plan.Failures[0].Reasons["x"] = 1
	if plan.Failures[1].Reasons["x"] != 0 {
		t.Error("failures share their Reasons map")
	}
}

// TestFailureReasonsAreCurrent: a pod failing like an earlier one of its
// kind gets the reasons of the moment, after what was placed in between.
func TestFailureReasonsAreCurrent(t *testing.T) {
	n1 := mkNode("n1", "4", "8Gi", 0)
	snap := &Snapshot{Nodes: []NodeInfo{{Node: n1, Usage: bind(nil, n1, mkPod("d", "old", "1", "512Mi", 0, hostPort(80)))}}}
	pods := []*api.Pod{
		mkPod("d", "x1", "1", "1Gi", 0, hostPort(80)),
		mkPod("d", "x2", "1", "1Gi", 0, hostPort(80)),
		mkPod("d", "m", "100m", "7Gi", 0), // heavy on memory: placed between x1 and x2
	}
	plan := New(Options{}).Schedule(snap, pods)
	want := map[string]string{
		"x1": "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.",
		"x2": "0/1 nodes are available: 1 Insufficient memory.",
	}
	if len(plan.Placements) != 1 || plan.Placements[0].Name != "m" || len(plan.Failures) != 2 {
		t.Fatalf("plan %+v, want m placed, x1 and x2 failed", plan)
	}
	for _, f := range plan.Failures {
		if f.Message != want[f.Name] {
			t.Errorf("%s: %q, want %q", f.Name, f.Message, want[f.Name])
		}
	}
}
