package scheduler_test

import (
	"fmt"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/scheduler"
)

func Example() {
	node := &api.Node{
		Metadata: api.ObjectMeta{Name: "gpu-1", Labels: map[string]string{api.LabelGPUProduct: "NVIDIA-H100-80GB-HBM3"}},
		Status: api.NodeStatus{
			Capacity:   api.ResourceList{api.ResourceCPU: "32", api.ResourceMemory: "128Gi", api.ResourceGPU: "2"},
			Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}},
			GPUs:       []api.NodeGPU{{ID: "GPU-a", Index: 0}, {ID: "GPU-b", Index: 1}},
		},
	}
	pod := func(name, cpu string, gpus string) *api.Pod {
		req := api.ResourceList{api.ResourceCPU: api.Quantity(cpu), api.ResourceGPU: api.Quantity(gpus)}
		return &api.Pod{
			Metadata: api.ObjectMeta{Namespace: "ml", Name: name},
			Spec: api.PodSpec{
				Containers:   []api.Container{{Name: "train", Image: "trainer", Resources: api.ResourceRequirements{Requests: req}}},
				NodeSelector: map[string]string{api.LabelGPUProduct: "NVIDIA-H100-80GB-HBM3"},
			},
		}
	}
	pending := []*api.Pod{pod("train-0", "8", "1"), pod("train-1", "8", "1"), pod("train-2", "8", "1")}

	s := scheduler.New(scheduler.Options{Seed: 1})
	snap := &scheduler.Snapshot{Nodes: []scheduler.NodeInfo{{Node: node}}}
	plan := s.Schedule(snap, pending)
	for _, p := range plan.Placements {
		fmt.Println(p.Name, "->", p.Node, p.GPUs)
	}
	for _, f := range plan.Failures {
		fmt.Println(f.Name, f.Message)
	}
	snap = snap.Apply(plan, pending)
	fmt.Println(snap.Nodes[0].Usage.Total().GPU, "GPUs in use")
	// Output:
	// train-0 -> gpu-1 [GPU-a]
	// train-1 -> gpu-1 [GPU-b]
	// train-2 0/1 nodes are available: 1 Insufficient nvidia.com/gpu.
	// 2 GPUs in use
}
