package fsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/api"
	memdb "github.com/hashicorp/go-memdb"
)

// Options tune an FSM. The zero value is usable.
type Options struct {
	// WatchHistory is how many events are kept for watchers (default 10,000).
	WatchHistory int
	// RequestTTL is how long, in the leader's time stamped into commands, a
	// request ID is remembered for deduplication (default 10 minutes).
	RequestTTL time.Duration
}

// FSM is the state machine. Apply* must be called from one goroutine (Raft's);
// reads may come from any.
type FSM struct {
	opts Options
	db   atomic.Pointer[memdb.MemDB]
	hub  *hub

	mu      sync.Mutex // guards applied
	applied chan struct{}
}

// New returns an empty FSM.
func New(opts Options) *FSM {
	if opts.WatchHistory <= 0 {
		opts.WatchHistory = 10000
	}
	if opts.RequestTTL <= 0 {
		opts.RequestTTL = 10 * time.Minute
	}
	f := &FSM{opts: opts, hub: newHub(opts.WatchHistory), applied: make(chan struct{})}
	f.db.Store(newDB())
	return f
}

const tableMeta = "_meta"

type metaRow struct {
	ID    string `json:"id"`
	Index uint64 `json:"index"`
}

// View returns a consistent read-only view of the current state.
func (f *FSM) View() *View {
	txn := f.db.Load().Txn(false)
	return &View{txn: txn, revision: indexOf(txn)}
}

func indexOf(txn *memdb.Txn) uint64 {
	raw, _ := txn.First(tableMeta, "id", "index")
	if raw == nil {
		return 0
	}
	return raw.(*metaRow).Index
}

// Index is the Raft index of the last applied command.
func (f *FSM) Index() uint64 { return indexOf(f.db.Load().Txn(false)) }

// Applied returns the applied index and a channel closed at the next apply
// or restore.
func (f *FSM) Applied() (uint64, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Index(), f.applied
}

