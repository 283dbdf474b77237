// Package netsvc serves Services on every node: the virtual IPs and node
// ports of Services, load-balanced in the kernel by iptables DNAT rules
// to the ready endpoints (proxy.go); DNS for the cluster's names,
// forwarding the rest to the host's resolvers (dns.go); and the HTTP and
// HTTPS ingress that routes by host and path (ingress.go).
//
// Each part is fed a State, the node's view of every Service, Endpoints,
// Ingress and TLS Secret, and serves the newest one it was given: an
// update never drops what is in flight.
//
// It may import only the api package of ours.
package netsvc
