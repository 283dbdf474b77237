// Package testcontainerd gives tests a containerd daemon: the one named by
// BERTH_CONTAINERD_SOCKET, or a private one (CRI disabled) with its root,
// state and socket in a temporary folder, stopped with its shims and
// mounts when the test (or the test binary) ends.
//
// One daemon per test binary:
//
//	func TestMain(m *testing.M) { os.Exit(testcontainerd.Main(m)) }
//
//	func TestX(t *testing.T) {
//		socket := testcontainerd.Start(t)
//		ns := testcontainerd.Namespace(t, socket) // purged at the end
//		...
//	}
package testcontainerd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
)

// EnvSocket names an existing containerd to use instead of a private one.
const EnvSocket = "BERTH_CONTAINERD_SOCKET"

// runDir holds the daemons' folders; unix socket paths must stay short.
const runDir = "/run/berth-test"

// shared is the daemon of a test binary that runs Main.
var shared struct {
	mu      sync.Mutex
	enabled bool // Main runs
	d       *daemon
	err     error
}

// Main runs the tests with one daemon for the binary, started by the
// first Start and stopped after the last test.
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.enabled = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.d != nil {
		if err := shared.d.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "testcontainerd:", err)
		}
		shared.d = nil
	}
	return code
}

// Start returns the socket of a containerd for tb: BERTH_CONTAINERD_SOCKET,
// the binary's shared daemon under Main, or a daemon of tb's own, stopped
// when tb ends. Tests that share a daemon use their own namespaces.
func Start(tb testing.TB) string {
	tb.Helper()
	if s := os.Getenv(EnvSocket); s != "" {
		return s
	}
	if os.Geteuid() != 0 {
		tb.Skip("containerd needs root")
	}
	if _, err := exec.LookPath("containerd"); err != nil {
		tb.Skip("containerd is not installed")
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.enabled {
		if shared.d == nil && shared.err == nil {
			shared.d, shared.err = startDaemon()
		}
		if shared.err != nil {
			tb.Fatal(shared.err)
		}
		return shared.d.socket
	}
	d, err := startDaemon()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := d.stop(); err != nil {
			tb.Error(err)
		}
	})
	return d.socket
}

// Namespace returns a new random namespace, purged when tb ends.
func Namespace(tb testing.TB, socket string) string {
	tb.Helper()
	ns := "test-" + randomHex(6)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := Purge(ctx, socket, ns); err != nil {
			tb.Errorf("purge namespace %s: %v", ns, err)
		}
	})
	return ns
}

// daemon is a containerd process of ours.
type daemon struct {
	dir    string
	socket string
	cmd    *exec.Cmd
	exited chan struct{}
}

func startDaemon() (*daemon, error) {
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return nil, fmt.Errorf("testcontainerd: %w", err)
	}
	sweepStale()
	dir, err := os.MkdirTemp(runDir, "")
	if err != nil {
		return nil, fmt.Errorf("testcontainerd: %w", err)
	}
	d := &daemon{dir: dir, socket: filepath.Join(dir, "c.sock"), exited: make(chan struct{})}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), d.socket, d.socket+".ttrpc",
		filepath.Join(dir, "debug.sock"), filepath.Join(dir, "opt"))
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("testcontainerd: %w", err)
	}
	logFile, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("testcontainerd: %w", err)
	}
	defer logFile.Close()
	d.cmd = exec.Command("containerd", "--config", cfgPath)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	// The daemon dies with the test binary, even a killed one.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("testcontainerd: start containerd: %w", err)
	}
	go func() {
		d.cmd.Wait()
		close(d.exited)
	}()
	if err := d.waitReady(30 * time.Second); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

func (d *daemon) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-d.exited:
			return fmt.Errorf("testcontainerd: containerd exited at start:\n%s", d.logTail())
		default:
		}
		if _, err := os.Stat(d.socket); err == nil {
			c, err := client.New(d.socket, client.WithTimeout(time.Second))
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				ok, _ := c.IsServing(ctx)
				cancel()
				c.Close()
				if ok {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testcontainerd: containerd not serving after %v:\n%s", timeout, d.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *daemon) logTail() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "containerd.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// stop kills every task, stops containerd (SIGTERM, then SIGKILL), kills
// the shims it left, unmounts what is under its folder and removes it.
func (d *daemon) stop() error {
	var errs []error
	select {
	case <-d.exited:
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := killAllTasks(ctx, d.socket); err != nil {
			errs = append(errs, err)
		}
		cancel()
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(10 * time.Second):
			d.cmd.Process.Kill()
			<-d.exited
		}
	}
	killShims(d.socket)
	if err := unmountUnder(d.dir); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(d.dir); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("testcontainerd: stop: %w", errors.Join(errs...))
	}
	return nil
}

// sweepStale cleans up after test binaries that died without stopping
// their daemon (the daemon dies with them): the shims, mounts and folder
// of every daemon folder over a minute old whose containerd is gone.
func sweepStale() {
	entries, _ := os.ReadDir(runDir)
	for _, e := range entries {
		dir := filepath.Join(runDir, e.Name())
		fi, err := e.Info()
		if err != nil || !e.IsDir() || time.Since(fi.ModTime()) < time.Minute || daemonAlive(dir) {
			continue
		}
		killShims(filepath.Join(dir, "c.sock"))
		if unmountUnder(dir) == nil {
			os.RemoveAll(dir)
		}
	}
}

