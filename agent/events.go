package agent

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/fsm"
	pb "github.com/berth-dev/berth/proto/berthpb"
)

// Events (api.Event) tell people what happened to their objects. Every
// agent has one recorder: its controllers (on the leader) and its node
// agent record into it, and it writes what gathered every
// eventFlushInterval through the agent's own API, in one write. The same
// object, reason and message make one Event whose count grows. The
// leader keeps the history bounded: Events older than EventTTL go, and
// the oldest beyond MaxEvents.

const (
	eventFlushInterval = 500 * time.Millisecond
	// eventBatch bounds the Events of one write; eventBacklog those
	// waiting (more are dropped, and counted).
	eventBatch   = 100
	eventBacklog = 2000
	// eventsKnown bounds the Events the recorder remembers to count
	// repeats.
	eventsKnown = 4096
	// EventTTL is how long an Event is kept after it last happened
	// (Kubernetes' default).
	EventTTL = time.Hour
	// MaxEvents bounds the Events the cluster keeps.
	MaxEvents = 5000
	// eventGCInterval is how often the leader trims the history.
	eventGCInterval = 30 * time.Second
)

// eventTimeFormat is RFC 3339 with microseconds, always six digits: Events
// of one second sort in the order they happened, as strings too.
const eventTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// recorder gathers Events and writes them in batches.
type recorder struct {
	host string // this agent's name, the source of its Events
	now  func() time.Time
	log  *slog.Logger
	// write sends a batch to the cluster.
	write func(ctx context.Context, evs []*api.Event) error

	mu      sync.Mutex
	known   map[string]*api.Event // by namespace/name: what was recorded last
	pending []string              // keys of known to write, oldest first
	dropped uint64
	kick    chan struct{}
}

func newRecorder(host string, now func() time.Time, log *slog.Logger, write func(context.Context, []*api.Event) error) *recorder {
	return &recorder{host: host, now: now, log: log, write: write, known: map[string]*api.Event{}, kick: make(chan struct{}, 1)}
}

// record notes that something happened to ref, as comp saw it.
func (r *recorder) record(comp string, ref api.ObjectReference, typ, reason, message string) {
	ns := ref.Namespace
	if ns == "" {
		ns = "default" // cluster-scoped objects' Events, as in Kubernetes
	}
	src := api.EventSource{Component: comp, Host: r.host}
	name := eventName(ref, typ, reason, message, src)
	key := ns + "/" + name
	ts := r.now().UTC().Format(eventTimeFormat)
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.known[key]
	switch {
	case e != nil:
		e = cloneEvent(e)
		e.Count++
		e.LastTimestamp = ts
	case len(r.pending) >= eventBacklog:
		r.dropped++
		return
	default:
		if len(r.known) >= eventsKnown {
			r.forgetOld()
		}
		e = &api.Event{
			TypeMeta:       api.TypeMeta{APIVersion: "v1", Kind: "Event"},
			Metadata:       api.ObjectMeta{Name: name, Namespace: ns},
			InvolvedObject: ref, Reason: reason, Message: message, Type: typ, Source: src,
			FirstTimestamp: ts, LastTimestamp: ts, Count: 1,
		}
	}
	if !slices.Contains(r.pending, key) {
		r.pending = append(r.pending, key)
	}
	r.known[key] = e
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// forgetOld drops the half of known that happened longest ago (those not
// waiting to be written); a repeat of one of them starts a new count.
func (r *recorder) forgetOld() {
	type aged struct{ key, last string }
	var all []aged
	for k, e := range r.known {
		if !slices.Contains(r.pending, k) {
			all = append(all, aged{k, e.LastTimestamp})
		}
	}
	slices.SortFunc(all, func(a, b aged) int { return strings.Compare(a.last+a.key, b.last+b.key) })
	for _, a := range all[:len(all)/2] {
		delete(r.known, a.key)
	}
}

func cloneEvent(e *api.Event) *api.Event {
	c := *e
	return &c
}

// eventName names the Event of one object, reason and message from one
// source: the object's name and a hash of the rest, so that a repeat is
// the same Event.
func eventName(ref api.ObjectReference, typ, reason, message string, src api.EventSource) string {
	h := fnv.New64a()
	for _, s := range []string{ref.Kind, ref.Namespace, ref.Name, ref.UID, typ, reason, message, src.Component, src.Host} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	name := ref.Name
	if len(name) > 200 {
		name = name[:200]
	}
	return strings.TrimRight(strings.ToLower(name), ".-") + "." + hex.EncodeToString(h.Sum(nil))
}

// run writes what gathers until ctx ends.
func (r *recorder) run(ctx context.Context) {
	t := time.NewTicker(eventFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		}
		// Let a burst gather.
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for r.flush(ctx) {
		}
	}
}

