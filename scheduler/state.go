package scheduler

import "github.com/berth-dev/berth/api"

// nodeState is one node during a cycle: the snapshot's node and usage,
// and what the plan has put on it so far.
type nodeState struct {
	node *api.Node
	base *api.NodeUsage // the snapshot's usage, never changed
	// added holds the plan's pods on the node, in plan order, when they
	// can matter to a later pod (host ports, anti-affinity); its
	// Requested sums every placement.
	added api.NodeUsage
	alloc api.Resources // node.Allocatable()
	used  api.Resources // base.Total() plus added.Requested
	gpus  []string      // free GPU IDs, lowest index first, once known

	gpusKnown             bool
	flagsKnown            bool
	basePorts, baseAnti   bool // some pod of base has host ports, anti-affinity terms, once flagsKnown
	addedPorts, addedAnti bool // the same for added
}

// baseFlags says whether some pod of base has host ports, and whether
// one has anti-affinity terms.
func (n *nodeState) baseFlags() (ports, anti bool) {
	if !n.flagsKnown {
		if n.base != nil {
			for j := range n.base.Pods {
				q := &n.base.Pods[j]
				n.basePorts = n.basePorts || len(q.Ports) > 0
				n.baseAnti = n.baseAnti || len(q.AntiAffinity) > 0
			}
		}
		n.flagsKnown = true
	}
	return n.basePorts, n.baseAnti
}

// freeGPUs returns the IDs of the node's GPUs that no pod holds.
func (n *nodeState) freeGPUs() []string {
	if !n.gpusKnown {
		n.gpus = n.base.FreeGPUs(n.node)
		n.gpusKnown = true
	}
	return n.gpus
}

// podInfo is one pod to place, with what the stages need computed once.
type podInfo struct {
	pod    *api.Pod
	req    api.Resources
	ports  []api.HostPort
	anti   bool // has required anti-affinity terms
	spread bool // strategy spread rather than binpack
	// preferred is the sum of the weights of its preferred node
	// affinity terms.
	preferred int64
	class     *class
	// key is equal for two pods that every stage treats alike on every
	// node: they share a run (see cycle).
	key []byte
	// cpu and mem are the shares of the cluster's CPU and memory the pod
	// asks for, which order the pods.
	cpu, mem float64
}

func newPodInfo(p *api.Pod) podInfo {
	info := podInfo{
		pod: p, req: p.Requests(), ports: api.PodHostPorts(p),
		spread: p.Metadata.Annotations[api.AnnotationStrategy] == api.StrategySpread,
	}
	if a := p.Spec.Affinity; a != nil {
		info.anti = a.PodAntiAffinity != nil && len(a.PodAntiAffinity.Required) > 0
		if a.NodeAffinity != nil {
			for _, t := range a.NodeAffinity.Preferred {
				info.preferred += int64(t.Weight)
			}
		}
	}
	return info
}

// class is what the static stages found for pods of one template
// (tolerations, node selector, node affinity), per node.
type class struct {
	verdict []int8  // 0: not yet known, 1: passes the static filters, -1: does not
	bonus   []int64 // the static scores, where verdict is 1
}

// classify sets each pod's class and key.
func classify(pods []podInfo, nodes int) {
	classes := map[string]*class{}
	w := &keyWriter{}
	for i := range pods {
		p := &pods[i]
		off := len(w.b)
		w.class(p.pod)
		cl := classes[string(w.b[off:])]
		if cl == nil {
			cl = &class{verdict: make([]int8, nodes), bonus: make([]int64, nodes)}
			classes[string(w.b[off:])] = cl
		}
		p.class = cl
		w.rest(p)
		p.key = w.b[off:len(w.b):len(w.b)]
	}
}
