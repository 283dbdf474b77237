// Package testcluster starts real `berth agent` processes on loopback for
// integration tests, benchmarks and the Jepsen suite: it builds the binary
// once, takes free ports, gives each server its own data dir, and kills
// every process when the test ends, also when it fails.
//
//	c := testcluster.Start(t, testcluster.Options{Servers: 3})
//	cl := c.Client(t)
//	leader := c.WaitLeader(t)
//	leader.Kill(t)
package testcluster
