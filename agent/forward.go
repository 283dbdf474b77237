package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/fsm"
	"github.com/berth-dev/berth/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// errNoLeader: no leader is known (an election is under way).
var errNoLeader = errors.New("agent: no leader known, try again")

// connPool keeps one client connection per peer API address.
type connPool struct {
	tls   *tls.Config // the agent's own certificate, the cluster's CA
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func newConnPool(tc *tls.Config) *connPool {
	return &connPool{tls: tc, conns: map[string]*grpc.ClientConn{}}
}

func (p *connPool) get(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	creds := credentials.NewTLS(p.tls)
	if plaintext {
		creds = insecure.NewCredentials()
	}
	c, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)))
	if err != nil {
		return nil, err
	}
	p.conns[addr] = c
	return c, nil
}

func (p *connPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = map[string]*grpc.ClientConn{}
}

// leaderAPI returns the API address of the leader this server knows of.
func (a *Agent) leaderAPI() (string, error) {
	id, _ := a.node.Leader()
	if id == "" {
		return "", errNoLeader
	}
	if id == a.cfg.Name {
		return a.APIAddr(), nil
	}
	for _, s := range a.fsm.View().Servers() {
		if s.ID == id {
			return s.APIAddr, nil
		}
	}
	if addr := a.disc.apiAddrOf(id); addr != "" {
		return addr, nil
	}
	return "", fmt.Errorf("%w: leader %s has no API address yet", errNoLeader, id)
}

// hopKey marks a forwarded request so that it is forwarded once at most.
const hopKey = "berth-forwarded"

// forward sends a unary call to the leader.
func (a *Agent) forward(ctx context.Context, method string, req, resp any) error {
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get(hopKey)) > 0 {
		return status.Error(codes.Unavailable, "not the leader (the request was forwarded already)")
	}
	addr, err := a.leaderAPI()
	if err != nil {
		return toStatus(err)
	}
	conn, err := a.conns.get(addr)
	if err != nil {
		return toStatus(err)
	}
	ctx = metadata.AppendToOutgoingContext(ctx, hopKey, a.cfg.Name)
	return conn.Invoke(ctx, method, req, resp)
}

// toStatus turns our errors into gRPC status errors at the edge.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, api.ErrInvalid), errors.Is(err, fsm.ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, fsm.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, fsm.ErrAlreadyExists):
		code = codes.AlreadyExists
	case errors.Is(err, fsm.ErrConflict):
		code = codes.Aborted
	case errors.Is(err, fsm.ErrForbidden):
		code = codes.FailedPrecondition
	case errors.Is(err, fsm.ErrCompacted):
		code = codes.OutOfRange
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrUnknownOutcome),
		errors.Is(err, raft.ErrShutdown), errors.Is(err, errNoLeader):
		code = codes.Unavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}

func isAlreadyExists(err error) bool { return errors.Is(err, fsm.ErrAlreadyExists) }
