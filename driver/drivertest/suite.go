// Package drivertest is the conformance suite of driver.Runtime: every
// implementation runs it against a real runtime.
//
//	func TestContainerd(t *testing.T) {
//		drivertest.Run(t, func(t *testing.T) driver.Runtime { ... }, testimage.Ref)
//	}
package drivertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/driver"
)

// Run runs the suite. newRuntime returns the runtime under test (its
// cleanup registered on t), on which image (a busybox with sh, sleep,
// cat, hostname, stty, ...) is present. The subtests share it and run in
// parallel, each with its own pod.
func Run(t *testing.T, newRuntime func(t *testing.T) driver.Runtime, image string) {
	rt := newRuntime(t)
	s := &suite{rt: rt, image: image}
	tests := []struct {
		name string
		fn   func(t *testing.T, s *suite)
	}{
		{"Version", testVersion},
		{"Images", testImages},
		{"ExitCodes", testExitCodes},
		{"ListShowsLabels", testList},
		{"StopKillsAfterGrace", testStopGrace},
		{"StopOnTerm", testStopOnTerm},
		{"OOMKilled", testOOM},
		{"Exec", testExec},
		{"ExecTTY", testExecTTY},
		{"MissingCommand", testMissingCommand},
		{"MissingImage", testMissingImage},
		{"RemoveIdempotent", testRemove},
		{"Restart", testRestart},
		{"Logs", testLogs},
		{"EnvWorkingDirMounts", testEnvMounts},
		{"Limits", testLimits},
		{"StatsGrowWithLoad", testStats},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, s)
		})
	}
}

type suite struct {
	rt    driver.Runtime
	image string
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newUID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// spec is a container of a new pod running sh -c script.
func (s *suite) spec(t *testing.T, script string) driver.ContainerSpec {
	return driver.ContainerSpec{
		PodUID:       newUID(),
		PodNamespace: "default",
		PodName:      "pod-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")),
		Name:         "main",
		Image:        s.image,
		Command:      []string{"sh", "-c", script},
		LogPath:      filepath.Join(t.TempDir(), "logs", "main.log"),
	}
}

// create creates spec's container, removed when the test ends.
func (s *suite) create(t *testing.T, spec driver.ContainerSpec) string {
	t.Helper()
	id, err := s.rt.CreateContainer(ctxFor(t), spec)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.rt.RemoveContainer(ctx, id); err != nil {
			t.Errorf("remove %s: %v", id, err)
		}
	})
	return id
}

// run creates and starts spec's container.
func (s *suite) run(t *testing.T, spec driver.ContainerSpec) string {
	t.Helper()
	id := s.create(t, spec)
	if err := s.rt.StartContainer(ctxFor(t), id); err != nil {
		t.Fatalf("start: %v", err)
	}
	return id
}

// waitExited polls the container until it exits.
func (s *suite) waitExited(t *testing.T, id string, timeout time.Duration) driver.ContainerStatus {
	t.Helper()
	return s.waitFor(t, id, timeout, "exited", func(st driver.ContainerStatus) bool { return st.State == driver.StateExited })
}

func (s *suite) waitFor(t *testing.T, id string, timeout time.Duration, what string, cond func(driver.ContainerStatus) bool) driver.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := s.rt.ContainerStatus(ctxFor(t), id)
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s not %s after %v: %+v", id, what, timeout, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// execOut runs cmd in the container and returns its stdout and exit code.
func (s *suite) execOut(t *testing.T, id string, cmd ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code, err := s.rt.Exec(ctxFor(t), id, driver.ExecSpec{Cmd: cmd, Stdout: &out, Stderr: &errOut})
	if err != nil {
		t.Fatalf("exec %q: %v", cmd, err)
	}
	return out.String(), code
}

// idle is a script that runs until stopped.
// It prints "ready" once its SIGTERM trap is set.
const idle = `trap 'exit 0' TERM; echo ready; while :; do sleep 1 & wait; done`

