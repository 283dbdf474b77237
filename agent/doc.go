// Package agent wires one `berth agent` daemon together: the Raft server
// with its state machine, the gRPC API (resources and cluster services),
// leader forwarding, and the discovery that bootstraps a new cluster or
// joins a running one.
//
// It may import every package of ours below cmd: api, proto, fsm, raft,
// gossip, scheduler, controller, driver and netsvc. A node that runs pods
// also serves Services (netsvc.go): their kernel rules, DNS and ingress.
//
//	a, err := agent.Start(ctx, agent.Config{Name: "s1", DataDir: dir, BindAddr: "127.0.0.1", APIPort: 7400, RaftPort: 7401, GossipPort: 7402, Server: true})
//	defer a.Close()
package agent
