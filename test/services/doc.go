// Package services holds the end-to-end tests of Services, DNS and the
// ingress: real agents in network namespaces of the test's own (one per
// node, as on separate machines), running pods on a real containerd, and
// clients on real sockets.
package services
