package scheduler

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
)

// qualityCase is a mixed workload on uniform nodes: CPU nodes, and boxes
// of 8 GPUs (64 CPUs, 512 GiB); deployments of CPU pods filling about 70%
// of the CPU nodes, and GPU jobs asking for about 60% of the GPUs.
type qualityCase struct {
	snap *Snapshot
	pods []*api.Pod
}

// workloadShape says what the CPU nodes and the CPU pods look like.
type workloadShape struct {
	nodeCPU, nodeMemGi int
	cpus               []string // pod CPU requests, drawn uniformly
	memPerCPU          []int    // about GiB (1000 MiB) per CPU of a deployment, drawn uniformly
}

// typical: pods small beside 32-CPU nodes, 1 to 4 GiB per CPU (CPU
// runs out first, as in most clusters).
var typical = workloadShape{32, 128, []string{"100m", "250m", "250m", "500m", "500m", "1", "1", "2", "4"}, []int{1, 2, 2, 4}}

// balanced: as typical, but 1 to 8 GiB per CPU: CPU and memory run out
// together, so pods heavy on one must share nodes with pods heavy on the
// other.
var balanced = workloadShape{32, 128, typical.cpus, []int{1, 2, 4, 8}}

// adversarial: pods up to a quarter of 16-CPU nodes, 2 or 8 GiB per CPU.
var adversarial = workloadShape{16, 64, []string{"250m", "500m", "1", "2", "4"}, []int{2, 8}}

func newQualityCase(shape workloadShape, cpuNodes, gpuNodes int) qualityCase {
	rng := rand.New(rand.NewPCG(3, 4))
	snap := &Snapshot{}
	every := (cpuNodes + gpuNodes) / max(gpuNodes, 1)
	for i := range cpuNodes + gpuNodes {
		name := fmt.Sprintf("node-%05d", i)
		n := mkNode(name, strconv.Itoa(shape.nodeCPU), strconv.Itoa(shape.nodeMemGi)+"Gi", 0)
		if gpuNodes > 0 && i%every == 0 {
			n = mkNode(name, "64", "512Gi", 8)
			gpuNodes--
		}
		snap.Nodes = append(snap.Nodes, NodeInfo{Node: n})
	}
	var cpuCap, gpuCap int64
	for _, n := range snap.Nodes {
		if a := n.Node.Allocatable(); a.GPU == 0 {
			cpuCap += a.MilliCPU
		} else {
			gpuCap += a.GPU
		}
	}
	var groups [][]*api.Pod
	var cpuSum, gpuSum int64
	for d := 0; cpuSum < cpuCap*7/10 || gpuSum < gpuCap*6/10; d++ {
		var g []*api.Pod
		if gpuSum < gpuCap*6/10 && rng.IntN(10) == 0 {
			gpus := []int{1, 2, 4, 8}[rng.IntN(4)]
			for r := range 1 + rng.IntN(4) {
				g = append(g, mkPod("ml", fmt.Sprintf("job-%d-%d", d, r), strconv.Itoa(4*gpus), strconv.Itoa(32*gpus)+"Gi", gpus))
				gpuSum += int64(gpus)
			}
		} else if cpuSum < cpuCap*7/10 {
			cpu := api.Quantity(shape.cpus[rng.IntN(len(shape.cpus))])
			mem := strconv.FormatInt(cpu.Milli()*int64(shape.memPerCPU[rng.IntN(len(shape.memPerCPU))]), 10) + "Mi"
			for r := range 1 + rng.IntN(30) {
				g = append(g, mkPod("web", fmt.Sprintf("app-%d-%d", d, r), string(cpu), mem, 0))
				cpuSum += cpu.Milli()
			}
		}
		groups = append(groups, g)
	}
	rng.Shuffle(len(groups), func(i, j int) { groups[i], groups[j] = groups[j], groups[i] })
	q := qualityCase{snap: snap}
	for _, g := range groups {
		q.pods = append(q.pods, g...)
	}
	return q
}

// quality is how well a final snapshot is packed.
type quality struct {
	placed, failed   int
	used, lowerBound int // CPU pods: nodes used, and the fewest that could hold them
	free8, bestFree8 int // GPU boxes left wholly free, and the most that could be
	elapsed          time.Duration
}

