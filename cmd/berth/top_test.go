package main

import (
	"strings"
	"testing"

	"github.com/berth-dev/berth/client"
)

func TestTopPods(t *testing.T) {
	gpu := int32(87)
	nodes := []client.NodePodMetrics{
		{Node: "n1", Pods: []client.PodMetrics{
			{Namespace: "default", Name: "web-b", CPUMilli: 5, MemoryBytes: 3 << 20},
			{Namespace: "default", Name: "web-a", CPUMilli: 250, MemoryBytes: 12<<20 + 5},
			{Namespace: "ml", Name: "train", CPUMilli: 1900, MemoryBytes: 2 << 30, GPUPercent: &gpu},
		}},
		{Node: "n2", Err: "node n2 is not ready to run pods yet"},
	}
	tests := []struct {
		name string
		o    topOptions
		pod  string
		want string
	}{
		{"namespace", topOptions{namespace: "default"}, "", "" +
			"NAME    CPU(cores)   MEMORY(bytes)\n" +
			"web-a   250m         12Mi\n" +
			"web-b   5m           3Mi\n"},
		{"all with GPUs by cpu", topOptions{allNS: true, sortBy: "cpu"}, "", "" +
			"NAMESPACE   NAME    CPU(cores)   MEMORY(bytes)   GPU%\n" +
			"ml          train   1900m        2048Mi          87%\n" +
			"default     web-a   250m         12Mi            <none>\n" +
			"default     web-b   5m           3Mi             <none>\n"},
		{"one pod", topOptions{namespace: "default"}, "web-b", "" +
			"NAME    CPU(cores)   MEMORY(bytes)\n" +
			"web-b   5m           3Mi\n"},
		{"none", topOptions{namespace: "prod"}, "", "No resources found in prod namespace.\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := tc.o.print(&b, tc.o.pick(nodes, tc.pod), tc.pod); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
	o := topOptions{namespace: "default"}
	if err := o.print(&strings.Builder{}, o.pick(nodes, "gone"), "gone"); err == nil || !strings.Contains(err.Error(), "metrics not available for pod default/gone") {
		t.Errorf("a pod without metrics: %v", err)
	}
}
