package logfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// ReadOptions say which lines Read prints.
type ReadOptions struct {
	// Follow keeps printing new lines, across rotations and restarts of
	// the container, until the context ends.
	Follow bool
	// Tail prints only the last Tail lines present when Read starts (all
	// of them when negative).
	Tail int
	// Timestamps prefixes each line with its time (RFC 3339, UTC).
	Timestamps bool
	// Since skips the lines written before it (none when zero).
	Since time.Time
}

// pollInterval is how often a followed file is checked for new lines.
const pollInterval = 150 * time.Millisecond

// Read prints the log at path, oldest line first across its rotated files,
// each line to stdout or stderr as it was written. A line split into
// partial records is printed whole; output that ended without a newline is
// printed without one. With Follow it returns nil once ctx ends; it
// returns early only when printing fails. A log that does not exist is
// fs.ErrNotExist, unless Follow waits for it.
func Read(ctx context.Context, path string, o ReadOptions, stdout, stderr io.Writer) error {
	r := &reader{o: o, tailing: o.Tail >= 0}
	r.out[0], r.out[1] = orDiscard(stdout), orDiscard(stderr)

	cur, err := openFollowed(path)
	if err != nil {
		return err
	}
	older := rotatedFiles(path)
	if cur == nil && len(older) == 0 && !o.Follow {
		return fmt.Errorf("logfile: %s: %w", path, fs.ErrNotExist)
	}
	defer func() { cur.close() }()
	for i := len(older) - 1; i >= 0; i-- {
		r.readFile(older[i].path, cur)
	}
	if cur != nil {
		r.drain(cur)
	}
	if !o.Follow {
		r.flushPending()
		r.endTail()
		return r.err
	}
	r.endTail()
	if r.err != nil {
		return r.err
	}

	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.flushPending()
			return r.err
		case <-t.C:
		}
		cur, err = r.poll(path, cur)
		if err != nil {
			return err
		}
		if r.err != nil {
			return r.err
		}
	}
}

// poll reads what was appended to cur, and moves to the file now at path
// when cur was rotated away (reading the rest of cur and any rotated file
// it missed first) or starts over when it shrank. (A file truncated and
// written past the point read within one poll goes unnoticed; Writer never
// truncates, it rotates.)
func (r *reader) poll(path string, cur *followed) (*followed, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		// Between a rotation's rename and create, or not written yet.
		if cur != nil {
			r.drain(cur)
		}
		return cur, nil
	}
	if err != nil {
		return cur, fmt.Errorf("logfile: %w", err)
	}
	switch {
	case cur == nil:
	case !os.SameFile(fi, cur.fi):
		r.drain(cur)
		r.readMissed(path, cur.fi)
		cur.close()
	case fi.Size() < cur.off:
		if _, err := cur.f.Seek(0, io.SeekStart); err != nil {
			return cur, fmt.Errorf("logfile: %w", err)
		}
		cur.off, cur.carry = 0, cur.carry[:0]
		r.drain(cur)
		return cur, nil
	default:
		r.drain(cur)
		return cur, nil
	}
	cur, err = openFollowed(path)
	if err != nil || cur == nil {
		return cur, err
	}
	r.drain(cur)
	return cur, nil
}

// readMissed reads the rotated files newer than old: more than one
// rotation between two polls.
func (r *reader) readMissed(path string, old os.FileInfo) {
	files := rotatedFiles(path) // newest first
	newer := len(files)
	for i, f := range files {
		if fi, err := os.Stat(f.path); err == nil && os.SameFile(fi, old) {
			newer = i
			break
		}
	}
	for i := newer - 1; i >= 0; i-- {
		r.readFile(files[i].path, nil)
	}
}

// followed is an open log file and how far it has been read.
type followed struct {
	f     *os.File
	fi    os.FileInfo
	off   int64
	carry []byte // the start of a line not yet complete
}

// openFollowed opens path; nil (and no error) when it does not exist.
func openFollowed(path string) (*followed, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("logfile: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("logfile: %w", err)
	}
	return &followed{f: f, fi: fi}, nil
}

func (c *followed) close() {
	if c != nil {
		c.f.Close()
	}
}

// line is one line of output, joined from its records.
type line struct {
	ts      string
	time    time.Time
	stream  int // 0 stdout, 1 stderr
	text    []byte
	newline bool // false: the output ended without one
}

// reader turns records into lines and prints them.
type reader struct {
	o       ReadOptions
	out     [2]io.Writer
	pending [2]*line // a line of partial records, by stream
	tailing bool     // keep the last Tail lines in tail instead of printing
	tail    []line
	buf     []byte
	err     error // the first failure to print
}

// readFile reads a whole file that is no longer written; skip is a file
// already open for following (a rotation raced with Read's start).
func (r *reader) readFile(path string, skip *followed) {
	c, err := openFollowed(path)
	if err != nil || c == nil {
		return
	}
	defer c.close()
	if skip != nil && os.SameFile(c.fi, skip.fi) {
		return
	}
	r.drain(c)
}

// drain reads c to its end and handles every complete line.
func (r *reader) drain(c *followed) {
	var chunk [32 << 10]byte
	for r.err == nil {
		n, err := c.f.Read(chunk[:])
		c.off += int64(n)
		c.carry = append(c.carry, chunk[:n]...)
		start := 0
		for {
			i := bytes.IndexByte(c.carry[start:], '\n')
			if i < 0 {
				break
			}
			r.record(c.carry[start : start+i])
			start += i + 1
		}
		c.carry = c.carry[:copy(c.carry, c.carry[start:])]
		if err != nil || n == 0 {
			return
		}
	}
}

// record handles one line of a file.
func (r *reader) record(b []byte) {
	rec, ok := parseRecord(b)
	if !ok {
		return
	}
	s := 0
	if rec.stream == Stderr {
		s = 1
	}
	p := r.pending[s]
	if p == nil {
		p = &line{ts: rec.ts, time: rec.time, stream: s}
	}
	p.text = append(p.text, rec.text...)
	if rec.partial {
		r.pending[s] = p
		return
	}
	r.pending[s] = nil
	p.newline = true
	r.emit(*p)
}

// flushPending prints the lines whose last record was partial.
func (r *reader) flushPending() {
	for s, p := range r.pending {
		if p != nil {
			r.pending[s] = nil
			r.emit(*p)
		}
	}
}

func (r *reader) emit(l line) {
	if !r.o.Since.IsZero() && l.time.Before(r.o.Since) {
		return
	}
	if !r.tailing {
		r.print(l)
		return
	}
	if r.o.Tail == 0 {
		return
	}
	if len(r.tail) == 2*r.o.Tail {
		r.tail = r.tail[:copy(r.tail, r.tail[r.o.Tail:])]
	}
	r.tail = append(r.tail, l)
}

// endTail prints the lines kept for Tail; later lines print at once.
func (r *reader) endTail() {
	if !r.tailing {
		return
	}
	r.tailing = false
	keep := r.tail[max(0, len(r.tail)-r.o.Tail):]
	for _, l := range keep {
		r.print(l)
	}
	r.tail = nil
}

func (r *reader) print(l line) {
	if r.err != nil {
		return
	}
	b := r.buf[:0]
	if r.o.Timestamps {
		b = append(b, l.ts...)
		b = append(b, ' ')
	}
	b = append(b, l.text...)
	if l.newline {
		b = append(b, '\n')
	}
	r.buf = b
	if _, err := r.out[l.stream].Write(b); err != nil {
		r.err = fmt.Errorf("logfile: print: %w", err)
	}
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
