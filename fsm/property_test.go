package fsm

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"

	"github.com/berth-dev/berth/api"
	"pgregory.net/rapid"
)

// model is a deliberately simple reference of the store: configmaps by
// "namespace/name", and which namespaces exist.
type model struct {
	objs     map[string]modelObj
	ns       map[string]bool
	requests map[string]modelResult
}

type modelObj struct {
	value    string
	rev, gen uint64
	label    string
}

type modelResult struct {
	ok      bool
	index   uint64
	actions []Action
}

type genOp struct {
	verb        Verb
	ns, name    string
	value       string
	label       string
	staleRV     bool // name a resourceVersion that is not the current one
	currentRV   bool // name the current resourceVersion
	isNamespace bool
	rv          uint64 // the precondition given, as read before the command
}

// apply runs one command against the model: all ops or none.
func (m *model) apply(index uint64, reqID string, ops []genOp) modelResult {
	if reqID != "" {
		if r, ok := m.requests[reqID]; ok {
			return r
		}
	}
	objs := map[string]modelObj{}
	for k, v := range m.objs {
		objs[k] = v
	}
	ns := map[string]bool{}
	for k, v := range m.ns {
		ns[k] = v
	}
	res := modelResult{ok: true, index: index}
	for _, op := range ops {
		if op.isNamespace {
			if ns[op.name] {
				res.ok = false
				break
			}
			ns[op.name] = true
			res.actions = append(res.actions, ActionCreated)
			continue
		}
		key := op.ns + "/" + op.name
		cur, exists := objs[key]
		rv := op.rv
		if (rv != 0 && exists && rv != cur.rev) || (rv != 0 && !exists) {
			res.ok = false
			break
		}
		switch op.verb {
		case VerbDelete:
			if !exists {
				res.ok = false
			} else {
				delete(objs, key)
				res.actions = append(res.actions, ActionDeleted)
			}
		case VerbCreate, VerbUpdate, VerbApply:
			if !ns[op.ns] || (op.verb == VerbCreate && exists) || (op.verb == VerbUpdate && !exists) {
				res.ok = false
				break
			}
			switch {
			case !exists:
				objs[key] = modelObj{value: op.value, label: op.label, rev: index, gen: 1}
				res.actions = append(res.actions, ActionCreated)
			case cur.value == op.value && cur.label == op.label:
				res.actions = append(res.actions, ActionUnchanged)
			default:
				next := modelObj{value: op.value, label: op.label, rev: index, gen: cur.gen}
				if cur.value != op.value {
					next.gen++
				}
				objs[key] = next
				res.actions = append(res.actions, ActionConfigured)
			}
		}
		if !res.ok {
			break
		}
	}
	if res.ok {
		m.objs, m.ns = objs, ns
	} else {
		res.actions = nil
	}
	if reqID != "" {
		m.requests[reqID] = res
	}
	return res
}

func (g genOp) op(t *rapid.T, f *FSM) Op {
	if g.isNamespace {
		return mkOp(VerbCreate, "Namespace", nsObj(g.name), "uid-ns-"+g.name)
	}
	c := &api.ConfigMap{Metadata: api.ObjectMeta{Name: g.name, Namespace: g.ns, Labels: map[string]string{"l": g.label}}, Data: map[string]string{"v": g.value}}
	api.Default(c)
	raw, err := api.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	op := mkOp(g.verb, "ConfigMap", raw, "uid")
	if g.verb == VerbDelete {
		op = Op{Verb: VerbDelete, Kind: "ConfigMap", Namespace: g.ns, Name: g.name}
	}
	if rec, err := f.Get("ConfigMap", g.ns, g.name); err == nil {
		if g.currentRV {
			op.ResourceVersion = rec.Revision
		}
		if g.staleRV {
			op.ResourceVersion = rec.Revision + 1000
		}
	} else if g.staleRV {
		op.ResourceVersion = 1000
	}
	return op
}

