package fsm

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/berth-dev/berth/api"
	memdb "github.com/hashicorp/go-memdb"
)

// snapshotFormat names the layout of a snapshot: a header line, then one
// JSON line per row, tables in name order, rows in key order.
const snapshotFormat = "berth-fsm-v1"

type snapshotHeader struct {
	Format string `json:"format"`
	Index  uint64 `json:"index"`
}

type snapshotLine struct {
	Table string          `json:"table"`
	Row   json.RawMessage `json:"row"`
}

// Snapshot is a point-in-time copy of the whole state; taking it is cheap
// (go-memdb is immutable) and it may be written while Apply goes on.
type Snapshot struct {
	txn      *memdb.Txn
	index    uint64
	requests []*requestRecord
}

// Snapshot captures the current state.
func (f *FSM) Snapshot() *Snapshot {
	// Tables and request log change together under mu (commit).
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &Snapshot{txn: f.db.Txn(false), index: f.index, requests: f.requests.list()}
}

// Index is the Raft index of the last command in the snapshot.
func (s *Snapshot) Index() uint64 { return s.index }

// WriteTo writes the snapshot. Replicas with the same state write the same
// bytes.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: bufio.NewWriterSize(w, 64<<10)}
	enc := json.NewEncoder(cw)
	if err := enc.Encode(snapshotHeader{Format: snapshotFormat, Index: s.Index()}); err != nil {
		return cw.n, err
	}
	for _, table := range tableNames() {
		it, err := s.txn.Get(table, "id")
		if err != nil {
			return cw.n, err
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			row, err := json.Marshal(raw)
			if err != nil {
				return cw.n, err
			}
			if err := enc.Encode(snapshotLine{Table: table, Row: row}); err != nil {
				return cw.n, err
			}
		}
	}
	for _, rr := range s.requests {
		row, err := json.Marshal(rr)
		if err != nil {
			return cw.n, err
		}
		if err := enc.Encode(snapshotLine{Table: tableRequests, Row: row}); err != nil {
			return cw.n, err
		}
	}
	return cw.n, cw.w.(*bufio.Writer).Flush()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Restore replaces the whole state with a snapshot. Watchers of revisions
// before it get ErrCompacted.
func (f *FSM) Restore(r io.Reader) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return fmt.Errorf("fsm: restore: header: %w", err)
	}
	if h.Format != snapshotFormat {
		return fmt.Errorf("fsm: restore: unknown snapshot format %q", h.Format)
	}
	db := newDB()
	txn := db.Txn(true)
	requests := newRequestLog()
	for {
		var line snapshotLine
		err := dec.Decode(&line)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("fsm: restore: %w", err)
		}
		row, err := decodeRow(line)
		if err != nil {
			return fmt.Errorf("fsm: restore: table %s: %w", line.Table, err)
		}
		if rr, ok := row.(*requestRecord); ok {
			requests.add(rr)
			continue
		}
		if err := txn.Insert(line.Table, row); err != nil {
			return fmt.Errorf("fsm: restore: table %s: %w", line.Table, err)
		}
	}
	if err := rebuildDerived(txn); err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	f.mu.Lock()
	txn.Commit()
	f.db, f.index = db, h.Index
	close(f.applied)
	f.applied = make(chan struct{})
	f.mu.Unlock()
	f.requests = requests
	f.hub.reset(h.Index)
	return nil
}

func decodeRow(line snapshotLine) (any, error) {
	var row any
	switch line.Table {
	case tableRequests:
		row = &requestRecord{}
	case tableServers:
		row = &ServerRecord{}
	default:
		if _, ok := api.LookupKind(line.Table); !ok {
			return nil, fmt.Errorf("unknown table")
		}
		row = &Record{}
	}
	if err := json.Unmarshal(line.Row, row); err != nil {
		return nil, err
	}
	if r, ok := row.(*Record); ok {
		if err := r.decode(); err != nil {
			return nil, err
		}
	}
	return row, nil
}
