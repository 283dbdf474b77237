package fsm

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/berth-dev/berth/api"
	memdb "github.com/hashicorp/go-memdb"
)

// Record is one stored object.
type Record struct {
	// Key is "namespace/name" ("/name" for cluster-scoped kinds).
	Key       string         `json:"key"`
	Kind      string         `json:"kind"`
	Namespace string         `json:"namespace,omitempty"`
	Name      string         `json:"name"`
	Revision  uint64         `json:"revision"`
	Meta      api.ObjectMeta `json:"meta"`
	// Object is the stored JSON; its body's keys start at BodyAt.
	Object json.RawMessage `json:"object"`
	BodyAt int             `json:"bodyAt"`

	// Derived when stored or restored (pods.go), never in snapshots.
	obj     api.Object // a Pod or a Node, decoded
	Pending bool       `json:"-"` // a pod not yet bound and not finished
}

const (
	tableRequests = "_requests"
	tableServers  = "_servers"
)

func recordKey(ns, name string) string { return ns + "/" + name }

// schema has one table per api kind, plus the request and server tables.
func schema() *memdb.DBSchema {
	s := &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{}}
	for _, k := range api.Kinds() {
		s.Tables[k.Kind] = &memdb.TableSchema{
			Name: k.Kind,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
			},
		}
	}
	s.Tables["Pod"].Indexes["pending"] = &memdb.IndexSchema{Name: "pending", Indexer: &memdb.BoolFieldIndex{Field: "Pending"}}
	s.Tables[tableUsage] = &memdb.TableSchema{
		Name: tableUsage,
		Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Node"}},
		},
	}
	s.Tables[tableServers] = &memdb.TableSchema{
		Name: tableServers,
		Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
		},
	}
	return s
}

// tableNames lists the tables snapshots hold, in a fixed order.
func tableNames() []string {
	var names []string
	for name := range schema().Tables {
		if !slices.Contains(derivedTables, name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

func newDB() *memdb.MemDB {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		panic(fmt.Sprintf("fsm: schema: %v", err)) // a programming error
	}
	return db
}

// View is a consistent read-only view of the store at one revision.
type View struct {
	txn      *memdb.Txn
	revision uint64
}

// Revision is the Raft index the view was taken at.
func (v *View) Revision() uint64 { return v.revision }

// Get returns one object.
func (v *View) Get(kind, ns, name string) (*Record, error) {
	if _, ok := api.LookupKind(kind); !ok {
		return nil, fmt.Errorf("%w: unknown kind %q", ErrInvalid, kind)
	}
	raw, err := v.txn.First(kind, "id", recordKey(ns, name))
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, fmt.Errorf("%s %q: %w", lower(kind), name, ErrNotFound)
	}
	return raw.(*Record), nil
}

// List returns the objects of a kind, in one namespace ("" for all),
// matching a label selector, sorted by namespace and name.
func (v *View) List(kind, ns string, sel api.Selector) ([]*Record, error) {
	info, ok := api.LookupKind(kind)
	if !ok {
		return nil, fmt.Errorf("%w: unknown kind %q", ErrInvalid, kind)
	}
	prefix := ""
	if ns != "" && info.Namespaced {
		prefix = ns + "/"
	}
	it, err := v.txn.Get(kind, "id_prefix", prefix)
	if err != nil {
		return nil, err
	}
	var out []*Record
	for raw := it.Next(); raw != nil; raw = it.Next() {
		r := raw.(*Record)
		if sel.Matches(r.Meta.Labels) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Servers returns the registered servers, sorted by ID.
func (v *View) Servers() []ServerRecord {
	it, err := v.txn.Get(tableServers, "id")
	if err != nil {
		return nil
	}
	var out []ServerRecord
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, *raw.(*ServerRecord))
	}
	return out
}

func lower(kind string) string {
	b := []byte(kind)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
