// Package scheduler places pods on nodes: a pure function of an immutable
// snapshot of the nodes and what they hold, the pods to place and a seed,
// returning a plan of placements (with the GPUs each pod is given) and,
// for each pod that fits nowhere, why, in Kubernetes' words.
//
// It imports only the standard library and api, whose fit rules
// (api.CheckFit and the predicates it is made of) it shares with the
// state machine, which re-checks every placement when it commits a plan.
// No I/O, no clock, no goroutines, no global random source: the same
// snapshot, pods and seed give the same plan.
//
// A pod goes through a stack of stages (see newStack): filters (ready,
// not cordoned, taints, node selector, node affinity, resources, host
// ports, pod anti-affinity), then scores (binpack by
// default, or spread; preferred node affinity; PreferNoSchedule taints;
// GPU nodes kept for GPU pods), ties going to the first node by name. As
// Kubernetes' percentageOfNodesToScore, a scan may stop once enough
// feasible nodes are found; a pod fails only when no node at all fits.
//
//	s := scheduler.New(scheduler.Options{Seed: 1})
//	snap := &scheduler.Snapshot{Nodes: []scheduler.NodeInfo{{Node: node, Usage: usage}}}
//	plan := s.Schedule(snap, pending)
//	for _, p := range plan.Placements {
//		fmt.Println(p.Namespace, p.Name, "->", p.Node, p.GPUs)
//	}
//	for _, f := range plan.Failures {
//		fmt.Println(f.Name, f.Message) // 0/1 nodes are available: 1 Insufficient cpu.
//	}
//	snap = snap.Apply(plan, pending) // as the state machine would bind them
package scheduler
