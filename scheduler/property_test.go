package scheduler

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/berth-dev/berth/api"
	"pgregory.net/rapid"
)

// genNode draws a node: capacity, GPUs (sometimes fewer IDs than their
// count), labels, taints, cordon and readiness.
func genNode(t *rapid.T, name string) *api.Node {
	cpu := strconv.Itoa(rapid.IntRange(1, 8).Draw(t, "cpu"))
	mem := strconv.Itoa(rapid.IntRange(1, 16).Draw(t, "mem")) + "Gi"
	gpus := rapid.SampledFrom([]int{0, 0, 2, 4}).Draw(t, "gpus")
	n := mkNode(name, cpu, mem, gpus, maxPods(rapid.IntRange(1, 6).Draw(t, "maxPods")))
	if gpus > 0 {
		n.Metadata.Labels[api.LabelGPUProduct] = rapid.SampledFrom([]string{"A100", "H100"}).Draw(t, "product")
		if rapid.IntRange(0, 7).Draw(t, "shortIDs") == 0 {
			n.Status.GPUs = n.Status.GPUs[:gpus-1]
		}
	}
	if rapid.IntRange(0, 3).Draw(t, "allocatable") == 0 {
		n.Status.Allocatable = api.ResourceList{api.ResourceCPU: "500m"}
	}
	if d := rapid.SampledFrom([]string{"", "ssd", "hdd"}).Draw(t, "disk"); d != "" {
		n.Metadata.Labels["disk"] = d
	}
	n.Metadata.Labels["zone"] = rapid.SampledFrom([]string{"a", "b"}).Draw(t, "zone")
	for _, tn := range []api.Taint{
		{Key: "dedicated", Value: "gpu", Effect: api.TaintNoSchedule},
		{Key: "spot", Value: "true", Effect: api.TaintPreferNoSchedule},
		{Key: "maint", Value: "x", Effect: api.TaintNoExecute},
	} {
		if rapid.IntRange(0, 4).Draw(t, "taint") == 0 {
			n.Spec.Taints = append(n.Spec.Taints, tn)
		}
	}
	n.Spec.Unschedulable = rapid.IntRange(0, 9).Draw(t, "cordon") == 0
	if rapid.IntRange(0, 9).Draw(t, "notReady") == 0 {
		notReady(n)
	}
	return n
}

// genPod draws a pod: requests, GPUs, a host port, node selector,
// tolerations, affinity, labels, strategy.
func genPod(t *rapid.T, name string) *api.Pod {
	p := mkPod(rapid.SampledFrom([]string{"x", "y"}).Draw(t, "ns"), name,
		rapid.SampledFrom([]string{"100m", "500m", "1", "2", "3"}).Draw(t, "cpu"),
		rapid.SampledFrom([]string{"128Mi", "1Gi", "2Gi", "4Gi"}).Draw(t, "mem"),
		rapid.SampledFrom([]int{0, 0, 0, 1, 2, 3}).Draw(t, "gpus"))
	p.Metadata.Labels["app"] = rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "app")
	if port := rapid.SampledFrom([]int32{0, 0, 0, 80, 443}).Draw(t, "port"); port != 0 {
		hostPort(port)(p)
	}
	switch rapid.IntRange(0, 5).Draw(t, "selector") {
	case 0:
		selector("disk", "ssd")(p)
	case 1:
		selector(api.LabelGPUProduct, "H100")(p)
	case 2:
		requiredIn("zone", "a")(p)
	}
	for _, tol := range []api.Toleration{
		{Key: "dedicated", Value: "gpu"}, {Key: "spot", Operator: "Exists"}, {Key: "maint", Operator: "Exists", Effect: api.TaintNoExecute},
	} {
		if rapid.Bool().Draw(t, "tolerate") {
			p.Spec.Tolerations = append(p.Spec.Tolerations, tol)
		}
	}
	if rapid.IntRange(0, 3).Draw(t, "anti") == 0 {
		antiAffinity("app", rapid.SampledFrom([]string{"a", "b"}).Draw(t, "antiApp"))(p)
	}
	if rapid.IntRange(0, 3).Draw(t, "preferred") == 0 {
		preferred(int32(rapid.IntRange(1, 100).Draw(t, "weight")), "zone", "b")(p)
	}
	if rapid.IntRange(0, 3).Draw(t, "spread") == 0 {
		spread(p)
	}
	return p
}

