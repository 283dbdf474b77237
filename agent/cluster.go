package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"

	"github.com/berth-dev/berth/fsm"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// clusterServer implements the Cluster service.
type clusterServer struct {
	pb.UnimplementedClusterServer
	a *Agent
}

func (s *clusterServer) Info(ctx context.Context, req *pb.InfoRequest) (*pb.InfoResponse, error) {
	a := s.a
	if req.Caller != nil && req.Caller.Id != "" {
		a.disc.meet(req.Caller)
	}
	resp := &pb.InfoResponse{
		Self: a.disc.self, InCluster: a.node.HasState(), AppliedIndex: a.fsm.Index(), State: a.node.State(),
	}
	resp.FirstLogIndex, resp.LastLogIndex = a.node.LogRange()
	resp.CommitIndex = a.node.Status().CommitIndex
	resp.LeaderId, _ = a.node.Leader()
	if addr, err := a.leaderAPI(); err == nil {
		resp.LeaderApiAddr = addr
	}
	resp.Known = a.disc.known(resp.InCluster)
	a.gossipInfo(resp)
	return resp, nil
}

func (s *clusterServer) Members(ctx context.Context, req *pb.MembersRequest) (*pb.MembersResponse, error) {
	return s.a.membersResponse(), nil
}

func (s *clusterServer) StateDigest(ctx context.Context, req *pb.StateDigestRequest) (*pb.StateDigestResponse, error) {
	snap := s.a.fsm.Snapshot()
	h := sha256.New()
	n, err := snap.WriteTo(h)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.StateDigestResponse{Index: snap.Index(), Sha256: hex.EncodeToString(h.Sum(nil)), Bytes: uint64(n)}, nil
}

func (s *clusterServer) Join(ctx context.Context, req *pb.JoinRequest) (*pb.JoinResponse, error) {
	a := s.a
	if !a.node.IsLeader() {
		resp := new(pb.JoinResponse)
		return resp, a.forward(ctx, pb.Cluster_Join_FullMethodName, req, resp)
	}
	sv := req.Server
	if sv == nil || sv.Id == "" || sv.RaftAddr == "" || sv.ApiAddr == "" {
		return nil, status.Error(codes.InvalidArgument, "join needs the server's id, raft and api addresses")
	}
	servers, err := a.node.Servers()
	if err != nil {
		return nil, toStatus(err)
	}
	member := false
	for _, p := range servers {
		member = member || p.ID == sv.Id && p.Addr == sv.RaftAddr && p.Voter
	}
	if req.RegisterOnly && !member {
		return nil, status.Errorf(codes.FailedPrecondition, "server %q is not a raft peer", sv.Id)
	}
	if err := a.registerServer(ctx, sv); err != nil {
		return nil, toStatus(err)
	}
	if member {
		return &pb.JoinResponse{}, nil
	}
	a.log.Info("adding server", "id", sv.Id, "raft", sv.RaftAddr)
	if err := a.node.AddVoter(ctx, sv.Id, sv.RaftAddr); err != nil {
		return nil, toStatus(err)
	}
	return &pb.JoinResponse{}, nil
}

func (s *clusterServer) RemoveServer(ctx context.Context, req *pb.RemoveServerRequest) (*pb.RemoveServerResponse, error) {
	a := s.a
	if !a.node.IsLeader() {
		resp := new(pb.RemoveServerResponse)
		return resp, a.forward(ctx, pb.Cluster_RemoveServer_FullMethodName, req, resp)
	}
	servers, err := a.node.Servers()
	if err != nil {
		return nil, toStatus(err)
	}
	found, voters := false, 0
	for _, p := range servers {
		found = found || p.ID == req.Id
		if p.Voter {
			voters++
		}
	}
	if !found {
		return nil, status.Errorf(codes.NotFound, "server %q is not a raft peer", req.Id)
	}
	if req.Id == a.cfg.Name {
		if voters < 2 {
			return nil, status.Errorf(codes.FailedPrecondition, "%s is the only voter: removing it would leave no cluster", req.Id)
		}
		// A leader that removed itself would step down before it could
		// record the removal: it hands leadership over first, and the
		// caller's retry reaches the new leader, which removes it.
		if err := a.node.TransferLeadership(); err != nil {
			return nil, toStatus(err)
		}
		return nil, status.Errorf(codes.Unavailable, "%s handed leadership over before its removal; try again", req.Id)
	}
	if err := a.node.RemoveServer(ctx, req.Id); err != nil {
		return nil, toStatus(err)
	}
	if _, err := a.node.Apply(ctx, &fsm.Command{Type: fsm.CmdRemoveServer, Time: a.now(), Server: &fsm.ServerRecord{ID: req.Id}}); err != nil {
		return nil, toStatus(err)
	}
	return &pb.RemoveServerResponse{}, nil
}

