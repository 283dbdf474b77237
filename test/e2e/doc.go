// Package e2e holds the integration tests of the control plane: they start
// real `berth agent` processes on loopback (internal/testcluster) and talk
// to them through the client library and the berth CLI.
package e2e
