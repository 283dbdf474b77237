package scheduler

import "github.com/berth-dev/berth/api"

// A filter is one feasibility stage: whether node n can take pod p. When
// it cannot and why is not nil, the filter appends the reasons, in api's
// wording; on the hot path why is nil and nothing is allocated. Filters
// wrap api's fit rules and never restate them.
type filter interface {
	feasible(n *nodeState, p *podInfo, why *[]string) bool
}

// A scorer rates node n for pod p, in points (higher is better).
type scorer interface {
	score(n *nodeState, p *podInfo) int64
}

// point is one score point; a resource score spans 0 to 100 points.
const point = 10_000

// stack is the chain of stages a pod goes through on each node.
type stack struct {
	static       []filter // see newStack
	dynamic      []filter
	staticScore  []scorer
	dynamicScore []scorer
}

// newStack wires the stages. A node fits a pod when every filter passes,
// static ones first; the filters run in api.CheckFit's order and stop at
// the first that fails, so the reasons are exactly CheckFit's. The best
// node has the highest sum of scores, the first by name among equals.
func newStack() *stack {
	return &stack{
		// Static filters look only at the node and at the pod's
		// template (tolerations, node selector, node affinity): their
		// verdicts are memoised per node for each class of pods.
		static: []filter{
			nodeReady{},       // Ready condition True
			nodeSchedulable{}, // not cordoned
			taintToleration{}, // NoSchedule and NoExecute taints tolerated
			nodeSelector{},    // spec.nodeSelector
			nodeAffinity{},    // required node affinity
		},
		// Dynamic filters look at what the node holds, which every
		// placement of the plan changes.
		dynamic: []filter{
			resourcesFit{},    // cpu, memory, nvidia.com/gpu, pods
			hostPorts{},       // host ports free
			podAntiAffinity{}, // anti-affinity, the pod's and its neighbours'
		},
		// Static scores, memoised like static filters.
		staticScore: []scorer{
			preferredAffinity{}, // 0-200 by the weight of preferred terms matched
			preferNoSchedule{},  // -300 per untolerated PreferNoSchedule taint
		},
		dynamicScore: []scorer{
			allocation{},   // 0-100: fullest (binpack) or emptiest (spread) after placing
			gpuAvoidance{}, // -1000 on a GPU node for a pod asking no GPU
		},
	}
}

// reject records reason when why is not nil, and returns false.
func reject(why *[]string, reason string) bool {
	if why != nil {
		*why = append(*why, reason)
	}
	return false
}

type nodeReady struct{}

func (nodeReady) feasible(n *nodeState, _ *podInfo, why *[]string) bool {
	return n.node.Ready() || reject(why, api.ReasonNodeNotReady)
}

type nodeSchedulable struct{}

func (nodeSchedulable) feasible(n *nodeState, _ *podInfo, why *[]string) bool {
	return !n.node.Spec.Unschedulable || reject(why, api.ReasonNodeUnschedulable)
}

type taintToleration struct{}

func (taintToleration) feasible(n *nodeState, p *podInfo, why *[]string) bool {
	t := api.UntoleratedTaint(n.node, p.pod.Spec.Tolerations)
	if t == nil {
		return true
	}
	if why != nil {
		*why = append(*why, api.ReasonTaint(*t))
	}
	return false
}

type nodeSelector struct{}

func (nodeSelector) feasible(n *nodeState, p *podInfo, why *[]string) bool {
	return api.MatchesNodeSelector(p.pod, n.node) || reject(why, api.ReasonNodeSelector)
}

type nodeAffinity struct{}

func (nodeAffinity) feasible(n *nodeState, p *podInfo, why *[]string) bool {
	return api.MatchesRequiredAffinity(p.pod, n.node) || reject(why, api.ReasonNodeAffinity)
}

type resourcesFit struct{}

func (resourcesFit) feasible(n *nodeState, p *podInfo, why *[]string) bool {
	free := n.alloc.Sub(n.used)
	if p.req.Fits(free) {
		return true
	}
	if why != nil {
		*why = append(*why, p.req.Insufficient(free)...)
	}
	return false
}

type hostPorts struct{}

