// Package jepsen is Berth's fault-injection suite. It starts real `berth
// agent --server` processes, each in a network namespace of its own on a
// bridge the run creates (internal/testnet), drives workloads through the
// Go client while a nemesis injects faults on a seeded schedule, and then
// checks the recorded history.
//
// Nemeses: partitions (random halves, the leader cut off, a majority ring,
// a bridge), a one-way drop, kill -9 (a random server, the leader),
// SIGSTOP/SIGCONT (a random server, the leader), kill -9 of every server,
// and removing a server under load and adding it back empty. Partitions
// drop TCP and UDP between the servers' hosts; the clients, in the root
// namespace, still reach every server, as Jepsen's do.
//
// Workloads, run side by side on one cluster, and their checkers:
//   - register: read, write and compare-and-set (resourceVersion) on a few
//     ConfigMaps; Porcupine checks each key's history is linearizable.
//   - set: creates of names never used before; every acknowledged one is
//     there at the end, and nothing that was not attempted.
//   - watch: one watcher per server; all see the same events in the same
//     order, no gaps or duplicates, across reconnects, and every
//     acknowledged write.
//   - sched: pods that ask for half a CPU, created and deleted on servers
//     that offer 2 CPUs each; replaying a watch of every pod, no node ever
//     holds more than its allocatable, at any revision. (One pod per
//     StatefulSet identity, and replicas Running again after the heal, wait
//     for the controllers.)
//   - convergence (every run): after the heal, every replica has the same
//     digest at the same index (Cluster.StateDigest), with one leader.
//
// An operation whose answer was lost is Unknown, never failed. Each run
// writes a folder: history.jsonl, faults.jsonl, verdicts.json, report.html
// (the operations over time with the fault windows shaded) and
// register.html (Porcupine's visualisation), beside the servers' logs.
//
// `make test` runs a smoke (jepsen_test.go): the workloads under leader
// kills, and two negative controls that must fail: stale reads under a
// leader partition (linearizability) and a build tagged jepsenlossy that
// acknowledges writes before commit (set). `make jepsen` runs the matrix
// with cmd/berth-jepsen. `go run ./jepsen/cmd/berth-jepsen sweep` removes
// what a killed run left.
//
// It imports only the client and api packages of ours, and internal/testnet
// (internal/testcluster for the berth binary in tests).
package jepsen
