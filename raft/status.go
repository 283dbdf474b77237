package raft

import (
	"sync"
	"sync/atomic"

	hraft "github.com/hashicorp/raft"
)

// Status is a server's place in the log and what it has counted since it
// opened, for monitoring.
type Status struct {
	// State is Follower, Candidate, Leader or Shutdown.
	State string
	Term  uint64
	// LastIndex is the last entry in the log, CommitIndex the last one
	// known committed, AppliedIndex the last one handed to the FSM.
	LastIndex, CommitIndex, AppliedIndex uint64
	// Voters and Servers count the configuration's voting members and
	// all of its members (0 if it could not be read).
	Voters, Servers int
	// LeaderChanges counts the times this server saw a new leader
	// (itself included) take over.
	LeaderChanges uint64
	// Snapshots counts the snapshots this server took and persisted; the
	// last of them was LastSnapshotBytes long and reached
	// LastSnapshotIndex.
	Snapshots                            uint64
	LastSnapshotBytes, LastSnapshotIndex uint64
}

// Status returns the server's Status now.
func (n *Node) Status() Status {
	s := Status{
		State: n.raft.State().String(), Term: n.raft.CurrentTerm(),
		LastIndex: n.raft.LastIndex(), CommitIndex: n.raft.CommitIndex(), AppliedIndex: n.raft.AppliedIndex(),
		LeaderChanges: n.counts.leaderChanges.Load(),
	}
	n.counts.mu.Lock()
	s.Snapshots, s.LastSnapshotBytes, s.LastSnapshotIndex = n.counts.snapshots, n.counts.snapBytes, n.counts.snapIndex
	n.counts.mu.Unlock()
	if servers, err := n.Servers(); err == nil {
		s.Servers = len(servers)
		for _, sv := range servers {
			if sv.Voter {
				s.Voters++
			}
		}
	}
	return s
}

// counts are what a Node counts for Status.
type counts struct {
	leaderChanges atomic.Uint64

	mu                              sync.Mutex
	snapshots, snapBytes, snapIndex uint64
}

// observer counts leader changes. Its filter does the counting and keeps
// nothing, so it needs no channel nor a goroutine to drain one.
func (c *counts) observer() *hraft.Observer {
	return hraft.NewObserver(nil, false, func(o *hraft.Observation) bool {
		if lo, ok := o.Data.(hraft.LeaderObservation); ok && lo.LeaderID != "" {
			c.leaderChanges.Add(1)
		}
		return false
	})
}

func (c *counts) snapshotPersisted(bytes, index uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snapshots++
	c.snapBytes, c.snapIndex = bytes, index
}
