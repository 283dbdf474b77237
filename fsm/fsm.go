package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	memdb "github.com/hashicorp/go-memdb"
)

// RequestTTL is how long request IDs are remembered by default. Under a
// sustained 6,000 writes/s that is about 360,000 small records.
const RequestTTL = time.Minute

// Options tune an FSM. The zero value is usable.
type Options struct {
	// WatchHistory is how many events are kept for watchers (default 10,000).
	WatchHistory int
	// RequestTTL is how long, in the leader's time stamped into commands, a
	// request ID is remembered for deduplication (default RequestTTL). The
	// client stops retrying a write well before (client.WriteRetryWindow).
	RequestTTL time.Duration
}

// FSM is the state machine. Apply* must be called from one goroutine (Raft's);
// reads may come from any.
type FSM struct {
	opts Options
	hub  *hub

	// mu pairs the committed database with its Raft index, so that a view's
	// revision always matches its contents.
	mu      sync.RWMutex
	db      *memdb.MemDB
	index   uint64
	applied chan struct{} // closed at the next apply or restore

	requests *requestLog
}

// New returns an empty FSM.
func New(opts Options) *FSM {
	if opts.WatchHistory <= 0 {
		opts.WatchHistory = 10000
	}
	if opts.RequestTTL <= 0 {
		opts.RequestTTL = RequestTTL
	}
	return &FSM{opts: opts, hub: newHub(opts.WatchHistory), db: newDB(), applied: make(chan struct{}), requests: newRequestLog()}
}

// View returns a consistent read-only view of the current state.
func (f *FSM) View() *View {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &View{txn: f.db.Txn(false), revision: f.index}
}

// Index is the Raft index of the last applied command.
func (f *FSM) Index() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.index
}

// Applied returns the applied index and a channel closed at the next apply
// or restore.
func (f *FSM) Applied() (uint64, <-chan struct{}) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.index, f.applied
}

// commit makes a write transaction (or none) and a request record (or none)
// visible at index, and wakes those waiting for an index.
func (f *FSM) commit(txn *memdb.Txn, index uint64, rr *requestRecord, now string) {
	f.mu.Lock()
	if txn != nil {
		txn.Commit()
	}
	if rr != nil {
		f.requests.add(rr)
	}
	f.requests.prune(now, f.opts.RequestTTL)
	f.index = index
	close(f.applied)
	f.applied = make(chan struct{})
	f.mu.Unlock()
}

// Get is a shortcut for View().Get.
func (f *FSM) Get(kind, ns, name string) (*Record, error) { return f.View().Get(kind, ns, name) }

// EventsAfter returns up to limit events after rev, or, when none are there
// yet, a channel closed when more arrive. A rev older than the kept history
// fails with ErrCompacted.
func (f *FSM) EventsAfter(rev uint64, limit int) ([]Event, <-chan struct{}, error) {
	return f.hub.after(rev, limit)
}

// ApplyEntry decodes and applies one Raft log entry.
func (f *FSM) ApplyEntry(index uint64, data []byte) *Result {
	cmd, err := DecodeCommand(data)
	if err != nil {
		// A command this binary cannot read still advances the index, the
		// same way on every replica.
		f.AdvanceIndex(index)
		return &Result{Index: index, Err: err}
	}
	return f.ApplyCommand(index, cmd)
}

// AdvanceIndex records an entry with no state change (a Raft configuration
// change) so that the store's revision follows the log.
func (f *FSM) AdvanceIndex(index uint64) { f.commit(nil, index, nil, "") }

// ApplyCommand applies a decoded command at a Raft index. Its writes apply
// all together or not at all; either way the index advances.
func (f *FSM) ApplyCommand(index uint64, cmd *Command) *Result {
	db := f.db // only Apply and Restore, both on this goroutine, change it
	if rr := f.requests.get(cmd.RequestID); rr != nil {
		f.commit(nil, index, nil, cmd.Time)
		return f.replay(db.Txn(false), rr)
	}

	txn := db.Txn(true)
	var events []Event
	res := &Result{Index: index}
	res.Results, res.Rejected, res.Err = f.applyTxn(txn, index, cmd, &events)
	if res.Err != nil {
		txn.Abort()
		txn, events = nil, nil
	}
	var rr *requestRecord
	if cmd.RequestID != "" {
		rr = &requestRecord{ID: cmd.RequestID, Index: index, Time: cmd.Time}
		if res.Err != nil {
			rr.ErrCode, rr.ErrMsg = errorCode(res.Err), res.Err.Error()
		} else {
			for i, r := range res.Results {
				op := &cmd.Ops[i]
				rr.Results = append(rr.Results, requestResult{Action: r.Action, Kind: op.Kind, Namespace: op.Namespace, Name: op.Name})
			}
		}
	}
	f.commit(txn, index, rr, cmd.Time)
	f.hub.append(events)
	return res
}

