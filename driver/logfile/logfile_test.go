package logfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/testlog"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if IsLoggerInvocation(os.Args) {
		os.Exit(RunLogger(os.Args, nil))
	}
	os.Exit(m.Run())
}

// clock is a fake time source: each call is one millisecond later.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func newTestWriter(t *testing.T, o Options) *Writer {
	t.Helper()
	w, err := NewWriter(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func writeLines(t *testing.T, w *Writer, stream string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := w.WriteRecord(stream, false, fmt.Appendf(nil, "line-%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
}

func lineNames(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line-%03d\n", i)
	}
	return b.String()
}

func readAll(t *testing.T, path string, o ReadOptions) (string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := Read(context.Background(), path, o, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String()
}

func TestRotationKeepsNewestFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	const maxSize = 200
	w := newTestWriter(t, Options{Path: path, MaxSize: maxSize, MaxFiles: 3})
	writeLines(t, w, Stdout, 0, 100)

	var all string
	for i := 2; i >= 0; i-- {
		b, err := os.ReadFile(rotatedName(path, i))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > maxSize {
			t.Errorf("%s holds %d bytes, over %d", rotatedName(path, i), len(b), maxSize)
		}
		all += string(b)
	}
	if _, err := os.Stat(path + ".3"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s.3 exists (err %v); only 3 files should be kept", path, err)
	}
	out, _ := readAll(t, path, ReadOptions{Tail: -1})
	n := strings.Count(out, "\n")
	if n == 0 || n == 100 || out != lineNames(100-n, 100) {
		t.Fatalf("kept lines are not the newest ones:\n%s", out)
	}
	if strings.Count(all, "\n") != n {
		t.Errorf("files hold %d records, Read printed %d lines", strings.Count(all, "\n"), n)
	}

	// A writer reopened with fewer files removes the extra ones.
	w.Close()
	newTestWriter(t, Options{Path: path, MaxSize: maxSize, MaxFiles: 2})
	if _, err := os.Stat(path + ".2"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s.2 kept with MaxFiles 2", path)
	}
}

func TestAppendAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	w := newTestWriter(t, Options{Path: path})
	writeLines(t, w, Stdout, 0, 3)
	w.Close()
	w = newTestWriter(t, Options{Path: path})
	writeLines(t, w, Stdout, 3, 5)
	if out, _ := readAll(t, path, ReadOptions{Tail: -1}); out != lineNames(0, 5) {
		t.Fatalf("after a restart:\n%s", out)
	}
}

func TestReadTailAcrossFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	w := newTestWriter(t, Options{Path: path, MaxSize: 300, MaxFiles: 5})
	c := newClock()
	w.now = c.now
	writeLines(t, w, Stdout, 0, 30)
	if _, err := os.Stat(path + ".2"); err != nil {
		t.Fatalf("the test needs at least 3 files: %v", err)
	}
	all, _ := readAll(t, path, ReadOptions{Tail: -1})
	kept := strings.Count(all, "\n")

	for _, tc := range []struct {
		tail int
		want string
	}{
		{0, ""},
		{1, lineNames(29, 30)},
		{5, lineNames(25, 30)},
		{kept - 1, lineNames(31-kept, 30)}, // spans every file
		{1000, all},
	} {
		if out, _ := readAll(t, path, ReadOptions{Tail: tc.tail}); out != tc.want {
			t.Errorf("Tail %d:\n%s\nwant\n%s", tc.tail, out, tc.want)
		}
	}

	// Since and Timestamps: line i was written at 10:00:00 + (i+1) ms.
	since := time.Date(2024, 5, 1, 10, 0, 0, 28*int(time.Millisecond), time.UTC)
	out, _ := readAll(t, path, ReadOptions{Tail: -1, Since: since, Timestamps: true})
	want := "2024-05-01T10:00:00.028Z line-027\n2024-05-01T10:00:00.029Z line-028\n2024-05-01T10:00:00.03Z line-029\n"
	if out != want {
		t.Errorf("Since with Timestamps:\n%s\nwant\n%s", out, want)
	}
}

func TestReadStreamsAndMissingLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.log")
	if err := Read(context.Background(), path, ReadOptions{Tail: -1}, io.Discard, io.Discard); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a missing log: %v, want ErrNotExist", err)
	}
	w := newTestWriter(t, Options{Path: path})
	w.WriteRecord(Stdout, false, []byte("out"))
	w.WriteRecord(Stderr, false, []byte("err"))
	w.WriteRecord(Stdout, false, nil)
	// A line that is not a record is skipped.
	if _, err := w.f.WriteString("garbage\n"); err != nil {
		t.Fatal(err)
	}
	out, errOut := readAll(t, path, ReadOptions{Tail: -1})
	if out != "out\n\n" || errOut != "err\n" {
		t.Fatalf("stdout %q, stderr %q", out, errOut)
	}
}

func TestPartialLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	w := newTestWriter(t, Options{Path: path})
	long := strings.Repeat("x", 40000)
	input := "short\n" + long + "\n" + "no newline at the end"
	if err := w.Copy(Stdout, strings.NewReader(input)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for l := range strings.Lines(string(b)) {
		rec, ok := parseRecord([]byte(strings.TrimSuffix(l, "\n")))
		if !ok {
			t.Fatalf("not a record: %q", l)
		}
		tag := "F"
		if rec.partial {
			tag = "P"
		}
		tags = append(tags, fmt.Sprintf("%s%d", tag, len(rec.text)))
	}
	want := []string{"F5", "P16384", "P16384", "F7232", "P21"}
	if fmt.Sprint(tags) != fmt.Sprint(want) {
		t.Errorf("records %v, want %v", tags, want)
	}
	if out, _ := readAll(t, path, ReadOptions{Tail: -1}); out != input {
		t.Errorf("Read gives %d bytes, want the %d written", len(out), len(input))
	}
	// The long line counts as one line for Tail.
	if out, _ := readAll(t, path, ReadOptions{Tail: 2}); out != long+"\nno newline at the end" {
		t.Errorf("Tail 2 of partial lines: %.40q...", out)
	}
}

// syncBuffer is a log a test reads while others write it.
type syncBuffer = testlog.Buffer

// waitFor polls cond until it holds or 10 seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	o := Options{Path: path, MaxSize: 400, MaxFiles: 4}
	w := newTestWriter(t, o)
	writeLines(t, w, Stdout, 0, 3)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- Read(ctx, path, ReadOptions{Follow: true, Tail: 1}, &out, io.Discard) }()

	waitFor(t, "the tail", func() bool { return out.String() == lineNames(2, 3) })
	writeLines(t, w, Stdout, 3, 5)
	waitFor(t, "lines written after Read started", func() bool { return out.String() == lineNames(2, 5) })

	// Rotations one at a time (each file holds about 8 lines), then a
	// burst that rotates twice between two polls: the reader must pick up
	// the file it skipped.
	for i := 5; i < 41; i += 4 {
		writeLines(t, w, Stdout, i, i+4)
		waitFor(t, "lines across rotations", func() bool { return out.String() == lineNames(2, i+4) })
	}
	writeLines(t, w, Stdout, 41, 59)
	waitFor(t, "a burst of rotations", func() bool { return out.String() == lineNames(2, 59) })

	// The container restarts: a new writer appends to the same path.
	w.Close()
	w = newTestWriter(t, o)
	writeLines(t, w, Stdout, 59, 61)
	w.WriteRecord(Stdout, true, []byte("part"))
	waitFor(t, "lines after a restart", func() bool { return out.String() == lineNames(2, 61) })

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got := out.String(); got != lineNames(2, 61)+"part" {
		t.Fatalf("after the end, the pending partial line is printed:\n%s", got)
	}
}

func TestFollowWaitsForTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- Read(ctx, path, ReadOptions{Follow: true, Tail: -1}, &out, io.Discard) }()
	w := newTestWriter(t, Options{Path: path})
	writeLines(t, w, Stdout, 0, 2)
	waitFor(t, "the new file's lines", func() bool { return out.String() == lineNames(0, 2) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentStreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	w := newTestWriter(t, Options{Path: path, MaxSize: 1 << 20})
	var in [2]strings.Builder
	for i := range 500 {
		fmt.Fprintf(&in[0], "out %d\n", i)
		fmt.Fprintf(&in[1], "err %d\n", i)
	}
	var wg sync.WaitGroup
	wg.Go(func() { w.Copy(Stdout, strings.NewReader(in[0].String())) })
	wg.Go(func() { w.Copy(Stderr, strings.NewReader(in[1].String())) })
	wg.Wait()
	out, errOut := readAll(t, path, ReadOptions{Tail: -1})
	if out != in[0].String() || errOut != in[1].String() {
		t.Fatal("streams written at once are not kept apart")
	}
}

// loggerArgv is the argv a containerd shim gives a binary logger: the
// URI's query as key, value pairs.
func loggerArgv(exe string, u *url.URL) []string {
	argv := []string{exe}
	for k, vs := range u.Query() {
		argv = append(argv, k, vs[0])
	}
	return argv
}

func TestRunLogger(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "c.log")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	u := URI(exe, Options{Path: path, MaxSize: 1 << 20, MaxFiles: 2})
	if u.Scheme != "binary" || u.Path != exe {
		t.Fatalf("URI %s", u)
	}
	argv := loggerArgv(exe, u)
	if !IsLoggerInvocation(argv) || IsLoggerInvocation([]string{exe, "-test.run", "X"}) {
		t.Fatalf("IsLoggerInvocation(%q) is wrong", argv)
	}

	var pipes [3][2]*os.File // stdout, stderr, ready: read, write ends
	for i := range pipes {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		pipes[i] = [2]*os.File{r, w}
		t.Cleanup(func() { r.Close(); w.Close() })
	}
	cmd := &exec.Cmd{Path: exe, Args: argv}
	cmd.Env = append(os.Environ(), "CONTAINER_ID=c1", "CONTAINER_NAMESPACE=berth")
	cmd.ExtraFiles = []*os.File{pipes[0][0], pipes[1][0], pipes[2][1]}
	var logErr bytes.Buffer
	cmd.Stderr = &logErr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The shim's side: close the ends the logger holds, wait for ready.
	pipes[0][0].Close()
	pipes[1][0].Close()
	pipes[2][1].Close()
	readyErr := make(chan error, 1)
	go func() {
		_, err := pipes[2][0].Read(make([]byte, 1))
		readyErr <- err
	}()
	select {
	case err := <-readyErr:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("ready pipe: %v, want EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the logger did not close the ready pipe")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("ready before the file exists: %v", err)
	}

	long := strings.Repeat("y", 20000)
	fmt.Fprintf(pipes[0][1], "hello\n%s\n", long)
	fmt.Fprintf(pipes[1][1], "oops\n")
	fmt.Fprintf(pipes[0][1], "last words")
	pipes[0][1].Close()
	pipes[1][1].Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("logger: %v\n%s", err, logErr.String())
	}

	out, errOut := readAll(t, path, ReadOptions{Tail: -1})
	if out != "hello\n"+long+"\nlast words" || errOut != "oops\n" {
		t.Fatalf("stdout %.60q, stderr %q", out, errOut)
	}
	b, _ := os.ReadFile(path)
	if !bytes.Contains(b, []byte(" stdout P last words\n")) {
		t.Errorf("the last partial line is not kept as a P record:\n%.200s", b[max(0, len(b)-200):])
	}
}

func TestRunLoggerBadPath(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	// A path under a regular file cannot be created.
	argv := loggerArgv(exe, URI(exe, Options{Path: filepath.Join(file, "c.log")}))
	cmd := exec.Command(exe, argv[1:]...)
	r, w, _ := os.Pipe()
	defer r.Close()
	cmd.ExtraFiles = []*os.File{r, r, w}
	err = cmd.Run()
	w.Close()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("logger with a bad path: %v, want exit code 1", err)
	}
}

func TestFollowTruncatedAndSingleFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	w := newTestWriter(t, Options{Path: path, MaxSize: 120, MaxFiles: 1})
	writeLines(t, w, Stdout, 0, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- Read(ctx, path, ReadOptions{Follow: true, Tail: -1}, &out, io.Discard) }()
	waitFor(t, "the first lines", func() bool { return out.String() == lineNames(0, 2) })

	// MaxFiles 1: the file starts over, with no rotated file kept.
	writeLines(t, w, Stdout, 2, 4)
	waitFor(t, "lines in a new file", func() bool { return out.String() == lineNames(0, 4) })
	if _, err := os.Stat(path + ".1"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("MaxFiles 1 kept %s.1", path)
	}

	// Truncated in place (same inode) and shorter than what was read:
	// read again from the start.
	w.Close()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	w = newTestWriter(t, Options{Path: path, MaxSize: 120, MaxFiles: 1})
	writeLines(t, w, Stdout, 4, 5)
	waitFor(t, "a line after truncation", func() bool { return out.String() == lineNames(0, 5) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
