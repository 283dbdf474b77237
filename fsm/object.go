package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/berth-dev/berth/api"
)

// object is a stored object split at its top level: Apply stamps metadata
// and compares content without decoding the whole typed object (the leader
// validated it before proposing).
type object struct {
	top  map[string]json.RawMessage
	meta api.ObjectMeta
}

func parseObject(raw []byte) (*object, error) {
	o := &object{}
	if err := json.Unmarshal(raw, &o.top); err != nil {
		return nil, err
	}
	if m, ok := o.top["metadata"]; ok {
		if err := json.Unmarshal(m, &o.meta); err != nil {
			return nil, fmt.Errorf("metadata: %w", err)
		}
	}
	return o, nil
}

// encode returns the object's canonical JSON: top-level keys sorted, as
// encoding/json writes a map.
func (o *object) encode() ([]byte, error) {
	m, err := json.Marshal(&o.meta)
	if err != nil {
		return nil, err
	}
	o.top["metadata"] = m
	return json.Marshal(o.top)
}

// sameContent reports whether two objects are equal but for metadata and
// status: what a generation counts.
func sameContent(a, b *object) bool {
	for k, v := range a.top {
		if k != "metadata" && k != "status" && !bytes.Equal(v, b.top[k]) {
			return false
		}
	}
	for k := range b.top {
		if _, ok := a.top[k]; !ok && k != "metadata" && k != "status" {
			return false
		}
	}
	return true
}

// immutable reports whether the object says `immutable: true`
// (ConfigMap, Secret).
func (o *object) immutable() bool { return string(o.top["immutable"]) == "true" }

// sameMeta reports whether metadata m encodes to the stored object's.
func sameMeta(m *api.ObjectMeta, stored *object) bool {
	b, err := json.Marshal(m)
	return err == nil && bytes.Equal(b, stored.top["metadata"])
}