// replay answers a retried request as its first try was answered; the
// objects are as they are now.
func (f *FSM) replay(txn *memdb.Txn, rr *requestRecord) *Result {
	res := &Result{Index: rr.Index}
	for _, r := range rr.Results {
		or := OpResult{Action: r.Action}
		if cur, _ := txn.First(r.Kind, "id", recordKey(r.Namespace, r.Name)); cur != nil && r.Action != ActionDeleted {
			or.Object = cur.(*Record).Object
		}
		res.Results = append(res.Results, or)
	}
	if rr.ErrCode != "" {
		res.Err = codeError(rr.ErrCode, rr.ErrMsg)
	}
	return res
}

func (f *FSM) applyTxn(txn *memdb.Txn, index uint64, cmd *Command, events *[]Event) ([]OpResult, []Rejection, error) {
	switch cmd.Type {
	case CmdWrite, "":
		out := make([]OpResult, 0, len(cmd.Ops))
		for i := range cmd.Ops {
			r, err := applyOp(txn, index, cmd, &cmd.Ops[i], events)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, r)
		}
		return out, nil, nil
	case CmdPlan:
		return f.applyPlan(txn, index, cmd, events)
	case CmdPodStatus:
		return applyPodStatuses(txn, index, cmd, events)
	case CmdRegisterServer:
		if cmd.Server == nil || cmd.Server.ID == "" {
			return nil, nil, fmt.Errorf("%w: register-server without a server", ErrInvalid)
		}
		s := *cmd.Server
		return nil, nil, txn.Insert(tableServers, &s)
	case CmdRemoveServer:
		if cmd.Server == nil {
			return nil, nil, fmt.Errorf("%w: remove-server without a server", ErrInvalid)
		}
		_, err := txn.DeleteAll(tableServers, "id", cmd.Server.ID)
		return nil, nil, err
	default:
		return nil, nil, fmt.Errorf("%w: unknown command type %q", ErrInvalid, cmd.Type)
	}
}

