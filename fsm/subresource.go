package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"

	"github.com/berth-dev/berth/api"

	memdb "github.com/hashicorp/go-memdb"
)

// The workload kinds have their status as a subresource, as in Kubernetes:
// a user's write (create aside) keeps the stored status, and the
// controllers write the status alone with VerbStatus, which keeps the rest.
// Their generation counts the changes of everything but the status, so a
// controller's observedGeneration can catch up with it.
var statusKinds = map[string]bool{
	"Deployment": true, "ReplicaSet": true, "StatefulSet": true,
	"HorizontalPodAutoscaler": true, "PersistentVolumeClaim": true,
}

// HasStatusSubresource reports whether a kind's status is written apart
// from the rest of it (VerbStatus).
func HasStatusSubresource(kind string) bool { return statusKinds[kind] }

// member is one top-level key of a JSON object and its raw value.
type member struct {
	key   string
	value json.RawMessage
}

// members splits a JSON object into its top-level members, in order.
func members(body []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("%w: an object body must be a JSON object", ErrInvalid)
	}
	var out []member
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		out = append(out, member{key, v})
	}
	return out, nil
}

// statusOf returns the "status" member of a JSON object, nil if none.
func statusOf(body []byte) ([]byte, error) {
	ms, err := members(body)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.key == "status" {
			return m.value, nil
		}
	}
	return nil, nil
}

// withStatus returns body with its "status" member replaced by status (or
// removed when status is nil). The status goes last, where api.Encode puts
// it, so a canonical body stays canonical.
func withStatus(body, status []byte) ([]byte, error) {
	ms, err := members(body)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(body)+len(status))
	out = append(out, '{')
	n := 0
	add := func(key string, v []byte) {
		if n > 0 {
			out = append(out, ',')
		}
		kb, _ := json.Marshal(key)
		out = append(out, kb...)
		out = append(out, ':')
		out = append(out, v...)
		n++
	}
	for _, m := range ms {
		if m.key != "status" {
			add(m.key, m.value)
		}
	}
	if status != nil {
		add("status", status)
	}
	return append(out, '}'), nil
}

// statusWrite rewrites an op on a kind with a status subresource against
// the stored object: a VerbStatus op keeps everything but the status (its
// metadata too); any other write keeps the stored status.
func statusWrite(op *Op, cur *Record) (*Op, error) {
	stored := append([]byte{'{'}, cur.rest()[min(1, len(cur.rest())-1):]...)
	next := *op
	var err error
	if op.Verb == VerbStatus {
		var st []byte
		if st, err = statusOf(op.Body); err != nil {
			return nil, err
		}
		if next.Body, err = withStatus(stored, st); err != nil {
			return nil, err
		}
		m := cur.Meta
		next.Meta = &m
		return &next, nil
	}
	st, err := statusOf(stored)
	if err != nil {
		return nil, err
	}
	if next.Body, err = withStatus(op.Body, st); err != nil {
		return nil, err
	}
	next.Meta = keepControllerAnnotations(op.Meta, &cur.Meta)
	return &next, nil
}

// controllerAnnotations are written by the controllers on objects that
// users write too (the revision of a Deployment): a user's write that
// leaves one out keeps it, so applying the same manifest again changes
// nothing.
var controllerAnnotations = []string{"deployment.kubernetes.io/revision"}

func keepControllerAnnotations(m, cur *api.ObjectMeta) *api.ObjectMeta {
	out := m
	for _, k := range controllerAnnotations {
		v, ok := cur.Annotations[k]
		if _, set := m.Annotations[k]; !ok || set {
			continue
		}
		if out == m {
			cp := *m
			cp.Annotations = maps.Clone(m.Annotations)
			if cp.Annotations == nil {
				cp.Annotations = map[string]string{}
			}
			out = &cp
		}
		out.Annotations[k] = v
	}
	return out
}

// ownerKinds own objects of ownedKinds through metadata.ownerReferences.
// Deleting an owner deletes what it owns in the same command (Kubernetes'
// foreground cascade), so no pod of a deleted Deployment is left behind.
var (
	ownerKinds = map[string]bool{"Deployment": true, "ReplicaSet": true, "StatefulSet": true}
	ownedKinds = []string{"ReplicaSet", "Pod"}
)

func deleteOwned(txn *memdb.Txn, index uint64, owner *Record, events *[]Event) error {
	for _, kind := range ownedKinds {
		it, err := txn.Get(kind, "id_prefix", owner.Namespace+"/")
		if err != nil {
			return err
		}
		var owned []*Record
		for raw := it.Next(); raw != nil; raw = it.Next() {
			r := raw.(*Record)
			for _, ref := range r.Meta.OwnerReferences {
				if ref.UID == owner.Meta.UID && owner.Meta.UID != "" {
					owned = append(owned, r)
					break
				}
			}
		}
		for _, r := range owned {
			if _, err := deleteRecord(txn, index, r, events); err != nil {
				return err
			}
		}
	}
	return nil
}