func (q quality) ratio() float64 { return float64(q.used) / float64(q.lowerBound) }

func measureQuality(qc qualityCase, opts Options) quality {
	t0 := time.Now()
	final, placed, failed := runBatches(New(opts), qc.snap, qc.pods, 500)
	out := quality{placed: placed, failed: failed, elapsed: time.Since(t0)}
	var sum api.Resources
	var node api.Resources // a CPU node
	var gpuBoxes int
	for _, p := range qc.pods {
		sum = sum.Add(p.Requests())
	}
	for _, n := range final.Nodes {
		a := n.Node.Allocatable()
		if a.GPU > 0 {
			gpuBoxes++
			if n.Usage.Total().GPU == 0 {
				out.free8++
			}
			if n.Usage != nil && slices.ContainsFunc(n.Usage.Pods, func(p api.PodUsage) bool { return p.Requests.GPU == 0 }) {
				out.used++ // CPU pods on a GPU box
			}
			continue
		}
		node = a
		if n.Usage != nil && len(n.Usage.Pods) > 0 {
			out.used++
		}
	}
	// The GPU pods ask for 4 CPUs and 32 GiB per GPU: take them out.
	cpuOnly := sum.Sub(api.Resources{MilliCPU: 4000 * sum.GPU, Memory: 32 << 30 * sum.GPU})
	out.lowerBound = int(max(ceilDiv(cpuOnly.MilliCPU, node.MilliCPU), ceilDiv(cpuOnly.Memory, node.Memory)))
	out.bestFree8 = gpuBoxes - int(ceilDiv(sum.GPU, 8))
	return out
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// TestQuality checks how well binpack packs. On the typical workload,
// CPU pods use at most 5% more nodes than the lower bound; where CPU and
// memory run out together, at most 10% more. GPU jobs leave as many whole
// boxes free as possible.
func TestQuality(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape workloadShape
		goal  float64
	}{{"typical", typical, 1.05}, {"balanced", balanced, 1.10}, {"adversarial", adversarial, 1.10}} {
		qc := newQualityCase(tc.shape, 300, 30)
		for _, pct := range []int{100, 0} {
			q := measureQuality(qc, Options{Seed: 7, PercentageOfNodesToScore: pct})
			t.Logf("%s, percentage %d: %d pods placed, %d failed in %v; CPU nodes used %d, lower bound %d (%.3f); free 8-GPU boxes %d, best %d",
				tc.name, pct, q.placed, q.failed, q.elapsed, q.used, q.lowerBound, q.ratio(), q.free8, q.bestFree8)
			if q.failed > 0 {
				t.Errorf("%s: %d pods failed", tc.name, q.failed)
			}
			if q.ratio() > tc.goal {
				t.Errorf("%s: nodes used / lower bound = %.3f, want at most %.2f", tc.name, q.ratio(), tc.goal)
			}
			if q.free8 < q.bestFree8 {
				t.Errorf("%s: %d free 8-GPU boxes, want %d", tc.name, q.free8, q.bestFree8)
			}
		}
	}
}

// BenchmarkQuality reports packing quality and speed, sampling on and off,
// on 2,000 CPU nodes and 200 GPU boxes.
func BenchmarkQuality(b *testing.B) {
	for _, shape := range []struct {
		name  string
		shape workloadShape
	}{{"typical", typical}, {"balanced", balanced}, {"adversarial", adversarial}} {
		qc := newQualityCase(shape.shape, 2000, 200)
		for _, tc := range []struct {
			name string
			pct  int
		}{{"sampling=on", 0}, {"sampling=off", 100}} {
			b.Run(shape.name+"/"+tc.name, func(b *testing.B) {
				var q quality
				for b.Loop() {
					q = measureQuality(qc, Options{Seed: 7, PercentageOfNodesToScore: tc.pct})
				}
				b.ReportMetric(q.ratio(), "nodes/lowerbound")
				b.ReportMetric(float64(q.free8), "free8gpu")
				b.ReportMetric(float64(q.bestFree8), "best-free8gpu")
				b.ReportMetric(float64(q.failed), "failures")
				b.ReportMetric(float64(q.placed)/q.elapsed.Seconds(), "placements/s")
			})
		}
	}
}
