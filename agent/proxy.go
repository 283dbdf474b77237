package agent

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/berth-dev/berth/gossip"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// A worker is not a Raft member: its API answers Info and Members itself
// and passes every other call, unary or streaming, unchanged to a server
// it finds through gossip. When that server is gone it tries the next, so
// the worker's API survives the loss of any one server.

// frame is one message as bytes, passed through without decoding.
type frame struct{ b []byte }

// passCodec passes frames through and encodes protobuf messages (the
// worker's own answers) as the proto codec does.
type passCodec struct{}

func (passCodec) Name() string { return "proto" }

func (passCodec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case *frame:
		return m.b, nil
	case proto.Message:
		return proto.Marshal(m)
	}
	return nil, fmt.Errorf("proxy: cannot encode %T", v)
}

func (passCodec) Unmarshal(data []byte, v any) error {
	switch m := v.(type) {
	case *frame:
		m.b = append(m.b[:0], data...)
		return nil
	case proto.Message:
		return proto.Unmarshal(data, m)
	}
	return fmt.Errorf("proxy: cannot decode into %T", v)
}

// workerServer returns the gRPC server of a worker agent.
func (a *Agent) workerServer() *grpc.Server {
	return grpc.NewServer(a.serverOptions(grpc.ChainUnaryInterceptor(a.unaryAuth),
		grpc.ForceServerCodec(passCodec{}), grpc.UnknownServiceHandler(a.proxy))...)
}

// proxy answers a call on a worker.
func (a *Agent) proxy(_ any, ss grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(ss)
	switch method {
	case pb.Cluster_Info_FullMethodName:
		var req pb.InfoRequest
		if err := ss.RecvMsg(&req); err != nil {
			return err
		}
		return ss.SendMsg(a.workerInfo())
	case pb.Cluster_Members_FullMethodName:
		var req pb.MembersRequest
		if err := ss.RecvMsg(&req); err != nil {
			return err
		}
		return ss.SendMsg(a.membersResponse())
	}
	return a.pass(ss, method)
}

// workerInfo is a worker's answer to Info: it is in the cluster when it
// knows a server, and names the servers it knows (a server that joins
// through a worker's address finds the cluster this way).
func (a *Agent) workerInfo() *pb.InfoResponse {
	resp := &pb.InfoResponse{Self: &pb.ServerInfo{Id: a.cfg.Name, ApiAddr: a.APIAddr(), GossipAddr: a.pool.Addr()}}
	for _, m := range a.pool.Members() {
		if m.State == gossip.StateAlive && m.Meta.HasRole(gossip.RoleServer) {
			resp.Known = append(resp.Known, &pb.ServerInfo{Id: m.Name, ApiAddr: m.Meta.API, RaftAddr: m.Meta.Raft, GossipAddr: m.Addr})
		}
	}
	resp.InCluster = len(resp.Known) > 0
	a.gossipInfo(resp)
	return resp
}

// pass relays a call to a server. The first request message is read before
// a server is chosen, so that a call whose server cannot be reached is
// tried on the next one (writes carry request IDs: a retry applies once).
func (a *Agent) pass(ss grpc.ServerStream, method string) error {
	first := &frame{}
	firstErr := ss.RecvMsg(first)
	if firstErr != nil && firstErr != io.EOF {
		return firstErr
	}
	servers := a.servers()
	if len(servers) == 0 {
		return status.Error(codes.Unavailable, "worker: no server is alive in the gossip view")
	}
	md, _ := metadata.FromIncomingContext(ss.Context())
	var err error
	for _, addr := range servers {
		var relayed bool
		relayed, err = a.passTo(ss, method, addr, md, first, firstErr == io.EOF)
		if err == nil || relayed || status.Code(err) != codes.Unavailable {
			if err == nil {
				a.goodServer.Store(&addr)
			}
			return err
		}
		a.log.Debug("proxy: server unavailable", "server", addr, "err", err)
	}
	return err
}

// relayUnary passes a unary call the worker would answer itself to a
// server, as pass does a stream: for a user, whose token the server checks.
func (a *Agent) relayUnary(ctx context.Context, method string, req any) (any, error) {
	b, err := passCodec{}.Marshal(req)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	md, _ := metadata.FromIncomingContext(ctx)
	err = status.Error(codes.Unavailable, "worker: no server is alive in the gossip view")
	for _, addr := range a.servers() {
		conn, cerr := a.conns.get(addr)
		if cerr != nil {
			continue
		}
		resp := &frame{}
		err = conn.Invoke(metadata.NewOutgoingContext(ctx, md.Copy()), method, &frame{b: b}, resp, grpc.ForceCodec(passCodec{}))
		if status.Code(err) != codes.Unavailable {
			return resp, err
		}
	}
	return nil, err
}

// passTo relays the call to one server; relayed says whether anything came
// back from it (then the call cannot be retried elsewhere).
func (a *Agent) passTo(ss grpc.ServerStream, method, addr string, md metadata.MD, first *frame, noFirst bool) (relayed bool, err error) {
	conn, err := a.conns.get(addr)
	if err != nil {
		return false, status.Error(codes.Unavailable, err.Error())
	}
	ctx, cancel := context.WithCancel(ss.Context())
	defer cancel()
	ctx = metadata.NewOutgoingContext(ctx, md.Copy())
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, method, grpc.ForceCodec(passCodec{}))
	if err != nil {
		return false, err
	}
	// Client to server: the first message, then the rest.
	go func() {
		if !noFirst {
			if err := cs.SendMsg(first); err != nil {
				return
			}
			for {
				f := &frame{}
				if err := ss.RecvMsg(f); err != nil {
					break
				}
				if err := cs.SendMsg(f); err != nil {
					return
				}
			}
		}
		_ = cs.CloseSend()
	}()
	// Server to client.
	for {
		f := &frame{}
		err := cs.RecvMsg(f)
		if !relayed {
			if h, herr := cs.Header(); herr == nil && (err == nil || errors.Is(err, io.EOF)) {
				_ = ss.SetHeader(h)
			}
		}
		if errors.Is(err, io.EOF) {
			ss.SetTrailer(cs.Trailer())
			return true, nil
		}
		if err != nil {
			ss.SetTrailer(cs.Trailer())
			return relayed, err
		}
		relayed = true
		if err := ss.SendMsg(f); err != nil {
			return true, err
		}
	}
}
