package raft

import (
	"io"

	"github.com/berth-dev/berth/fsm"
	hraft "github.com/hashicorp/raft"
)

// adapter makes an fsm.FSM a hashicorp/raft BatchingFSM.
type adapter struct{ f *fsm.FSM }

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
		return a.f.ApplyEntry(l.Index, l.Data)
	case hraft.LogConfiguration:
		a.f.AdvanceIndex(l.Index)
	}
	return nil
}

func (a *adapter) Snapshot() (hraft.FSMSnapshot, error) {
	return &snapshot{s: a.f.Snapshot()}, nil
}

func (a *adapter) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	return a.f.Restore(rc)
}

type snapshot struct{ s *fsm.Snapshot }

func (s *snapshot) Persist(sink hraft.SnapshotSink) error {
	if _, err := s.s.WriteTo(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *snapshot) Release() {}