// genCluster draws nodes, sorted by name, with pods already bound (their
// GPUs free ones, where there are enough).
func genCluster(t *rapid.T) *Snapshot {
	snap := &Snapshot{}
	for i := range rapid.IntRange(0, 8).Draw(t, "nodes") {
		n := genNode(t, fmt.Sprintf("n%02d", i))
		var u *api.NodeUsage
		for j := range rapid.IntRange(0, 3).Draw(t, "bound") {
			p := genPod(t, fmt.Sprintf("old-%d-%d", i, j))
			free := u.FreeGPUs(n)
			k := int(p.Requests().GPU)
			if k > len(free) {
				continue
			}
			u = bind(u, n, p, free[:k]...)
		}
		snap.Nodes = append(snap.Nodes, NodeInfo{Node: n, Usage: u})
	}
	return snap
}

func TestProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		snap := genCluster(t)
		var pods []*api.Pod
		for i := range rapid.IntRange(0, 24).Draw(t, "pods") {
			pods = append(pods, genPod(t, fmt.Sprintf("p%02d", i)))
		}
		opts := Options{
			Seed:                     rapid.Int64().Draw(t, "seed"),
			PercentageOfNodesToScore: rapid.SampledFrom([]int{0, 100, -1, 1, 30}).Draw(t, "percentage"),
		}
		minNodes := rapid.IntRange(1, 6).Draw(t, "minNodes")
		before := mustJSON(t, snap, pods)
		s := New(opts)
		s.minNodes = minNodes
		plan := s.Schedule(snap, pods)
		if after := mustJSON(t, snap, pods); after != before {
			t.Fatal("Schedule changed its input")
		}
		usage := checkPlan(t, s, snap, pods, plan)
		checkFailuresFinal(t, snap, usage, pods, plan)
		applied := snap.Apply(plan, pods)
		for i := range applied.Nodes {
			if !reflect.DeepEqual(applied.Nodes[i].Usage, usage[i]) {
				t.Fatalf("Apply gave %s usage %+v, the replay %+v", snap.Nodes[i].Node.Metadata.Name, applied.Nodes[i].Usage, usage[i])
			}
		}
		again := New(opts)
		again.minNodes = minNodes
		if plan2 := again.Schedule(snap, pods); !reflect.DeepEqual(plan, plan2) {
			t.Fatalf("two runs differ:\n%+v\n%+v", plan, plan2)
		}
		if opts.PercentageOfNodesToScore == 100 || opts.PercentageOfNodesToScore < 0 || len(snap.Nodes) < minNodes {
			if ref := reference(s, snap, pods); (len(ref) > 0 || len(plan.Placements) > 0) && !reflect.DeepEqual(plan.Placements, ref) {
				t.Fatalf("placements differ from the reference:\n%+v\n%+v", plan.Placements, ref)
			}
		}
	})
}

