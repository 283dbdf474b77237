package driver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	cgroup1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	cgroup2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// ioDrainTimeout bounds the wait for an exec's output after it exits (a
// child it left behind may hold the pipes open).
const ioDrainTimeout = 5 * time.Second

// runningTask returns the running task of container id.
func (c *Containerd) runningTask(ctx context.Context, id string) (client.Task, error) {
	ctr, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, notFound(err)
	}
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("%w: %w", errNotRunning, ErrInvalid)
	}
	if err != nil {
		return nil, err
	}
	st, err := task.Status(ctx)
	if err != nil {
		return nil, notFound(err)
	}
	if st.Status != client.Running {
		return nil, fmt.Errorf("%w (%s): %w", errNotRunning, st.Status, ErrInvalid)
	}
	return task, nil
}

// Exec runs spec.Cmd in the running container id, with its streams wired,
// and returns the exit code. The exec process and its FIFOs are gone
// when it returns.
func (c *Containerd) Exec(ctx context.Context, id string, spec ExecSpec) (int, error) {
	ctx = c.ns(ctx)
	if len(spec.Cmd) == 0 {
		return -1, fmt.Errorf("driver: exec in %s: no command: %w", id, ErrInvalid)
	}
	task, err := c.runningTask(ctx, id)
	if err != nil {
		return -1, fmt.Errorf("driver: exec in %s: %w", id, err)
	}
	ociSpec, err := task.Spec(ctx)
	if err != nil {
		return -1, fmt.Errorf("driver: exec in %s: %w", id, notFound(err))
	}
	pspec := execProcess(*ociSpec.Process, spec)
	var b [6]byte
	rand.Read(b[:])
	execID := "exec-" + hex.EncodeToString(b[:])
	creator, stdin := execIO(spec)
	if stdin != nil {
		defer stdin.release(context.WithoutCancel(ctx), nil)
	}
	proc, err := task.Exec(ctx, execID, &pspec, creator)
	if err != nil {
		return -1, fmt.Errorf("driver: exec in %s: %w", id, execError(err))
	}
	defer func() {
		if _, err := proc.Delete(context.WithoutCancel(ctx), client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			c.log.Warn("delete exec process", "container", id, "exec", execID, "err", err)
		}
	}()
	waitCtx, cancelWait := context.WithCancel(ctx)
	defer cancelWait()
	exited, err := proc.Wait(waitCtx)
	if err != nil {
		return -1, fmt.Errorf("driver: exec in %s: %w", id, err)
	}
	if err := proc.Start(ctx); err != nil {
		return -1, fmt.Errorf("driver: exec in %s: %w", id, execError(err))
	}
	if stdin != nil {
		stdin.release(context.WithoutCancel(ctx), proc)
	}

	stopResize := c.forwardResize(ctx, proc, spec)
	defer stopResize()

	var status client.ExitStatus
	select {
	case status = <-exited:
	case <-ctx.Done():
		_ = proc.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		return -1, fmt.Errorf("driver: exec in %s: %w", id, ctx.Err())
	}
	waitOutput(proc)
	code, _, err := status.Result()
	if err != nil {
		return -1, fmt.Errorf("driver: exec in %s: %w", id, err)
	}
	return int(code), nil
}

// execProcess is the container's process spec turned into spec's.
func execProcess(p specs.Process, spec ExecSpec) specs.Process {
	p.Args = spec.Cmd
	p.Terminal = spec.TTY
	p.ConsoleSize = nil
	if spec.TTY && spec.Size != nil {
		p.ConsoleSize = &specs.Box{Width: uint(spec.Size.Width), Height: uint(spec.Size.Height)}
	}
	p.Env = mergeEnv(p.Env, spec.Env)
	if _, ok := envValue(p.Env, "TERM"); spec.TTY && !ok {
		p.Env = append(p.Env, "TERM=xterm")
	}
	return p
}

