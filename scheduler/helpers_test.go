package scheduler

import (
	"fmt"
	"strconv"

	"github.com/berth-dev/berth/api"
)

// mkNode returns a Ready node with the given CPU, memory and GPUs (IDs
// "<name>-gpu<i>", capacity to match).
func mkNode(name, cpu, mem string, gpus int, mods ...func(*api.Node)) *api.Node {
	n := &api.Node{
		Metadata: api.ObjectMeta{Name: name, Labels: map[string]string{api.LabelHostname: name}},
		Status: api.NodeStatus{
			Capacity:   api.ResourceList{api.ResourceCPU: api.Quantity(cpu), api.ResourceMemory: api.Quantity(mem)},
			Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}},
		},
	}
	if gpus > 0 {
		n.Status.Capacity[api.ResourceGPU] = api.Quantity(strconv.Itoa(gpus))
		for i := range gpus {
			n.Status.GPUs = append(n.Status.GPUs, api.NodeGPU{ID: fmt.Sprintf("%s-gpu%d", name, i), Index: int32(i)})
		}
	}
	for _, m := range mods {
		m(n)
	}
	return n
}

func label(k, v string) func(*api.Node) { return func(n *api.Node) { n.Metadata.Labels[k] = v } }

func taint(k, v, effect string) func(*api.Node) {
	return func(n *api.Node) { n.Spec.Taints = append(n.Spec.Taints, api.Taint{Key: k, Value: v, Effect: effect}) }
}

func cordoned(n *api.Node) { n.Spec.Unschedulable = true }

func notReady(n *api.Node) { n.Status.Conditions[0].Status = api.ConditionFalse }

func maxPods(k int) func(*api.Node) {
	return func(n *api.Node) { n.Status.Capacity[api.ResourcePods] = api.Quantity(strconv.Itoa(k)) }
}

// mkPod returns a pod of one container with the given requests.
func mkPod(ns, name, cpu, mem string, gpus int, mods ...func(*api.Pod)) *api.Pod {
	req := api.ResourceList{}
	if cpu != "" {
		req[api.ResourceCPU] = api.Quantity(cpu)
	}
	if mem != "" {
		req[api.ResourceMemory] = api.Quantity(mem)
	}
	if gpus > 0 {
		req[api.ResourceGPU] = api.Quantity(strconv.Itoa(gpus))
	}
	p := &api.Pod{
		Metadata: api.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{}},
		Spec:     api.PodSpec{Containers: []api.Container{{Name: "c", Image: "img", Resources: api.ResourceRequirements{Requests: req}}}},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func podLabel(k, v string) func(*api.Pod) { return func(p *api.Pod) { p.Metadata.Labels[k] = v } }

func selector(k, v string) func(*api.Pod) {
	return func(p *api.Pod) {
		if p.Spec.NodeSelector == nil {
			p.Spec.NodeSelector = map[string]string{}
		}
		p.Spec.NodeSelector[k] = v
	}
}

func tolerate(k, v, effect string) func(*api.Pod) {
	return func(p *api.Pod) {
		p.Spec.Tolerations = append(p.Spec.Tolerations, api.Toleration{Key: k, Value: v, Effect: effect})
	}
}

func hostPort(port int32) func(*api.Pod) {
	return func(p *api.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, api.ContainerPort{ContainerPort: port, HostPort: port})
	}
}

func affinity(p *api.Pod) *api.Affinity {
	if p.Spec.Affinity == nil {
		p.Spec.Affinity = &api.Affinity{}
	}
	return p.Spec.Affinity
}

// antiAffinity keeps the pod off hosts running pods labelled k=v.
func antiAffinity(k, v string) func(*api.Pod) {
	return func(p *api.Pod) {
		a := affinity(p)
		if a.PodAntiAffinity == nil {
			a.PodAntiAffinity = &api.PodAntiAffinity{}
		}
		a.PodAntiAffinity.Required = append(a.PodAntiAffinity.Required, api.PodAffinityTerm{
			LabelSelector: &api.LabelSelector{MatchLabels: map[string]string{k: v}}, TopologyKey: api.LabelHostname,
		})
	}
}

// requiredIn requires node label k to be one of values.
func requiredIn(k string, values ...string) func(*api.Pod) {
	return func(p *api.Pod) {
		a := affinity(p)
		if a.NodeAffinity == nil {
			a.NodeAffinity = &api.NodeAffinity{}
		}
		a.NodeAffinity.Required = &api.NodeSelector{NodeSelectorTerms: []api.NodeSelectorTerm{{
			MatchExpressions: []api.NodeSelectorRequirement{{Key: k, Operator: "In", Values: values}},
		}}}
	}
}

// preferred prefers nodes labelled k=v with weight w.
func preferred(w int32, k, v string) func(*api.Pod) {
	return func(p *api.Pod) {
		a := affinity(p)
		if a.NodeAffinity == nil {
			a.NodeAffinity = &api.NodeAffinity{}
		}
		a.NodeAffinity.Preferred = append(a.NodeAffinity.Preferred, api.PreferredSchedulingTerm{
			Weight:     w,
			Preference: api.NodeSelectorTerm{MatchExpressions: []api.NodeSelectorRequirement{{Key: k, Operator: "In", Values: []string{v}}}},
		})
	}
}

func spread(p *api.Pod) {
	if p.Metadata.Annotations == nil {
		p.Metadata.Annotations = map[string]string{}
	}
	p.Metadata.Annotations[api.AnnotationStrategy] = api.StrategySpread
}

// bind returns u with pod bound to node, holding gpus.
func bind(u *api.NodeUsage, node *api.Node, pod *api.Pod, gpus ...string) *api.NodeUsage {
	b := *pod
	b.Spec.NodeName = node.Metadata.Name
	b.Spec.AssignedGPUs = gpus
	return u.With(api.UsageOf(&b))
}

// snapshotOf returns a snapshot of the nodes, none of them used.
func snapshotOf(nodes ...*api.Node) *Snapshot {
	s := &Snapshot{}
	for _, n := range nodes {
		s.Nodes = append(s.Nodes, NodeInfo{Node: n})
	}
	return s
}

// placedOn returns the node of the named pod in the plan, or "".
func placedOn(plan *Plan, name string) string {
	for _, p := range plan.Placements {
		if p.Name == name {
			return p.Node
		}
	}
	return ""
}
