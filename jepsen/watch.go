package jepsen

import (
	"context"
	"fmt"
	"github.com/berth-dev/berth/api"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/berth-dev/berth/client"
)

// The watch workload: one watcher per server, each starting on a different
// server and moving on (resuming from the last revision it saw) when its
// server fails, follows every ConfigMap change from one start revision.
// They must all see the same events in the same order, without gaps or
// duplicates, and every write the other workloads had acknowledged.

// watchEvent is one event a watcher saw.
type watchEvent struct {
	Revision uint64 `json:"revision"`
	Type     string `json:"type"`
	Name     string `json:"name"`
	RV       string `json:"rv"`
	At       int64  `json:"at"` // on the run's clock
	// Node and Requests: a pod's spec.nodeName and requests (sched).
	Node     string        `json:"node,omitempty"`
	Requests api.Resources `json:"requests,omitzero"`
	// App is a pod's label app (the controllers' pods).
	App string `json:"app,omitempty"`
}

// watcher follows one kind's changes in namespace default from a start
// revision, through a client that starts on one server and moves on, from
// the last revision it saw, when that server fails.
type watcher struct {
	first  string // the server it starts on
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	events []watchEvent
	err    error // the watch ended for good
}

// startWatcher starts a watcher of kind from revision from, on server i
// first.
func (e *env) startWatcher(i int, kind string, from uint64) (*watcher, error) {
	cl, err := e.c.Client(e.c.Addrs(i), client.WithAttemptTimeout(time.Second))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{first: e.c.Servers[i].Name, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer cl.Close()
		for ev := range cl.Watch(ctx, kind, "default", from) {
			w.mu.Lock()
			if ev.Err != nil {
				w.err = ev.Err
			} else {
				m := ev.Object.GetObjectMeta()
				we := watchEvent{Revision: ev.Revision, Type: ev.Type, Name: m.Name, RV: m.ResourceVersion, At: e.h.Now()}
				if pod, ok := ev.Object.(*api.Pod); ok {
					we.Node, we.Requests, we.App = pod.Spec.NodeName, pod.Requests(), m.Labels["app"]
				}
				w.events = append(w.events, we)
			}
			w.mu.Unlock()
		}
	}()
	return w, nil
}

// stop ends the watch; its events stay.
func (w *watcher) stop() {
	w.cancel()
	<-w.done
}

// waitFor waits until the watcher has seen revision rev, or the deadline
// passes.
func (w *watcher) waitFor(rev uint64, deadline time.Time) {
	for w.last() < rev && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *watcher) last() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.events) == 0 {
		return 0
	}
	return w.events[len(w.events)-1].Revision
}

type watchWorkload struct {
	env      *env
	from     uint64
	watchers []*watcher
}

func (w *watchWorkload) name() string { return "watch" }

// setup notes the revision the watchers start from and starts them: they
// watch while the other workloads set up and run.
func (w *watchWorkload) setup(ctx context.Context, cl *client.Client) error {
	_, rev, err := cl.List(ctx, "ConfigMap", "default")
	if err != nil {
		return err
	}
	w.from = rev
	for i := range w.env.c.Servers {
		wt, err := w.env.startWatcher(i, "ConfigMap", w.from)
		if err != nil {
			w.stop()
			return err
		}
		w.watchers = append(w.watchers, wt)
	}
	return nil
}

func (w *watchWorkload) stop() {
	for _, wt := range w.watchers {
		wt.stop()
	}
}

// run does nothing more: the watchers run from setup to check.
func (w *watchWorkload) run(ctx context.Context) { <-ctx.Done() }

