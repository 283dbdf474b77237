package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// What reaches pods on their nodes: logs, exec and images. Any server
// answers these calls and relays them to the pod's node.

// imageChunkBytes is the size of one message of an image upload.
const imageChunkBytes = 1 << 20

// stdinChunkBytes is the most stdin one exec message carries.
const stdinChunkBytes = 32 << 10

// LogsOptions choose what Logs reads.
type LogsOptions struct {
	// Container is the container's name; empty: the pod's only (or first)
	// container.
	Container string
	// Follow goes on writing what the container logs until ctx ends, across
	// restarts of the container.
	Follow bool
	// Tail is how many lines from the end to start with; negative: all.
	Tail int
	// Timestamps prefixes each line with the time it was logged.
	Timestamps bool
}

// Logs writes a container's log to stdout and stderr, each line to the
// stream the container wrote it to. With Follow it returns when ctx ends,
// with ctx's error.
//
// A call that fails before any log line arrived is tried on another server;
// once lines flowed, a broken stream ends the call (retrying would repeat
// them).
func (c *Client) Logs(ctx context.Context, ns, pod string, o LogsOptions, stdout, stderr io.Writer) error {
	req := &pb.LogsRequest{Namespace: ns, Pod: pod, Container: o.Container, Follow: o.Follow, Tail: clampInt32(o.Tail), Timestamps: o.Timestamps}
	err := c.stream(ctx, true, func(ctx context.Context, conn *grpc.ClientConn) (bool, error) {
		s, err := pb.NewWorkloadsClient(conn).Logs(ctx, req)
		if err != nil {
			return false, err
		}
		flowed := false
		for {
			m, err := s.Recv()
			if err == io.EOF {
				return flowed, nil
			}
			if err != nil {
				return flowed, err
			}
			flowed = true
			if err := writeAll(stdout, m.Stdout, stderr, m.Stderr); err != nil {
				return true, err
			}
		}
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// TermSize is the size of a terminal, in characters.
type TermSize struct {
	Width, Height uint16
}

// ExecOptions describe a command to run in a container.
type ExecOptions struct {
	// Container is the container's name; empty: the pod's only (or first)
	// container.
	Container string
	// Command is the program and its arguments; required.
	Command []string
	// TTY runs the command on a terminal: its output comes as stdout only.
	TTY bool
	// Stdin, when set, is copied to the command; its end closes the
	// command's stdin. Nil: the command's stdin is empty.
	Stdin io.Reader
	// Stdout and Stderr receive the command's output; nil discards it.
	Stdout, Stderr io.Writer
	// Size is the terminal's size at the start (TTY only); Resize carries
	// each later size.
	Size   *TermSize
	Resize <-chan TermSize
}

// ErrNoExitCode: an exec stream ended without the command's exit code.
var ErrNoExitCode = errors.New("client: exec ended without an exit code")

// Exec runs a command in a running container of a pod and returns its
// exit code once it has ended and all of its output was written.
//
// Stdin is read by a goroutine of its own; when the command ends while that
// goroutine is blocked in a Read, Exec returns without waiting for it, and
// what that Read returns is dropped.
//
// Exec is tried on another server only when the first one cannot be
// connected to: a command is never started twice.
func (c *Client) Exec(ctx context.Context, ns, pod string, o ExecOptions) (exitCode int, err error) {
	if len(o.Command) == 0 {
		return -1, errors.New("client: exec needs a command")
	}
	start := &pb.ExecStart{Namespace: ns, Pod: pod, Container: o.Container, Command: o.Command, Tty: o.TTY, Stdin: o.Stdin != nil}
	if o.Size != nil {
		start.Size = &pb.TermSize{Width: uint32(o.Size.Width), Height: uint32(o.Size.Height)}
	}
	exitCode = -1
	// The stdin reader stops with this context (unless blocked in Read).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Stdin is read once, whichever server gets it.
	var stdin <-chan []byte
	if o.Stdin != nil {
		stdin = readChunks(ctx, o.Stdin)
	}
	err = c.stream(ctx, false, func(ctx context.Context, conn *grpc.ClientConn) (bool, error) {
		code, flowed, err := execOnce(ctx, conn, start, stdin, o)
		if err == nil {
			exitCode = code
		}
		return flowed, err
	})
	if err != nil && ctx.Err() != nil {
		return -1, ctx.Err()
	}
	return exitCode, err
}

// execOnce runs one exec stream on conn. flowed reports whether stdin or
// output went through it.
func execOnce(ctx context.Context, conn *grpc.ClientConn, start *pb.ExecStart, stdin <-chan []byte, o ExecOptions) (code int, flowed bool, err error) {
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: the sender stops with ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := pb.NewWorkloadsClient(conn).Exec(ctx)
	if err != nil {
		return -1, false, err
	}
	var sent atomic.Bool // stdin went out: it cannot be sent again
	// When a send fails the stream broke, and Recv below says why.
	if s.Send(&pb.ExecInput{Start: start}) == nil {
		wg.Go(func() { sendInputs(ctx, s, stdin, o.Resize, &sent) })
	}
	for {
		m, err := s.Recv()
		if err == io.EOF {
			return -1, true, ErrNoExitCode
		}
		if err != nil {
			return -1, sent.Load(), err
		}
		if err := writeAll(o.Stdout, m.Stdout, o.Stderr, m.Stderr); err != nil {
			return -1, true, err
		}
		if m.Exited {
			return int(m.ExitCode), true, nil
		}
	}
}

// sendInputs is the one goroutine that sends on an exec stream after its
// first message: stdin chunks, stdin's end, and terminal sizes. It returns
// when ctx ends or a send fails (Recv then reports the stream's fate).
func sendInputs(ctx context.Context, s pb.Workloads_ExecClient, stdin <-chan []byte, resize <-chan TermSize, sent *atomic.Bool) {
	for {
		var m *pb.ExecInput
		select {
		case <-ctx.Done():
			return
		case b, ok := <-stdin:
			if !ok {
				m = &pb.ExecInput{StdinEof: true}
				stdin = nil // a nil channel is never ready again
			} else {
				m = &pb.ExecInput{Stdin: b}
			}
			sent.Store(true)
		case sz, ok := <-resize:
			if !ok {
				resize = nil
				continue
			}
			m = &pb.ExecInput{Resize: &pb.TermSize{Width: uint32(sz.Width), Height: uint32(sz.Height)}}
		}
		if s.Send(m) != nil {
			return
		}
	}
}

// readChunks copies r into a channel of chunks, closed at r's end (or at a
// read error, which ends stdin as its end would), or when ctx ends.
func readChunks(ctx context.Context, r io.Reader) <-chan []byte {
	out := make(chan []byte)
	go func() {
		defer close(out)
		for {
			buf := make([]byte, stdinChunkBytes)
			n, err := r.Read(buf)
			if n > 0 {
				select {
				case out <- buf[:n]:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return out
}

// Image is one image of a node.
type Image struct {
	Ref, Digest string
	Size        int64
}

// NodeImages are the images of one node, or why the node failed (Err); the
// other nodes are still listed.
type NodeImages struct {
	Node   string
	Images []Image
	Err    string
}

// ImageLoad sends an image archive (OCI or Docker, as `docker save`
// writes it) to every live node and returns what each loaded. It is tried
// on another server only when the first cannot be connected to, before r
// was read.
func (c *Client) ImageLoad(ctx context.Context, r io.Reader) ([]NodeImages, error) {
	var resp *pb.ImageLoadResponse
	err := c.stream(ctx, false, func(ctx context.Context, conn *grpc.ClientConn) (bool, error) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		s, err := pb.NewWorkloadsClient(conn).ImageLoad(ctx)
		if err != nil {
			return false, err
		}
		buf := make([]byte, imageChunkBytes)
		flowed := false
		for {
			n, rerr := io.ReadFull(r, buf)
			if n > 0 {
				flowed = true
				// Send copies the chunk into its message before it returns.
				if err := s.Send(&pb.ImageChunk{Data: buf[:n]}); err != nil {
					break // the reason comes from CloseAndRecv
				}
			}
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				break
			}
			if rerr != nil {
				return true, fmt.Errorf("client: read image archive: %w", rerr)
			}
		}
		resp, err = s.CloseAndRecv()
		return flowed, err
	})
	if err != nil {
		return nil, err
	}
	return nodeImages(resp.Nodes), nil
}

// ImageList lists the images of every live node.
func (c *Client) ImageList(ctx context.Context) ([]NodeImages, error) {
	var resp *pb.ImageListResponse
	err := c.do(ctx, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = pb.NewWorkloadsClient(conn).ImageList(ctx, &pb.ImageListRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return nodeImages(resp.Nodes), nil
}

func nodeImages(nodes []*pb.NodeImages) []NodeImages {
	out := make([]NodeImages, 0, len(nodes))
	for _, n := range nodes {
		ni := NodeImages{Node: n.Node, Err: n.Error}
		for _, im := range n.Images {
			ni.Images = append(ni.Images, Image{Ref: im.Ref, Digest: im.Digest, Size: im.Size})
		}
		out = append(out, ni)
	}
	return out
}

// stream runs fn, which drives one stream to its end, against the servers
// in turn, as do does for unary calls but with no time limit on one try: a
// stream lasts as long as ctx. fn reports whether data flowed; after that a
// failure is final, since a retry would repeat or lose data. Before it, a
// server that cannot be connected to is skipped for the next, and so is one
// that answers Unavailable when the call is idempotent (a read).
func (c *Client) stream(ctx context.Context, idempotent bool, fn func(ctx context.Context, conn *grpc.ClientConn) (flowed bool, err error)) error {
	backoff := 20 * time.Millisecond
	begun := time.Now()
	var unreachableSince time.Time
	for {
		conn, err := c.conn(c.pick())
		if err != nil {
			return err
		}
		flowed, err := fn(ctx, conn)
		if err == nil || flowed || ctx.Err() != nil {
			return wrap(err)
		}
		switch {
		case notConnected(err):
			if unreachableSince.IsZero() {
				unreachableSince = time.Now()
			} else if time.Since(unreachableSince) > c.unreachable {
				return c.unreachableError(err)
			}
		case idempotent && status.Code(err) == codes.Unavailable && time.Since(begun) < c.timeout:
			unreachableSince = time.Time{}
		default:
			return wrap(err)
		}
		if !c.moveOn(ctx, &backoff) {
			return wrap(err)
		}
	}
}

// writeAll writes a message's stdout and stderr bytes; a nil writer
// discards them.
func writeAll(stdout io.Writer, out []byte, stderr io.Writer, errb []byte) error {
	if len(out) > 0 && stdout != nil {
		if _, err := stdout.Write(out); err != nil {
			return fmt.Errorf("client: write stdout: %w", err)
		}
	}
	if len(errb) > 0 && stderr != nil {
		if _, err := stderr.Write(errb); err != nil {
			return fmt.Errorf("client: write stderr: %w", err)
		}
	}
	return nil
}

func clampInt32(n int) int32 {
	switch {
	case n > math.MaxInt32:
		return math.MaxInt32
	case n < 0:
		return -1
	}
	return int32(n)
}
