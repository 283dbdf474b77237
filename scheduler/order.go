package scheduler

import (
	"bytes"
	"slices"
	"strings"

	"github.com/berth-dev/berth/api"
)

// order returns the order in which to place pods, biggest first, as
// first-fit-decreasing does: pods asking for GPUs first (most GPUs
// first), then the others, each kind by its largest share of the
// cluster's CPU or memory. The others are interleaved so that the CPU
// and the memory asked so far stay in the cluster's proportion: a pod
// heavy on CPU then one heavy on memory fill a node together, where
// sorting by CPU alone fills nodes' CPU and strands their memory. Ties
// go by key (pods alike stay together), namespace, name, and index.
func order(pods []podInfo, nodes []nodeState) []int32 {
	var total api.Resources // of the nodes without GPUs, where the others go
	for i := range nodes {
		if a := nodes[i].alloc; a.GPU == 0 {
			total = total.Add(a)
		}
	}
	total.MilliCPU, total.Memory = max(total.MilliCPU, 1), max(total.Memory, 1)
	var gpu, cpuHeavy, memHeavy []int32
	for i := range pods {
		p := &pods[i]
		p.cpu = float64(p.req.MilliCPU) / float64(total.MilliCPU)
		p.mem = float64(p.req.Memory) / float64(total.Memory)
		switch {
		case p.req.GPU > 0:
			gpu = append(gpu, int32(i))
		case p.cpu >= p.mem:
			cpuHeavy = append(cpuHeavy, int32(i))
		default:
			memHeavy = append(memHeavy, int32(i))
		}
	}
	cmp := func(i, j int32) int { return compare(pods, i, j) }
	slices.SortFunc(gpu, cmp)
	slices.SortFunc(cpuHeavy, cmp)
	slices.SortFunc(memHeavy, cmp)
	out := gpu
	var lead float64 // the CPU share asked so far less the memory share
	for len(cpuHeavy) > 0 || len(memHeavy) > 0 {
		var i int32
		if len(memHeavy) == 0 || len(cpuHeavy) > 0 && lead <= 0 {
			i, cpuHeavy = cpuHeavy[0], cpuHeavy[1:]
		} else {
			i, memHeavy = memHeavy[0], memHeavy[1:]
		}
		lead += pods[i].cpu - pods[i].mem
		out = append(out, i)
	}
	return out
}

// compare orders pods biggest first: GPUs, the larger of the CPU and
// memory shares, then key, namespace, name and index.
func compare(pods []podInfo, i, j int32) int {
	a, b := &pods[i], &pods[j]
	if a.req.GPU != b.req.GPU {
		return cmpDesc(a.req.GPU, b.req.GPU)
	}
	if sa, sb := max(a.cpu, a.mem), max(b.cpu, b.mem); sa != sb {
		if sa > sb {
			return -1
		}
		return 1
	}
	if r := bytes.Compare(a.key, b.key); r != 0 {
		return r
	}
	if r := strings.Compare(a.pod.Metadata.Namespace, b.pod.Metadata.Namespace); r != 0 {
		return r
	}
	if r := strings.Compare(a.pod.Metadata.Name, b.pod.Metadata.Name); r != 0 {
		return r
	}
	return int(i - j)
}

func cmpDesc(a, b int64) int {
	if a > b {
		return -1
	}
	return 1
}
