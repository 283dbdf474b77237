// Package cni gives each pod its own network namespace and an address from
// the node's pod subnet, by running the CNI plugins of Debian's
// containernetworking-plugins (loopback, bridge, host-local, portmap)
// through libcni. It also readies the host for pod traffic (forwarding,
// FORWARD and masquerade rules, routes to the other nodes' pod subnets) and
// removes all of it again (Purge).
//
// It imports nothing of ours: only the standard library and libcni. The
// host is changed with the ip and iptables commands.
//
// Everything a Network makes carries its bridge's name: the namespaces
// (/run/netns/<bridge>-<uid prefix>), the iptables rules (comment
// "berth:<bridge>"), the CNI network (<name>-<bridge>). Several networks,
// one per agent, can thus live on one machine, and Purge removes one of
// them without touching the others.
//
//	nw, err := cni.New(cni.Config{Name: "berth", Bridge: "bz0", PodCIDR: "10.244.3.0/24",
//		ClusterCIDR: "10.244.0.0/16", DataDir: dir})
//	err = nw.EnsureHost(ctx)
//	sb, err := nw.Setup(ctx, podUID, []cni.PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}})
//	// run the pod's containers in sb.NetNS; it answers on sb.IP
//	err = nw.Teardown(ctx, podUID)
package cni
