// Package raft wires hashicorp/raft for Berth: the BoltDB log and stable
// stores, the file snapshot store, the TCP transport, bootstrap, membership
// changes, and linearizable reads (ReadIndex, which hashicorp/raft lacks).
//
// It may import only the fsm package of ours. Nobody outside it touches a
// hashicorp/raft future: Apply takes a context and returns the FSM's result
// and error.
//
//	n, err := raft.Open(raft.Config{ID: "s1", DataDir: dir, BindAddr: "127.0.0.1:7401"}, fsm.New(fsm.Options{}))
//	if !n.HasState() { n.Bootstrap([]raft.Server{{ID: "s1", Addr: "127.0.0.1:7401"}}) }
//	res, err := n.Apply(ctx, &fsm.Command{...})     // leader only: ErrNotLeader otherwise
//	idx, err := n.ReadIndex(ctx)                     // leader only
//	err = n.WaitApplied(ctx, idx)                    // then read n.FSM().View()
package raft