// TestModel applies random commands to the FSM and to the model, and to a
// second FSM from the encoded log: the FSM agrees with the model after each
// command, and the two replicas hold byte-identical state.
func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f, replica := New(Options{}), New(Options{})
		m := &model{objs: map[string]modelObj{}, ns: map[string]bool{}, requests: map[string]modelResult{}}
		var usedIDs []string
		index := uint64(0)
		step := func(reqID string, gops []genOp) {
			index++
			cmd := &Command{Type: CmdWrite, RequestID: reqID, Time: t0}
			for i, g := range gops {
				op := g.op(t, f)
				gops[i].rv = op.ResourceVersion
				cmd.Ops = append(cmd.Ops, op)
			}
			enc, err := cmd.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got := f.ApplyEntry(index, enc)
			replica.ApplyEntry(index, enc)
			want := m.apply(index, reqID, gops)
			if (got.Err == nil) != want.ok {
				t.Fatalf("command %d %+v: FSM error %v, model ok=%v", index, gops, got.Err, want.ok)
			}
			if got.Err == nil {
				var actions []Action
				for _, r := range got.Results {
					actions = append(actions, r.Action)
				}
				if fmt.Sprint(actions) != fmt.Sprint(want.actions) || got.Index != want.index {
					t.Fatalf("command %d: actions %v at %d, model %v at %d", index, actions, got.Index, want.actions, want.index)
				}
			}
		}
		step("", []genOp{{isNamespace: true, name: "default"}})
		t.Repeat(map[string]func(*rapid.T){
			"": func(t *rapid.T) {
				var gops []genOp
				for i := rapid.IntRange(1, 3).Draw(t, "ops"); i > 0; i-- {
					g := genOp{
						verb:  rapid.SampledFrom([]Verb{VerbCreate, VerbUpdate, VerbApply, VerbDelete}).Draw(t, "verb"),
						ns:    rapid.SampledFrom([]string{"default", "prod"}).Draw(t, "ns"),
						name:  rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "name"),
						value: rapid.SampledFrom([]string{"x", "y"}).Draw(t, "value"),
						label: rapid.SampledFrom([]string{"p", "q"}).Draw(t, "label"),
					}
					switch rapid.IntRange(0, 3).Draw(t, "rv") {
					case 0:
						g.staleRV = true
					case 1:
						g.currentRV = true
					}
					if rapid.IntRange(0, 9).Draw(t, "namespace") == 0 {
						g = genOp{isNamespace: true, name: "prod"}
					}
					gops = append(gops, g)
				}
				reqID := ""
				if len(usedIDs) > 0 && rapid.IntRange(0, 4).Draw(t, "retry") == 0 {
					reqID = rapid.SampledFrom(usedIDs).Draw(t, "retried")
				} else if rapid.Bool().Draw(t, "withID") {
					reqID = "r" + strconv.Itoa(len(usedIDs))
					usedIDs = append(usedIDs, reqID)
				}
				step(reqID, gops)
			},
			"check": func(t *rapid.T) {
				recs, err := f.View().List("ConfigMap", "", api.Selector{})
				if err != nil {
					t.Fatal(err)
				}
				if len(recs) != len(m.objs) {
					t.Fatalf("%d objects, model has %d", len(recs), len(m.objs))
				}
				for _, r := range recs {
					want, ok := m.objs[r.Key]
					o, err := api.DecodeStored("ConfigMap", r.Object)
					if err != nil {
						t.Fatal(err)
					}
					obj := o.(*api.ConfigMap)
					if !ok || obj.Data["v"] != want.value || r.Revision != want.rev || uint64(obj.Metadata.Generation) != want.gen ||
						obj.Metadata.Labels["l"] != want.label || obj.Metadata.ResourceVersion != strconv.FormatUint(want.rev, 10) {
						t.Fatalf("%s: %s, model %+v (present %v)", r.Key, r.Object, want, ok)
					}
				}
			},
		})
		a, b := snapshotOf(t, f), snapshotOf(t, replica)
		if !bytes.Equal(a, b) {
			t.Fatal("two replicas of one log differ")
		}
		restored := New(Options{})
		if err := restored.Restore(bytes.NewReader(a)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, snapshotOf(t, restored)) {
			t.Fatal("a restored replica differs")
		}
	})
}

func snapshotOf(t *rapid.T, f *FSM) []byte {
	var buf bytes.Buffer
	if _, err := f.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