// feasible asks api whether the ports are free among the snapshot's pods
// and among the plan's; a side with no host port at all is skipped.
func (hostPorts) feasible(n *nodeState, p *podInfo, why *[]string) bool {
	if len(p.ports) == 0 {
		return true
	}
	if basePorts, _ := n.baseFlags(); basePorts && !n.base.PortsFree(p.ports) || n.addedPorts && !n.added.PortsFree(p.ports) {
		return reject(why, api.ReasonHostPorts)
	}
	return true
}

type podAntiAffinity struct{}

// feasible asks api about the snapshot's pods and the plan's; a side is
// skipped when neither the pod nor any pod there has an anti-affinity term.
func (podAntiAffinity) feasible(n *nodeState, p *podInfo, why *[]string) bool {
	if _, baseAnti := n.baseFlags(); (p.anti || baseAnti) && n.base.AntiAffinityConflict(p.pod) ||
		(p.anti || n.addedAnti) && n.added.AntiAffinityConflict(p.pod) {
		return reject(why, api.ReasonAntiAffinity)
	}
	return true
}

type preferredAffinity struct{}

// score gives 200 points to a node matching all of the pod's preferred
// terms, and the weighted share of that to one matching some: as
// Kubernetes' NodeAffinity (weight 2) where a node matches them all, but
// independent of the other nodes.
func (preferredAffinity) score(n *nodeState, p *podInfo) int64 {
	if p.preferred <= 0 {
		return 0
	}
	return 200 * point * api.PreferredAffinityScore(p.pod, n.node) / p.preferred
}

type preferNoSchedule struct{}

// score takes 300 points per PreferNoSchedule taint the pod does not
// tolerate: as Kubernetes' TaintToleration (weight 3) where one node has
// such a taint and the others none.

func (preferNoSchedule) score(n *nodeState, p *podInfo) int64 {
	var s int64
	for _, t := range n.node.Spec.Taints {
		if t.Effect == api.TaintPreferNoSchedule && !api.Tolerated(p.pod.Spec.Tolerations, t) {
			s -= 300 * point
		}
	}
	return s
}

// Weights of the resources in the allocation score. GPUs weigh most, so
// that GPU pods fill the GPU nodes already in use and whole boxes stay free.
const (
	weightCPU    = 1
	weightMemory = 1
	weightGPU    = 4
)

type allocation struct{}

// score is the weighted mean, over the resources the node has, of the
// share allocated once the pod is placed (binpack, Kubernetes'
// MostAllocated) or of the share left free (spread, LeastAllocated).
func (allocation) score(n *nodeState, p *podInfo) int64 {
	var sum, weights int64
	add := func(w, used, req, alloc int64) {
		if alloc <= 0 {
			return
		}
		u := share(used+req, alloc)
		if p.spread {
			u = 1_000_000 - u
		}
		sum += w * u
		weights += w
	}
	add(weightCPU, n.used.MilliCPU, p.req.MilliCPU, n.alloc.MilliCPU)
	add(weightMemory, n.used.Memory, p.req.Memory, n.alloc.Memory)
	add(weightGPU, n.used.GPU, p.req.GPU, n.alloc.GPU)
	if weights == 0 {
		return 0
	}
	return sum / weights // millionths of the whole: 100 points
}

// share returns a/b in millionths, within [0, 1e6]. Integer results keep
// plans identical on every platform.
func share(a, b int64) int64 {
	u := int64(float64(a) / float64(b) * 1_000_000)
	return max(0, min(u, 1_000_000))
}

type gpuAvoidance struct{}

func (gpuAvoidance) score(n *nodeState, p *podInfo) int64 {
	if p.req.GPU == 0 && n.alloc.GPU > 0 {
		return -1000 * point
	}
	return 0
}

var (
	_ filter = nodeReady{}
	_ filter = nodeSchedulable{}
	_ filter = taintToleration{}
	_ filter = nodeSelector{}
	_ filter = nodeAffinity{}
	_ filter = resourcesFit{}
	_ filter = hostPorts{}
	_ filter = podAntiAffinity{}
	_ scorer = preferredAffinity{}
	_ scorer = preferNoSchedule{}
	_ scorer = allocation{}
	_ scorer = gpuAvoidance{}
)
