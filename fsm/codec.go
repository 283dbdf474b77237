package fsm

import (
	"encoding/binary"
	"encoding/json"
	"errors"

	"github.com/berth-dev/berth/api"
)

// The binary form of a Command in the Raft log: every replica decodes every
// command, so it is made to decode fast. An object's body is carried as
// bytes and never scanned; its metadata is small JSON.
//
//	magic 0xB1, version 1
//	string type, requestID, time
//	byte 0|1, then string id, raftAddr, apiAddr   (Server)
//	uvarint len(ops), then per op:
//	  string verb, kind, namespace, name, uid
//	  uvarint resourceVersion
//	  bytes meta (JSON, empty when nil), bytes body
//	bytes plan (JSON of Command.Plan; only when there is one or statuses follow; empty: none)
//	bytes podStatuses (JSON of Command.PodStatuses; only when there are some or a service net follows; empty: none)
//	bytes serviceNet (JSON of Command.ServiceNet; only when there is one)
//
// A string or bytes is a uvarint length and the bytes.
const (
	codecMagic   = 0xB1
	codecVersion = 1
)

var errCodec = errors.New("malformed binary command")

const (
	// minOpSize is the fewest bytes an encoded op takes: eight uvarints
	// (five strings, the resource version, meta and body) of one byte.
	minOpSize = 8
	// maxOpsPrealloc caps the ops allocated ahead of reading them.
	maxOpsPrealloc = 256
)

func encodeCommand(c *Command) ([]byte, error) {
	size := 32 + len(c.RequestID) + len(c.Time)
	for i := range c.Ops {
		size += 64 + len(c.Ops[i].Body) + len(c.Ops[i].Name) + len(c.Ops[i].Namespace)
	}
	b := make([]byte, 0, size)
	b = append(b, codecMagic, codecVersion)
	b = appendString(b, string(c.Type))
	b = appendString(b, c.RequestID)
	b = appendString(b, c.Time)
	if c.Server == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendString(b, c.Server.ID)
		b = appendString(b, c.Server.RaftAddr)
		b = appendString(b, c.Server.APIAddr)
	}
	b = binary.AppendUvarint(b, uint64(len(c.Ops)))
	for i := range c.Ops {
		op := &c.Ops[i]
		for _, s := range []string{string(op.Verb), op.Kind, op.Namespace, op.Name, op.UID} {
			b = appendString(b, s)
		}
		b = binary.AppendUvarint(b, op.ResourceVersion)
		var meta []byte
		if op.Meta != nil {
			var err error
			if meta, err = json.Marshal(op.Meta); err != nil {
				return nil, err
			}
		}
		b = appendString(b, string(meta))
		b = appendString(b, string(op.Body))
	}
	if c.Plan != nil || c.PodStatuses != nil || c.ServiceNet != nil {
		var plan []byte
		if c.Plan != nil {
			var err error
			if plan, err = json.Marshal(c.Plan); err != nil {
				return nil, err
			}
		}
		b = appendString(b, string(plan))
	}
	if c.PodStatuses != nil || c.ServiceNet != nil {
		var st []byte
		if c.PodStatuses != nil {
			var err error
			if st, err = json.Marshal(c.PodStatuses); err != nil {
				return nil, err
			}
		}
		b = appendString(b, string(st))
	}
	if c.ServiceNet != nil {
		sn, err := json.Marshal(c.ServiceNet)
		if err != nil {
			return nil, err
		}
		b = appendString(b, string(sn))
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCodec
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errCodec
		return nil
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errCodec
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func decodeCommand(b []byte) (*Command, error) {
	if len(b) < 2 || b[0] != codecMagic || b[1] != codecVersion {
		return nil, errCodec
	}
	d := &decoder{b: b[2:]}
	c := &Command{Type: CommandType(d.string()), RequestID: d.string(), Time: d.string()}
	if d.byte() == 1 {
		c.Server = &ServerRecord{ID: d.string(), RaftAddr: d.string(), APIAddr: d.string()}
	}
	// An op takes at least minOpSize bytes: a count beyond what is left is
	// refused before anything is allocated for it, and the slice grows
	// with the ops actually read, so a length prefix alone never costs
	// memory.
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b))/minOpSize {
		return nil, errCodec
	}
	if n > 0 {
		c.Ops = make([]Op, 0, min(n, maxOpsPrealloc))
	}
	for range n {
		c.Ops = append(c.Ops, Op{})
		op := &c.Ops[len(c.Ops)-1]
		op.Verb, op.Kind, op.Namespace, op.Name, op.UID = Verb(d.string()), d.string(), d.string(), d.string(), d.string()
		op.ResourceVersion = d.uvarint()
		if meta := d.bytes(); len(meta) > 0 {
			op.Meta = &api.ObjectMeta{}
			if err := json.Unmarshal(meta, op.Meta); err != nil {
				return nil, err
			}
		}
		if body := d.bytes(); len(body) > 0 {
			op.Body = body
		}
		if d.err != nil {
			return nil, d.err
		}
	}
	if d.err == nil && len(d.b) > 0 {
		if plan := d.bytes(); len(plan) > 0 {
			c.Plan = &Plan{}
			if err := json.Unmarshal(plan, c.Plan); d.err == nil && err != nil {
				return nil, err
			}
		}
	}
	if d.err == nil && len(d.b) > 0 {
		if st := d.bytes(); len(st) > 0 {
			if err := json.Unmarshal(st, &c.PodStatuses); d.err == nil && err != nil {
				return nil, err
			}
		}
	}
	if d.err == nil && len(d.b) > 0 {
		c.ServiceNet = &ServiceNet{}
		if err := json.Unmarshal(d.bytes(), c.ServiceNet); d.err == nil && err != nil {
			return nil, err
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = errCodec
	}
	return c, d.err
}
