package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// clearLine returns the cursor to the start of the line and erases it.
const clearLine = "\r\x1b[K"

// liveLine is the last line of a terminal, rewritten in place to show
// the progress of a long operation, below the lines printed for good.
// On anything but a terminal it shows nothing: println alone writes.
type liveLine struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	width int    // the terminal's columns; the line is cut to fit, or \r would not reach its start
	text  string // shown now; "" for none
}

// newLiveLine returns the live line of w, which shows only when w is a
// terminal.
func newLiveLine(w io.Writer) *liveLine {
	l := &liveLine{w: w, width: 80}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		l.tty = true
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			l.width = cols
		}
	}
	return l
}

// set shows s in place of what the line showed.
func (l *liveLine) set(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.tty {
		return
	}
	s = truncate(s, l.width-1)
	if s == l.text {
		return
	}
	fmt.Fprint(l.w, clearLine+s)
	l.text = s
}

// println writes s as a line of its own, above the live line.
func (l *liveLine) println(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tty && l.text != "" {
		fmt.Fprint(l.w, clearLine+s+"\n"+l.text)
		return
	}
	fmt.Fprintln(l.w, s)
}

// clear erases the live line.
func (l *liveLine) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tty && l.text != "" {
		fmt.Fprint(l.w, clearLine)
		l.text = ""
	}
}

// keep ends the live line, leaving what it shows on the screen.
func (l *liveLine) keep() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tty && l.text != "" {
		fmt.Fprintln(l.w)
		l.text = ""
	}
}

// truncate cuts s to n runes, the last one an ellipsis.
func truncate(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// progressReader counts the bytes read through it and shows the count
// on a live line, at most every redraw.
type progressReader struct {
	r      io.Reader
	total  int64 // -1: unknown (stdin)
	sent   int64
	line   *liveLine
	now    func() time.Time
	start  time.Time
	drawn  time.Time
	redraw time.Duration
}

// newProgressReader counts what r gives of total bytes (-1: unknown).
func newProgressReader(r io.Reader, total int64, line *liveLine, now func() time.Time) *progressReader {
	t := now()
	return &progressReader{r: r, total: total, line: line, now: now, start: t, redraw: 100 * time.Millisecond}
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.sent += int64(n)
	t := p.now()
	switch {
	case err == io.EOF:
		p.line.set(renderTransfer(p.sent, p.total, t.Sub(p.start)) + "  sent; loading on the nodes...")
	case t.Sub(p.drawn) >= p.redraw:
		p.drawn = t
		p.line.set(renderTransfer(p.sent, p.total, t.Sub(p.start)))
	}
	return n, err
}

// summary is the plain line that ends a transfer: "sent 112MB in 3.2s
// (35MB/s)".
func (p *progressReader) summary() string {
	d := p.now().Sub(p.start)
	s := fmt.Sprintf("sent %s in %s", humanSize(p.sent), d.Round(100*time.Millisecond))
	if r := rate(p.sent, d); r != "" {
		s += " (" + r + ")"
	}
	return s
}

// barWidth is the number of cells of a progress bar.
const barWidth = 30

// renderTransfer draws a transfer's progress: a bar, the bytes sent of
// the total and the rate; without a total, the bytes and the rate.
func renderTransfer(sent, total int64, elapsed time.Duration) string {
	var b strings.Builder
	if total > 0 {
		frac := min(float64(sent)/float64(total), 1)
		b.WriteString(progressBar(frac, barWidth))
		fmt.Fprintf(&b, " %3.0f%%  %s/%s", frac*100, humanSize(sent), humanSize(total))
	} else {
		b.WriteString(humanSize(sent))
	}
	if r := rate(sent, elapsed); r != "" {
		b.WriteString("  " + r)
	}
	return b.String()
}

// progressBar draws frac (0 to 1) as [=====>    ] of width cells.
func progressBar(frac float64, width int) string {
	done := int(frac * float64(width))
	var b strings.Builder
	b.WriteByte('[')
	b.WriteString(strings.Repeat("=", done))
	if done < width {
		b.WriteByte('>')
		b.WriteString(strings.Repeat(" ", width-done-1))
	}
	b.WriteByte(']')
	return b.String()
}

// rate is bytes per second over d, "" for a d too short to tell.
func rate(bytes int64, d time.Duration) string {
	if d < 10*time.Millisecond {
		return ""
	}
	return humanSize(int64(float64(bytes)/d.Seconds())) + "/s"
}
