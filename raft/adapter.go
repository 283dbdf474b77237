package raft

import (
	"io"
	"time"

	"github.com/berth-dev/berth/fsm"
	hraft "github.com/hashicorp/raft"
)

// adapter makes an fsm.FSM a hashicorp/raft BatchingFSM; it counts the
// snapshots it persists and times each command's apply (observe, if set).
type adapter struct {
	f       *fsm.FSM
	counts  *counts
	observe func(time.Duration)
}

var _ hraft.BatchingFSM = (*adapter)(nil)

func (a *adapter) Apply(l *hraft.Log) interface{} { return a.apply(l) }

func (a *adapter) ApplyBatch(logs []*hraft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	for i, l := range logs {
		out[i] = a.apply(l)
	}
	return out
}

func (a *adapter) apply(l *hraft.Log) interface{} {
	switch l.Type {
	case hraft.LogCommand:
		if a.observe == nil {
			return a.f.ApplyEntry(l.Index, l.Data)
		}
		start := time.Now()
		res := a.f.ApplyEntry(l.Index, l.Data)
		a.observe(time.Since(start))
		return res
	case hraft.LogConfiguration:
		a.f.AdvanceIndex(l.Index)
	}
	return nil
}

func (a *adapter) Snapshot() (hraft.FSMSnapshot, error) {
	return &snapshot{s: a.f.Snapshot(), counts: a.counts}, nil
}

func (a *adapter) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	return a.f.Restore(rc)
}

type snapshot struct {
	s      *fsm.Snapshot
	counts *counts
}

func (s *snapshot) Persist(sink hraft.SnapshotSink) error {
	n, err := s.s.WriteTo(sink)
	if err != nil {
		sink.Cancel()
		return err
	}
	if err := sink.Close(); err != nil {
		return err
	}
	s.counts.snapshotPersisted(uint64(n), s.s.Index())
	return nil
}

func (s *snapshot) Release() {}