// execIO wires spec's streams; the closingReader (nil without stdin)
// must be released once the process starts, or when it will not.
func execIO(spec ExecSpec) (cio.Creator, *closingReader) {
	var stdin io.Reader
	var cr *closingReader
	if spec.Stdin != nil {
		// At the end of the input, close the process's stdin so that it
		// sees end of file.
		cr = &closingReader{r: spec.Stdin, ready: make(chan struct{})}
		stdin = cr
	}
	// containerd 1.6's shim wants both output FIFOs without a terminal.
	stdout, stderr := spec.Stdout, spec.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	switch {
	case spec.TTY:
		stderr = nil
	case stderr == nil:
		stderr = io.Discard
	}
	opts := []cio.Opt{cio.WithStreams(stdin, stdout, stderr)}
	if spec.TTY {
		opts = append(opts, cio.WithTerminal)
	}
	return cio.NewCreator(opts...), cr
}

// waitOutput waits for the copy of an exited process's output, cutting it
// short after ioDrainTimeout (a child left behind may hold the pipes).
func waitOutput(proc client.Process) {
	drained := make(chan struct{})
	go func() {
		proc.IO().Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(ioDrainTimeout):
		proc.IO().Cancel()
		<-drained
	}
}

// forwardResize passes terminal sizes to proc until the returned func is
// called (which waits for the forwarding goroutine to end).
func (c *Containerd) forwardResize(ctx context.Context, proc client.Process, spec ExecSpec) func() {
	if !spec.TTY || spec.Resize == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case sz, ok := <-spec.Resize:
				if !ok {
					return
				}
				if err := proc.Resize(ctx, uint32(sz.Width), uint32(sz.Height)); err != nil && !errdefs.IsNotFound(err) {
					c.log.Debug("resize exec terminal", "err", err)
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// execError marks runc's "executable file not found" as ErrInvalid.
func execError(err error) error {
	if isExecNotFound(err) {
		return fmt.Errorf("executable not found: %w: %w", err, ErrInvalid)
	}
	return err
}

// closingReader closes the stdin of its process (once started) when r
// ends.
type closingReader struct {
	r     io.Reader
	once  sync.Once
	ready chan struct{} // closed once proc is set (nil: never started)
	ctx   context.Context
	proc  client.Process
}

// release lets the reader close proc's stdin; the first call counts.
func (r *closingReader) release(ctx context.Context, proc client.Process) {
	r.once.Do(func() {
		r.ctx, r.proc = ctx, proc
		close(r.ready)
	})
}

func (r *closingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil {
		<-r.ready
		if r.proc != nil {
			_ = r.proc.CloseIO(r.ctx, client.WithStdinCloser)
		}
	}
	return n, err
}

// Stats returns the running container's CPU time and memory in use (its
// working set: usage less inactive file pages).
func (c *Containerd) Stats(ctx context.Context, id string) (Stats, error) {
	ctx = c.ns(ctx)
	task, err := c.runningTask(ctx, id)
	if err != nil {
		return Stats{}, fmt.Errorf("driver: stats of %s: %w", id, err)
	}
	m, err := task.Metrics(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("driver: stats of %s: %w", id, notFound(err))
	}
	v, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		return Stats{}, fmt.Errorf("driver: stats of %s: %w", id, err)
	}
	var s Stats
	switch m := v.(type) {
	case *cgroup1.Metrics:
		if m.CPU != nil && m.CPU.Usage != nil {
			s.CPUNanos = m.CPU.Usage.Total
		}
		if m.Memory != nil && m.Memory.Usage != nil {
			s.MemoryBytes = m.Memory.Usage.Usage - min(m.Memory.TotalInactiveFile, m.Memory.Usage.Usage)
		}
	case *cgroup2.Metrics:
		if m.CPU != nil {
			s.CPUNanos = m.CPU.UsageUsec * 1000
		}
		if m.Memory != nil {
			s.MemoryBytes = m.Memory.Usage - min(m.Memory.InactiveFile, m.Memory.Usage)
		}
	default:
		return Stats{}, fmt.Errorf("driver: stats of %s: unknown metrics type %T", id, v)
	}
	return s, nil
}