// daemonAlive reports whether a containerd runs with its config in dir.
func daemonAlive(dir string) bool {
	cfg := filepath.Join(dir, "config.toml")
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && slices.Contains(strings.Split(string(b), "\x00"), cfg) {
			return true
		}
	}
	return false
}

// killAllTasks kills and deletes the tasks of every namespace, so that
// their shims exit.
func killAllTasks(ctx context.Context, socket string) error {
	c, err := client.New(socket)
	if err != nil {
		return err
	}
	defer c.Close()
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, ns := range nss {
		if err := Purge(ctx, socket, ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// killShims kills the containerd-shim-runc-v2 processes started for
// socket (their -address argument) and their containers' processes, and
// removes what they leave: the containers' cgroups, runc's state and the
// shims' sockets. Tasks are normally gone by then; this is for a daemon
// that died with its test binary.
func killShims(socket string) {
	type shim struct{ ns, id string }
	var shims []shim
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") || flagValue(args, "-address") != socket {
			continue
		}
		s := shim{ns: flagValue(args, "-namespace"), id: flagValue(args, "-id")}
		if s.ns != "" && s.id != "" {
			killCgroup(s.ns, s.id)
			shims = append(shims, s)
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, s := range shims {
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", s.ns, s.id))
		dirs = append(dirs, filepath.Join("/sys/fs/cgroup", s.ns, s.id))
		for _, d := range dirs {
			// The killed processes leave the cgroup a moment later.
			for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				err := syscall.Rmdir(d)
				if err == nil || errors.Is(err, syscall.ENOENT) || time.Now().After(deadline) {
					break
				}
			}
		}
		os.RemoveAll(filepath.Join("/run/containerd/runc", s.ns, s.id))
		for _, p := range []string{filepath.Join(socket, s.ns, s.id), filepath.Join(socket, s.ns, s.id, "debug")} {
			os.Remove(fmt.Sprintf("/run/containerd/s/%x", sha256.Sum256([]byte(p))))
		}
		removeNamespaceDirs(s.ns)
	}
}

// killCgroup kills the processes of the container's cgroup (cgroupfs
// path /ns/id, as containerd's default spec has it).
func killCgroup(ns, id string) {
	for _, dir := range []string{"/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory", "/sys/fs/cgroup"} {
		b, err := os.ReadFile(filepath.Join(dir, ns, id, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		return
	}
}

// flagValue is the argument after name in args ("" if none).
func flagValue(args []string, name string) string {
	if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// unmountUnder lazily unmounts every mount point under dir, deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		p := unescapeMountPath(fields[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Purge removes everything of namespace ns: tasks (killed), containers,
// images, leases and snapshots, then the namespace itself.
func Purge(ctx context.Context, socket, ns string) error {
	c, err := client.New(socket, client.WithDefaultNamespace(ns))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx = namespaces.WithNamespace(ctx, ns)
	var errs []error
	keep := func(err error) {
		if err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	ctrs, err := c.Containers(ctx)
	keep(err)
	for _, ctr := range ctrs {
		if task, err := ctr.Task(ctx, nil); err == nil {
			_, err := task.Delete(ctx, client.WithProcessKill)
			keep(err)
		}
		keep(ctr.Delete(ctx, client.WithSnapshotCleanup))
	}
	is := c.ImageService()
	imgs, err := is.List(ctx)
	keep(err)
	for _, img := range imgs {
		keep(is.Delete(ctx, img.Name))
	}
	ls := c.LeasesService()
	all, err := ls.List(ctx)
	keep(err)
	for _, l := range all {
		keep(ls.Delete(ctx, l, leases.SynchronousDelete))
	}
	keep(removeSnapshots(ctx, c.SnapshotService("overlayfs")))
	// Let containerd collect the content, then drop the namespace.
	if err := c.NamespaceService().Delete(ctx, ns); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
		errs = append(errs, err)
	}
	removeNamespaceDirs(ns)
	return errors.Join(errs...)
}

// removeNamespaceDirs removes the folders the shim and runc leave for a
// namespace, once empty: runc's state root and the parent cgroups.
func removeNamespaceDirs(ns string) {
	dirs := []string{filepath.Join("/run/containerd/runc", ns), filepath.Join("/sys/fs/cgroup", ns)}
	v1, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", ns))
	for _, d := range append(dirs, v1...) {
		_ = syscall.Rmdir(d) // fails, harmlessly, while not empty
	}
}

// removeSnapshots removes every snapshot, children before parents.
func removeSnapshots(ctx context.Context, sn snapshots.Snapshotter) error {
	for range 100 {
		var infos []snapshots.Info
		if err := sn.Walk(ctx, func(_ context.Context, i snapshots.Info) error {
			infos = append(infos, i)
			return nil
		}); err != nil {
			return err
		}
		if len(infos) == 0 {
			return nil
		}
		parents := map[string]bool{}
		for _, i := range infos {
			parents[i.Parent] = true
		}
		removed := 0
		for _, i := range infos {
			if parents[i.Name] {
				continue
			}
			if err := sn.Remove(ctx, i.Name); err == nil || errdefs.IsNotFound(err) {
				removed++
			}
		}
		if removed == 0 {
			return fmt.Errorf("%d snapshots left", len(infos))
		}
	}
	return errors.New("snapshots left")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
