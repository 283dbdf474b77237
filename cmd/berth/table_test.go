package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/berth-dev/berth/api"
)

// TestTableMatchesTabwriter checks the table against text/tabwriter with
// kubectl's settings, the reference it replaces, on random cells.
func TestTableMatchesTabwriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"", "a", "web", "Running", "10.244.1.5", "<none>", "Ready,SchedulingDisabled", "é", "日本", "a much longer cell"}
	for i := range 200 {
		cols := 1 + rng.IntN(6)
		var rows [][]string
		for range 1 + rng.IntN(5) {
			row := make([]string, cols)
			for c := range row {
				row[c] = words[rng.IntN(len(words))]
			}
			rows = append(rows, row)
		}
		var want bytes.Buffer
		tw := tabwriter.NewWriter(&want, 0, 8, 3, ' ', 0)
		for _, row := range rows {
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		tw.Flush()
		tab := newTable(rows[0]...)
		for _, row := range rows[1:] {
			tab.add(row...)
		}
		var got bytes.Buffer
		if err := tab.write(&got, false); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Fatalf("case %d %q:\ngot\n%s\nwant\n%s", i, rows, got.String(), want.String())
		}
	}
}

var escape = regexp.MustCompile("\x1b\\[[0-9;]*m")

// TestTableColor colors the status words alone, and the columns stay
// where they are without color.
func TestTableColor(t *testing.T) {
	tab := newTable("NAME", "STATUS", "NODE")
	tab.statusColumn(1)
	tab.add("web", "Running", "n1")
	tab.add("db", "CrashLoopBackOff", "n2")
	tab.add("new", "Pending (Unschedulable)", "<none>")
	tab.add("n1", "Ready,SchedulingDisabled", "x")
	tab.add("odd", "Weird", "x")
	var plain, colored bytes.Buffer
	if err := tab.write(&plain, false); err != nil {
		t.Fatal(err)
	}
	if err := tab.write(&colored, true); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b") {
		t.Fatalf("escapes without color:\n%q", plain.String())
	}
	if got := escape.ReplaceAllString(colored.String(), ""); got != plain.String() {
		t.Fatalf("colored table, escapes removed:\n%s\nplain:\n%s", got, plain.String())
	}
	for _, want := range []string{
		"NAME   STATUS ", // the header stays plain
		"web    " + ansiGreen + "Running" + ansiReset + "   ",
		ansiRed + "CrashLoopBackOff" + ansiReset,
		ansiYellow + "Pending (Unschedulable)" + ansiReset,
		ansiGreen + "Ready" + ansiReset + "," + ansiYellow + "SchedulingDisabled" + ansiReset,
		"odd    Weird ",
		"   n1\n", // NODE is no status column
	} {
		if !strings.Contains(colored.String(), want) {
			t.Errorf("colored table lacks %q:\n%q", want, colored.String())
		}
	}
}

func TestColorWanted(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := []struct {
		tty  bool
		env  func(string) string
		want bool
	}{
		{true, env("TERM", "xterm-256color"), true},
		{true, env(), true},
		{false, env("TERM", "xterm-256color"), false},
		{true, env("NO_COLOR", "1"), false},
		{true, env("NO_COLOR", ""), true}, // set but empty counts as unset (no-color.org)
		{true, env("TERM", "dumb"), false},
	}
	for i, tt := range tests {
		if got := colorWanted(tt.tty, tt.env); got != tt.want {
			t.Errorf("case %d: colorWanted = %v, want %v", i, got, tt.want)
		}
	}
	// Neither a buffer nor a file nor a pipe is a terminal.
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for _, out := range []io.Writer{&bytes.Buffer{}, f, w} {
		if useColor(out) {
			t.Errorf("useColor(%T) = true", out)
		}
	}
}

// TestNoColorInPipes prints the tables that color on a terminal to a
// file: not one escape.
func TestNoColorInPipes(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	crash := pod("default", "crash", "n1", "")
	crash.Status.ContainerStatuses = []api.ContainerStatus{{Name: "c", State: api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
	if err := (&psOptions{all: true}).print(f, []*api.Pod{crash, pod("default", "ok", "n1", "")}, time.Now()); err != nil {
		t.Fatal(err)
	}
	o := getOptions{output: outWide}
	r := getRequest{info: kind(t, "pods"), namespace: "default"}
	if err := writeTable(f, r.info, []api.Object{crash}, o.tableOptions(r, now, nil, useColor(f))); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "CrashLoopBackOff") || strings.Contains(string(b), "\x1b") {
		t.Fatalf("printed to a file:\n%q", b)
	}
}
