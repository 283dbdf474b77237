package fsm

import (
	"sync"
	"time"
)

// requestRecord remembers a write's outcome by its request ID: what each
// op did to which object, not the objects themselves (a retry gets them
// as they are now), so that the log stays small.
type requestRecord struct {
	ID      string          `json:"id"`
	Index   uint64          `json:"index"`
	Time    string          `json:"time"`
	Results []requestResult `json:"results,omitempty"`
	ErrCode string          `json:"errCode,omitempty"`
	ErrMsg  string          `json:"errMsg,omitempty"`
}

type requestResult struct {
	Action    Action `json:"action"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// requestLog holds the request IDs of the last RequestTTL, in log order. It
// is part of the replicated state (snapshots carry it). Apply changes it;
// the lock is for snapshots taken beside Apply.
type requestLog struct {
	mu   sync.Mutex
	byID map[string]*requestRecord
	fifo []*requestRecord
}

func newRequestLog() *requestLog { return &requestLog{byID: map[string]*requestRecord{}} }

func (l *requestLog) get(id string) *requestRecord {
	if id == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byID[id]
}

func (l *requestLog) add(rr *requestRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byID[rr.ID] = rr
	l.fifo = append(l.fifo, rr)
}

// prune forgets requests older than ttl before now (the command's time:
// deterministic, it is in the log).
func (l *requestLog) prune(now string, ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fifo) == 0 || now == "" {
		return
	}
	t, err := time.Parse(time.RFC3339Nano, now)
	if err != nil {
		return
	}
	cutoff := t.Add(-ttl)
	n := 0
	for ; n < len(l.fifo) && n < 64; n++ {
		rt, err := time.Parse(time.RFC3339Nano, l.fifo[n].Time)
		if err == nil && !rt.Before(cutoff) {
			break
		}
		delete(l.byID, l.fifo[n].ID)
	}
	if n > 0 {
		clear(l.fifo[:n])
		l.fifo = l.fifo[n:]
	}
}

// list returns the records in log order.
func (l *requestLog) list() []*requestRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*requestRecord(nil), l.fifo...)
}
