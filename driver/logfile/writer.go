package logfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultMaxSize  = 10 << 20
	DefaultMaxFiles = 3
)

// Writer appends records to a log file and rotates it: when a record would
// take the file past MaxSize, the file becomes Path.1 (Path.1 becomes
// Path.2, and so on, MaxFiles files in all) and a new Path starts. The
// file is opened for appending, so a container restarted with the same
// Path keeps its earlier lines. Safe for concurrent use.
type Writer struct {
	o   Options
	now func() time.Time

	mu   sync.Mutex
	f    *os.File
	size int64
	buf  []byte
}

// NewWriter opens (or creates) o.Path for appending, with the defaults for
// unset sizes. Rotated files beyond MaxFiles, left by a larger setting,
// are removed.
func NewWriter(o Options) (*Writer, error) {
	if o.Path == "" {
		return nil, errors.New("logfile: no path")
	}
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o755); err != nil {
		return nil, fmt.Errorf("logfile: %w", err)
	}
	w := &Writer{o: o, now: time.Now}
	if err := w.open(); err != nil {
		return nil, err
	}
	for _, r := range rotatedFiles(o.Path) {
		if r.n >= o.MaxFiles {
			_ = os.Remove(r.path)
		}
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.o.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("logfile: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("logfile: %w", err)
	}
	w.f, w.size = f, fi.Size()
	return nil
}

// WriteRecord writes one record of stream (Stdout or Stderr) stamped with
// the current time: a full line, or with partial a part of one. text must
// not hold a newline.
func (w *Writer) WriteRecord(stream string, partial bool, text []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("logfile: writer closed")
	}
	w.buf = appendRecord(w.buf[:0], w.now(), stream, partial, text)
	if w.size > 0 && w.size+int64(len(w.buf)) > w.o.MaxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("logfile: %w", err)
	}
	return nil
}

// rotate shifts Path.i to Path.i+1, Path to Path.1 (the oldest file falls
// off when MaxFiles are kept) and opens a new Path.
func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("logfile: %w", err)
	}
	w.f = nil
	if w.o.MaxFiles <= 1 {
		if err := os.Remove(w.o.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("logfile: %w", err)
		}
	}
	for i := w.o.MaxFiles - 1; i >= 1; i-- {
		err := os.Rename(rotatedName(w.o.Path, i-1), rotatedName(w.o.Path, i))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("logfile: rotate: %w", err)
		}
	}
	return w.open()
}

// Copy writes every line read from r as records of stream until r ends:
// lines longer than 16 KiB become partial records, and so does output
// that ends without a newline. A failed write does not stop it (the
// container must not block on a full pipe); the first such error is
// returned at the end.
func (w *Writer) Copy(stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, maxLine)
	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			keep(w.WriteRecord(stream, false, line[:len(line)-1]))
			continue
		case errors.Is(err, bufio.ErrBufferFull):
			keep(w.WriteRecord(stream, true, line))
			continue
		}
		if len(line) > 0 {
			keep(w.WriteRecord(stream, true, line))
		}
		if !errors.Is(err, io.EOF) {
			keep(fmt.Errorf("logfile: read %s: %w", stream, err))
		}
		return first
	}
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// rotatedName is Path for 0, else Path.i.
func rotatedName(path string, i int) string {
	if i == 0 {
		return path
	}
	return path + "." + strconv.Itoa(i)
}

type rotated struct {
	n    int
	path string
}

// rotatedFiles lists the rotated files of path (Path.1, Path.2, ...),
// newest first.
func rotatedFiles(path string) []rotated {
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return nil
	}
	prefix := filepath.Base(path) + "."
	var out []rotated
	for _, e := range entries {
		s, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || strconv.Itoa(n) != s {
			continue
		}
		out = append(out, rotated{n: n, path: rotatedName(path, n)})
	}
	slices.SortFunc(out, func(a, b rotated) int { return a.n - b.n })
	return out
}
