package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/driver"
	"github.com/berth-dev/berth/driver/logfile"
	"github.com/berth-dev/berth/gossip"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// workloadsServer answers logs, exec and images on every agent. A call
// about a pod goes to the agent of the pod's node (marked local, so it is
// relayed once at most); image calls go to every live node.
type workloadsServer struct {
	pb.UnimplementedWorkloadsServer
	a *Agent
}

// localKey marks a call relayed to the node that serves it.
const localKey = "berth-node-local"

func isLocal(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	return ok && len(md.Get(localKey)) > 0
}

func toNode(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, localKey, "1")
}

// nodeError words the failure of a call relayed to a pod's node, so that
// the caller does not take the node's connection error for its own.
func nodeError(addr string, err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "connection error") {
		return err
	}
	return status.Errorf(codes.Unavailable, "the pod's node at %s cannot be reached: %s", addr, strings.ReplaceAll(st.Message(), "connection error", "no connection"))
}

// podNode returns the API address of a pod's node, or "" when this agent
// serves the call: the pod is its own, or the call was relayed to it.
func (a *Agent) podNode(ctx context.Context, ns, name string) (string, error) {
	if isLocal(ctx) {
		return "", nil
	}
	conn, err := a.conns.get(a.APIAddr())
	if err != nil {
		return "", err
	}
	if ns == "" {
		ns = "default"
	}
	resp, err := pb.NewResourcesClient(conn).Get(ctx, &pb.GetRequest{Ref: &pb.ObjectRef{Kind: "Pod", Namespace: ns, Name: name}})
	if err != nil {
		return "", err
	}
	var p api.Pod
	if err := json.Unmarshal(resp.Object, &p); err != nil {
		return "", err
	}
	node := p.Spec.NodeName
	switch {
	case node == "":
		return "", status.Errorf(codes.FailedPrecondition, "pod %q is not scheduled to a node yet", name)
	case node == a.cfg.Name:
		return "", nil
	}
	for _, m := range a.pool.Members() {
		if m.Name == node {
			if m.State != gossip.StateAlive || m.Meta.API == "" {
				return "", status.Errorf(codes.Unavailable, "node %s of pod %q is %s", node, name, m.State)
			}
			return m.Meta.API, nil
		}
	}
	return "", status.Errorf(codes.Unavailable, "node %s of pod %q is not in the cluster", node, name)
}

// localPod returns this node's worker for a pod and the container meant
// ("" names the first).
func (a *Agent) localPod(ns, name, container string) (*podWorker, *api.Container, error) {
	k := a.kubelet
	if k == nil {
		return nil, nil, status.Errorf(codes.FailedPrecondition, "node %s runs no pods (no containerd socket)", a.cfg.Name)
	}
	select {
	case <-k.ready:
	default:
		return nil, nil, status.Errorf(codes.Unavailable, "node %s is not ready to run pods yet", a.cfg.Name)
	}
	if ns == "" {
		ns = "default"
	}
	w := k.workerByName(ns, name)
	if w == nil {
		return nil, nil, status.Errorf(codes.NotFound, "pod %q does not run on node %s", name, a.cfg.Name)
	}
	p := w.current()
	if p == nil {
		return nil, nil, status.Errorf(codes.NotFound, "pod %q is being removed", name)
	}
	if container == "" {
		return w, &p.Spec.Containers[0], nil
	}
	for i := range p.Spec.Containers {
		if p.Spec.Containers[i].Name == container {
			return w, &p.Spec.Containers[i], nil
		}
	}
	return nil, nil, status.Errorf(codes.NotFound, "pod %q has no container %q", name, container)
}

// streamWriter sends what is written as log or exec output messages.
type streamWriter struct {
	mu   *sync.Mutex
	send func([]byte) error
}

