// Package controller holds the leader's reconcilers. Each one reads the
// replicated state (fsm), decides, and commits what it decided through
// Raft; none keeps state that a new leader could not rebuild from the store.
//
// It may import api, fsm (to read), and scheduler. Commands go through a
// Proposer, which the agent backs with its Raft node.
//
// The scheduling loop places pending pods: it plans a batch against one
// consistent view (scheduler.Schedule), commits the plan as one command
// (fsm.CmdPlan, re-checked binding by binding when applied), and leaves a
// pod that fits nowhere Pending with the reason in its PodScheduled
// condition, trying it again only when a node changes or room is freed:
//
//	s := controller.NewScheduler(controller.SchedulerConfig{FSM: f, Proposer: node})
//	node.OnLeader(func(ctx context.Context) { go s.Run(ctx) })
//
// The node lifecycle (Nodes) keeps a Node per gossip member. The workload
// controllers (Workloads) keep the pods of Deployments (through their
// ReplicaSets), ReplicaSets and StatefulSets, and evict the pods of nodes
// down past their grace; their timings, and the fence that keeps a
// StatefulSet's pod from running twice, are written in workloads.go. The
// autoscaler (Autoscaler) scales them on the pods' CPU and GPU use, which
// it asks of the nodes through a MetricsSource. The same loop keeps each
// Service's Endpoints: the ready and the unready pods its selector
// matches (endpoints.go).
package controller
