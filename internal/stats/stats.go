// Package stats holds the small statistics that tests, benchmarks and the
// fault-injection runs report. It imports nothing of ours.
package stats

import (
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p ≤ 100) of ds by nearest
// rank: the smallest value with at least p% of the values at or below it.
// It is 0 for no values.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