func testVersion(t *testing.T, s *suite) {
	v, err := s.rt.Version(ctxFor(t))
	if err != nil || !strings.Contains(v, " ") {
		t.Fatalf("Version = %q, %v; want \"<runtime> <version>\"", v, err)
	}
}

func testImages(t *testing.T, s *suite) {
	ctx := ctxFor(t)
	img, err := s.rt.GetImage(ctx, s.image)
	if err != nil {
		t.Fatalf("GetImage(%s): %v", s.image, err)
	}
	if !strings.HasPrefix(img.Digest, "sha256:") || img.Size <= 0 {
		t.Errorf("GetImage = %+v", img)
	}
	all, err := s.rt.ListImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(all, func(i driver.Image) bool { return i.Digest == img.Digest }) {
		t.Errorf("ListImages = %+v, without %s", all, s.image)
	}
	if _, err := s.rt.GetImage(ctx, "berth.local/no-such-image:1"); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("GetImage of a missing image: %v, want ErrNotFound", err)
	}
}

func testExitCodes(t *testing.T, s *suite) {
	for _, tc := range []struct {
		code   int
		reason string
	}{{0, "Completed"}, {3, "Error"}} {
		spec := s.spec(t, fmt.Sprintf("exit %d", tc.code))
		id := s.create(t, spec)
		st, err := s.rt.ContainerStatus(ctxFor(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != driver.StateCreated || st.CreatedAt.IsZero() {
			t.Errorf("after create: %+v", st)
		}
		if err := s.rt.StartContainer(ctxFor(t), id); err != nil {
			t.Fatal(err)
		}
		st = s.waitExited(t, id, 10*time.Second)
		if st.ExitCode != tc.code || st.Reason != tc.reason {
			t.Errorf("exit %d: code %d, reason %q; want reason %q", tc.code, st.ExitCode, st.Reason, tc.reason)
		}
		if st.StartedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
			t.Errorf("exit %d: started %v, finished %v", tc.code, st.StartedAt, st.FinishedAt)
		}
	}
}

func testList(t *testing.T, s *suite) {
	spec := s.spec(t, idle)
	spec.Attempt = 2
	spec.Labels = map[string]string{"app": "web"}
	id := s.run(t, spec)
	list, err := s.rt.ListContainers(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list, func(c driver.ContainerStatus) bool { return c.ID == id })
	if i < 0 {
		t.Fatalf("ListContainers has no %s", id)
	}
	c := list[i]
	if c.PodUID != spec.PodUID || c.PodName != spec.PodName || c.PodNamespace != "default" ||
		c.Name != "main" || c.Attempt != 2 || c.LogPath != spec.LogPath || c.State != driver.StateRunning {
		t.Errorf("listed %+v", c)
	}
	if c.Labels["app"] != "web" || c.Labels[driver.LabelPodUID] != spec.PodUID {
		t.Errorf("labels %v", c.Labels)
	}
	if c.Image == "" || !strings.HasPrefix(c.ImageDigest, "sha256:") {
		t.Errorf("image %q, digest %q", c.Image, c.ImageDigest)
	}
}

func testStopGrace(t *testing.T, s *suite) {
	spec := s.spec(t, `trap '' TERM; echo ready; while :; do sleep 1; done`)
	id := s.run(t, spec)
	waitLog(t, spec.LogPath, 10*time.Second, "ready") // the trap is set
	start := time.Now()
	if err := s.rt.StopContainer(ctxFor(t), id, time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second || d > 8*time.Second {
		t.Errorf("stop of a process that ignores SIGTERM took %v, want the 1s grace", d)
	}
	st, err := s.rt.ContainerStatus(ctxFor(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != driver.StateExited || st.ExitCode != 137 {
		t.Errorf("after the kill: %+v", st)
	}
	// Stopping it again is fine.
	if err := s.rt.StopContainer(ctxFor(t), id, time.Second); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

func testStopOnTerm(t *testing.T, s *suite) {
	spec := s.spec(t, idle)
	id := s.run(t, spec)
	waitLog(t, spec.LogPath, 10*time.Second, "ready")
	start := time.Now()
	if err := s.rt.StopContainer(ctxFor(t), id, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop of a process that exits on SIGTERM took %v", d)
	}
	st, err := s.rt.ContainerStatus(ctxFor(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != driver.StateExited || st.ExitCode != 0 || st.Reason != "Completed" {
		t.Errorf("after stop: %+v", st)
	}
}

func testOOM(t *testing.T, s *suite) {
	spec := s.spec(t, `x=0123456789abcdef; while :; do x=$x$x; done`)
	spec.MemoryBytes = 16 << 20
	id := s.run(t, spec)
	st := s.waitExited(t, id, 30*time.Second)
	if st.Reason != "OOMKilled" || st.ExitCode == 0 {
		t.Errorf("a memory hog under 16 MiB: code %d, reason %q; want OOMKilled", st.ExitCode, st.Reason)
	}
}

func testExec(t *testing.T, s *suite) {
	spec := s.spec(t, idle)
	spec.Env = []string{"FROM_SPEC=yes"}
	id := s.run(t, spec)
	var out, errOut bytes.Buffer
	code, err := s.rt.Exec(ctxFor(t), id, driver.ExecSpec{
		Cmd:    []string{"sh", "-c", `echo out $FROM_SPEC $EXTRA; echo err >&2; exit 5`},
		Env:    []string{"EXTRA=more"},
		Stdout: &out, Stderr: &errOut,
	})
	if err != nil {
		t.Fatal(err)
	}
	if code != 5 || out.String() != "out yes more\n" || errOut.String() != "err\n" {
		t.Errorf("exec: code %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}

	// Stdin reaches the process, and its end ends cat.
	out.Reset()
	code, err = s.rt.Exec(ctxFor(t), id, driver.ExecSpec{
		Cmd: []string{"cat"}, Stdin: strings.NewReader("from stdin\n"), Stdout: &out,
	})
	if err != nil || code != 0 || out.String() != "from stdin\n" {
		t.Errorf("exec cat: code %d, %v, stdout %q", code, err, out.String())
	}

	if _, err := s.rt.Exec(ctxFor(t), id, driver.ExecSpec{Cmd: []string{"no-such-command"}, Stdout: &out}); err == nil {
		t.Error("exec of a missing command succeeded")
	}

	// Not running: an error.
	if err := s.rt.StopContainer(ctxFor(t), id, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := s.rt.Exec(ctxFor(t), id, driver.ExecSpec{Cmd: []string{"true"}}); err == nil {
		t.Error("exec in an exited container succeeded")
	}
}

func testExecTTY(t *testing.T, s *suite) {
	id := s.run(t, s.spec(t, idle))
	var out bytes.Buffer
	resize := make(chan driver.TermSize, 1)
	resize <- driver.TermSize{Width: 123, Height: 45}
	code, err := s.rt.Exec(ctxFor(t), id, driver.ExecSpec{
		Cmd: []string{"sh", "-c", `tty; sleep 1; stty size; exit 2`}, TTY: true, Stdout: &out, Resize: resize,
	})
	if err != nil {
		t.Fatal(err)
	}
	if code != 2 || !strings.Contains(out.String(), "/dev/pts/") || !strings.Contains(out.String(), "45 123") {
		t.Errorf("exec with a TTY: code %d, output %q", code, out.String())
	}
}

func testMissingCommand(t *testing.T, s *suite) {
	spec := s.spec(t, "")
	spec.Command = []string{"nosuch"}
	id, err := s.rt.CreateContainer(ctxFor(t), spec)
	if err != nil {
		if !errors.Is(err, driver.ErrInvalid) || !strings.Contains(err.Error(), "nosuch") {
			t.Errorf("create with a missing command: %v, want ErrInvalid naming it", err)
		}
		return
	}
	t.Cleanup(func() { s.rt.RemoveContainer(context.Background(), id) })
	if err := s.rt.StartContainer(ctxFor(t), id); err != nil {
		if !strings.Contains(err.Error(), "nosuch") {
			t.Errorf("start with a missing command: %v, want it named", err)
		}
		return
	}
	st := s.waitExited(t, id, 10*time.Second)
	if st.ExitCode == 0 {
		t.Errorf("a missing command exited 0")
	}
}

func testMissingImage(t *testing.T, s *suite) {
	spec := s.spec(t, "true")
	spec.Image = "berth.local/no-such-image:1"
	_, err := s.rt.CreateContainer(ctxFor(t), spec)
	if !errors.Is(err, driver.ErrImage) || !strings.Contains(err.Error(), spec.Image) {
		t.Errorf("create with a missing image: %v, want ErrImage naming it", err)
	}
}

func testRemove(t *testing.T, s *suite) {
	ctx := ctxFor(t)
	created := s.create(t, s.spec(t, idle))
	if err := s.rt.StopContainer(ctx, created, time.Second); err != nil {
		t.Errorf("stop of a created container: %v", err)
	}
	running := s.run(t, s.spec(t, idle))
	for _, id := range []string{created, running} {
		if err := s.rt.RemoveContainer(ctx, id); err != nil {
			t.Fatalf("remove %s: %v", id, err)
		}
		if _, err := s.rt.ContainerStatus(ctx, id); !errors.Is(err, driver.ErrNotFound) {
			t.Errorf("status after remove: %v, want ErrNotFound", err)
		}
		if err := s.rt.RemoveContainer(ctx, id); err != nil {
			t.Errorf("second remove: %v", err)
		}
	}
	if err := s.rt.RemoveContainer(ctx, "never-was"); err != nil {
		t.Errorf("remove of an unknown container: %v", err)
	}
	if _, err := s.rt.ContainerStatus(ctx, "never-was"); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("status of an unknown container: %v, want ErrNotFound", err)
	}
}

func testRestart(t *testing.T, s *suite) {
	spec := s.spec(t, `echo run >> /data/runs; exit 1`)
	dir := t.TempDir()
	spec.Mounts = []driver.Mount{{Type: "bind", Source: dir, Destination: "/data"}}
	id := s.run(t, spec)
	first := s.waitExited(t, id, 10*time.Second)
	if err := s.rt.StartContainer(ctxFor(t), id); err != nil {
		t.Fatalf("start of an exited container: %v", err)
	}
	second := s.waitFor(t, id, 10*time.Second, "exited again", func(st driver.ContainerStatus) bool {
		return st.State == driver.StateExited && st.FinishedAt.After(first.FinishedAt)
	})
	if second.ExitCode != 1 || second.Reason != "Error" {
		t.Errorf("second run: %+v", second)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "runs")); string(b) != "run\nrun\n" {
		t.Errorf("runs recorded: %q", b)
	}
}

// waitLog waits until the log at path holds every one of want (a log
// may be written a moment after the process exits).
func waitLog(t *testing.T, path string, timeout time.Duration, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		ok := true
		for _, w := range want {
			ok = ok && bytes.Contains(b, []byte(w))
		}
		if ok || time.Now().After(deadline) {
			if !ok {
				t.Errorf("log %s lacks %q:\n%s", path, want, b)
			}
			return string(b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testLogs(t *testing.T, s *suite) {
	spec := s.spec(t, `echo to-stdout; echo to-stderr >&2`)
	id := s.run(t, spec)
	s.waitExited(t, id, 10*time.Second)
	waitLog(t, spec.LogPath, 5*time.Second, "to-stdout", "to-stderr")

	tty := s.spec(t, `echo from-tty`)
	tty.TTY = true
	id = s.run(t, tty)
	s.waitExited(t, id, 10*time.Second)
	waitLog(t, tty.LogPath, 5*time.Second, "from-tty")
}

func testEnvMounts(t *testing.T, s *suite) {
	data, ro := t.TempDir(), t.TempDir()
	spec := s.spec(t, `echo "$FOO $(pwd) $(hostname)" > /data/out
touch /scratch/x && echo tmpfs >> /data/out
touch /ro/x 2>/dev/null || echo readonly >> /data/out`)
	spec.Env = []string{"FOO=bar"}
	spec.WorkingDir = "/www"
	spec.Hostname = "my-pod"
	spec.Mounts = []driver.Mount{
		{Type: "bind", Source: data, Destination: "/data"},
		{Type: "bind", Source: ro, Destination: "/ro", ReadOnly: true},
		{Type: "tmpfs", Destination: "/scratch"},
	}
	id := s.run(t, spec)
	st := s.waitExited(t, id, 10*time.Second)
	b, err := os.ReadFile(filepath.Join(data, "out"))
	if err != nil {
		t.Fatalf("the container wrote nothing (exit %d): %v", st.ExitCode, err)
	}
	if got, want := string(b), "bar /www my-pod\ntmpfs\nreadonly\n"; got != want {
		t.Errorf("container wrote %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(ro, "x")); err == nil {
		t.Error("a read-only bind mount was written")
	}
}

func testLimits(t *testing.T, s *suite) {
	spec := s.spec(t, idle)
	spec.CPUMilli = 500
	spec.CPUShares = 512
	spec.MemoryBytes = 64 << 20
	id := s.run(t, spec)
	// cgroup v2 (a cgroup namespace) or v1 (the container's own cgroups
	// mounted over /sys/fs/cgroup).
	out, _ := s.execOut(t, id, "sh", "-c", `cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/memory.max 2>/dev/null ||
cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null ||
cat /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us /sys/fs/cgroup/memory/memory.limit_in_bytes`)
	if !strings.Contains(out, "50000") || !strings.Contains(out, "67108864") {
		t.Errorf("CPU quota 50000 and memory limit 67108864 not in the container's cgroup:\n%s", out)
	}
	s.execOut(t, id, "sh", "-c", `i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done`)
	st, err := s.rt.Stats(ctxFor(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if st.CPUNanos == 0 || st.MemoryBytes == 0 {
		t.Errorf("stats %+v", st)
	}
}

// testStats: a busy loop's CPU time grows as the wall clock does (up to
// its quota), an idle container's hardly; memory is in use; a container
// that does not run has no stats.
func testStats(t *testing.T, s *suite) {
	busy := s.spec(t, `while :; do :; done`)
	busy.CPUMilli = 500
	busyID := s.run(t, busy)
	idleID := s.run(t, s.spec(t, idle))
	ctx := ctxFor(t)
	first, err := s.rt.Stats(ctx, busyID)
	if err != nil {
		t.Fatal(err)
	}
	idle0, err := s.rt.Stats(ctx, idleID)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// Half a core for a second is 500 ms of CPU; ask for a fifth of it.
	var last driver.Stats
	for {
		time.Sleep(100 * time.Millisecond)
		if last, err = s.rt.Stats(ctx, busyID); err != nil {
			t.Fatal(err)
		}
		if last.CPUNanos-first.CPUNanos >= uint64(100*time.Millisecond) && time.Since(start) >= time.Second {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("a busy loop used %v of CPU in %v", time.Duration(last.CPUNanos-first.CPUNanos), time.Since(start))
		}
	}
	elapsed := time.Since(start)
	if used := time.Duration(last.CPUNanos - first.CPUNanos); used > elapsed*3/4+50*time.Millisecond {
		t.Errorf("a busy loop with half a core used %v of CPU in %v", used, elapsed)
	}
	if last.MemoryBytes == 0 {
		t.Errorf("busy loop stats %+v: no memory in use", last)
	}
	idle1, err := s.rt.Stats(ctx, idleID)
	if err != nil {
		t.Fatal(err)
	}
	if used := time.Duration(idle1.CPUNanos - idle0.CPUNanos); used > elapsed/4 {
		t.Errorf("an idle container used %v of CPU in %v", used, elapsed)
	}

	done := s.run(t, s.spec(t, "exit 0"))
	s.waitExited(t, done, 10*time.Second)
	if _, err := s.rt.Stats(ctx, done); err == nil {
		t.Error("stats of an exited container: no error")
	}
	if _, err := s.rt.Stats(ctx, "no-such-container"); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("stats of a missing container: %v, want ErrNotFound", err)
	}
}
