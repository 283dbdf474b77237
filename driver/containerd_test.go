package driver_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/driver"
	"github.com/berth-dev/berth/driver/drivertest"
	"github.com/berth-dev/berth/driver/logfile"
	"github.com/berth-dev/berth/internal/testcontainerd"
	"github.com/berth-dev/berth/internal/testimage"
)

func TestMain(m *testing.M) {
	// The shim starts this test binary as the containers' logger.
	if logfile.IsLoggerInvocation(os.Args) {
		os.Exit(logfile.RunLogger(os.Args, driver.FenceWatchdog))
	}
	os.Exit(testcontainerd.Main(m))
}

// newContainerd returns a runtime on the test daemon in a namespace of its
// own (purged at the end), with the test image loaded.
func newContainerd(t *testing.T, socket, ns string) *driver.Containerd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt, err := driver.NewContainerd(ctx, driver.ContainerdConfig{
		Socket:       socket,
		Namespace:    ns,
		LoggerBinary: exe,
		LogMaxSize:   1 << 20,
		LogMaxFiles:  2,
		Logger:       slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func TestContainerd(t *testing.T) {
	socket := testcontainerd.Start(t)
	drivertest.Run(t, func(t *testing.T) driver.Runtime {
		rt := newContainerd(t, socket, testcontainerd.Namespace(t, socket))
		testimage.Load(t, rt)
		return rt
	}, testimage.Ref)
}

// TestContainerdFileLogs runs containers without the logger binary: the
// shim writes the log file itself.
func TestContainerdFileLogs(t *testing.T) {
	socket := testcontainerd.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt, err := driver.NewContainerd(ctx, driver.ContainerdConfig{Socket: socket, Namespace: testcontainerd.Namespace(t, socket)})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	ref := testimage.Load(t, rt)
	logPath := filepath.Join(t.TempDir(), "c.log")
	id, err := rt.CreateContainer(ctx, driver.ContainerSpec{
		PodUID: "file-logs", Name: "main", Image: ref, LogPath: logPath,
		// The sleep: containerd 1.6's shim, writing a file:// log itself,
		// lost the stderr of a process that exited at once when the machine
		// was busy (6 of 30 runs beside a fuzzer; 0 of 30 with the sleep).
		// Agents log through the logger binary, which the suite above tests.
		Command: []string{"sh", "-c", "echo out; echo err >&2; sleep 0.5"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.RemoveContainer(context.Background(), id)
	if err := rt.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitExited(t, rt, id)
	for deadline := time.Now().Add(5 * time.Second); ; {
		b, _ := os.ReadFile(logPath)
		if bytes.Contains(b, []byte("out\n")) && bytes.Contains(b, []byte("err\n")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log %q", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitExited(t *testing.T, rt driver.Runtime, id string) driver.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := rt.ContainerStatus(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == driver.StateExited {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not exit: %+v", id, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestContainerdAdopt checks that a new Containerd (a restarted agent)
// sees what the first one ran: a running container, and an exited one's
// code and OOM kill.
func TestContainerdAdopt(t *testing.T) {
	socket := testcontainerd.Start(t)
	ns := testcontainerd.Namespace(t, socket)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	first := newContainerd(t, socket, ns)
	ref := testimage.Load(t, first)
	run := func(name, script string, mem int64) string {
		id, err := first.CreateContainer(ctx, driver.ContainerSpec{
			PodUID: "adopt", Name: name, Image: ref, MemoryBytes: mem,
			Command: []string{"sh", "-c", script},
			LogPath: filepath.Join(t.TempDir(), name+".log"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := first.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	running := run("running", "sleep 1000", 0)
	oom := run("oom", "x=0123456789abcdef; while :; do x=$x$x; done", 16<<20)
	waitExited(t, first, oom)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second := newContainerd(t, socket, ns)
	list, err := second.ListContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]driver.ContainerStatus{}
	for _, st := range list {
		states[st.Name] = st
	}
	if st := states["running"]; st.ID != running || st.State != driver.StateRunning || st.StartedAt.IsZero() || st.PodUID != "adopt" {
		t.Errorf("running container after a restart: %+v", st)
	}
	if st := states["oom"]; st.ID != oom || st.State != driver.StateExited || st.Reason != "OOMKilled" || st.FinishedAt.IsZero() {
		t.Errorf("OOM-killed container after a restart: %+v", st)
	}
	if v, err := second.Version(ctx); err != nil || !strings.HasPrefix(v, "containerd ") {
		t.Errorf("Version = %q, %v", v, err)
	}
}

// registry serves the test image over plain HTTP as a read-only OCI
// distribution registry: repository busybox, tag test.
func registry(t *testing.T) string {
	t.Helper()
	var archive bytes.Buffer
	if err := testimage.Write(&archive, "busybox:test"); err != nil {
		t.Fatal(err)
	}
	blobs := map[string][]byte{}
	tr := tar.NewReader(&archive)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		blobs[h.Name] = b
	}
	var index struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	if err := json.Unmarshal(blobs["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v", err)
	}
	manifest := index.Manifests[0].Digest
	blob := func(digest string) ([]byte, bool) {
		b, ok := blobs["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")]
		return b, ok
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		var b []byte
		var ok bool
		switch {
		case p == "/v2/":
			return
		case p == "/v2/busybox/manifests/test" || p == "/v2/busybox/manifests/"+manifest:
			b, ok = blob(manifest)
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Docker-Content-Digest", manifest)
		case strings.HasPrefix(p, "/v2/busybox/blobs/"):
			b, ok = blob(strings.TrimPrefix(p, "/v2/busybox/blobs/"))
			w.Header().Set("Content-Type", "application/octet-stream")
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		if r.Method != http.MethodHead {
			w.Write(b)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestContainerdPull(t *testing.T) {
	socket := testcontainerd.Start(t)
	host := registry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt, err := driver.NewContainerd(ctx, driver.ContainerdConfig{
		Socket: socket, Namespace: testcontainerd.Namespace(t, socket), PlainHTTP: []string{host},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	ref := host + "/busybox:test"
	img, err := rt.PullImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if img.Ref != ref || !strings.HasPrefix(img.Digest, "sha256:") {
		t.Errorf("pulled %+v", img)
	}
	if _, err := rt.PullImage(ctx, host+"/busybox:nosuch"); !errors.Is(err, driver.ErrImage) {
		t.Errorf("pull of a missing tag: %v, want ErrImage", err)
	}
	id, err := rt.CreateContainer(ctx, driver.ContainerSpec{PodUID: "pull", Name: "main", Image: ref, Command: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.RemoveContainer(context.Background(), id)
	if err := rt.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st := waitExited(t, rt, id); st.ExitCode != 0 {
		t.Errorf("a container of the pulled image: %+v", st)
	}
}

// TestContainerdExecLeaks runs execs and checks that they leave no
// goroutines and no FIFOs behind.
func TestContainerdExecLeaks(t *testing.T) {
	socket := testcontainerd.Start(t)
	rt := newContainerd(t, socket, testcontainerd.Namespace(t, socket))
	ref := testimage.Load(t, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := rt.CreateContainer(ctx, driver.ContainerSpec{PodUID: "leaks", Name: "main", Image: ref, Command: []string{"sleep", "1000"}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.RemoveContainer(context.Background(), id)
	if err := rt.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	exec := func(tty bool) {
		resize := make(chan driver.TermSize, 1)
		resize <- driver.TermSize{Width: 80, Height: 24}
		spec := driver.ExecSpec{Cmd: []string{"cat"}, Stdin: strings.NewReader("x\n"), Stdout: io.Discard, Stderr: io.Discard}
		if tty {
			// The end of a terminal's input hangs it up; no stdin here.
			spec = driver.ExecSpec{Cmd: []string{"echo", "x"}, TTY: true, Stdout: io.Discard, Resize: resize}
		}
		code, err := rt.Exec(ctx, id, spec)
		if err != nil || code != 0 {
			t.Fatalf("exec: %d, %v", code, err)
		}
	}
	exec(false) // warm up the connection
	fifos := func() int {
		e, _ := os.ReadDir("/run/containerd/fifo")
		return len(e)
	}
	goroutines, dirs := runtime.NumGoroutine(), fifos()
	for i := range 10 {
		exec(i%2 == 0)
	}
	// Goroutines of finished calls may take a moment to return.
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > goroutines+2; {
		if time.Now().After(deadline) {
			t.Errorf("%d goroutines after 10 execs, %d before", runtime.NumGoroutine(), goroutines)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := fifos(); n > dirs {
		t.Errorf("%d FIFO folders after 10 execs, %d before", n, dirs)
	}
}
