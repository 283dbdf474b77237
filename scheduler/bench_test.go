package scheduler

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
)

// gpuProducts are the GPU models of the synthetic clusters.
var gpuProducts = []string{"NVIDIA-A100-SXM4-80GB", "NVIDIA-H100-80GB-HBM3"}

// clusterNodes returns n heterogeneous nodes: one in 20 a box of 8 GPUs
// (64 CPUs, 256 GiB, tainted, labelled with its model); the others of 4 to
// 64 CPUs and 16 to 256 GiB, with disk and zone labels; 1% cordoned and 1%
// not ready.
func clusterNodes(rng *rand.Rand, n int) *Snapshot {
	snap := &Snapshot{Nodes: make([]NodeInfo, n)}
	for i := range n {
		name := fmt.Sprintf("node-%05d", i)
		var node *api.Node
		if i%20 == 0 {
			node = mkNode(name, "64", "256Gi", 8, label(api.LabelGPUProduct, gpuProducts[i/20%2]),
				taint("nvidia.com/gpu", "present", api.TaintNoSchedule))
		} else {
			cpu := []int{4, 8, 16, 32, 64}[rng.IntN(5)]
			mem := min(max(cpu*[]int{2, 4, 8}[rng.IntN(3)], 16), 256)
			node = mkNode(name, strconv.Itoa(cpu), strconv.Itoa(mem)+"Gi", 0,
				label("disk", []string{"ssd", "hdd"}[rng.IntN(2)]), label("zone", []string{"a", "b", "c"}[rng.IntN(3)]))
		}
		switch rng.IntN(100) {
		case 0:
			cordoned(node)
		case 1:
			notReady(node)
		}
		snap.Nodes[i] = NodeInfo{Node: node}
	}
	return snap
}

// workload returns about n pods as deployments of 1 to 60 replicas of
// mixed shapes (some with anti-affinity, host ports, spread, node
// selectors, preferred zones), and GPU jobs of 1 to 8 pods of 1 to 8 GPUs
// asking for gpuPods pods in all, shuffled together.
func workload(rng *rand.Rand, n, gpuPods int) []*api.Pod {
	cpus := []string{"100m", "100m", "250m", "250m", "500m", "500m", "1", "2"}
	mems := []string{"128Mi", "256Mi", "512Mi", "1Gi", "1Gi", "2Gi", "4Gi"}
	var deployments [][]*api.Pod
	total, gpuTotal := 0, 0
	for d := 0; total < n; d++ {
		var replicas []*api.Pod
		if gpuTotal < gpuPods {
			gpus := []int{1, 2, 4, 8}[rng.IntN(4)]
			mods := []func(*api.Pod){podLabel("job", strconv.Itoa(d)), tolerate("nvidia.com/gpu", "present", ""),
				selector(api.LabelGPUProduct, gpuProducts[rng.IntN(2)])}
			for r := range 1 + rng.IntN(8) {
				replicas = append(replicas, mkPod("ml", fmt.Sprintf("job-%d-%d", d, r), strconv.Itoa(4*gpus), strconv.Itoa(16*gpus)+"Gi", gpus, mods...))
			}
			gpuTotal += len(replicas)
		} else {
			k := 1 + rng.IntN(60)
			mods := []func(*api.Pod){podLabel("app", strconv.Itoa(d))}
			switch rng.IntN(10) {
			case 0:
				mods = append(mods, antiAffinity("app", strconv.Itoa(d)))
			case 1:
				mods = append(mods, spread)
			case 2:
				mods = append(mods, selector("disk", "ssd"))
			case 3:
				mods = append(mods, preferred(50, "zone", "a"))
			case 4:
				if rng.IntN(3) == 0 {
					mods = append(mods, hostPort(int32(8000+d%1000)))
					k = min(k, 20)
				}
			}
			cpu, mem := cpus[rng.IntN(len(cpus))], mems[rng.IntN(len(mems))]
			for r := range k {
				replicas = append(replicas, mkPod(fmt.Sprintf("ns-%d", d%50), fmt.Sprintf("app-%d-%d", d, r), cpu, mem, 0, mods...))
			}
		}
		total += len(replicas)
		deployments = append(deployments, replicas)
	}
	rng.Shuffle(len(deployments), func(i, j int) { deployments[i], deployments[j] = deployments[j], deployments[i] })
	var pods []*api.Pod
	for _, d := range deployments {
		pods = append(pods, d...)
	}
	return pods
}

var bench150k = sync.OnceValues(func() (*Snapshot, []*api.Pod) {
	rng := rand.New(rand.NewPCG(1, 2))
	return clusterNodes(rng, 5000), workload(rng, 150_000, 400)
})

// runBatches schedules pods on snap in batches, applying each plan before
// the next batch, and returns the final snapshot and counts.
func runBatches(s *Scheduler, snap *Snapshot, pods []*api.Pod, batch int) (_ *Snapshot, placed, failed int) {
	for i := 0; i < len(pods); i += batch {
		b := pods[i:min(i+batch, len(pods))]
		plan := s.Schedule(snap, b)
		placed += len(plan.Placements)
		failed += len(plan.Failures)
		snap = snap.Apply(plan, b)
	}
	return snap, placed, failed
}

// BenchmarkSchedule150k places 150,000 pods on 5,000 nodes in batches of
// 1,000, applying each plan before the next: one iteration is the whole run.
func BenchmarkSchedule150k(b *testing.B) {
	nodes, pods := bench150k()
	for _, bc := range []struct {
		name string
		pct  int
	}{{"sampling=on", 0}, {"sampling=off", 100}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var placed, failed int
			var elapsed time.Duration
			var mallocs uint64
			var ms runtime.MemStats
			for b.Loop() {
				runtime.ReadMemStats(&ms)
				m0, t0 := ms.Mallocs, time.Now()
				_, p, f := runBatches(New(Options{Seed: 1, PercentageOfNodesToScore: bc.pct}), nodes, pods, 1000)
				elapsed += time.Since(t0)
				runtime.ReadMemStats(&ms)
				mallocs += ms.Mallocs - m0
				placed += p
				failed += f
			}
			b.ReportMetric(float64(placed)/elapsed.Seconds(), "placements/s")
			b.ReportMetric(float64(mallocs)/float64(placed), "allocs/placement")
			b.ReportMetric(float64(failed)/float64(b.N), "failures")
		})
	}
}

// BenchmarkScheduleDistinct places 20,000 pods that are all different (no
// two share a run, so each scans the nodes) on the 5,000 nodes of
// BenchmarkSchedule150k, in batches of 1,000: where sampling pays.
func BenchmarkScheduleDistinct(b *testing.B) {
	nodes, _ := bench150k()
	var pods []*api.Pod
	for i := range 20_000 {
		pods = append(pods, mkPod("distinct", fmt.Sprintf("p-%d", i), fmt.Sprintf("%dm", 100+i%1900), fmt.Sprintf("%dMi", 128+i%3000), 0,
			podLabel("app", strconv.Itoa(i))))
	}
	for _, bc := range []struct {
		name string
		pct  int
	}{{"sampling=on", 0}, {"sampling=off", 100}} {
		b.Run(bc.name, func(b *testing.B) {
			var placed int
			var elapsed time.Duration
			for b.Loop() {
				t0 := time.Now()
				_, p, _ := runBatches(New(Options{Seed: 1, PercentageOfNodesToScore: bc.pct}), nodes, pods, 1000)
				elapsed += time.Since(t0)
				placed += p
			}
			b.ReportMetric(float64(placed)/elapsed.Seconds(), "placements/s")
		})
	}
}
