package fsm

import (
	"encoding/json"
	"sync"
)

// EventType says how an object changed.
type EventType string

// The event types, as in Kubernetes' watch.
const (
	EventAdded    EventType = "ADDED"
	EventModified EventType = "MODIFIED"
	EventDeleted  EventType = "DELETED"
)

// Event is one object's change at one revision. Several events may share a
// revision (a multi-document apply); they keep the order of the command.
type Event struct {
	Type      EventType
	Kind      string
	Namespace string
	Name      string
	Revision  uint64
	Labels    map[string]string
	Object    json.RawMessage
}

// hub keeps the latest events for watchers. Apply appends and never waits on
// a watcher: watchers pull with after() and wait on the channel it returns.
type hub struct {
	mu     sync.Mutex
	events []Event
	// compacted is the revision up to which events are no longer kept: a
	// watch must start at or after it. At least max events are kept (up to
	// a quarter more between trims).
	compacted uint64
	max       int
	notify    chan struct{}
}

func newHub(max int) *hub {
	return &hub{max: max, notify: make(chan struct{})}
}

// append adds the events of one revision and wakes the watchers.
func (h *hub) append(evs []Event) {
	if len(evs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, evs...)
	// Trim in chunks (a quarter of the history at a time), so that a write
	// does not copy the whole history once it is full.
	if over := len(h.events) - h.max; over > h.max/4 {
		// Trim whole revisions only, so a watcher never sees half of one.
		cut := over
		for cut < len(h.events) && h.events[cut].Revision == h.events[cut-1].Revision {
			cut++
		}
		h.compacted = h.events[cut-1].Revision
		kept := make([]Event, len(h.events)-cut, h.max+h.max/2)
		copy(kept, h.events[cut:])
		h.events = kept
	}
	close(h.notify)
	h.notify = make(chan struct{})
}

// reset forgets every event: nothing before rev can be watched any more.
func (h *hub) reset(rev uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = nil
	h.compacted = rev
	close(h.notify)
	h.notify = make(chan struct{})
}

// after returns up to limit events with a revision greater than rev (never
// splitting a revision), or, when there are none yet, a channel closed at
// the next append.
func (h *hub) after(rev uint64, limit int) ([]Event, <-chan struct{}, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if rev < h.compacted {
		return nil, nil, ErrCompacted
	}
	// Binary search for the first event after rev.
	lo, hi := 0, len(h.events)
	for lo < hi {
		m := (lo + hi) / 2
		if h.events[m].Revision <= rev {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(h.events) {
		return nil, h.notify, nil
	}
	end := lo + limit
	if end > len(h.events) {
		end = len(h.events)
	}
	for end < len(h.events) && h.events[end].Revision == h.events[end-1].Revision {
		end++
	}
	out := make([]Event, end-lo)
	copy(out, h.events[lo:end])
	return out, nil, nil
}
