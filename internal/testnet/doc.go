// Package testnet builds a private IPv4 network of "hosts" on one machine for
// integration tests and the Jepsen suite: a bridge in the root network
// namespace with a /24 of its own, and one network namespace per host,
// attached to the bridge by a veth pair. Faults are injected with iptables
// (Isolate, Heal), not with tc netem, which these machines lack.
//
// It imports only the standard library and shells out to `ip` and
// `iptables`; it needs root. Only tests and jepsen may import it; nothing of
// ours is imported here.
//
//	n := testnet.New(t) // bridge 10.X.Y.1/24, removed by t.Cleanup
//	a, b := n.AddHost(t, "a"), n.AddHost(t, "b")
//	cmd := a.Command(berthBin, "agent", "--bind", a.IP())
//	...
//	if err := a.Isolate(); err != nil { // no one reaches a, a reaches no one
//		t.Fatal(err)
//	}
//	...
//	if err := a.Heal(); err != nil {
//		t.Fatal(err)
//	}
//
// Every name a net creates starts with its ID, "bt" and six random hex
// digits, which is the bridge's name: host namespaces are ID-NAME, root-side
// veths IDhN, and iptables rules carry the comment "berth-testnet:ID". The
// owner of a net holds an flock on /run/berth-testnet/ID.lock for the net's
// whole life, so Sweep tells the leftovers of a killed test binary (lock
// free) from the nets of tests still running in other processes (lock
// held), and removes only the former; New sweeps first, and
// `go run ./internal/testnet/cmd/testnet-sweep` does it by hand.
//
// Tests never skip: New fails the test when the machine lacks root, `ip` or
// `iptables`. Callers that would rather skip ask Available first.
package testnet
