package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/fsm"
	"github.com/berth-dev/berth/scheduler"
)

// Proposer commits a command through Raft and returns what applying it
// gave (raft.Node.Apply).
type Proposer interface {
	Apply(ctx context.Context, cmd *fsm.Command) (*fsm.Result, error)
}

// SchedulerConfig configures the scheduling loop.
type SchedulerConfig struct {
	FSM      *fsm.FSM
	Proposer Proposer
	Logger   *slog.Logger
	Now      func() time.Time // the clock stamped into plans (time.Now)
	// BatchSize bounds the pods of one plan (default 2,000).
	BatchSize int
	// RetryInterval: a pod that fits nowhere is tried again when a node
	// changes or a pod frees room, and at least this often (default 1
	// minute), in case something else changed.
	RetryInterval time.Duration
	Options       scheduler.Options
	// Events records each placement and each pod found to fit nowhere
	// (nil: nothing).
	Events Recorder
	// ObservePlan, if set, is told how long each committed plan took,
	// from planning to its commit.
	ObservePlan func(time.Duration)
}

// eventChunk is how many events the loop reads at once; a shorter chunk
// means it has caught up.
const eventChunk = 10000

// errAllRejected says that the state machine refused a whole plan: the
// loop waits a little before planning those pods again.
var errAllRejected = errors.New("controller: every placement of the plan was rejected")

// SchedulerStats counts what the loop did since it was made.
type SchedulerStats struct {
	Plans         uint64 // plans committed
	Bound         uint64 // pods bound
	Rejected      uint64 // placements Apply refused
	Unschedulable uint64 // pods found to fit nowhere (each time)
}

// Scheduler is the leader's scheduling loop.
type Scheduler struct {
	cfg   SchedulerConfig
	log   *slog.Logger
	sched *scheduler.Scheduler

	mu    sync.Mutex
	stats SchedulerStats
}

// NewScheduler returns a scheduling loop; Run runs it.
func NewScheduler(cfg SchedulerConfig) *Scheduler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 2000
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = time.Minute
	}
	return &Scheduler{cfg: cfg, log: cfg.Logger.With("controller", "scheduler"), sched: scheduler.New(cfg.Options)}
}

// Stats returns the counters.
func (s *Scheduler) Stats() SchedulerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Run schedules until ctx ends (leadership lost, agent stopping). Only
// the leader runs it; a new leader starts afresh from the store.
func (s *Scheduler) Run(ctx context.Context) {
	f := s.cfg.FSM
	rev := f.Index()
	// unschedulable holds the pods (by key, with their UID) that fit
	// nowhere at the last try; they wait for a change that frees room.
	unschedulable := map[string]string{}
	retry := time.NewTimer(s.cfg.RetryInterval)
	defer retry.Stop()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		events, more, err := f.EventsAfter(rev, eventChunk)
		switch {
		case errors.Is(err, fsm.ErrCompacted):
			rev, unschedulable = f.Index(), map[string]string{}
			continue
		case err != nil:
			s.log.Error("events", "err", err)
			return
		}
		for _, e := range events {
			rev = e.Revision
			if freesRoom(e) {
				clear(unschedulable)
			}
		}
		if len(events) >= eventChunk {
			continue // read up to the present before planning
		}
		batch := s.pending(f.View(), unschedulable)
		if len(batch) == 0 {
			if more == nil {
				continue // events came: ask again for a channel to wait on
			}
			select {
			case <-ctx.Done():
			case <-more:
			case <-retry.C:
				clear(unschedulable)
				retry.Reset(s.cfg.RetryInterval)
			}
			continue
		}
		if err := s.scheduleBatch(ctx, batch, unschedulable); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("plan not committed", "err", err, "pods", len(batch))
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
	}
}

// pending returns up to a batch of the view's pending pods, leaving out
// those known to fit nowhere.
func (s *Scheduler) pending(v *fsm.View, unschedulable map[string]string) []*fsm.Record {
	var batch []*fsm.Record
	for _, r := range v.PendingPods() {
		if uid, ok := unschedulable[r.Key]; ok && uid == r.Meta.UID {
			continue
		}
		batch = append(batch, r)
		if len(batch) == s.cfg.BatchSize {
			break
		}
	}
	return batch
}

// freesRoom reports whether an event may let a pod that fit nowhere fit
// now: a node added or changed, a pod deleted or finished.
func freesRoom(e fsm.Event) bool {
	switch {
	case e.Kind == "Node":
		return true
	case e.Kind != "Pod":
		return false
	case e.Type == fsm.EventDeleted:
		return true
	}
	return bytes.Contains(e.Object, []byte(`"phase":"Succeeded"`)) || bytes.Contains(e.Object, []byte(`"phase":"Failed"`))
}