func mustJSON(t *rapid.T, v ...any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkPlan replays the plan in the order Schedule considered the pods:
// each placement must pass api.CheckFit and CheckGPUs against everything
// placed before it, and each failure must list, node by node, what
// CheckFit says at that point. It returns the usage at the end.
func checkPlan(t *rapid.T, s *Scheduler, snap *Snapshot, pods []*api.Pod, plan *Plan) []*api.NodeUsage {
	usage := make([]*api.NodeUsage, len(snap.Nodes))
	for i := range snap.Nodes {
		usage[i] = snap.Nodes[i].Usage
	}
	c := newCycle(s, snap, pods)
	var placed, failed int
	for _, pi := range c.order {
		pod := c.pods[pi].pod
		req := pod.Requests()
		if placed < len(plan.Placements) && plan.Placements[placed].Name == pod.Metadata.Name {
			pl := plan.Placements[placed]
			placed++
			i := snap.find(pl.Node)
			if i < 0 || pl.Namespace != pod.Metadata.Namespace {
				t.Fatalf("placement %+v: no such node or pod", pl)
			}
			node := snap.Nodes[i].Node
			if why := api.CheckFit(node, usage[i], pod, req); why != nil {
				t.Fatalf("%s placed on %s, where it does not fit: %q", pod.Metadata.Name, pl.Node, why)
			}
			bound := *pod
			bound.Spec.NodeName, bound.Spec.AssignedGPUs = pl.Node, pl.GPUs
			if why := usage[i].CheckGPUs(node, &bound, req); why != "" {
				t.Fatalf("%s given GPUs %q on %s: %s", pod.Metadata.Name, pl.GPUs, pl.Node, why)
			}
			usage[i] = usage[i].With(api.UsageOf(&bound))
			continue
		}
		if failed == len(plan.Failures) || plan.Failures[failed].Name != pod.Metadata.Name {
			t.Fatalf("%s neither placed nor failed in order", pod.Metadata.Name)
		}
		f := plan.Failures[failed]
		failed++
		want := map[string]int{}
		for i := range snap.Nodes {
			for _, r := range whyNot(snap.Nodes[i].Node, usage[i], pod) {
				want[r]++
			}
		}
		if len(snap.Nodes) > 0 && len(want) == 0 {
			t.Fatalf("%s failed but fits somewhere", pod.Metadata.Name)
		}
		if !maps.Equal(f.Reasons, want) || f.Message != FailureMessage(len(snap.Nodes), want) {
			t.Fatalf("%s: failure %+v, want reasons %v", pod.Metadata.Name, f, want)
		}
	}
	if placed != len(plan.Placements) || failed != len(plan.Failures) || placed+failed != len(pods) {
		t.Fatalf("%d placed and %d failed of %d pods; plan %+v", placed, failed, len(pods), plan)
	}
	return usage
}

// whyNot is why pod does not fit node now: CheckFit, or too few GPU IDs
// free. None when it fits.
func whyNot(node *api.Node, u *api.NodeUsage, pod *api.Pod) []string {
	req := pod.Requests()
	if why := api.CheckFit(node, u, pod, req); why != nil {
		return why
	}
	if int64(len(u.FreeGPUs(node))) < req.GPU {
		return []string{api.ReasonInsufficientGPU}
	}
	return nil
}

// checkFailuresFinal checks that no failed pod fits any node once the
// whole plan is in place (placements only take room).
func checkFailuresFinal(t *rapid.T, snap *Snapshot, usage []*api.NodeUsage, pods []*api.Pod, plan *Plan) {
	for _, f := range plan.Failures {
		i := slices.IndexFunc(pods, func(p *api.Pod) bool { return p.Metadata.Name == f.Name })
		for j := range snap.Nodes {
			if whyNot(snap.Nodes[j].Node, usage[j], pods[i]) == nil {
				t.Fatalf("%s failed but fits %s in the end", f.Name, snap.Nodes[j].Node.Metadata.Name)
			}
		}
	}
}

// reference is a deliberately simple scheduler without sampling: pod by
// pod in Schedule's order, api.CheckFit on every node against the usage so
// far, the stack's scores, the best score and then the first name.
func reference(s *Scheduler, snap *Snapshot, pods []*api.Pod) []Placement {
	usage := make([]*api.NodeUsage, len(snap.Nodes))
	for i := range snap.Nodes {
		usage[i] = snap.Nodes[i].Usage
	}
	c := newCycle(s, snap, pods)
	var out []Placement
	for _, pi := range c.order {
		p := &c.pods[pi]
		best, bestScore := -1, int64(0)
		for i := range snap.Nodes {
			node := snap.Nodes[i].Node
			if whyNot(node, usage[i], p.pod) != nil {
				continue
			}
			n := &nodeState{node: node, alloc: node.Allocatable(), used: usage[i].Total()}
			var score int64
			for _, sc := range slices.Concat(s.stack.staticScore, s.stack.dynamicScore) {
				score += sc.score(n, p)
			}
			if best < 0 || score > bestScore {
				best, bestScore = i, score
			}
		}
		if best < 0 {
			continue
		}
		node := snap.Nodes[best].Node
		var gpus []string
		if k := int(p.req.GPU); k > 0 {
			gpus = usage[best].FreeGPUs(node)[:k]
		}
		bound := *p.pod
		bound.Spec.NodeName, bound.Spec.AssignedGPUs = node.Metadata.Name, gpus
		usage[best] = usage[best].With(api.UsageOf(&bound))
		out = append(out, Placement{Namespace: p.pod.Metadata.Namespace, Name: p.pod.Metadata.Name, Node: node.Metadata.Name, GPUs: gpus})
	}
	return out
}

// TestPropertiesLarge runs fewer, larger cases, where sampling matters.
func TestPropertiesLarge(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		snap := &Snapshot{}
		for i := range rapid.IntRange(20, 60).Draw(t, "nodes") {
			snap.Nodes = append(snap.Nodes, NodeInfo{Node: genNode(t, fmt.Sprintf("n%03d", i))})
		}
		var pods []*api.Pod
		for i := range rapid.IntRange(50, 150).Draw(t, "pods") {
			pods = append(pods, genPod(t, fmt.Sprintf("p%03d", i)))
		}
		s := New(Options{Seed: rapid.Int64().Draw(t, "seed"), PercentageOfNodesToScore: rapid.SampledFrom([]int{0, 10, 100}).Draw(t, "percentage")})
		s.minNodes = rapid.IntRange(1, 10).Draw(t, "minNodes")
		plan := s.Schedule(snap, pods)
		usage := checkPlan(t, s, snap, pods, plan)
		checkFailuresFinal(t, snap, usage, pods, plan)
	})
}
