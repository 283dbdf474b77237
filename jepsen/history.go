package jepsen

import (
	"encoding/json"
	"io"
	"slices"
	"sync"
	"time"
)

// Outcome is how an operation ended.
type Outcome string

const (
	// OK: the cluster acknowledged the operation.
	OK Outcome = "ok"
	// Fail: the cluster said, for certain, that the operation did not
	// happen (a conflict, a name that exists, a bad request).
	Fail Outcome = "fail"
	// Unknown: the answer was lost (a timeout, a broken connection, no
	// leader). The operation may or may not have happened; it is never
	// counted as failed.
	Unknown Outcome = "unknown"
)

// Op is one operation of a client: its invocation and its completion.
// Times are nanoseconds on the run's monotonic clock (since the run began).
type Op struct {
	// Process is the client worker that ran it; each worker runs one
	// operation at a time.
	Process int `json:"process"`
	// Workload is register, set, watch or sched.
	Workload string `json:"workload"`
	// F is what was done: read, write, cas (register); add (set); ...
	F     string `json:"f"`
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
	// Expect is a cas's expected resourceVersion.
	Expect uint64 `json:"expect,omitempty"`
	// Node is the server the client sent it to.
	Node    string  `json:"node,omitempty"`
	Invoke  int64   `json:"invoke"`
	Return  int64   `json:"return"`
	Outcome Outcome `json:"outcome"`
	// Result is what an ok read returned; Revision the write's or the
	// read object's resourceVersion.
	Result   string `json:"result,omitempty"`
	Revision uint64 `json:"revision,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Fault is one window of the nemesis: from Start to End (nanoseconds on
// the run's clock; End is 0 while it lasts) Kind did Desc to Targets.
type Fault struct {
	Kind    string   `json:"kind"`
	Targets []string `json:"targets"`
	Desc    string   `json:"desc"`
	Start   int64    `json:"start"`
	End     int64    `json:"end"`
}

// Verdict is one checker's judgement of a run.
type Verdict struct {
	Checker string `json:"checker"`
	// Valid is false when the checker found a violation, or could not
	// decide (a timeout); Summary says which and what.
	Valid   bool     `json:"valid"`
	Summary string   `json:"summary"`
	Details []string `json:"details,omitempty"`
	// Artifact is a file of the report folder with more (Porcupine's
	// visualisation of the register history).
	Artifact string `json:"artifact,omitempty"`
}

// History records the operations and faults of a run. Safe for
// concurrent use.
type History struct {
	start time.Time

	mu     sync.Mutex
	ops    []Op
	faults []Fault
}

// NewHistory starts a history's clock.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the time on the run's monotonic clock.
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

// Add records a finished operation; op.Return is set to now.
func (h *History) Add(op Op) {
	op.Return = h.Now()
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// Begin records a fault that starts now and returns its index for End.
func (h *History) Begin(f Fault) int {
	f.Start, f.End = h.Now(), 0
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults = append(h.faults, f)
	return len(h.faults) - 1
}

// End ends fault i now.
func (h *History) End(i int) {
	now := h.Now()
	h.mu.Lock()
	if h.faults[i].End == 0 {
		h.faults[i].End = now
	}
	h.mu.Unlock()
}

// Ops returns the operations of a workload ("" for all), in invocation
// order.
func (h *History) Ops(workload string) []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Op
	for _, op := range h.ops {
		if workload == "" || op.Workload == workload {
			out = append(out, op)
		}
	}
	slices.SortStableFunc(out, func(a, b Op) int { return compareInt64(a.Invoke, b.Invoke) })
	return out
}

// Faults returns the nemesis timeline, in order.
func (h *History) Faults() []Fault {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.faults)
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// writeJSONLines writes one JSON document per line.
func writeJSONLines[T any](w io.Writer, xs []T) error {
	enc := json.NewEncoder(w)
	for _, x := range xs {
		if err := enc.Encode(x); err != nil {
			return err
		}
	}
	return nil
}
