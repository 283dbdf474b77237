// Package jepsen will hold Berth's fault-injection suite: test hosts in
// network namespaces, partitions by iptables, kill -9 and SIGSTOP, histories
// checked for linearizability with Porcupine, against the real berth binary.
//
// It may import only the client and api packages of ours (and
// internal/testcluster). Not built yet: this package holds its place in the
// design.
package jepsen
