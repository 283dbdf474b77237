package client

import (
	"context"
	"time"

	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc"
)

// PodMetrics is what one pod uses, as its node measures it.
type PodMetrics struct {
	Namespace, Name, UID string
	// CPUMilli is CPU in thousandths of a core, averaged over Window.
	CPUMilli int64
	// MemoryBytes is the memory in use (working set) at Timestamp.
	MemoryBytes int64
	// GPUPercent is the average utilization of the pod's GPUs; nil when
	// it has none or they cannot be read.
	GPUPercent *int32
	Window     time.Duration
	Timestamp  time.Time // the end of the window, the node's clock
}

// NodePodMetrics is what one node's pods use, or why the node could not
// say (Err).
type NodePodMetrics struct {
	Node string
	Pods []PodMetrics
	Err  string
}

// PodMetrics returns what the pods of a node use; node "" asks every live
// node. A pod started a few seconds ago is not measured yet.
func (c *Client) PodMetrics(ctx context.Context, node string) ([]NodePodMetrics, error) {
	var resp *pb.PodMetricsResponse
	err := c.do(ctx, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = pb.NewWorkloadsClient(conn).PodMetrics(ctx, &pb.PodMetricsRequest{Node: node})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]NodePodMetrics, 0, len(resp.Nodes))
	for _, n := range resp.Nodes {
		nm := NodePodMetrics{Node: n.Node, Err: n.Error}
		for _, m := range n.Pods {
			ts, _ := time.Parse(time.RFC3339, m.Timestamp)
			nm.Pods = append(nm.Pods, PodMetrics{Namespace: m.Namespace, Name: m.Name, UID: m.Uid,
				CPUMilli: m.CpuMilli, MemoryBytes: m.MemoryBytes, GPUPercent: m.GpuPercent,
				Window: time.Duration(m.WindowMillis) * time.Millisecond, Timestamp: ts})
		}
		out = append(out, nm)
	}
	return out, nil
}
