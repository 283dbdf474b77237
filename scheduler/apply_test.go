package scheduler

import (
	"reflect"
	"testing"

	"github.com/berth-dev/berth/api"
)

// TestApply checks Apply against NodeUsage.With, one placement at a time,
// including a pod placed twice and a pod already on the node.
func TestApply(t *testing.T) {
	n1, n2 := mkNode("n1", "8", "16Gi", 2), mkNode("n2", "8", "16Gi", 0)
	old := mkPod("d", "b", "1", "1Gi", 0)
	snap := &Snapshot{Nodes: []NodeInfo{{Node: n1, Usage: bind(nil, n1, old)}, {Node: n2}}}
	pods := []*api.Pod{mkPod("d", "c", "1", "1Gi", 1), mkPod("d", "a", "2", "1Gi", 0), mkPod("d", "b", "3", "1Gi", 0), mkPod("e", "a", "1", "1Gi", 0)}
	for _, tt := range []struct {
		name string
		plan *Plan
	}{
		{"distinct", &Plan{Placements: []Placement{{"d", "c", "n1", []string{"n1-gpu1"}}, {"d", "a", "n1", nil}, {"e", "a", "n2", nil}}}},
		{"replaces the pod on the node", &Plan{Placements: []Placement{{"d", "a", "n1", nil}, {"d", "b", "n1", nil}}}},
		{"same pod twice", &Plan{Placements: []Placement{{"d", "a", "n2", nil}, {"e", "a", "n2", nil}, {"d", "a", "n2", nil}}}},
		{"unknown node or pod", &Plan{Placements: []Placement{{"d", "a", "n9", nil}, {"x", "y", "n1", nil}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := []*api.NodeUsage{snap.Nodes[0].Usage, snap.Nodes[1].Usage}
			for _, pl := range tt.plan.Placements {
				for _, p := range pods {
					if i := snap.find(pl.Node); i >= 0 && p.Metadata.Namespace == pl.Namespace && p.Metadata.Name == pl.Name {
						want[i] = bind(want[i], snap.Nodes[i].Node, p, pl.GPUs...)
					}
				}
			}
			got := snap.Apply(tt.plan, pods)
			for i := range got.Nodes {
				if !reflect.DeepEqual(got.Nodes[i].Usage, want[i]) {
					t.Errorf("%s: usage %+v, want %+v", got.Nodes[i].Node.Metadata.Name, got.Nodes[i].Usage, want[i])
				}
			}
			if snap.Nodes[0].Usage.Total().MilliCPU != 1000 || snap.Nodes[1].Usage != nil {
				t.Error("Apply changed its snapshot")
			}
		})
	}
}