// scheduleBatch plans a batch against the latest view and commits the plan.
func (s *Scheduler) scheduleBatch(ctx context.Context, batch []*fsm.Record, unschedulable map[string]string) error {
	start := time.Now()
	v := s.cfg.FSM.View()
	snap := Snapshot(v)
	pods := make([]*api.Pod, len(batch))
	uids := make(map[string]string, len(batch))
	for i, r := range batch {
		pods[i] = r.Pod()
		uids[r.Key] = r.Meta.UID
	}
	plan := s.sched.Schedule(snap, pods)
	cmd := &fsm.Command{Type: fsm.CmdPlan, Time: s.cfg.Now().UTC().Format(time.RFC3339), Plan: PlanCommand(plan, uids)}
	res, err := s.cfg.Proposer.Apply(ctx, cmd)
	if err != nil {
		return err
	}
	if s.cfg.ObservePlan != nil {
		s.cfg.ObservePlan(time.Since(start))
	}
	for _, p := range cmd.Plan.Pending {
		unschedulable[p.Namespace+"/"+p.Name] = p.UID
	}
	for _, r := range res.Rejected {
		s.log.Debug("placement rejected", "pod", r.Namespace+"/"+r.Name, "reason", r.Reason)
	}
	s.planEvents(cmd.Plan, res.Rejected)
	s.mu.Lock()
	s.stats.Plans++
	s.stats.Bound += uint64(len(cmd.Plan.Binds) - len(res.Rejected))
	s.stats.Rejected += uint64(len(res.Rejected))
	s.stats.Unschedulable += uint64(len(cmd.Plan.Pending))
	s.mu.Unlock()
	if len(res.Rejected) > 0 && len(res.Rejected) == len(cmd.Plan.Binds) {
		return fmt.Errorf("%w: first %s/%s: %s", errAllRejected, res.Rejected[0].Namespace, res.Rejected[0].Name, res.Rejected[0].Reason)
	}
	return nil
}

// Snapshot makes the scheduler's input from a view: every node, sorted by
// name, with what its pods hold.
func Snapshot(v *fsm.View) *scheduler.Snapshot {
	recs, _ := v.List("Node", "", api.Selector{})
	snap := &scheduler.Snapshot{Nodes: make([]scheduler.NodeInfo, len(recs))}
	for i, r := range recs {
		snap.Nodes[i] = scheduler.NodeInfo{Node: r.Node(), Usage: v.Usage(r.Name)}
	}
	return snap
}

// PlanCommand turns a scheduler's plan into the command's form. uids maps
// "namespace/name" to the UID of the pod planned for.
func PlanCommand(p *scheduler.Plan, uids map[string]string) *fsm.Plan {
	out := &fsm.Plan{}
	for _, pl := range p.Placements {
		out.Binds = append(out.Binds, fsm.Bind{Namespace: pl.Namespace, Name: pl.Name, UID: uids[pl.Namespace+"/"+pl.Name], Node: pl.Node, GPUs: pl.GPUs})
	}
	for _, fl := range p.Failures {
		out.Pending = append(out.Pending, fsm.PendingStatus{Namespace: fl.Namespace, Name: fl.Name, UID: uids[fl.Namespace+"/"+fl.Name], Message: fl.Message})
	}
	return out
}

// planEvents records a committed plan's Events: Scheduled for each pod
// bound, FailedScheduling (with the reasons per node) for each that fits
// nowhere.
func (s *Scheduler) planEvents(p *fsm.Plan, rejected []fsm.Rejection) {
	if s.cfg.Events == nil {
		return
	}
	refused := make(map[string]bool, len(rejected))
	for _, r := range rejected {
		refused[r.Namespace+"/"+r.Name] = true
	}
	for _, b := range p.Binds {
		if refused[b.Namespace+"/"+b.Name] {
			continue
		}
		ref := api.ObjectReference{Kind: "Pod", Namespace: b.Namespace, Name: b.Name, UID: b.UID}
		s.cfg.Events.Record(ref, api.EventNormal, "Scheduled", fmt.Sprintf("Successfully assigned %s/%s to %s", b.Namespace, b.Name, b.Node))
	}
	for _, f := range p.Pending {
		ref := api.ObjectReference{Kind: "Pod", Namespace: f.Namespace, Name: f.Name, UID: f.UID}
		s.cfg.Events.Record(ref, api.EventWarning, "FailedScheduling", f.Message)
	}
}
