package client

import (
	"context"
	"net"
	"reflect"
	"testing"
	"time"

	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// metricsServer answers PodMetrics with a script.
type metricsServer struct {
	pb.UnimplementedWorkloadsServer
	fn func(*pb.PodMetricsRequest) (*pb.PodMetricsResponse, error)
}

func (s *metricsServer) PodMetrics(_ context.Context, req *pb.PodMetricsRequest) (*pb.PodMetricsResponse, error) {
	return s.fn(req)
}

func serveMetrics(t *testing.T, s *metricsServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	pb.RegisterWorkloadsServer(g, s)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

func TestPodMetrics(t *testing.T) {
	var asked []string
	gpu := int32(42)
	addr := serveMetrics(t, &metricsServer{fn: func(req *pb.PodMetricsRequest) (*pb.PodMetricsResponse, error) {
		asked = append(asked, req.Node)
		if req.Node == "gone" {
			return nil, status.Error(codes.NotFound, "node gone is not in the cluster")
		}
		return &pb.PodMetricsResponse{Nodes: []*pb.NodePodMetrics{
			{Node: "n1", Pods: []*pb.PodMetric{{Namespace: "default", Name: "web", Uid: "u1", CpuMilli: 250, MemoryBytes: 10 << 20,
				GpuPercent: &gpu, WindowMillis: 15000, Timestamp: "2026-01-02T03:04:05Z"}}},
			{Node: "n2", Error: "node n2 is not ready to run pods yet"},
		}}, nil
	}})
	c := newTestClient(t, deadAddr(t), addr)
	nodes, err := c.PodMetrics(testCtx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []NodePodMetrics{
		{Node: "n1", Pods: []PodMetrics{{Namespace: "default", Name: "web", UID: "u1", CPUMilli: 250, MemoryBytes: 10 << 20,
			GPUPercent: &gpu, Window: 15 * time.Second, Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}},
		{Node: "n2", Err: "node n2 is not ready to run pods yet"},
	}
	if !reflect.DeepEqual(nodes, want) {
		t.Errorf("nodes %+v, want %+v", nodes, want)
	}
	if _, err := c.PodMetrics(testCtx(t), "gone"); !IsNotFound(err) {
		t.Errorf("a node not in the cluster: %v", err)
	}
	if !reflect.DeepEqual(asked, []string{"", "gone"}) {
		t.Errorf("nodes asked %q", asked)
	}
}
