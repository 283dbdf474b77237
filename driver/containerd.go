package driver

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
)

// ContainerdConfig configures the containerd runtime.
type ContainerdConfig struct {
	Socket string // containerd's socket
	// Namespace is the containerd namespace (default "berth"); agents that
	// share one containerd use different namespaces.
	Namespace   string
	Snapshotter string // default "overlayfs"
	// PlainHTTP lists registry hosts (host:port) pulled over plain HTTP,
	// e.g. "127.0.0.1:5000".
	PlainHTTP []string
	// LoggerBinary is the executable the shim starts as each container's
	// logger (the berth binary, see driver/logfile). Empty: logs go
	// straight to the file, with no rotation.
	LoggerBinary string
	LogMaxSize   int64 // bytes before a log rotates (logfile's default when 0)
	LogMaxFiles  int   // log files kept (logfile's default when 0)
	Logger       *slog.Logger
}

// Containerd is the Runtime on a containerd daemon (1.6 or later).
type Containerd struct {
	cfg       ContainerdConfig
	client    *client.Client
	log       *slog.Logger
	swapLimit bool // the memory cgroup can cap memory and swap together

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ Runtime = (*Containerd)(nil)

// Labels the driver keeps for itself; they are not shown in
// ContainerStatus.Labels.
const (
	labelImageDigest = "berth.dev/image-digest"
	labelStartedAt   = "berth.dev/started-at"
	labelOOMKilled   = "berth.dev/oom-killed"
	// labelPrivatePrefix: containerd's own labels (stop signal, ...).
	labelPrivatePrefix = "io.containerd."
)

// NewContainerd connects to containerd at cfg.Socket and starts watching
// its events (out-of-memory kills); Close stops it.
func NewContainerd(ctx context.Context, cfg ContainerdConfig) (*Containerd, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = "berth"
	}
	if cfg.Snapshotter == "" {
		cfg.Snapshotter = "overlayfs"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cl, err := client.New(cfg.Socket, client.WithDefaultNamespace(cfg.Namespace), client.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("driver: containerd at %s: %w", cfg.Socket, err)
	}
	c := &Containerd{
		cfg:       cfg,
		client:    cl,
		log:       cfg.Logger.With("runtime", "containerd", "namespace", cfg.Namespace),
		swapLimit: swapLimitSupported(),
	}
	if _, err := c.Version(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	evctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Go(func() { c.watchEvents(evctx) })
	return c, nil
}

// Close stops the event watcher and closes the connection.
func (c *Containerd) Close() error {
	c.cancel()
	c.wg.Wait()
	return c.client.Close()
}

// ns puts the runtime's namespace on ctx.
func (c *Containerd) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, c.cfg.Namespace)
}

// Version returns "containerd <version>".
func (c *Containerd) Version(ctx context.Context) (string, error) {
	v, err := c.client.Version(c.ns(ctx))
	if err != nil {
		return "", fmt.Errorf("driver: containerd at %s: %w", c.cfg.Socket, err)
	}
	return "containerd " + v.Version, nil
}

// watchEvents records out-of-memory kills in the containers' labels until
// ctx ends, subscribing again after a failure.
func (c *Containerd) watchEvents(ctx context.Context) {
	ctx = c.ns(ctx)
	filters := []string{
		fmt.Sprintf(`namespace==%q,topic=="/tasks/oom"`, c.cfg.Namespace),
		fmt.Sprintf(`namespace==%q,topic=="/tasks/exit"`, c.cfg.Namespace),
	}
	for {
		subCtx, cancel := context.WithCancel(ctx)
		events, errs := c.client.Subscribe(subCtx, filters...)
	recv:
		for {
			select {
			case env := <-events:
				c.handleEvent(ctx, env.Event)
			case err := <-errs:
				if ctx.Err() == nil {
					c.log.Warn("containerd events", "err", err)
				}
				break recv
			}
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (c *Containerd) handleEvent(ctx context.Context, ev typeurl.Any) {
	if ev == nil {
		return
	}
	v, err := typeurl.UnmarshalAny(ev)
	if err != nil {
		c.log.Warn("containerd event", "err", err)
		return
	}
	switch e := v.(type) {
	case *apievents.TaskOOM:
		c.markOOM(ctx, e.ContainerID)
	case *apievents.TaskExit:
		// The init process: its cgroup still tells whether the kernel
		// killed something for memory (the OOM event may be lost).
		if e.ID != e.ContainerID || e.ExitStatus == 0 {
			return
		}
		ctr, err := c.client.LoadContainer(ctx, e.ContainerID)
		if err != nil {
			return
		}
		if spec, err := ctr.Spec(ctx); err == nil && spec.Linux != nil && cgroupOOMKilled(spec.Linux.CgroupsPath) {
			c.markOOM(ctx, e.ContainerID)
		}
	}
}

func (c *Containerd) markOOM(ctx context.Context, id string) {
	ctr, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		return
	}
	if _, err := ctr.SetLabels(ctx, map[string]string{labelOOMKilled: "true"}); err != nil && !errdefs.IsNotFound(err) && ctx.Err() == nil {
		c.log.Warn("record OOM kill", "container", id, "err", err)
	}
}

// cgroupOOMKilled reports whether the kernel's OOM killer killed a process
// of the cgroup (cgroupfs paths only; the cgroup goes with the task).
func cgroupOOMKilled(cgroupsPath string) bool {
	if cgroupsPath == "" || strings.Contains(cgroupsPath, ":") {
		return false
	}
	file := "/sys/fs/cgroup/memory" + cgroupsPath + "/memory.oom_control"
	if cgroupV2() {
		file = "/sys/fs/cgroup" + cgroupsPath + "/memory.events"
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok && k == "oom_kill" {
			return v != "0"
		}
	}
	return false
}

func cgroupV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// swapLimitSupported reports whether runc can cap memory and swap
// together (v1 needs swap accounting).
func swapLimitSupported() bool {
	if cgroupV2() {
		// memory.swap.max exists in every non-root cgroup when swap is
		// accounted; look at the first one.
		entries, err := os.ReadDir("/sys/fs/cgroup")
		if err != nil {
			return false
		}
		for _, e := range entries {
			if e.IsDir() {
				_, err := os.Stat("/sys/fs/cgroup/" + e.Name() + "/memory.swap.max")
				return err == nil
			}
		}
		return false
	}
	_, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
	return err == nil
}

// notFound maps containerd's not-found to ErrNotFound.
func notFound(err error) error {
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
