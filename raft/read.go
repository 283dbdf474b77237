package raft

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/berth-dev/berth/fsm"
	hraft "github.com/hashicorp/raft"
)

// ReadIndex returns an index such that a read of the local state, once
// WaitApplied(index) returns, is linearizable. Leader only.
//
// hashicorp/raft has no ReadIndex, so it is built from its parts: the leader
// must have committed an entry of its own term (a Barrier, once per term:
// until then its commit index may trail the last leader's), then it notes
// the commit index and confirms with a quorum that it still leads
// (VerifyLeader) after noting it.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	if !n.IsLeader() {
		return 0, ErrNotLeader
	}
	term := n.raft.CurrentTerm()
	n.mu.Lock()
	ready := n.readyTerm == term
	n.mu.Unlock()
	if !ready {
		if err := n.wrap(n.raft.Barrier(timeout(ctx)).Error()); err != nil {
			return 0, err
		}
		n.mu.Lock()
		if n.raft.CurrentTerm() == term {
			n.readyTerm = term
		}
		n.mu.Unlock()
	}
	idx := n.raft.CommitIndex()
	if err := n.wrap(n.raft.VerifyLeader().Error()); err != nil {
		return 0, err
	}
	if n.raft.CurrentTerm() != term {
		return 0, ErrNotLeader
	}
	return idx, nil
}

// WaitApplied waits until the local state includes every command up to
// index.
//
// The FSM's own index counts commands and configuration entries, not the
// no-op and barrier entries Raft adds; raft's AppliedIndex counts those but
// runs ahead of the FSM. So: done when the FSM has reached index, or when
// Raft has handed over everything up to index and none of the entries the
// FSM has not seen is a command.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	for {
		cur, changed := n.fsm.Applied()
		if cur >= index {
			return nil
		}
		if n.raft.AppliedIndex() >= index && !n.commandsIn(cur+1, index) {
			return nil
		}
		select {
		case <-changed:
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("raft: waiting for index %d (at %d): %w", index, cur, ctx.Err())
		}
	}
}

// commandsIn reports whether the log holds a command in [lo, hi]; entries
// already compacted into a snapshot do not count.
func (n *Node) commandsIn(lo, hi uint64) bool {
	first, err := n.logs.FirstIndex()
	if err != nil {
		return true
	}
	if lo < first {
		lo = first
	}
	if hi-lo > 4096 {
		return true
	}
	for i := lo; i <= hi; i++ {
		var l hraft.Log
		if err := n.logs.GetLog(i, &l); err != nil {
			continue
		}
		if l.Type == hraft.LogCommand {
			return true
		}
	}
	return false
}

// LeaderLoop calls fn in a goroutine each time this server becomes leader
// and has committed a barrier of its term; fn's ctx ends when leadership is
// lost or the node closes.
func (n *Node) leaderLoop(ctx context.Context) {
	defer close(n.done)
	var term leaderTerm
	defer term.end()
	for {
		select {
		case <-ctx.Done():
			return
		case leader := <-n.raft.LeaderCh():
			term.end()
			if leader {
				n.mu.Lock()
				fns := append([]func(context.Context){}, n.onLeader...)
				n.mu.Unlock()
				go n.lead(term.begin(ctx), fns)
			}
		}
	}
}

// lead runs the leadership callbacks once the term's barrier committed.
func (n *Node) lead(ctx context.Context, fns []func(context.Context)) {
	if _, err := n.ReadIndex(ctx); err != nil {
		return
	}
	for _, fn := range fns {
		fn(ctx)
	}
}

// leaderTerm owns the context of one term of leadership.
type leaderTerm struct{ cancel context.CancelFunc }

func (t *leaderTerm) begin(parent context.Context) context.Context {
	ctx, cancel := context.WithCancel(parent)
	t.cancel = cancel
	return ctx
}

func (t *leaderTerm) end() {
	if t.cancel != nil {
		t.cancel()
		t.cancel = nil
	}
}

// OnLeader registers fn to run (in its own goroutine) whenever this server
// gains leadership; its ctx is cancelled when leadership is lost.
func (n *Node) OnLeader(fn func(ctx context.Context)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.onLeader = append(n.onLeader, fn)
}

// SaveSnapshot writes a linearizable snapshot of the whole state. Leader
// only.
func (n *Node) SaveSnapshot(ctx context.Context, w io.Writer) (uint64, error) {
	idx, err := n.ReadIndex(ctx)
	if err != nil {
		return 0, err
	}
	if err := n.WaitApplied(ctx, idx); err != nil {
		return 0, err
	}
	s := n.fsm.Snapshot()
	_, err = s.WriteTo(w)
	return s.Index(), err
}

// RestoreSnapshot replaces the cluster's state with a snapshot written by
// SaveSnapshot (disaster recovery). Leader only. The snapshot is checked
// before Raft takes it, so a bad file changes nothing.
func (n *Node) RestoreSnapshot(ctx context.Context, data []byte) (uint64, error) {
	if !n.IsLeader() {
		return 0, ErrNotLeader
	}
	check := fsm.New(fsm.Options{})
	if err := check.Restore(bytes.NewReader(data)); err != nil {
		return 0, err
	}
	meta := &hraft.SnapshotMeta{Version: hraft.SnapshotVersionMax, Index: check.Index(), Size: int64(len(data))}
	if err := n.wrap(n.raft.Restore(meta, bytes.NewReader(data), timeout(ctx))); err != nil {
		return 0, err
	}
	return n.raft.AppliedIndex(), nil
}
