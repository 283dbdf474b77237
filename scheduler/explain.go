package scheduler

import (
	"slices"
	"strconv"
	"strings"
)

// NoNodesMessage is Kubernetes' message when the cluster has no node.
const NoNodesMessage = "no nodes available to schedule pods"

// FailureMessage words, as Kubernetes does, why a pod fits none of total
// nodes, given how many nodes each reason ruled out: "0/5 nodes are
// available: 3 Insufficient cpu, 2 node(s) didn't match node selector."
// The reasons go by count, highest first, then by text.
func FailureMessage(total int, reasons map[string]int) string {
	if total == 0 {
		return NoNodesMessage
	}
	type count struct {
		reason string
		n      int
	}
	counts := make([]count, 0, len(reasons))
	for r, n := range reasons {
		counts = append(counts, count{r, n})
	}
	slices.SortFunc(counts, func(a, b count) int {
		if a.n != b.n {
			return b.n - a.n
		}
		return strings.Compare(a.reason, b.reason)
	})
	var b strings.Builder
	b.WriteString("0/")
	b.WriteString(strconv.Itoa(total))
	b.WriteString(" nodes are available")
	for i, c := range counts {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(c.n))
		b.WriteByte(' ')
		b.WriteString(c.reason)
	}
	b.WriteByte('.')
	return b.String()
}
