// Package gossip wires hashicorp/memberlist for Berth: every agent joins one
// pool, announces small metadata (roles, API and Raft addresses, version,
// inventory generation) and sends its inventory (capacity, allocatable,
// labels, GPUs found through NVML) to the servers; failures are detected by
// memberlist's probes (SWIM with Lifeguard), and agents re-join the members
// they know that look dead, so a pool heals by itself after a partition.
//
// It may import only the api package of ours. Gossip is a hint; Raft is the
// truth: only the leader turns the pool's view into Node objects
// (controller.Nodes).
//
//	p, err := gossip.Start(gossip.Config{Name: "w1", BindAddr: "10.0.0.5", Port: 7402, Meta: meta, Inventory: inv})
//	p.Join([]string{"10.0.0.1:7402"})
//	for range p.Changes() { view := p.Members() ... }
package gossip