func (w streamWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.send(slices.Clone(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (s *workloadsServer) Logs(req *pb.LogsRequest, stream pb.Workloads_LogsServer) error {
	a, ctx := s.a, stream.Context()
	addr, err := a.podNode(ctx, req.Namespace, req.Pod)
	if err != nil {
		return err
	}
	if addr != "" {
		return nodeError(addr, relayLogs(ctx, a, addr, req, stream))
	}
	w, c, err := a.localPod(req.Namespace, req.Pod, req.Container)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	stdout := streamWriter{&mu, func(b []byte) error { return stream.Send(&pb.LogsChunk{Stdout: b}) }}
	stderr := streamWriter{&mu, func(b []byte) error { return stream.Send(&pb.LogsChunk{Stderr: b}) }}
	tail := int(req.Tail)
	err = logfile.Read(ctx, w.k.logPath(w.last, c.Name), logfile.ReadOptions{Follow: req.Follow, Tail: tail, Timestamps: req.Timestamps}, stdout, stderr)
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return status.Errorf(codes.NotFound, "container %q of pod %q has no log yet", c.Name, req.Pod)
	}
	return err
}

func relayLogs(ctx context.Context, a *Agent, addr string, req *pb.LogsRequest, stream pb.Workloads_LogsServer) error {
	conn, err := a.conns.get(addr)
	if err != nil {
		return err
	}
	in, err := pb.NewWorkloadsClient(conn).Logs(toNode(ctx), req)
	if err != nil {
		return err
	}
	for {
		m, err := in.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(m); err != nil {
			return err
		}
	}
}

func (s *workloadsServer) Exec(stream pb.Workloads_ExecServer) error {
	a, ctx := s.a, stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.Start
	if start == nil || len(start.Command) == 0 {
		return status.Error(codes.InvalidArgument, "exec: the first message must name the pod and the command")
	}
	addr, err := a.podNode(ctx, start.Namespace, start.Pod)
	if err != nil {
		return err
	}
	if addr != "" {
		return nodeError(addr, relayExec(ctx, a, addr, first, stream))
	}
	w, c, err := a.localPod(start.Namespace, start.Pod, start.Container)
	if err != nil {
		return err
	}
	cs := w.latest(c.Name)
	if cs == nil || cs.State != driver.StateRunning {
		return status.Errorf(codes.FailedPrecondition, "container %q of pod %q is not running", c.Name, start.Pod)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resize := make(chan driver.TermSize, 4)
	var size *driver.TermSize
	if sz := start.Size; sz != nil {
		size = &driver.TermSize{Width: uint16(sz.Width), Height: uint16(sz.Height)}
	}
	var stdin io.Reader
	pr, pw := io.Pipe()
	if start.Stdin {
		stdin = pr
	}
	go func() {
		defer pw.Close()
		for {
			m, err := stream.Recv()
			if err != nil {
				if err != io.EOF {
					cancel() // the caller is gone
				}
				return
			}
			if len(m.Stdin) > 0 {
				if _, err := pw.Write(m.Stdin); err != nil {
					return
				}
			}
			if m.Resize != nil {
				select {
				case resize <- driver.TermSize{Width: uint16(m.Resize.Width), Height: uint16(m.Resize.Height)}:
				default:
				}
			}
			if m.StdinEof {
				pw.Close()
			}
		}
	}()
	var mu sync.Mutex
	stdout := streamWriter{&mu, func(b []byte) error { return stream.Send(&pb.ExecOutput{Stdout: b}) }}
	stderr := streamWriter{&mu, func(b []byte) error { return stream.Send(&pb.ExecOutput{Stderr: b}) }}
	code, err := w.k.rt.Exec(ctx, cs.ID, driver.ExecSpec{Cmd: start.Command, TTY: start.Tty, Stdin: stdin,
		Stdout: stdout, Stderr: stderr, Size: size, Resize: resize})
	pr.Close()
	if err != nil {
		if errors.Is(err, driver.ErrInvalid) {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		return toStatus(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return stream.Send(&pb.ExecOutput{Exited: true, ExitCode: int32(code)})
}

func relayExec(ctx context.Context, a *Agent, addr string, first *pb.ExecInput, stream pb.Workloads_ExecServer) error {
	conn, err := a.conns.get(addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out, err := pb.NewWorkloadsClient(conn).Exec(toNode(ctx))
	if err != nil {
		return err
	}
	if err := out.Send(first); err != nil {
		return err
	}
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				if err == io.EOF {
					_ = out.CloseSend()
				} else {
					cancel()
				}
				return
			}
			if out.Send(m) != nil {
				return
			}
		}
	}()
	for {
		m, err := out.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(m); err != nil {
			return err
		}
	}
}

// chunkReader reads an image stream's chunks as one byte stream.
type chunkReader struct {
	stream pb.Workloads_ImageLoadServer
	buf    []byte
}

func (r *chunkReader) Read(b []byte) (int, error) {
	for len(r.buf) == 0 {
		m, err := r.stream.Recv()
		if err != nil {
			return 0, err
		}
		r.buf = m.Data
	}
	n := copy(b, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (s *workloadsServer) ImageLoad(stream pb.Workloads_ImageLoadServer) error {
	a, ctx := s.a, stream.Context()
	if isLocal(ctx) {
		return stream.SendAndClose(&pb.ImageLoadResponse{Nodes: []*pb.NodeImages{a.loadLocal(ctx, &chunkReader{stream: stream})}})
	}
	// Spool the archive once, then send it to every node at once.
	if err := os.MkdirAll(filepath.Join(a.cfg.DataDir, "tmp"), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Join(a.cfg.DataDir, "tmp"), "image-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, &chunkReader{stream: stream}); err != nil && err != io.EOF {
		return err
	}
	results := a.eachNode(ctx, func(ctx context.Context, name, addr string) *pb.NodeImages {
		r, err := os.Open(f.Name())
		if err != nil {
			return &pb.NodeImages{Node: name, Error: err.Error()}
		}
		defer r.Close()
		if addr == "" {
			return a.loadLocal(ctx, r)
		}
		conn, err := a.conns.get(addr)
		if err != nil {
			return &pb.NodeImages{Node: name, Error: err.Error()}
		}
		out, err := pb.NewWorkloadsClient(conn).ImageLoad(toNode(ctx))
		if err == nil {
			buf := make([]byte, 1<<20)
			for err == nil {
				var n int
				n, err = r.Read(buf)
				if n > 0 {
					if serr := out.Send(&pb.ImageChunk{Data: buf[:n]}); serr != nil {
						err = serr
					}
				}
			}
			if err == io.EOF {
				err = nil
			}
		}
		var resp *pb.ImageLoadResponse
		if err == nil {
			resp, err = out.CloseAndRecv()
		}
		if err != nil || len(resp.Nodes) == 0 {
			return &pb.NodeImages{Node: name, Error: fmt.Sprint("load the image: ", err)}
		}
		return resp.Nodes[0]
	})
	return stream.SendAndClose(&pb.ImageLoadResponse{Nodes: results})
}

func (a *Agent) loadLocal(ctx context.Context, r io.Reader) *pb.NodeImages {
	out := &pb.NodeImages{Node: a.cfg.Name}
	rt, err := a.runtime()
	if err != nil {
		out.Error = err.Error()
		return out
	}
	imgs, err := rt.ImportImages(ctx, r)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	for _, im := range imgs {
		out.Images = append(out.Images, &pb.Image{Ref: im.Ref, Digest: im.Digest, Size: im.Size})
	}
	return out
}

func (a *Agent) runtime() (driver.Runtime, error) {
	k := a.kubelet
	if k == nil {
		return nil, fmt.Errorf("node %s runs no pods (no containerd socket)", a.cfg.Name)
	}
	select {
	case <-k.ready:
		return k.rt, nil
	default:
		return nil, fmt.Errorf("node %s is not ready to run pods yet", a.cfg.Name)
	}
}

func (s *workloadsServer) ImageList(ctx context.Context, req *pb.ImageListRequest) (*pb.ImageListResponse, error) {
	a := s.a
	list := func(ctx context.Context) *pb.NodeImages {
		out := &pb.NodeImages{Node: a.cfg.Name}
		rt, err := a.runtime()
		if err == nil {
			var imgs []driver.Image
			if imgs, err = rt.ListImages(ctx); err == nil {
				for _, im := range imgs {
					out.Images = append(out.Images, &pb.Image{Ref: im.Ref, Digest: im.Digest, Size: im.Size})
				}
			}
		}
		if err != nil {
			out.Error = err.Error()
		}
		return out
	}
	if isLocal(ctx) {
		return &pb.ImageListResponse{Nodes: []*pb.NodeImages{list(ctx)}}, nil
	}
	return &pb.ImageListResponse{Nodes: a.eachNode(ctx, func(ctx context.Context, name, addr string) *pb.NodeImages {
		if addr == "" {
			return list(ctx)
		}
		conn, err := a.conns.get(addr)
		if err != nil {
			return &pb.NodeImages{Node: name, Error: err.Error()}
		}
		resp, err := pb.NewWorkloadsClient(conn).ImageList(toNode(ctx), req)
		if err != nil || len(resp.Nodes) == 0 {
			return &pb.NodeImages{Node: name, Error: fmt.Sprint("list images: ", err)}
		}
		return resp.Nodes[0]
	})}, nil
}

// eachNode calls fn for every live member at once (addr "" for this
// agent) and returns the answers in name order, each named for its node.
func (a *Agent) eachNode(ctx context.Context, fn func(ctx context.Context, name, addr string) *pb.NodeImages) []*pb.NodeImages {
	return eachMember(a, func(name, addr string) *pb.NodeImages {
		r := fn(ctx, name, addr)
		r.Node = name
		return r
	})
}
