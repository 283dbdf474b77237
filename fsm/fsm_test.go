package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/berth-dev/berth/api"
)

const t0 = "2026-01-02T15:04:05Z"

func cm(name, ns string, data map[string]string) []byte {
	obj := &api.ConfigMap{Metadata: api.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}}, Data: data}
	api.Default(obj)
	b, err := api.Encode(obj)
	if err != nil {
		panic(err)
	}
	return b
}

func nsObj(name string) []byte {
	obj := &api.Namespace{Metadata: api.ObjectMeta{Name: name}}
	api.Default(obj)
	b, _ := api.Encode(obj)
	return b
}

func opCM(verb Verb, name string, data map[string]string) Op {
	return mkOp(verb, "ConfigMap", cm(name, "default", data), "uid-"+name)
}

// newTestFSM returns an FSM holding the default namespace at index 1.
func newTestFSM(t *testing.T) *FSM {
	t.Helper()
	f := New(Options{WatchHistory: 100})
	res := f.ApplyCommand(1, &Command{Time: t0, Ops: []Op{mkOp(VerbCreate, "Namespace", nsObj("default"), "uid-ns")}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	return f
}

func write(f *FSM, index uint64, ops ...Op) *Result {
	return f.ApplyCommand(index, &Command{Type: CmdWrite, Time: t0, Ops: ops})
}

func decodeCM(t *testing.T, raw []byte) *api.ConfigMap {
	t.Helper()
	obj, err := api.DecodeStored("ConfigMap", raw)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*api.ConfigMap)
}

func TestCreateUpdateDelete(t *testing.T) {
	f := newTestFSM(t)
	if res := write(f, 2, opCM(VerbCreate, "web", map[string]string{"a": "1"})); res.Err != nil || res.Results[0].Action != ActionCreated {
		t.Fatalf("create: %+v %v", res, res.Err)
	}
	rec, err := f.Get("ConfigMap", "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	got := decodeCM(t, rec.Object)
	if got.Metadata.ResourceVersion != "2" || got.Metadata.UID != "uid-web" || got.Metadata.CreationTimestamp != t0 || got.Metadata.Generation != 1 {
		t.Fatalf("stamped metadata: %+v", got.Metadata)
	}
	if res := write(f, 3, opCM(VerbCreate, "web", nil)); !errors.Is(res.Err, ErrAlreadyExists) {
		t.Fatalf("second create: %v", res.Err)
	}
	// The same content again changes nothing: no new revision.
	if res := write(f, 4, opCM(VerbApply, "web", map[string]string{"a": "1"})); res.Err != nil || res.Results[0].Action != ActionUnchanged {
		t.Fatalf("re-apply: %+v %v", res, res.Err)
	}
	if rec, _ := f.Get("ConfigMap", "default", "web"); rec.Revision != 2 {
		t.Fatalf("unchanged apply moved the revision to %d", rec.Revision)
	}
	up := opCM(VerbUpdate, "web", map[string]string{"a": "2"})
	up.UID = "ignored"
	if res := write(f, 5, up); res.Err != nil || res.Results[0].Action != ActionConfigured {
		t.Fatalf("update: %v", res.Err)
	}
	rec, _ = f.Get("ConfigMap", "default", "web")
	got = decodeCM(t, rec.Object)
	if got.Metadata.ResourceVersion != "5" || got.Metadata.UID != "uid-web" || got.Metadata.Generation != 2 || got.Data["a"] != "2" {
		t.Fatalf("after update: %+v %v", got.Metadata, got.Data)
	}
	if res := write(f, 6, opCM(VerbUpdate, "nope", nil)); !errors.Is(res.Err, ErrNotFound) {
		t.Fatalf("update of a missing object: %v", res.Err)
	}
	if res := write(f, 7, Op{Verb: VerbDelete, Kind: "ConfigMap", Namespace: "default", Name: "web"}); res.Err != nil || res.Results[0].Action != ActionDeleted {
		t.Fatalf("delete: %v", res.Err)
	}
	if _, err := f.Get("ConfigMap", "default", "web"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if f.Index() != 7 {
		t.Fatalf("index %d, want 7", f.Index())
	}
}

func TestConflict(t *testing.T) {
	f := newTestFSM(t)
	write(f, 2, opCM(VerbCreate, "web", map[string]string{"n": "0"}))
	write(f, 3, opCM(VerbUpdate, "web", map[string]string{"n": "1"}))
	stale := opCM(VerbUpdate, "web", map[string]string{"n": "2"})
	stale.ResourceVersion = 2
	res := write(f, 4, stale)
	if !errors.Is(res.Err, ErrConflict) {
		t.Fatalf("stale update: %v", res.Err)
	}
	if want := `configmap "web": conflict: resourceVersion 2 is stale, the object is at 3`; res.Err.Error() != want {
		t.Fatalf("message %q, want %q", res.Err, want)
	}
	del := Op{Verb: VerbDelete, Kind: "ConfigMap", Namespace: "default", Name: "web", ResourceVersion: 2}
	if res := write(f, 5, del); !errors.Is(res.Err, ErrConflict) {
		t.Fatalf("stale delete: %v", res.Err)
	}
	fresh := opCM(VerbUpdate, "web", map[string]string{"n": "2"})
	fresh.ResourceVersion = 3
	if res := write(f, 6, fresh); res.Err != nil {
		t.Fatalf("fresh update: %v", res.Err)
	}
}

func TestAllOrNothing(t *testing.T) {
	f := newTestFSM(t)
	write(f, 2, opCM(VerbCreate, "exists", nil))
	res := write(f, 3,
		mkOp(VerbCreate, "Namespace", nsObj("prod"), "u1"),
		opCM(VerbCreate, "a", nil),
		opCM(VerbCreate, "exists", nil), // fails: the whole command must not apply
	)
	if !errors.Is(res.Err, ErrAlreadyExists) {
		t.Fatalf("got %v", res.Err)
	}
	if _, err := f.Get("Namespace", "", "prod"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("namespace of a failed command exists: %v", err)
	}
	if _, err := f.Get("ConfigMap", "default", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("configmap of a failed command exists: %v", err)
	}
	if evs, _, _ := f.EventsAfter(2, 100); len(evs) != 0 {
		t.Fatalf("a failed command made events: %+v", evs)
	}
	if f.Index() != 3 {
		t.Fatalf("index %d, want 3 (a failed command still advances it)", f.Index())
	}
}

func TestNamespaces(t *testing.T) {
	f := newTestFSM(t)
	op := mkOp(VerbCreate, "ConfigMap", cm("x", "prod", nil), "u")
	if res := write(f, 2, op); !errors.Is(res.Err, ErrNotFound) {
		t.Fatalf("object in a missing namespace: %v", res.Err)
	}
	// A namespace and its objects in one command.
	if res := write(f, 3, mkOp(VerbCreate, "Namespace", nsObj("prod"), "n"), op); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := write(f, 4, Op{Verb: VerbDelete, Kind: "Namespace", Name: "prod"}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if _, err := f.Get("ConfigMap", "prod", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("object outlived its namespace: %v", err)
	}
	if res := write(f, 5, Op{Verb: VerbDelete, Kind: "Namespace", Name: "default"}); !errors.Is(res.Err, ErrForbidden) {
		t.Fatalf("delete default: %v", res.Err)
	}
}

func TestRequestIDAppliesOnce(t *testing.T) {
	f := newTestFSM(t)
	cmd := &Command{Type: CmdWrite, RequestID: "r1", Time: t0, Ops: []Op{opCM(VerbCreate, "web", nil)}}
	first := f.ApplyCommand(2, cmd)
	again := f.ApplyCommand(3, cmd) // a client retry after a lost answer
	if first.Err != nil || again.Err != nil || again.Index != 2 || again.Results[0].Action != ActionCreated {
		t.Fatalf("retry: %+v / %+v", first, again)
	}
	if rec, _ := f.Get("ConfigMap", "default", "web"); rec.Revision != 2 {
		t.Fatalf("retry changed the object: revision %d", rec.Revision)
	}
	// A failed request fails the same way when retried.
	bad := &Command{Type: CmdWrite, RequestID: "r2", Time: t0, Ops: []Op{opCM(VerbCreate, "web", nil)}}
	e1, e2 := f.ApplyCommand(4, bad).Err, f.ApplyCommand(5, bad).Err
	if !errors.Is(e1, ErrAlreadyExists) || !errors.Is(e2, ErrAlreadyExists) || e1.Error() != e2.Error() {
		t.Fatalf("failed retry: %v / %v", e1, e2)
	}
	// Request IDs are forgotten after the TTL, by the commands' time.
	f.ApplyCommand(6, &Command{Type: CmdWrite, Time: "2026-01-02T15:04:35Z", Ops: []Op{opCM(VerbCreate, "other", nil)}})
	if f.requests.get("r1") == nil {
		t.Fatal("request r1 forgotten within its TTL")
	}
	f.ApplyCommand(7, &Command{Type: CmdWrite, Time: "2026-01-02T16:00:00Z", Ops: []Op{opCM(VerbCreate, "third", nil)}})
	if f.requests.get("r1") != nil || f.requests.get("r2") != nil {
		t.Fatal("requests kept past their TTL")
	}
}

// history is a fixed log of commands: the same log gives the same state.
func history() []*Command {
	var cmds []*Command
	cmds = append(cmds, &Command{Time: t0, Ops: []Op{mkOp(VerbCreate, "Namespace", nsObj("default"), "ns")}})
	for i := 0; i < 50; i++ {
		name := fmt.Sprintf("cm%d", i%7)
		data := map[string]string{"i": fmt.Sprint(i), "z": "last", "a": "first"}
		cmds = append(cmds, &Command{Time: t0, RequestID: fmt.Sprint("req", i), Ops: []Op{opCM(VerbApply, name, data)}})
		if i%5 == 4 {
			cmds = append(cmds, &Command{Time: t0, Ops: []Op{{Verb: VerbDelete, Kind: "ConfigMap", Namespace: "default", Name: name}}})
		}
	}
	cmds = append(cmds, &Command{Type: CmdRegisterServer, Time: t0, Server: &ServerRecord{ID: "s1", RaftAddr: "a:1", APIAddr: "a:2"}})
	return cmds
}

func snapshotBytes(t *testing.T, f *FSM) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := f.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDeterministicAndRestore(t *testing.T) {
	a, b := New(Options{}), New(Options{})
	for i, cmd := range history() {
		enc, err := cmd.Encode()
		if err != nil {
			t.Fatal(err)
		}
		ra, rb := a.ApplyEntry(uint64(i+1), enc), b.ApplyEntry(uint64(i+1), enc)
		if (ra.Err == nil) != (rb.Err == nil) {
			t.Fatalf("entry %d: %v vs %v", i+1, ra.Err, rb.Err)
		}
	}
	sa, sb := snapshotBytes(t, a), snapshotBytes(t, b)
	if !bytes.Equal(sa, sb) {
		t.Fatal("two replicas of one log hold different state")
	}
	c := New(Options{})
	if err := c.Restore(bytes.NewReader(sa)); err != nil {
		t.Fatal(err)
	}
	if sc := snapshotBytes(t, c); !bytes.Equal(sa, sc) {
		t.Fatalf("restored replica differs:\n%s\n---\n%s", sa, sc)
	}
	if c.Index() != a.Index() || len(c.View().Servers()) != 1 {
		t.Fatalf("restored index %d (want %d), servers %v", c.Index(), a.Index(), c.View().Servers())
	}
	// Watchers of revisions before a restore must list again.
	if _, _, err := c.EventsAfter(a.Index()-1, 10); !errors.Is(err, ErrCompacted) {
		t.Fatalf("watch before the restore: %v", err)
	}
	if err := c.Restore(bytes.NewReader([]byte("{\"format\":\"nope\"}\n"))); err == nil {
		t.Fatal("restore of a bad snapshot succeeded")
	}
}

func TestWatch(t *testing.T) {
	f := New(Options{WatchHistory: 10})
	f.ApplyCommand(1, &Command{Time: t0, Ops: []Op{mkOp(VerbCreate, "Namespace", nsObj("default"), "ns")}})
	_, wait, err := f.EventsAfter(1, 10)
	if err != nil || wait == nil {
		t.Fatalf("no events yet: want a wait channel, got %v", err)
	}
	write(f, 2, opCM(VerbCreate, "a", nil), opCM(VerbCreate, "b", nil))
	select {
	case <-wait:
	default:
		t.Fatal("apply did not wake the watcher")
	}
	write(f, 3, opCM(VerbUpdate, "a", map[string]string{"x": "y"}))
	write(f, 4, Op{Verb: VerbDelete, Kind: "ConfigMap", Namespace: "default", Name: "b"})
	evs, _, err := f.EventsAfter(1, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%d %s %s", e.Revision, e.Type, e.Name))
	}
	want := "[2 ADDED a 2 ADDED b 3 MODIFIED a 4 DELETED b]"
	if fmt.Sprint(got) != want {
		t.Fatalf("events %v, want %s", got, want)
	}
	// A limit never splits a revision.
	if evs, _, _ := f.EventsAfter(1, 1); len(evs) != 2 {
		t.Fatalf("limit split revision 2: %d events", len(evs))
	}
	for i := uint64(5); i < 30; i++ {
		write(f, i, opCM(VerbApply, "a", map[string]string{"i": fmt.Sprint(i)}))
	}
	if _, _, err := f.EventsAfter(3, 10); !errors.Is(err, ErrCompacted) {
		t.Fatalf("old revision: %v", err)
	}
	if evs, _, err := f.EventsAfter(25, 10); err != nil || len(evs) != 4 || evs[0].Revision != 26 {
		t.Fatalf("recent revision: %v %d", err, len(evs))
	}
}

func mkOp(verb Verb, kind string, raw []byte, uid string) Op {
	op, err := NewOp(verb, kind, raw)
	if err != nil {
		panic(err)
	}
	op.UID = uid
	return op
}

func TestGenerationAndImmutable(t *testing.T) {
	f := newTestFSM(t)
	write(f, 2, opCM(VerbCreate, "web", map[string]string{"a": "1"}))
	// A label change is a change, but not of generation.
	relabel := &api.ConfigMap{Metadata: api.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web", "tier": "x"}}, Data: map[string]string{"a": "1"}}
	api.Default(relabel)
	raw, _ := api.Encode(relabel)
	if res := write(f, 3, mkOp(VerbApply, "ConfigMap", raw, "u")); res.Err != nil || res.Results[0].Action != ActionConfigured {
		t.Fatalf("relabel: %v %+v", res.Err, res.Results)
	}
	rec, _ := f.Get("ConfigMap", "default", "web")
	if rec.Meta.Generation != 1 || rec.Revision != 3 || rec.Meta.Labels["tier"] != "x" {
		t.Fatalf("after relabel: %+v", rec.Meta)
	}
	frozen := true
	imm := &api.ConfigMap{Metadata: api.ObjectMeta{Name: "frozen", Namespace: "default"}, Immutable: &frozen, Data: map[string]string{"a": "1"}}
	api.Default(imm)
	raw, _ = api.Encode(imm)
	write(f, 4, mkOp(VerbCreate, "ConfigMap", raw, "u"))
	imm.Data["a"] = "2"
	raw, _ = api.Encode(imm)
	if res := write(f, 5, mkOp(VerbApply, "ConfigMap", raw, "u")); !errors.Is(res.Err, ErrForbidden) {
		t.Fatalf("update of an immutable configmap: %v", res.Err)
	}
	// The stored JSON decodes as the api type, with the stamped metadata.
	rec, _ = f.Get("ConfigMap", "default", "frozen")
	got := decodeCM(t, rec.Object)
	if got.Data["a"] != "1" || got.Metadata.ResourceVersion != "4" || got.Immutable == nil || !*got.Immutable {
		t.Fatalf("stored object: %s", rec.Object)
	}
}
