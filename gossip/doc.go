// Package gossip will wire hashicorp/memberlist for Berth: node metadata
// (roles, addresses, capacity, labels, GPUs), health events and the
// periodic re-join that heals a pool after a long partition.
//
// It may import only the api package of ours. Gossip is a hint; Raft is the
// truth: only the leader turns gossip events into commands. Not built yet:
// this package holds its place in the design.
package gossip
