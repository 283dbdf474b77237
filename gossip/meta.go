package gossip

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Roles of an agent.
const (
	RoleServer = "server" // a voting member of the Raft quorum
	RoleWorker = "worker" // runs pods
)

// Meta is what every member announces in memberlist's node metadata: small
// and bounded (memberlist allows 512 bytes). The inventory, which can be
// larger (labels, GPU lists), travels apart; Generation says which
// inventory is current, so a server that holds an older one asks for it.
type Meta struct {
	Roles   []string `json:"r"`
	API     string   `json:"a"`
	Raft    string   `json:"f,omitempty"`
	Version string   `json:"v,omitempty"`
	// Generation grows with every change of the member's inventory; it
	// starts from the agent's start time, so a restarted agent's is newer.
	Generation uint64 `json:"g"`
	// Leaving is announced just before a graceful leave: memberlist's
	// leave event does not tell a departure from a failure.
	Leaving bool `json:"l,omitempty"`
}

// HasRole reports whether the member has the role.
func (m *Meta) HasRole(role string) bool { return slices.Contains(m.Roles, role) }

// metaLimit is memberlist's bound on node metadata.
const metaLimit = 512

func (m *Meta) encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > metaLimit {
		return nil, fmt.Errorf("gossip: node metadata is %d bytes, more than memberlist's %d", len(b), metaLimit)
	}
	return b, nil
}

func decodeMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) == 0 {
		return m, fmt.Errorf("gossip: member has no metadata")
	}
	err := json.Unmarshal(b, &m)
	return m, err
}

// Message kinds, the first byte of a user message.
const (
	msgInventory byte = 'i' // an inventoryMsg
	msgWant      byte = 'w' // a server asks a member for its inventory
)

// inventoryMsg carries one member's inventory.
type inventoryMsg struct {
	Name       string     `json:"name"`
	Generation uint64     `json:"gen"`
	Inventory  *Inventory `json:"inv"`
}

func encodeMsg(kind byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte{kind}, b...), nil
}
