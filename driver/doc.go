// Package driver will run pods on the local containerd: images, OCI specs,
// CNI networking, volumes, logs, exec and probes, behind a small interface
// with a conformance suite.
//
// It may import only the api package of ours. Not built yet: this package
// holds its place in the design.
package driver
