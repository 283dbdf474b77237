package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// workloadsServer is a scripted Workloads server: each test sets the
// handlers it needs. It checks the protocol the client follows, not the
// agent's behaviour (test/e2e does that).
type workloadsServer struct {
	pb.UnimplementedWorkloadsServer
	logs      func(*pb.LogsRequest, pb.Workloads_LogsServer) error
	exec      func(pb.Workloads_ExecServer) error
	imageLoad func(pb.Workloads_ImageLoadServer) error
	imageList func() (*pb.ImageListResponse, error)
}

func (s *workloadsServer) Logs(req *pb.LogsRequest, stream pb.Workloads_LogsServer) error {
	return s.logs(req, stream)
}

func (s *workloadsServer) Exec(stream pb.Workloads_ExecServer) error { return s.exec(stream) }

func (s *workloadsServer) ImageLoad(stream pb.Workloads_ImageLoadServer) error {
	return s.imageLoad(stream)
}

func (s *workloadsServer) ImageList(context.Context, *pb.ImageListRequest) (*pb.ImageListResponse, error) {
	return s.imageList()
}

// serveWorkloads serves s on a loopback port and returns its address.
func serveWorkloads(t *testing.T, s *workloadsServer) string {
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

// deadAddr returns a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func newTestClient(t *testing.T, addrs ...string) *Client {
	t.Helper()
	c, err := New(addrs, WithTimeout(10*time.Second), WithUnreachableTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLogs(t *testing.T) {
	var got *pb.LogsRequest
	addr := serveWorkloads(t, &workloadsServer{logs: func(req *pb.LogsRequest, stream pb.Workloads_LogsServer) error {
		got = req
		for _, m := range []*pb.LogsChunk{{Stdout: []byte("one\n")}, {Stderr: []byte("oops\n")}, {Stdout: []byte("two\n"), Stderr: []byte("again\n")}} {
			if err := stream.Send(m); err != nil {
				return err
			}
		}
		return nil
	}})
	c := newTestClient(t, addr)
	var out, errb bytes.Buffer
	err := c.Logs(testCtx(t), "prod", "web", LogsOptions{Container: "app", Tail: 10, Timestamps: true}, &out, &errb)
	if err != nil {
		t.Fatal(err)
	}
	want := &pb.LogsRequest{Namespace: "prod", Pod: "web", Container: "app", Tail: 10, Timestamps: true}
	if !proto.Equal(got, want) {
		t.Errorf("request %v, want %v", got, want)
	}
	if out.String() != "one\ntwo\n" || errb.String() != "oops\nagain\n" {
		t.Errorf("stdout %q stderr %q", out.String(), errb.String())
	}
}

func TestLogsTailAll(t *testing.T) {
	var tail int32
	addr := serveWorkloads(t, &workloadsServer{logs: func(req *pb.LogsRequest, _ pb.Workloads_LogsServer) error {
		tail = req.Tail
		return nil
	}})
	c := newTestClient(t, addr)
	if err := c.Logs(testCtx(t), "default", "web", LogsOptions{Tail: -1}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if tail != -1 {
		t.Errorf("tail %d, want -1 (all)", tail)
	}
}

// A follow ends when the caller's context does, with its error.
func TestLogsFollowEndsWithContext(t *testing.T) {
	addr := serveWorkloads(t, &workloadsServer{logs: func(req *pb.LogsRequest, stream pb.Workloads_LogsServer) error {
		if !req.Follow {
			return status.Error(codes.InvalidArgument, "want follow")
		}
		if err := stream.Send(&pb.LogsChunk{Stdout: []byte("line\n")}); err != nil {
			return err
		}
		<-stream.Context().Done()
		return nil
	}})
	c := newTestClient(t, addr)
	ctx, cancel := context.WithCancel(testCtx(t))
	w := &notifyWriter{wrote: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() { done <- c.Logs(ctx, "default", "web", LogsOptions{Follow: true, Tail: -1}, w, io.Discard) }()
	<-w.wrote
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Logs returned %v, want context.Canceled", err)
	}
}

type notifyWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func (w *notifyWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return w.buf.Write(b)
}

// A server that cannot be reached, or answers Unavailable before any log
// line, is skipped for the next; once lines flowed, a failure is final.
func TestLogsRetry(t *testing.T) {
	good := serveWorkloads(t, &workloadsServer{logs: func(_ *pb.LogsRequest, stream pb.Workloads_LogsServer) error {
		return stream.Send(&pb.LogsChunk{Stdout: []byte("hello\n")})
	}})
	noLeader := serveWorkloads(t, &workloadsServer{logs: func(*pb.LogsRequest, pb.Workloads_LogsServer) error {
		return status.Error(codes.Unavailable, "no leader")
	}})
	for _, first := range []string{deadAddr(t), noLeader} {
		c := newTestClient(t, first, good)
		var out bytes.Buffer
		if err := c.Logs(testCtx(t), "default", "web", LogsOptions{Tail: -1}, &out, io.Discard); err != nil {
			t.Fatalf("first server %s: %v", first, err)
		}
		if out.String() != "hello\n" {
			t.Errorf("stdout %q", out.String())
		}
	}

	broken := serveWorkloads(t, &workloadsServer{logs: func(_ *pb.LogsRequest, stream pb.Workloads_LogsServer) error {
		if err := stream.Send(&pb.LogsChunk{Stdout: []byte("partial\n")}); err != nil {
			return err
		}
		return status.Error(codes.Unavailable, "going away")
	}})
	c := newTestClient(t, broken, good)
	var out bytes.Buffer
	err := c.Logs(testCtx(t), "default", "web", LogsOptions{Tail: -1}, &out, io.Discard)
	if !IsUnavailable(err) {
		t.Fatalf("error %v, want unavailable", err)
	}
	if out.String() != "partial\n" {
		t.Errorf("stdout %q: the log was repeated or lost", out.String())
	}
}

func TestLogsNotFound(t *testing.T) {
	addr := serveWorkloads(t, &workloadsServer{logs: func(*pb.LogsRequest, pb.Workloads_LogsServer) error {
		return status.Error(codes.NotFound, `pod "web": not found`)
	}})
	c := newTestClient(t, addr)
	err := c.Logs(testCtx(t), "default", "web", LogsOptions{}, io.Discard, io.Discard)
	if !IsNotFound(err) || err.Error() != `pod "web": not found` {
		t.Fatalf("error %v, want the server's NotFound", err)
	}
}

// echoExec is an exec handler that checks the first message, waits for
// stdin's end and one resize, then echoes stdin to stdout, writes to
// stderr, and exits with code 3.
type echoExec struct {
	mu      sync.Mutex
	start   *pb.ExecStart
	resizes []*pb.TermSize
}

func (e *echoExec) serve(stream pb.Workloads_ExecServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if first.Start == nil {
		return status.Error(codes.InvalidArgument, "the first message must start the command")
	}
	e.mu.Lock()
	e.start = first.Start
	e.mu.Unlock()
	var stdin bytes.Buffer
	eof := false
	for !eof || len(e.resizes) == 0 {
		m, err := stream.Recv()
		if err != nil {
			return err
		}
		if m.Start != nil {
			return status.Error(codes.InvalidArgument, "start sent twice")
		}
		if eof && len(m.Stdin) > 0 {
			return status.Error(codes.InvalidArgument, "stdin after its end")
		}
		stdin.Write(m.Stdin)
		eof = eof || m.StdinEof
		if m.Resize != nil {
			e.mu.Lock()
			e.resizes = append(e.resizes, m.Resize)
			e.mu.Unlock()
		}
	}
	if err := stream.Send(&pb.ExecOutput{Stdout: bytes.ToUpper(stdin.Bytes())}); err != nil {
		return err
	}
	if err := stream.Send(&pb.ExecOutput{Stderr: []byte("warning\n")}); err != nil {
		return err
	}
	return stream.Send(&pb.ExecOutput{Exited: true, ExitCode: 3})
}

func TestExec(t *testing.T) {
	e := &echoExec{}
	addr := serveWorkloads(t, &workloadsServer{exec: e.serve})
	// The first server is unreachable: exec goes to the second.
	c := newTestClient(t, deadAddr(t), addr)
	resize := make(chan TermSize, 1)
	resize <- TermSize{Width: 120, Height: 40}
	// More stdin than one message carries.
	in := strings.Repeat("hello world ", 10000)
	var out, errb bytes.Buffer
	code, err := c.Exec(testCtx(t), "prod", "web", ExecOptions{
		Container: "app", Command: []string{"cat", "-"}, TTY: true,
		Stdin: strings.NewReader(in), Stdout: &out, Stderr: &errb,
		Size: &TermSize{Width: 80, Height: 24}, Resize: resize,
	})
	if err != nil {
		t.Fatal(err)
	}
	if code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
	if out.String() != strings.ToUpper(in) || errb.String() != "warning\n" {
		t.Errorf("stdout %d bytes (want %d), stderr %q", out.Len(), len(in), errb.String())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	want := &pb.ExecStart{Namespace: "prod", Pod: "web", Container: "app", Command: []string{"cat", "-"}, Tty: true, Stdin: true, Size: &pb.TermSize{Width: 80, Height: 24}}
	if !proto.Equal(e.start, want) {
		t.Errorf("start %v, want %v", e.start, want)
	}
	if len(e.resizes) != 1 || e.resizes[0].Width != 120 || e.resizes[0].Height != 40 {
		t.Errorf("resizes %v, want one of 120x40", e.resizes)
	}
}

// Without stdin the command starts with stdin false, and the client sends
// nothing more; the server's exit ends the call.
func TestExecNoStdin(t *testing.T) {
	addr := serveWorkloads(t, &workloadsServer{exec: func(stream pb.Workloads_ExecServer) error {
		first, err := stream.Recv()
		if err != nil {
			return err
		}
		if first.Start.GetStdin() || first.Start.GetSize() != nil {
			return status.Errorf(codes.InvalidArgument, "start %v", first.Start)
		}
		if err := stream.Send(&pb.ExecOutput{Stdout: []byte("hi\n")}); err != nil {
			return err
		}
		return stream.Send(&pb.ExecOutput{Exited: true})
	}})
	c := newTestClient(t, addr)
	var out bytes.Buffer
	code, err := c.Exec(testCtx(t), "default", "web", ExecOptions{Command: []string{"echo", "hi"}, Stdout: &out})
	if err != nil || code != 0 || out.String() != "hi\n" {
		t.Fatalf("code %d, err %v, stdout %q", code, err, out.String())
	}
}

func TestExecErrors(t *testing.T) {
	tests := []struct {
		name  string
		serve func(pb.Workloads_ExecServer) error
		check func(error) bool
	}{
		{"refused", func(pb.Workloads_ExecServer) error {
			return status.Error(codes.FailedPrecondition, `container "app" of pod "web" is not running`)
		}, func(err error) bool { return hasCode(err, codes.FailedPrecondition) }},
		{"no exit code", func(stream pb.Workloads_ExecServer) error {
			_, err := stream.Recv()
			return err
		}, func(err error) bool { return errors.Is(err, ErrNoExitCode) }},
		// Unavailable after the command may have started is not retried:
		// the second server would run it again.
		{"unavailable after start", func(stream pb.Workloads_ExecServer) error {
			if _, err := stream.Recv(); err != nil {
				return err
			}
			return status.Error(codes.Unavailable, "node went away")
		}, IsUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran atomic.Bool
			other := serveWorkloads(t, &workloadsServer{exec: func(pb.Workloads_ExecServer) error {
				ran.Store(true)
				return nil
			}})
			c := newTestClient(t, serveWorkloads(t, &workloadsServer{exec: tt.serve}), other)
			code, err := c.Exec(testCtx(t), "default", "web", ExecOptions{Command: []string{"true"}})
			if !tt.check(err) || code != -1 {
				t.Fatalf("code %d, error %v", code, err)
			}
			if ran.Load() {
				t.Fatal("the command went to a second server")
			}
		})
	}
	c := newTestClient(t, deadAddr(t))
	if _, err := c.Exec(testCtx(t), "default", "web", ExecOptions{}); err == nil {
		t.Fatal("exec without a command: no error")
	}
}

func TestImageLoad(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	var got bytes.Buffer
	addr := serveWorkloads(t, &workloadsServer{imageLoad: func(stream pb.Workloads_ImageLoadServer) error {
		for {
			m, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			mu.Lock()
			sizes = append(sizes, len(m.Data))
			got.Write(m.Data)
			mu.Unlock()
		}
		return stream.SendAndClose(&pb.ImageLoadResponse{Nodes: []*pb.NodeImages{
			{Node: "n1", Images: []*pb.Image{{Ref: "docker.io/library/busybox:latest", Digest: "sha256:abc", Size: 42}}},
			{Node: "n2", Error: "no space left on device"},
		}})
	}})
	c := newTestClient(t, deadAddr(t), addr)
	archive := bytes.Repeat([]byte("0123456789abcdef"), (5<<20)/2/16) // 2.5 MiB
	nodes, err := c.ImageLoad(testCtx(t), bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) != 3 || sizes[0] != 1<<20 || sizes[1] != 1<<20 || sizes[2] != 1<<19 {
		t.Errorf("chunk sizes %v, want 1 MiB, 1 MiB, 512 KiB", sizes)
	}
	if !bytes.Equal(got.Bytes(), archive) {
		t.Error("the server got other bytes than the archive")
	}
	want := []NodeImages{
		{Node: "n1", Images: []Image{{Ref: "docker.io/library/busybox:latest", Digest: "sha256:abc", Size: 42}}},
		{Node: "n2", Err: "no space left on device"},
	}
	if !reflect.DeepEqual(nodes, want) {
		t.Errorf("nodes %+v, want %+v", nodes, want)
	}
}

func TestImageLoadReadError(t *testing.T) {
	addr := serveWorkloads(t, &workloadsServer{imageLoad: func(stream pb.Workloads_ImageLoadServer) error {
		for {
			if _, err := stream.Recv(); err != nil {
				return err
			}
		}
	}})
	c := newTestClient(t, addr)
	r := io.MultiReader(bytes.NewReader(make([]byte, 100)), errReader{})
	if _, err := c.ImageLoad(testCtx(t), r); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("error %v, want the reader's", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestImageList(t *testing.T) {
	addr := serveWorkloads(t, &workloadsServer{imageList: func() (*pb.ImageListResponse, error) {
		return &pb.ImageListResponse{Nodes: []*pb.NodeImages{
			{Node: "n1", Images: []*pb.Image{{Ref: "a:1", Digest: "sha256:1", Size: 1}, {Ref: "b:2", Digest: "sha256:2", Size: 2}}},
			{Node: "n2", Error: "node n2 is not ready to run pods yet"},
		}}, nil
	}})
	c := newTestClient(t, addr)
	nodes, err := c.ImageList(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []NodeImages{
		{Node: "n1", Images: []Image{{"a:1", "sha256:1", 1}, {"b:2", "sha256:2", 2}}},
		{Node: "n2", Err: "node n2 is not ready to run pods yet"},
	}
	if !reflect.DeepEqual(nodes, want) {
		t.Errorf("nodes %+v, want %+v", nodes, want)
	}
}
