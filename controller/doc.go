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
package controller
