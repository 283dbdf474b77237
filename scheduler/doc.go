// Package scheduler will place pods on nodes: a pure function of an
// immutable state snapshot, the pods to place and a seed, returning a plan
// (placements, and per failure the reasons counted per filter).
//
// It may import only the api package of ours. No I/O, no clock, no
// goroutines. Not built yet: this package holds its place in the design.
package scheduler
