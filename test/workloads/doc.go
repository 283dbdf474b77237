// Package workloads holds the end-to-end tests of the workload
// controllers: Deployments, StatefulSets, node failure and autoscaling,
// on real agents that run their pods on a real containerd.
package workloads
