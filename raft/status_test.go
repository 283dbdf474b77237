package raft

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/fsm"
)

// A server counts its commits, applies, leader changes and snapshots, and
// its Status says where it is in the log.
func TestStatusAndObservers(t *testing.T) {
	var commits, applies atomic.Int64
	var commitTime atomic.Int64
	cfg := Config{ID: "s1", DataDir: t.TempDir(), BindAddr: freeAddr(t), LogOutput: io.Discard,
		ObserveCommit: func(d time.Duration) { commits.Add(1); commitTime.Add(int64(d)) },
		ObserveApply:  func(time.Duration) { applies.Add(1) },
	}
	n, err := Open(cfg, fsm.New(fsm.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if s := n.Status(); s.LeaderChanges != 0 || s.Snapshots != 0 || s.LastIndex != 0 {
		t.Fatalf("a fresh server: %+v", s)
	}
	if err := n.Bootstrap([]Server{{ID: "s1", Addr: n.Addr()}}); err != nil {
		t.Fatal(err)
	}
	leaderOf(t, []*Node{n})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := n.Apply(ctx, &fsm.Command{Time: "2026-01-01T00:00:00Z", Ops: []fsm.Op{mkOp(fsm.VerbCreate, "Namespace", []byte(nsJSON), "u0")}}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := n.Apply(ctx, &fsm.Command{Time: "2026-01-01T00:00:00Z", Ops: []fsm.Op{mkOp(fsm.VerbApply, "ConfigMap", cmJSON(fmt.Sprint(i)), "u")}}); err != nil {
			t.Fatal(err)
		}
	}
	if c, a := commits.Load(), applies.Load(); c != 6 || a != 6 {
		t.Fatalf("observed %d commits and %d applies, want 6 each", c, a)
	}
	if commitTime.Load() <= 0 {
		t.Fatal("commits took no time")
	}
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	s := n.Status()
	if s.State != "Leader" || s.Term == 0 || s.LeaderChanges != 1 || s.Voters != 1 || s.Servers != 1 {
		t.Fatalf("status of a lone leader: %+v", s)
	}
	// The bootstrap configuration, the leader's no-op and six commands.
	if s.LastIndex < 8 || s.CommitIndex != s.LastIndex || s.AppliedIndex != s.LastIndex {
		t.Fatalf("indexes: %+v", s)
	}
	if s.Snapshots != 1 || s.LastSnapshotBytes == 0 || s.LastSnapshotIndex != n.FSM().Index() {
		t.Fatalf("snapshot: %+v (FSM at %d)", s, n.FSM().Index())
	}
}
