package scheduler

import (
	"slices"
	"strings"

	"github.com/berth-dev/berth/api"
)

// NodeInfo is one node and what the pods bound to it hold.
type NodeInfo struct {
	Node  *api.Node
	Usage *api.NodeUsage // nil means nothing is bound
}

// Snapshot is the scheduler's input: the nodes, sorted by name (the order
// breaks ties between equal scores). It is read-only: the scheduler never
// changes a Node or a Usage.
type Snapshot struct {
	Nodes []NodeInfo
}

// Options tune a Scheduler.
type Options struct {
	// Seed picks the node where scans start (binpack scans all start
	// there, which packs; spread scans rotate from there), which matters
	// only when sampling.
	Seed int64
	// PercentageOfNodesToScore is Kubernetes' option: a pod's scan stops
	// once this share of the nodes is found feasible, and only those are
	// scored. 0 is Kubernetes' adaptive default (50 - nodes/125 percent, at
	// least 5%, and at least 100 nodes); 100 or a negative value scores
	// every feasible node.
	PercentageOfNodesToScore int
}

// Placement binds one pod to a node, with the node's GPUs it is given.
type Placement struct {
	Namespace, Name string
	Node            string
	GPUs            []string // IDs of the node's GPUs, as many as the pod's nvidia.com/gpu request
}

// Failure is a pod that fits no node, and why.
type Failure struct {
	Namespace, Name string
	// Message is Kubernetes' wording: "0/5 nodes are available: 3
	// Insufficient cpu, 2 node(s) didn't match node selector."
	Message string
	// Reasons counts, for each reason (api's wording), the nodes it ruled
	// out. A node short of several resources counts for each.
	Reasons map[string]int
}

// Plan is what Schedule decided. Placements and Failures are in the order
// the pods were considered (see Schedule).
type Plan struct {
	Placements []Placement
	Failures   []Failure
}

// minNodesToScore is Kubernetes' minFeasibleNodesToFind: sampling never
// scores fewer feasible nodes than this.
const minNodesToScore = 100

// Scheduler places pods. It holds only its options: one may be used by
// several goroutines at once.
type Scheduler struct {
	opts  Options
	stack *stack
	// minNodes is minNodesToScore; tests lower it to sample small clusters.
	minNodes int
}

// New returns a Scheduler.
func New(opts Options) *Scheduler {
	return &Scheduler{opts: opts, stack: newStack(), minNodes: minNodesToScore}
}

// Schedule places pods on snap's nodes and returns the plan; for each pod
// that fits no node, the plan says why. It changes neither snap nor pods.
//
// Pods already bound (Spec.NodeName set) and nil pods are skipped. The
// others are considered biggest first: pods asking for GPUs (most GPUs
// first), then the others by their largest share of the cluster's CPU or
// memory, those heavy on CPU interleaved with those heavy on memory so
// that they share nodes (see order). Each pod sees the placements made
// before it. The plan is a function of snap, pods and the seed alone.
func (s *Scheduler) Schedule(snap *Snapshot, pods []*api.Pod) *Plan {
	c := newCycle(s, snap, pods)
	for _, pi := range c.order {
		c.schedule(&c.pods[pi])
	}
	return c.plan
}

// Apply returns a new snapshot with the plan's placements added to the
// usage of their nodes, as the state machine would bind them: a
// controller (or a benchmark) schedules batch after batch this way. Each
// pod's usage is api.UsageOf the pod bound to its node with its GPUs,
// added as NodeUsage.With would add it (in one copy per node). pods are
// those given to Schedule; a placement naming an unknown pod or node is
// left out. snap is not changed.
func (snap *Snapshot) Apply(plan *Plan, pods []*api.Pod) *Snapshot {
	out := &Snapshot{Nodes: slices.Clone(snap.Nodes)}
	type podKey struct{ ns, name string }
	byKey := make(map[podKey]*api.Pod, len(pods))
	for _, p := range pods {
		if p != nil {
			byKey[podKey{p.Metadata.Namespace, p.Metadata.Name}] = p
		}
	}
	type binding struct {
		node  int
		usage api.PodUsage
	}
	bindings := make([]binding, 0, len(plan.Placements))
	for _, pl := range plan.Placements {
		pod := byKey[podKey{pl.Namespace, pl.Name}]
		i := out.find(pl.Node)
		if pod == nil || i < 0 {
			continue
		}
		bound := *pod
		bound.Spec.NodeName = pl.Node
		bound.Spec.AssignedGPUs = pl.GPUs
		bindings = append(bindings, binding{i, api.UsageOf(&bound)})
	}
	// By node, then by pod, each pod's bindings in plan order.
	slices.SortStableFunc(bindings, func(a, b binding) int {
		if a.node != b.node {
			return a.node - b.node
		}
		return comparePods(&a.usage, &b.usage)
	})
	add := make([]api.PodUsage, 0, len(bindings))
	for lo := 0; lo < len(bindings); {
		hi := lo + 1
		for hi < len(bindings) && bindings[hi].node == bindings[lo].node {
			hi++
		}
		add = add[:0]
		for _, b := range bindings[lo:hi] {
			add = append(add, b.usage)
		}
		i := bindings[lo].node
		out.Nodes[i].Usage = withAll(out.Nodes[i].Usage, add)
		lo = hi
	}
	return out
}

func comparePods(a, b *api.PodUsage) int {
	if r := strings.Compare(a.Namespace, b.Namespace); r != 0 {
		return r
	}
	return strings.Compare(a.Name, b.Name)
}

// withAll returns u with the pods of add, sorted by namespace and name,
// added: what u.With(add[0]).With(add[1])... returns, in one copy.
func withAll(u *api.NodeUsage, add []api.PodUsage) *api.NodeUsage {
	var old []api.PodUsage
	if u != nil {
		old = u.Pods
	}
	distinct := true
	for k := range add {
		if k > 0 && comparePods(&add[k-1], &add[k]) == 0 {
			distinct = false
			break
		}
		if _, found := slices.BinarySearchFunc(old, &add[k], func(a api.PodUsage, b *api.PodUsage) int { return comparePods(&a, b) }); found {
			distinct = false
			break
		}
	}
	if !distinct || len(add) == 1 {
		for _, p := range add {
			u = u.With(p)
		}
		return u
	}
	merged := make([]api.PodUsage, 0, len(old)+len(add))
	total := u.Total()
	i := 0
	for k := range add {
		for i < len(old) && comparePods(&old[i], &add[k]) < 0 {
			merged = append(merged, old[i])
			i++
		}
		merged = append(merged, add[k])
		total = total.Add(add[k].Requests)
	}
	merged = append(merged, old[i:]...)
	return &api.NodeUsage{Requested: total, Pods: merged}
}

// find returns the index of the named node, or -1.
func (snap *Snapshot) find(name string) int {
	i, ok := slices.BinarySearchFunc(snap.Nodes, name, func(n NodeInfo, name string) int {
		return strings.Compare(n.Node.Metadata.Name, name)
	})
	if ok {
		return i
	}
	// Not sorted as it should be: look at every node.
	return slices.IndexFunc(snap.Nodes, func(n NodeInfo) bool { return n.Node.Metadata.Name == name })
}