// flush writes one batch; it reports whether more wait.
func (r *recorder) flush(ctx context.Context) bool {
	r.mu.Lock()
	n := min(len(r.pending), eventBatch)
	keys := slices.Clone(r.pending[:n])
	batch := make([]*api.Event, n)
	for i, k := range keys {
		batch[i] = r.known[k]
	}
	r.pending = r.pending[n:]
	dropped := r.dropped
	r.dropped = 0
	more := len(r.pending) > 0
	r.mu.Unlock()
	if dropped > 0 {
		r.log.Warn("events dropped: too many waiting", "dropped", dropped)
	}
	if n == 0 {
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.write(wctx, batch); err != nil {
		// One bad Event (its namespace deleted meanwhile) must not hold
		// back the others: write each alone.
		for _, e := range batch {
			if err := r.write(wctx, []*api.Event{e}); err != nil && ctx.Err() == nil {
				r.log.Debug("event not written", "event", e.Metadata.Namespace+"/"+e.Metadata.Name, "reason", e.Reason, "err", err)
			}
		}
	}
	return more && ctx.Err() == nil
}

// newEvents makes the agent's recorder; it writes through the agent's
// own API (servers forward to the leader, workers pass to a server).
func (a *Agent) newEvents() *recorder {
	return newRecorder(a.cfg.Name, a.cfg.Now, a.log.With("part", "events"), func(ctx context.Context, evs []*api.Event) error {
		conn, err := a.conns.get(a.APIAddr())
		if err != nil {
			return err
		}
		req := &pb.WriteRequest{Objects: make([][]byte, len(evs))}
		for i, e := range evs {
			if req.Objects[i], err = api.Encode(e); err != nil {
				return err
			}
		}
		_, err = pb.NewResourcesClient(conn).Apply(ctx, req)
		return err
	})
}

// trimEvents is the leader's loop that keeps the history of Events
// bounded.
func (a *Agent) trimEvents(ctx context.Context) {
	t := time.NewTicker(eventGCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := a.trimEventsOnce(ctx, MaxEvents, EventTTL); err != nil && ctx.Err() == nil {
			a.log.Warn("trim events", "err", err)
		}
	}
}

// trimEventsOnce deletes the Events that last happened more than ttl ago,
// and the oldest beyond keep.
func (a *Agent) trimEventsOnce(ctx context.Context, keep int, ttl time.Duration) error {
	recs, err := a.fsm.View().List("Event", "", api.Selector{})
	if err != nil {
		return err
	}
	type aged struct {
		r    *fsm.Record
		last time.Time // zero: unknown, the oldest
	}
	all := make([]aged, 0, len(recs))
	for _, r := range recs {
		obj, err := api.DecodeStored("Event", r.Object)
		if err != nil {
			continue
		}
		e := obj.(*api.Event)
		last, _ := time.Parse(time.RFC3339, cmp.Or(e.LastTimestamp, e.FirstTimestamp, e.Metadata.CreationTimestamp))
		all = append(all, aged{r, last})
	}
	slices.SortFunc(all, func(x, y aged) int { return cmp.Or(x.last.Compare(y.last), strings.Compare(x.r.Key, y.r.Key)) })
	cutoff := a.cfg.Now().Add(-ttl)
	var ops []fsm.Op
	for i, e := range all {
		if len(all)-i <= keep && !e.last.Before(cutoff) {
			break
		}
		ops = append(ops, fsm.Op{Verb: fsm.VerbDelete, Kind: "Event", Namespace: e.r.Namespace, Name: e.r.Name, ResourceVersion: e.r.Revision})
	}
	for len(ops) > 0 {
		n := min(len(ops), 500)
		_, err := a.node.Apply(ctx, &fsm.Command{Type: fsm.CmdWrite, Time: a.now(), Ops: ops[:n]})
		if err != nil && !errors.Is(err, fsm.ErrConflict) && !errors.Is(err, fsm.ErrNotFound) {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// component is the recorder of one part of the agent (the scheduler,
// the node agent, ...): its Events name it as their source.
type component struct {
	r    *recorder
	name string
}

// Record notes an Event of this component (controller.Recorder).
func (c component) Record(ref api.ObjectReference, typ, reason, message string) {
	c.r.record(c.name, ref, typ, reason, message)
}

// component returns the recorder of one part of the agent.
func (r *recorder) component(name string) component { return component{r: r, name: name} }

// event records an Event of the worker's pod, as this node's agent saw
// it.
func (w *podWorker) event(p *api.Pod, typ, reason, format string, args ...any) {
	ref := api.ObjectReference{Kind: "Pod", Namespace: p.Metadata.Namespace, Name: p.Metadata.Name, UID: p.Metadata.UID}
	w.k.a.events.record("kubelet", ref, typ, reason, fmt.Sprintf(format, args...))
}
