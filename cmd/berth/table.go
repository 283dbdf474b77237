package main

import (
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"golang.org/x/term"
)

// columnPadding is the space between two columns, as kubectl's tables
// have it (tabwriter's padding of 3).
const columnPadding = 3

// table lays out rows of cells in aligned columns, as text/tabwriter
// with padding 3 does, but measures a cell by its plain text: a status
// word may then be colored without moving the columns after it.
type table struct {
	rows   [][]string
	styled map[int]bool // the columns whose cells are status words
}

// newTable starts a table with its header row.
func newTable(header ...string) *table {
	return &table{rows: [][]string{header}}
}

// statusColumn marks column i as one of status words, colored on a
// terminal.
func (t *table) statusColumn(i int) {
	if t.styled == nil {
		t.styled = map[int]bool{}
	}
	t.styled[i] = true
}

// prependColumn adds a column before the others, with its header; rows
// added later must have a cell for it.
func (t *table) prependColumn(header string) {
	t.rows[0] = append([]string{header}, t.rows[0]...)
	styled := map[int]bool{}
	for i := range t.styled {
		styled[i+1] = true
	}
	t.styled = styled
}

// add appends a row.
func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// widths returns the width of each column but the last: its widest cell
// plus the padding.
func (t *table) widths() []int {
	var w []int
	for _, row := range t.rows {
		for i, cell := range row[:max(len(row)-1, 0)] {
			if i == len(w) {
				w = append(w, 0)
			}
			w[i] = max(w[i], utf8.RuneCountInString(cell)+columnPadding)
		}
	}
	return w
}

// write writes the table; color colors the status columns' words (never
// the header).
func (t *table) write(w io.Writer, color bool) error {
	widths := t.widths()
	var b strings.Builder
	for r, row := range t.rows {
		writeRow(&b, row, widths, color && r > 0, t.styled)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeRow writes one row padded to widths; cells past them are written
// with the padding alone. With color, the cells of styled columns are
// colored after their padding is measured.
func writeRow(b *strings.Builder, row []string, widths []int, color bool, styled map[int]bool) {
	for i, cell := range row {
		text := cell
		if color && styled[i] {
			text = colorStatus(cell)
		}
		b.WriteString(text)
		if i == len(row)-1 {
			break
		}
		pad := columnPadding
		if i < len(widths) {
			pad = max(widths[i]-utf8.RuneCountInString(cell), columnPadding)
		}
		b.WriteString(strings.Repeat(" ", pad))
	}
	b.WriteByte('\n')
}

// ANSI SGR sequences for the status words.
const (
	ansiReset  = "\x1b[0m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
)

// statusColors gives the color of each status word a table may show;
// words not here stay plain.
var statusColors = map[string]string{
	"Running": ansiGreen, "Ready": ansiGreen, "Active": ansiGreen, "Bound": ansiGreen,
	"Succeeded": ansiGreen, "Completed": ansiGreen,

	"Pending": ansiYellow, "ContainerCreating": ansiYellow, "PodInitializing": ansiYellow,
	"Terminating": ansiYellow, "Stopping": ansiYellow, "Stopped": ansiYellow,
	"SchedulingDisabled": ansiYellow, "Unknown": ansiYellow, "Warning": ansiYellow,

	"Failed": ansiRed, "Error": ansiRed, "CrashLoopBackOff": ansiRed, "NotReady": ansiRed,
	"OOMKilled": ansiRed, "ErrImagePull": ansiRed, "ImagePullBackOff": ansiRed,
	"InvalidImageName": ansiRed, "CreateContainerError": ansiRed, "RunContainerError": ansiRed,
	"ContainerCannotRun": ansiRed, "Lost": ansiRed, "Evicted": ansiRed,
}

// colorStatus colors each comma-separated part of a status cell by its
// first word: "Ready,SchedulingDisabled" is green then yellow, "Pending
// (Unschedulable)" yellow.
func colorStatus(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		word, _, _ := strings.Cut(p, " ")
		if c, ok := statusColors[word]; ok {
			parts[i] = c + p + ansiReset
		}
	}
	return strings.Join(parts, ",")
}

// colorWanted decides whether to color what goes to a terminal: only
// when out is one, NO_COLOR is unset or empty (no-color.org) and TERM is
// not dumb. getenv is os.Getenv outside tests.
func colorWanted(isTerminal bool, getenv func(string) string) bool {
	return isTerminal && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
}

// isTerminal reports whether w is a terminal (a pipe, a file or a
// buffer is not).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// useColor is colorWanted for w and this process's environment.
func useColor(w io.Writer) bool { return colorWanted(isTerminal(w), os.Getenv) }
