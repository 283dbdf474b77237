package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/berth-dev/berth/api"
)

// Ops carry an object split in two: its metadata, which Apply stamps
// (uid, resourceVersion, generation, creationTimestamp), and its body, the
// rest of its JSON, which Apply stores as it is. So Apply never decodes an
// object: content changes are a byte comparison of bodies.
//
// The stored JSON is `{"metadata":META` followed by the body's keys:
// Record.BodyAt is where they start.

// joinObject makes the stored JSON of an object and says where its body's
// keys start.
func joinObject(meta *api.ObjectMeta, body []byte) ([]byte, int, error) {
	if len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' {
		return nil, 0, fmt.Errorf("%w: an object body must be a JSON object", ErrInvalid)
	}
	mb, err := json.Marshal(meta)
	if err != nil {
		return nil, 0, err
	}
	out := make([]byte, 0, len(`{"metadata":`)+len(mb)+len(body))
	out = append(out, `{"metadata":`...)
	out = append(out, mb...)
	at := len(out)
	if inner := bytes.TrimSpace(body[1 : len(body)-1]); len(inner) > 0 {
		out = append(out, ',')
		out = append(out, inner...)
	}
	out = append(out, '}')
	return out, at, nil
}

// rest is what follows the metadata in a stored object: equal rests, equal
// content.
func (r *Record) rest() []byte { return r.Object[r.BodyAt:] }

// sameRest reports whether a body (`{...}`) has the keys a stored rest
// (`,...}` or `}`) has.
func sameRest(body, rest []byte) bool {
	if len(body) < 2 {
		return false
	}
	inner := bytes.TrimSpace(body[1 : len(body)-1])
	if len(inner) == 0 {
		return len(rest) == 1
	}
	return len(rest) == len(inner)+2 && rest[0] == ',' && bytes.Equal(rest[1:len(rest)-1], inner)
}

// immutable reports whether a stored ConfigMap or Secret says `immutable:
// true`. Their other fields hold only strings, whose quotes JSON escapes,
// so the key can only be the top-level one.
func (r *Record) immutable() bool {
	if r.Kind != "ConfigMap" && r.Kind != "Secret" {
		return false
	}
	return bytes.Contains(r.rest(), []byte(`"immutable":true`))
}

// NewOp returns an Op that writes the object whose JSON is raw, named by
// its metadata.
func NewOp(verb Verb, kind string, raw []byte) (Op, error) {
	obj, err := api.DecodeStored(kind, raw)
	if err != nil {
		return Op{}, err
	}
	return ObjectOp(verb, obj)
}

// emptyMeta is how api.Encode writes zero metadata; the api types put
// metadata before any field that could hold a nested one.
var emptyMeta = []byte(`"metadata":{}`)

// ObjectOp returns an Op that writes obj. obj is not changed.
func ObjectOp(verb Verb, obj api.Object) (Op, error) {
	mp := obj.GetObjectMeta()
	meta := *mp
	*mp = api.ObjectMeta{}
	enc, err := api.Encode(obj)
	*mp = meta
	if err != nil {
		return Op{}, err
	}
	i := bytes.Index(enc, emptyMeta)
	if i < 0 {
		return Op{}, fmt.Errorf("%w: %s has no metadata", ErrInvalid, api.Describe(obj))
	}
	j := i + len(emptyMeta)
	if enc[j] == ',' {
		j++
	} else if enc[i-1] == ',' {
		i--
	}
	body := append(enc[:i:i], enc[j:]...)
	return Op{Verb: verb, Kind: obj.GetTypeMeta().Kind, Namespace: meta.Namespace, Name: meta.Name, Meta: &meta, Body: body}, nil
}
