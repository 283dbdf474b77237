package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
)

// fakeClock advances by step each time it is read.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time {
	c.t = c.t.Add(c.step)
	return c.t
}

func TestRenderTransfer(t *testing.T) {
	tests := []struct {
		sent, total int64
		elapsed     time.Duration
		want        string
	}{
		{0, 1000, 0, "[>                             ]   0%  0B/1kB"},
		{450e5, 112e6, 3 * time.Second, "[============>                 ]  40%  45MB/112MB  15MB/s"},
		{112e6, 112e6, 4 * time.Second, "[==============================] 100%  112MB/112MB  28MB/s"},
		{5e6, -1, 2 * time.Second, "5MB  2.5MB/s"},
	}
	for _, tt := range tests {
		if got := renderTransfer(tt.sent, tt.total, tt.elapsed); got != tt.want {
			t.Errorf("renderTransfer(%d, %d, %v) = %q, want %q", tt.sent, tt.total, tt.elapsed, got, tt.want)
		}
	}
}

// TestProgressNotATerminal reads an archive through the counter with a
// buffer for stderr: nothing is drawn, and the summary is one plain line.
func TestProgressNotATerminal(t *testing.T) {
	var stderr bytes.Buffer
	clock := &fakeClock{t: now, step: 250 * time.Millisecond}
	data := strings.Repeat("x", 3_000_000)
	p := newProgressReader(strings.NewReader(data), int64(len(data)), newLiveLine(&stderr), clock.now)
	n, err := io.Copy(io.Discard, p)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("copied %d, %v", n, err)
	}
	if stderr.Len() != 0 {
		t.Fatalf("drew on a buffer: %q", stderr.String())
	}
	if got := p.summary(); !strings.HasPrefix(got, "sent 3MB in ") || !strings.HasSuffix(got, "B/s)") || strings.ContainsAny(got, "\r\x1b\n") {
		t.Fatalf("summary %q", got)
	}
}

// TestProgressOnATerminal draws the bar in place, at most every redraw,
// and ends with the sent line.
func TestProgressOnATerminal(t *testing.T) {
	var screen bytes.Buffer
	line := &liveLine{w: &screen, tty: true, width: 120}
	clock := &fakeClock{t: now, step: 60 * time.Millisecond}
	p := newProgressReader(io.LimitReader(zeros{}, 10_000), 10_000, line, clock.now)
	buf := make([]byte, 1000)
	for {
		if _, err := p.Read(buf); err != nil {
			break
		}
	}
	draws := strings.Split(screen.String(), clearLine)[1:]
	// Ten reads 60 ms apart, drawn every 100 ms or more, then EOF.
	if len(draws) < 4 || len(draws) > 7 {
		t.Fatalf("%d draws: %q", len(draws), draws)
	}
	if last := draws[len(draws)-1]; !strings.HasPrefix(last, "[==============================] 100%  10kB/10kB") || !strings.HasSuffix(last, "sent; loading on the nodes...") {
		t.Fatalf("last draw %q", last)
	}
	line.clear()
	if !strings.HasSuffix(screen.String(), clearLine) {
		t.Fatal("clear left the line")
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

func TestLiveLine(t *testing.T) {
	var screen bytes.Buffer
	l := &liveLine{w: &screen, tty: true, width: 20}
	l.set("1 of 3 pods evicted; waiting for a, b")
	l.println("evicting pod a")
	l.set("2 of 3")
	l.set("2 of 3") // unchanged: not drawn again
	l.keep()
	want := clearLine + "1 of 3 pods evicte…" + clearLine + "evicting pod a\n1 of 3 pods evicte…" + clearLine + "2 of 3\n"
	if screen.String() != want {
		t.Fatalf("screen %q\nwant   %q", screen.String(), want)
	}
	screen.Reset()
	plain := newLiveLine(&screen)
	plain.set("hidden")
	plain.println("shown")
	plain.keep()
	plain.clear()
	if screen.String() != "shown\n" {
		t.Fatalf("not a terminal: %q", screen.String())
	}
}

// TestRolloutOnATerminal rewrites the progress in place and leaves the
// last message; elsewhere each message is a line.
func TestRolloutOnATerminal(t *testing.T) {
	steps := []*api.Deployment{
		deployment(3, 2, api.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 1}),
		deployment(3, 2, api.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 2}),
		deployment(3, 2, api.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}),
	}
	var screen, log bytes.Buffer
	tty := &rolloutPrinter{w: &screen, line: &liveLine{w: &screen, tty: true, width: 200}}
	plain := &rolloutPrinter{w: &log, line: newLiveLine(&log)}
	for _, d := range steps {
		for _, p := range []*rolloutPrinter{tty, plain} {
			if _, err := p.show(d); err != nil {
				t.Fatal(err)
			}
		}
	}
	tty.line.keep()
	plain.line.keep()
	wantLog := "" +
		"Waiting for deployment \"web\" rollout to finish: 1 of 3 updated replicas are available...\n" +
		"Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available...\n" +
		"deployment \"web\" successfully rolled out\n"
	if log.String() != wantLog {
		t.Fatalf("not a terminal:\n%s\nwant\n%s", log.String(), wantLog)
	}
	wantScreen := clearLine + "Waiting for deployment \"web\" rollout to finish: 1 of 3 updated replicas are available..." +
		clearLine + "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available..." +
		clearLine + "deployment \"web\" successfully rolled out\n"
	if screen.String() != wantScreen {
		t.Fatalf("terminal %q\nwant     %q", screen.String(), wantScreen)
	}
}