func (s *clusterServer) Peers(ctx context.Context, req *pb.PeersRequest) (*pb.PeersResponse, error) {
	a := s.a
	servers, err := a.node.Servers()
	if err != nil {
		return nil, toStatus(err)
	}
	apiAddr := map[string]string{}
	for _, r := range a.fsm.View().Servers() {
		apiAddr[r.ID] = r.APIAddr
	}
	leader, _ := a.node.Leader()
	resp := &pb.PeersResponse{}
	for _, p := range servers {
		suffrage := "Nonvoter"
		if p.Voter {
			suffrage = "Voter"
		}
		resp.Peers = append(resp.Peers, &pb.Peer{Id: p.ID, RaftAddr: p.Addr, ApiAddr: apiAddr[p.ID], Suffrage: suffrage, Leader: p.ID == leader})
	}
	return resp, nil
}

func (s *clusterServer) ReadIndex(ctx context.Context, req *pb.ReadIndexRequest) (*pb.ReadIndexResponse, error) {
	a := s.a
	if !a.node.IsLeader() {
		resp := new(pb.ReadIndexResponse)
		return resp, a.forward(ctx, pb.Cluster_ReadIndex_FullMethodName, req, resp)
	}
	idx, err := a.node.ReadIndex(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ReadIndexResponse{Index: idx}, nil
}

// linearize waits until the local state holds every write acknowledged
// before the call: the leader's ReadIndex, asked for here or forwarded.
func (a *Agent) linearize(ctx context.Context) error {
	var idx uint64
	if a.node.IsLeader() {
		var err error
		if idx, err = a.node.ReadIndex(ctx); err != nil {
			return err
		}
	} else {
		resp := new(pb.ReadIndexResponse)
		if err := a.forward(ctx, pb.Cluster_ReadIndex_FullMethodName, &pb.ReadIndexRequest{}, resp); err != nil {
			return err
		}
		idx = resp.Index
	}
	return a.node.WaitApplied(ctx, idx)
}

func notLeader(a *Agent) error {
	addr, _ := a.leaderAPI()
	return status.Errorf(codes.FailedPrecondition, "not the leader; the leader is at %q", addr)
}

func (s *clusterServer) SnapshotSave(req *pb.SnapshotSaveRequest, stream pb.Cluster_SnapshotSaveServer) error {
	a := s.a
	if !a.node.IsLeader() {
		return notLeader(a)
	}
	var buf bytes.Buffer
	if _, err := a.node.SaveSnapshot(stream.Context(), &buf); err != nil {
		return toStatus(err)
	}
	for b := buf.Bytes(); len(b) > 0; {
		n := min(len(b), 1<<20)
		if err := stream.Send(&pb.SnapshotChunk{Data: b[:n]}); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func (s *clusterServer) SnapshotRestore(stream pb.Cluster_SnapshotRestoreServer) error {
	a := s.a
	if !a.node.IsLeader() {
		return notLeader(a)
	}
	var buf bytes.Buffer
	for {
		c, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		buf.Write(c.Data)
	}
	idx, err := a.node.RestoreSnapshot(stream.Context(), buf.Bytes())
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "restore: %v", err)
	}
	if err := a.syncIndex(stream.Context()); err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(&pb.SnapshotRestoreResponse{Revision: idx})
}
