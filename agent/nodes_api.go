package agent

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/berth-dev/berth/fsm"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// nodesServer is the internal node service of a server: agents report
// their pods' status; the leader records the reports in one command.
type nodesServer struct {
	pb.UnimplementedNodesServer
	a *Agent
}

func (s *nodesServer) ReportPods(ctx context.Context, req *pb.ReportPodsRequest) (*pb.ReportPodsResponse, error) {
	if !s.a.node.IsLeader() {
		resp := new(pb.ReportPodsResponse)
		return resp, s.a.forward(ctx, pb.Nodes_ReportPods_FullMethodName, req, resp)
	}
	cmd := &fsm.Command{Type: fsm.CmdPodStatus, Time: s.a.now()}
	for i, raw := range req.Reports {
		var r fsm.PodStatusReport
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "report %d: %v", i, err)
		}
		if r.Node != req.Node {
			return nil, status.Errorf(codes.InvalidArgument, "report %d: for node %q, sent by %q", i, r.Node, req.Node)
		}
		cmd.PodStatuses = append(cmd.PodStatuses, r)
	}
	if len(cmd.PodStatuses) == 0 {
		return &pb.ReportPodsResponse{}, nil
	}
	res, err := s.a.node.Apply(ctx, cmd)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.ReportPodsResponse{}
	for _, r := range res.Rejected {
		resp.Rejected = append(resp.Rejected, fmt.Sprintf("%s/%s: %s", r.Namespace, r.Name, r.Reason))
	}
	return resp, nil
}
