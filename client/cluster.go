package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc"
)

// Peer is a Raft server.
type Peer struct {
	ID, RaftAddr, APIAddr string
	Voter, Leader         bool
}

// Peers lists the Raft configuration as the answering server knows it.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var resp *pb.PeersResponse
	err := c.do(ctx, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = pb.NewClusterClient(conn).Peers(ctx, &pb.PeersRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []Peer
	for _, p := range resp.Peers {
		out = append(out, Peer{ID: p.Id, RaftAddr: p.RaftAddr, APIAddr: p.ApiAddr, Voter: p.Suffrage == "Voter", Leader: p.Leader})
	}
	return out, nil
}

// ServerInfo describes one server as it answers about itself.
type ServerInfo struct {
	ID, RaftAddr, APIAddr   string
	State                   string // Leader, Follower, Candidate
	LeaderID, LeaderAPIAddr string
	AppliedIndex            uint64
	// FirstLogIndex and LastLogIndex bound the server's Raft log.
	FirstLogIndex, LastLogIndex uint64
}

// Info asks the first server that answers about itself and its leader.
func (c *Client) Info(ctx context.Context) (*ServerInfo, error) {
	var resp *pb.InfoResponse
	err := c.do(ctx, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = pb.NewClusterClient(conn).Info(ctx, &pb.InfoRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ServerInfo{
		ID: resp.Self.GetId(), RaftAddr: resp.Self.GetRaftAddr(), APIAddr: resp.Self.GetApiAddr(),
		State: resp.State, LeaderID: resp.LeaderId, LeaderAPIAddr: resp.LeaderApiAddr, AppliedIndex: resp.AppliedIndex,
		FirstLogIndex: resp.FirstLogIndex, LastLogIndex: resp.LastLogIndex,
	}, nil
}

// ErrNoLeader: the cluster has no leader now.
var ErrNoLeader = errors.New("client: the cluster has no leader")

// Leader returns the leader's ID and API address.
func (c *Client) Leader(ctx context.Context) (id, apiAddr string, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	for {
		info, err := c.Info(ctx)
		if err != nil {
			return "", "", err
		}
		if info.LeaderID != "" && info.LeaderAPIAddr != "" {
			return info.LeaderID, info.LeaderAPIAddr, nil
		}
		if ctx.Err() != nil {
			return "", "", ErrNoLeader
		}
		c.mu.Lock()
		c.next++
		c.mu.Unlock()
		if err := sleepCtx(ctx); err != nil {
			return "", "", ErrNoLeader
		}
	}
}

// RemoveServer removes a server from the Raft configuration.
func (c *Client) RemoveServer(ctx context.Context, id string) error {
	return c.do(ctx, func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := pb.NewClusterClient(conn).RemoveServer(ctx, &pb.RemoveServerRequest{Id: id})
		return err
	})
}

// leaderConn returns a connection to the leader, for the calls that only it
// serves (snapshots).
func (c *Client) leaderConn(ctx context.Context) (*grpc.ClientConn, error) {
	_, addr, err := c.Leader(ctx)
	if err != nil {
		return nil, err
	}
	return c.conn(addr)
}

// SnapshotSave writes a consistent snapshot of the whole cluster state to w
// and returns its size.
func (c *Client) SnapshotSave(ctx context.Context, w io.Writer) (int64, error) {
	conn, err := c.leaderConn(ctx)
	if err != nil {
		return 0, err
	}
	stream, err := pb.NewClusterClient(conn).SnapshotSave(ctx, &pb.SnapshotSaveRequest{})
	if err != nil {
		return 0, wrap(err)
	}
	// Buffer it all: a broken stream must not leave half a file behind.
	var buf bytes.Buffer
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, wrap(err)
		}
		buf.Write(chunk.Data)
	}
	return io.Copy(w, &buf)
}

// SnapshotRestore replaces the whole cluster state with a snapshot (disaster
// recovery). A snapshot that does not decode changes nothing.
func (c *Client) SnapshotRestore(ctx context.Context, r io.Reader) (uint64, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return 0, fmt.Errorf("client: read snapshot: %w", err)
	}
	conn, err := c.leaderConn(ctx)
	if err != nil {
		return 0, err
	}
	stream, err := pb.NewClusterClient(conn).SnapshotRestore(ctx)
	if err != nil {
		return 0, wrap(err)
	}
	for b := data; len(b) > 0; {
		n := min(len(b), 1<<20)
		if err := stream.Send(&pb.SnapshotChunk{Data: b[:n]}); err != nil {
			break // the reason comes from CloseAndRecv
		}
		b = b[n:]
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return 0, wrap(err)
	}
	return resp.Revision, nil
}

// StateDigest is one server's replica, summed up.
type StateDigest struct {
	// Index is the index of the last command in the replica.
	Index uint64
	// SHA256 (hex) of the replica as a snapshot writes it; replicas at the
	// same Index must have the same.
	SHA256 string
	Bytes  uint64
}

// StateDigest asks the first server that answers for a digest of its own
// replica: a client of one server asks that server.
func (c *Client) StateDigest(ctx context.Context) (*StateDigest, error) {
	var resp *pb.StateDigestResponse
	err := c.do(ctx, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = pb.NewClusterClient(conn).StateDigest(ctx, &pb.StateDigestRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &StateDigest{Index: resp.Index, SHA256: resp.Sha256, Bytes: resp.Bytes}, nil
}