func (f *FSM) wake() {
	f.mu.Lock()
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
func (f *FSM) AdvanceIndex(index uint64) {
	txn := f.db.Load().Txn(true)
	setIndex(txn, index)
	txn.Commit()
	f.wake()
}

func setIndex(txn *memdb.Txn, index uint64) {
	if err := txn.Insert(tableMeta, &metaRow{ID: "index", Index: index}); err != nil {
		panic(fmt.Sprintf("fsm: set index: %v", err))
	}
}

// ApplyCommand applies a decoded command at a Raft index. Its writes apply
// all together or not at all; either way the index advances.
func (f *FSM) ApplyCommand(index uint64, cmd *Command) *Result {
	defer f.wake()
	db := f.db.Load()
	if cmd.RequestID != "" {
		txn := db.Txn(false)
		if raw, _ := txn.First(tableRequests, "id", cmd.RequestID); raw != nil {
			f.AdvanceIndex(index)
			rr := raw.(*requestRecord)
			res := &Result{Index: rr.Index, Results: rr.Results}
			if rr.ErrCode != "" {
				res.Err = codeError(rr.ErrCode, rr.ErrMsg)
			}
			return res
		}
	}

	txn := db.Txn(true)
	var events []Event
	res := &Result{Index: index}
	res.Results, res.Err = f.applyTxn(txn, index, cmd, &events)
	if res.Err != nil {
		txn.Abort()
		txn = db.Txn(true)
		events = nil
	}
	if cmd.RequestID != "" {
		rr := &requestRecord{ID: cmd.RequestID, Index: index, Time: cmd.Time, Results: res.Results}
		if res.Err != nil {
			rr.Results = nil
			rr.ErrCode, rr.ErrMsg = errorCode(res.Err), res.Err.Error()
		}
		if err := txn.Insert(tableRequests, rr); err != nil {
			panic(fmt.Sprintf("fsm: insert request: %v", err))
		}
	}
	f.pruneRequests(txn, cmd.Time)
	setIndex(txn, index)
	txn.Commit()
	f.hub.append(events)
	return res
}

// pruneRequests forgets request IDs older than the TTL, by the command's
// time (deterministic: it is in the log).
func (f *FSM) pruneRequests(txn *memdb.Txn, now string) {
	t, err := time.Parse(time.RFC3339Nano, now)
	if err != nil {
		return
	}
	cutoff := t.Add(-f.opts.RequestTTL)
	it, err := txn.Get(tableRequests, "index")
	if err != nil {
		return
	}
	var old []*requestRecord
	for raw := it.Next(); raw != nil && len(old) < 64; raw = it.Next() {
		rr := raw.(*requestRecord)
		rt, err := time.Parse(time.RFC3339Nano, rr.Time)
		if err == nil && !rt.Before(cutoff) {
			break
		}
		old = append(old, rr)
	}
	for _, rr := range old {
		_ = txn.Delete(tableRequests, rr)
	}
}

func (f *FSM) applyTxn(txn *memdb.Txn, index uint64, cmd *Command, events *[]Event) ([]OpResult, error) {
	switch cmd.Type {
	case CmdWrite, "":
		out := make([]OpResult, 0, len(cmd.Ops))
		for i := range cmd.Ops {
			r, err := applyOp(txn, index, cmd.Time, &cmd.Ops[i], events)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	case CmdRegisterServer:
		if cmd.Server == nil || cmd.Server.ID == "" {
			return nil, fmt.Errorf("%w: register-server without a server", ErrInvalid)
		}
		s := *cmd.Server
		return nil, txn.Insert(tableServers, &s)
	case CmdRemoveServer:
		if cmd.Server == nil {
			return nil, fmt.Errorf("%w: remove-server without a server", ErrInvalid)
		}
		if _, err := txn.DeleteAll(tableServers, "id", cmd.Server.ID); err != nil {
			return nil, err
		}
		return nil, nil
	default:
		return nil, fmt.Errorf("%w: unknown command type %q", ErrInvalid, cmd.Type)
	}
}

func applyOp(txn *memdb.Txn, index uint64, now string, op *Op, events *[]Event) (OpResult, error) {
	info, ok := api.LookupKind(op.Kind)
	if !ok {
		return OpResult{}, fmt.Errorf("%w: unknown kind %q", ErrInvalid, op.Kind)
	}
	what := fmt.Sprintf("%s %q", lower(op.Kind), op.Name)
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
	default:
		return OpResult{}, fmt.Errorf("%s: %w: unknown verb %q", what, ErrInvalid, op.Verb)
	}
	if cur == nil && op.Verb == VerbUpdate {
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
	obj, err := api.DecodeStored(op.Kind, op.Object)
	if err != nil {
		return OpResult{}, fmt.Errorf("%s: %w: %v", what, ErrInvalid, err)
	}
	m := obj.GetObjectMeta()
	if m.Name != op.Name || m.Namespace != op.Namespace {
		return OpResult{}, fmt.Errorf("%s: %w: object names %s/%s", what, ErrInvalid, m.Namespace, m.Name)
	}
	if cur == nil {
		m.UID, m.CreationTimestamp, m.Generation = op.UID, now, 1
		m.ResourceVersion = fmt.Sprint(index)
		return putRecord(txn, op.Kind, obj, index, EventAdded, ActionCreated, events)
	}
	old, err := api.DecodeStored(op.Kind, cur.Object)
	if err != nil {
		return OpResult{}, fmt.Errorf("%s: stored object: %w", what, err)
	}
	om := old.GetObjectMeta()
	m.UID, m.CreationTimestamp, m.Generation = om.UID, om.CreationTimestamp, om.Generation
	m.ResourceVersion = om.ResourceVersion
	oldContent, newContent := content(old), content(obj)
	if !bytes.Equal(oldContent, newContent) {
		if immutable(old) {
			return OpResult{}, fmt.Errorf("%s: %w: the object is immutable", what, ErrForbidden)
		}
		m.Generation++
	}
	enc, err := api.Encode(obj)
	if err != nil {
		return OpResult{}, fmt.Errorf("%s: %w: %v", what, ErrInvalid, err)
	}
	if bytes.Equal(enc, cur.Object) {
		return OpResult{Action: ActionUnchanged, Object: cur.Object}, nil
	}
	m.ResourceVersion = fmt.Sprint(index)
	return putRecord(txn, op.Kind, obj, index, EventModified, ActionConfigured, events)
}

func putRecord(txn *memdb.Txn, kind string, obj api.Object, index uint64, et EventType, action Action, events *[]Event) (OpResult, error) {
	enc, err := api.Encode(obj)
	if err != nil {
		return OpResult{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(enc) > api.MaxObjectBytes {
		return OpResult{}, fmt.Errorf("%s: %w: object is %d bytes, larger than the %d-byte limit", api.Describe(obj), ErrInvalid, len(enc), api.MaxObjectBytes)
	}
	m := obj.GetObjectMeta()
	r := &Record{
		Key: recordKey(m.Namespace, m.Name), Kind: kind, Namespace: m.Namespace, Name: m.Name,
		Revision: index, Labels: m.Labels, Object: enc,
	}
	if err := txn.Insert(kind, r); err != nil {
		return OpResult{}, err
	}
	*events = append(*events, Event{Type: et, Kind: kind, Namespace: r.Namespace, Name: r.Name, Revision: index, Labels: r.Labels, Object: enc})
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
	if err := txn.Delete(cur.Kind, cur); err != nil {
		return OpResult{}, err
	}
	last := withResourceVersion(cur.Object, index)
	*events = append(*events, Event{Type: EventDeleted, Kind: cur.Kind, Namespace: cur.Namespace, Name: cur.Name, Revision: index, Labels: cur.Labels, Object: last})
	return OpResult{Action: ActionDeleted, Object: last}, nil
}

// withResourceVersion returns a deleted object's JSON stamped with the
// revision of its deletion, as Kubernetes' DELETED events carry.
func withResourceVersion(raw json.RawMessage, index uint64) json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return raw
	}
	var meta map[string]json.RawMessage
	if err := json.Unmarshal(m["metadata"], &meta); err != nil {
		return raw
	}
	meta["resourceVersion"], _ = json.Marshal(fmt.Sprint(index))
	m["metadata"], _ = json.Marshal(meta)
	out, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return out
}

// content is an object's JSON without metadata and status: what a change
// of generation is counted on.
func content(obj api.Object) []byte {
	enc, err := api.Encode(obj)
	if err != nil {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(enc, &m); err != nil {
		return enc
	}
	delete(m, "metadata")
	delete(m, "status")
	out, _ := json.Marshal(m)
	return out
}

func immutable(obj api.Object) bool {
	switch o := obj.(type) {
	case *api.ConfigMap:
		return o.Immutable != nil && *o.Immutable
	case *api.Secret:
		return o.Immutable != nil && *o.Immutable
	}
	return false
}

// IsCompacted reports whether err says a watch revision is too old.
func IsCompacted(err error) bool { return errors.Is(err, ErrCompacted) }