func (w *watchWorkload) check(ctx context.Context, dir string) []Verdict {
	v := Verdict{Checker: "watch (same order, no gaps)"}
	defer w.stop()
	// A last write, once the faults are over: every watcher must reach it.
	cl, err := w.env.c.Client(w.env.c.Addrs(0), client.WithTimeout(30*time.Second))
	if err != nil {
		v.Summary = err.Error()
		return []Verdict{v}
	}
	defer cl.Close()
	res, err := cl.Apply(ctx, labelled("watch-fence", "watch", map[string]string{"at": strconv.FormatInt(time.Now().UnixNano(), 10)}))
	if err != nil {
		v.Summary = "the fence write failed: " + err.Error()
		return []Verdict{v}
	}
	fence := res[0].Revision
	deadline := time.Now().Add(30 * time.Second)
	for _, wt := range w.watchers {
		wt.waitFor(fence, deadline)
	}
	w.stop()

	var problems []string
	seqs := make([][]watchEvent, len(w.watchers))
	for i, wt := range w.watchers {
		for _, ev := range wt.events {
			if ev.Revision <= fence {
				seqs[i] = append(seqs[i], ev)
			}
		}
		if f, err := os.Create(filepath.Join(dir, fmt.Sprintf("watch-%d.jsonl", i))); err == nil {
			_ = writeJSONLines(f, wt.events)
			f.Close()
		}
		if wt.err != nil {
			problems = append(problems, fmt.Sprintf("watcher %d (from %s) ended: %v", i, wt.first, wt.err))
		}
		if wt.last() < fence {
			problems = append(problems, fmt.Sprintf("watcher %d (from %s) stopped at revision %d, never reached the fence at %d", i, wt.first, wt.last(), fence))
		}
		seen := map[string]bool{}
		var prev uint64
		for _, ev := range seqs[i] {
			k := fmt.Sprintf("%d/%s", ev.Revision, ev.Name)
			switch {
			case ev.Revision < prev:
				problems = append(problems, fmt.Sprintf("watcher %d: revision %d (%s) after %d", i, ev.Revision, ev.Name, prev))
			case seen[k]:
				problems = append(problems, fmt.Sprintf("watcher %d: %s %s at revision %d twice", i, ev.Type, ev.Name, ev.Revision))
			case ev.Revision <= w.from:
				problems = append(problems, fmt.Sprintf("watcher %d: revision %d is not after the start %d", i, ev.Revision, w.from))
			}
			seen[k], prev = true, ev.Revision
		}
	}
	// Every watcher saw the same sequence as the first.
	for i := 1; i < len(seqs); i++ {
		if d := firstDifference(seqs[0], seqs[i]); d != "" {
			problems = append(problems, fmt.Sprintf("watchers 0 and %d differ: %s", i, d))
		}
	}
	// Every acknowledged ConfigMap write is in it.
	inStream := map[string]bool{}
	for _, ev := range seqs[0] {
		inStream[fmt.Sprintf("%d/%s", ev.Revision, ev.Name)] = true
	}
	acked, missing := 0, 0
	for _, op := range w.env.h.Ops("") {
		if op.Outcome != OK || op.F == "read" || op.Revision == 0 || op.Revision > fence || (op.Workload != "register" && op.Workload != "set") {
			continue
		}
		acked++
		if !inStream[fmt.Sprintf("%d/%s", op.Revision, op.Key)] {
			missing++
			if missing <= 20 {
				problems = append(problems, fmt.Sprintf("acknowledged %s %s %q at revision %d is not in the stream", op.F, op.Key, op.Value, op.Revision))
			}
		}
	}
	if missing > 20 {
		problems = append(problems, fmt.Sprintf("… %d more acknowledged writes missing", missing-20))
	}
	v.Details = problems
	v.Valid = len(problems) == 0 && len(seqs[0]) > 0
	v.Summary = fmt.Sprintf("%d watchers, %d events each up to the fence at revision %d (from %d); %d acknowledged writes, %d missing",
		len(w.watchers), len(seqs[0]), fence, w.from, acked, missing)
	return []Verdict{v}
}

func firstDifference(a, b []watchEvent) string {
	for i := range min(len(a), len(b)) {
		x, y := a[i], b[i]
		if x.Revision != y.Revision || x.Name != y.Name || x.Type != y.Type || x.RV != y.RV {
			return fmt.Sprintf("event %d: %s %s @%d vs %s %s @%d", i, x.Type, x.Name, x.Revision, y.Type, y.Name, y.Revision)
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("%d events vs %d", len(a), len(b))
	}
	return ""
}
