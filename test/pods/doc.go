// Package pods holds the end-to-end tests of running pods: real berth
// agents (processes) on a real containerd (one per test binary, private),
// with real CNI networking, driven through the berth CLI as a user would.
package pods