func applyOp(txn *memdb.Txn, index uint64, cmd *Command, op *Op, events *[]Event) (OpResult, error) {
	now := cmd.Time
	info, ok := api.LookupKind(op.Kind)
	if !ok {
		return OpResult{}, fmt.Errorf("%w: unknown kind %q", ErrInvalid, op.Kind)
	}
	what := opName{op}
	if info.Namespaced != (op.Namespace != "") {
		return OpResult{}, fmt.Errorf("%s: %w: namespace %q for a kind that is namespaced=%v", what, ErrInvalid, op.Namespace, info.Namespaced)
	}
	key := recordKey(op.Namespace, op.Name)
	raw, err := txn.First(op.Kind, "id", key)
	if err != nil {
		return OpResult{}, err
	}
	var cur *Record
	if raw != nil {
		cur = raw.(*Record)
	}
	if op.ResourceVersion != 0 && cur != nil && cur.Revision != op.ResourceVersion {
		return OpResult{}, fmt.Errorf("%s: %w: resourceVersion %d is stale, the object is at %d",
			what, ErrConflict, op.ResourceVersion, cur.Revision)
	}
	switch op.Verb {
	case VerbDelete:
		if cur == nil {
			return OpResult{}, fmt.Errorf("%s: %w", what, ErrNotFound)
		}
		return deleteRecord(txn, index, cur, events)
	case VerbCreate, VerbUpdate, VerbApply:
	case VerbStatus:
		if !statusKinds[op.Kind] {
			return OpResult{}, fmt.Errorf("%s: %w: kind %s has no status subresource", what, ErrInvalid, op.Kind)
		}
	default:
		return OpResult{}, fmt.Errorf("%s: %w: unknown verb %q", what, ErrInvalid, op.Verb)
	}
	if cur == nil && (op.Verb == VerbUpdate || op.Verb == VerbStatus) {
		return OpResult{}, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if cur != nil && op.Verb == VerbCreate {
		return OpResult{}, fmt.Errorf("%s: %w", what, ErrAlreadyExists)
	}
	if cur == nil && op.ResourceVersion != 0 {
		return OpResult{}, fmt.Errorf("%s: %w: resourceVersion %d given, but the object does not exist", what, ErrConflict, op.ResourceVersion)
	}
	if op.Namespace != "" {
		ns, err := txn.First("Namespace", "id", recordKey("", op.Namespace))
		if err != nil {
			return OpResult{}, err
		}
		if ns == nil {
			return OpResult{}, fmt.Errorf("%s: %w: namespace %q not found", what, ErrNotFound, op.Namespace)
		}
	}
	if op.Meta == nil {
		return OpResult{}, fmt.Errorf("%s: %w: no metadata", what, ErrInvalid)
	}
	if op.Kind == "Pod" && op.Verb == VerbApply && cur != nil {
		if op, err = keepPodBinding(op, cur); err != nil {
			return OpResult{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	if cur != nil && statusKinds[op.Kind] {
		if op, err = statusWrite(op, cur); err != nil {
			return OpResult{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	if op.Kind == "Service" {
		if op, err = allocService(txn, op, cur, cmd.ServiceNet); err != nil {
			return OpResult{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	m := *op.Meta
	if m.Name != op.Name || m.Namespace != op.Namespace {
		return OpResult{}, fmt.Errorf("%s: %w: object names %s/%s", what, ErrInvalid, m.Namespace, m.Name)
	}
	if cur == nil {
		m.UID, m.CreationTimestamp, m.Generation = op.UID, now, 1
		m.ResourceVersion = fmt.Sprint(index)
		return putRecord(txn, nil, op.Kind, &m, op.Body, index, EventAdded, ActionCreated, events)
	}
	om := &cur.Meta
	m.UID, m.CreationTimestamp, m.Generation = om.UID, om.CreationTimestamp, om.Generation
	m.ResourceVersion = om.ResourceVersion
	sameBody := sameRest(op.Body, cur.rest())
	if sameBody && maps.Equal(m.Labels, om.Labels) && maps.Equal(m.Annotations, om.Annotations) {
		return OpResult{Action: ActionUnchanged, Object: cur.Object}, nil
	}
	if !sameBody {
		if cur.immutable() {
			return OpResult{}, fmt.Errorf("%s: %w: the object is immutable", what, ErrForbidden)
		}
		if op.Verb != VerbStatus {
			m.Generation++
		}
	}
	m.ResourceVersion = fmt.Sprint(index)
	return putRecord(txn, cur, op.Kind, &m, op.Body, index, EventModified, ActionConfigured, events)
}

// opName names an op's object for messages: configmap "web". It is a
// value whose String is called only when an error is formatted.
type opName struct{ op *Op }

func (o opName) String() string { return fmt.Sprintf("%s %q", lower(o.op.Kind), o.op.Name) }

func putRecord(txn *memdb.Txn, cur *Record, kind string, m *api.ObjectMeta, body []byte, index uint64, et EventType, action Action, events *[]Event) (OpResult, error) {
	enc, at, err := joinObject(m, body)
	if err != nil {
		return OpResult{}, err
	}
	if len(enc) > api.MaxObjectBytes {
		return OpResult{}, fmt.Errorf("%s %q: %w: object is %d bytes, larger than the %d-byte limit", lower(kind), m.Name, ErrInvalid, len(enc), api.MaxObjectBytes)
	}
	r := &Record{
		Key: recordKey(m.Namespace, m.Name), Kind: kind, Namespace: m.Namespace, Name: m.Name,
		Revision: index, Meta: *m, BodyAt: at, Object: enc,
	}
	if err := r.decode(); err != nil {
		return OpResult{}, err
	}
	if kind == "Pod" {
		if err := checkPodWrite(txn, cur, r); err != nil {
			return OpResult{}, err
		}
	}
	if err := txn.Insert(kind, r); err != nil {
		return OpResult{}, err
	}
	*events = append(*events, Event{Type: et, Kind: kind, Namespace: r.Namespace, Name: r.Name, Revision: index, Labels: m.Labels, Object: enc})
	return OpResult{Action: action, Object: enc}, nil
}

func deleteRecord(txn *memdb.Txn, index uint64, cur *Record, events *[]Event) (OpResult, error) {
	if cur.Kind == "Namespace" {
		if cur.Name == "default" {
			return OpResult{}, fmt.Errorf("namespace %q: %w: this namespace may not be deleted", cur.Name, ErrForbidden)
		}
		// Deleting a namespace deletes what is in it, in the same command.
		for _, k := range api.Kinds() {
			if !k.Namespaced {
				continue
			}
			it, err := txn.Get(k.Kind, "id_prefix", cur.Name+"/")
			if err != nil {
				return OpResult{}, err
			}
			var inside []*Record
			for raw := it.Next(); raw != nil; raw = it.Next() {
				inside = append(inside, raw.(*Record))
			}
			for _, r := range inside {
				if _, err := deleteRecord(txn, index, r, events); err != nil {
					return OpResult{}, err
				}
			}
		}
	}
	if ownerKinds[cur.Kind] {
		if err := deleteOwned(txn, index, cur, events); err != nil {
			return OpResult{}, err
		}
	}
	if cur.Kind == "Pod" {
		if err := forgetPod(txn, cur); err != nil {
			return OpResult{}, err
		}
	}
	if err := txn.Delete(cur.Kind, cur); err != nil {
		return OpResult{}, err
	}
	last := withResourceVersion(cur, index)
	*events = append(*events, Event{Type: EventDeleted, Kind: cur.Kind, Namespace: cur.Namespace, Name: cur.Name, Revision: index, Labels: cur.Meta.Labels, Object: last})
	return OpResult{Action: ActionDeleted, Object: last}, nil
}

// withResourceVersion returns a deleted object's JSON stamped with the
// revision of its deletion, as Kubernetes' DELETED events carry.
func withResourceVersion(r *Record, index uint64) json.RawMessage {
	m := r.Meta
	m.ResourceVersion = fmt.Sprint(index)
	mb, err := json.Marshal(&m)
	if err != nil {
		return r.Object
	}
	out := make([]byte, 0, len(r.Object)+8)
	out = append(out, `{"metadata":`...)
	out = append(out, mb...)
	return append(out, r.rest()...)
}

// IsCompacted reports whether err says a watch revision is too old.
func IsCompacted(err error) bool { return errors.Is(err, ErrCompacted) }
