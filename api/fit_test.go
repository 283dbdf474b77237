package api

import (
	"slices"
	"strings"
	"testing"
)

func fitNode(name string, mutate func(*Node)) *Node {
	n := &Node{Metadata: ObjectMeta{Name: name, Labels: map[string]string{LabelHostname: name, "disk": "ssd", "rack": "7"}}}
	n.Status.Capacity = ResourceList{ResourceCPU: "4", ResourceMemory: "8Gi", ResourceGPU: "2", ResourcePods: "3"}
	n.Status.Conditions = []NodeCondition{{Type: NodeReady, Status: ConditionTrue}}
	if mutate != nil {
		mutate(n)
	}
	Default(n)
	return n
}

func fitPod(name string, mutate func(*Pod)) *Pod {
	p := &Pod{Metadata: ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}}}
	p.Spec.Containers = []Container{{Name: "c", Image: "i", Resources: ResourceRequirements{Requests: ResourceList{ResourceCPU: "1", ResourceMemory: "1Gi"}}}}
	if mutate != nil {
		mutate(p)
	}
	Default(p)
	return p
}

func TestCheckFit(t *testing.T) {
	bound := func(name string, mutate func(*Pod)) PodUsage {
		p := fitPod(name, mutate)
		p.Spec.NodeName = "n"
		return UsageOf(p)
	}
	web := bound("web", func(p *Pod) {
		p.Spec.Containers[0].Ports = []ContainerPort{{ContainerPort: 80, HostPort: 8080}}
		p.Spec.Affinity = &Affinity{PodAntiAffinity: &PodAntiAffinity{Required: []PodAffinityTerm{{
			LabelSelector: &LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: LabelHostname}}}}
	})
	var used *NodeUsage
	used = used.With(web).With(bound("db", func(p *Pod) { p.Spec.Containers[0].Resources.Requests[ResourceCPU] = "2" }))
	antiDB := &Affinity{PodAntiAffinity: &PodAntiAffinity{Required: []PodAffinityTerm{{
		LabelSelector: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "app", Operator: "In", Values: []string{"db"}}}}, TopologyKey: LabelHostname}}}}
	affinity := func(op string, values ...string) *Affinity {
		return &Affinity{NodeAffinity: &NodeAffinity{Required: &NodeSelector{NodeSelectorTerms: []NodeSelectorTerm{
			{MatchExpressions: []NodeSelectorRequirement{{Key: "rack", Operator: op, Values: values}}}}}}}
	}
	tests := []struct {
		name  string
		node  func(*Node)
		usage *NodeUsage
		pod   func(*Pod)
		want  []string
	}{
		{"fits", nil, nil, nil, nil},
		{"not ready", func(n *Node) { n.Status.Conditions[0].Status = ConditionUnknown }, nil, nil, []string{ReasonNodeNotReady}},
		{"no ready condition", func(n *Node) { n.Status.Conditions = nil }, nil, nil, []string{ReasonNodeNotReady}},
		{"cordoned", func(n *Node) { n.Spec.Unschedulable = true }, nil, nil, []string{ReasonNodeUnschedulable}},
		{"taint", func(n *Node) { n.Spec.Taints = []Taint{{Key: "gpu", Value: "yes", Effect: TaintNoSchedule}} }, nil, nil, []string{"node(s) had untolerated taint {gpu: yes}"}},
		{"taint NoExecute", func(n *Node) { n.Spec.Taints = []Taint{{Key: "gpu", Effect: TaintNoExecute}} }, nil, nil, []string{"node(s) had untolerated taint {gpu: }"}},
		{"PreferNoSchedule does not filter", func(n *Node) { n.Spec.Taints = []Taint{{Key: "gpu", Effect: TaintPreferNoSchedule}} }, nil, nil, nil},
		{"toleration Equal", func(n *Node) { n.Spec.Taints = []Taint{{Key: "gpu", Value: "yes", Effect: TaintNoSchedule}} }, nil,
			func(p *Pod) { p.Spec.Tolerations = []Toleration{{Key: "gpu", Value: "yes", Effect: TaintNoSchedule}} }, nil},
		{"toleration wrong value", func(n *Node) { n.Spec.Taints = []Taint{{Key: "gpu", Value: "yes", Effect: TaintNoSchedule}} }, nil,
			func(p *Pod) { p.Spec.Tolerations = []Toleration{{Key: "gpu", Value: "no"}} }, []string{"node(s) had untolerated taint {gpu: yes}"}},
		{"toleration Exists any key", func(n *Node) { n.Spec.Taints = []Taint{{Key: "gpu", Value: "yes", Effect: TaintNoSchedule}} }, nil,
			func(p *Pod) { p.Spec.Tolerations = []Toleration{{Operator: "Exists"}} }, nil},
		{"toleration other effect", func(n *Node) { n.Spec.Taints = []Taint{{Key: "gpu", Effect: TaintNoSchedule}} }, nil,
			func(p *Pod) {
				p.Spec.Tolerations = []Toleration{{Key: "gpu", Operator: "Exists", Effect: TaintNoExecute}}
			}, []string{"node(s) had untolerated taint {gpu: }"}},
		{"node selector", nil, nil, func(p *Pod) { p.Spec.NodeSelector = map[string]string{"disk": "hdd"} }, []string{ReasonNodeSelector}},
		{"node selector matches", nil, nil, func(p *Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }, nil},
		{"affinity In", nil, nil, func(p *Pod) { p.Spec.Affinity = affinity("In", "6", "7") }, nil},
		{"affinity NotIn", nil, nil, func(p *Pod) { p.Spec.Affinity = affinity("NotIn", "7") }, []string{ReasonNodeAffinity}},
		{"affinity Gt", nil, nil, func(p *Pod) { p.Spec.Affinity = affinity("Gt", "6") }, nil},
		{"affinity Lt", nil, nil, func(p *Pod) { p.Spec.Affinity = affinity("Lt", "6") }, []string{ReasonNodeAffinity}},
		{"affinity DoesNotExist", nil, nil, func(p *Pod) { p.Spec.Affinity = affinity("DoesNotExist") }, []string{ReasonNodeAffinity}},
		{"cpu", nil, used, func(p *Pod) { p.Spec.Containers[0].Resources.Requests[ResourceCPU] = "1500m" }, []string{ReasonInsufficientCPU}},
		{"cpu and memory", nil, used, func(p *Pod) {
			p.Spec.Containers[0].Resources.Requests = ResourceList{ResourceCPU: "2", ResourceMemory: "7Gi"}
		}, []string{ReasonInsufficientCPU, ReasonInsufficientMemory}},
		{"gpu", nil, nil, func(p *Pod) { p.Spec.Containers[0].Resources.Limits = ResourceList{ResourceGPU: "3"} }, []string{ReasonInsufficientGPU}},
		{"too many pods", func(n *Node) { n.Status.Capacity[ResourcePods] = "2" }, used, nil, []string{ReasonTooManyPods}},
		{"host port taken", nil, used, func(p *Pod) { p.Spec.Containers[0].Ports = []ContainerPort{{ContainerPort: 1, HostPort: 8080}} }, []string{ReasonHostPorts}},
		{"host port other protocol", nil, used, func(p *Pod) {
			p.Spec.Containers[0].Ports = []ContainerPort{{ContainerPort: 1, HostPort: 8080, Protocol: "UDP"}}
		}, nil},
		{"anti-affinity, the pod's own", nil, used, func(p *Pod) { p.Spec.Affinity = antiDB }, []string{ReasonAntiAffinity}},
		{"anti-affinity, the bound pod's", nil, used, func(p *Pod) { p.Metadata.Labels["app"] = "web" }, []string{ReasonAntiAffinity}},
		{"anti-affinity, another namespace", nil, used, func(p *Pod) { p.Metadata.Namespace = "other"; p.Metadata.Labels["app"] = "web" }, nil},
	}
	for _, tt := range tests {
		n, p := fitNode("n", tt.node), fitPod("new", tt.pod)
		if got := CheckFit(n, tt.usage, p, p.Requests()); !slices.Equal(got, tt.want) {
			t.Errorf("%s: CheckFit = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestNodeUsage(t *testing.T) {
	n := fitNode("n", nil)
	a := fitPod("a", func(p *Pod) { p.Spec.Containers[0].Resources.Limits = ResourceList{ResourceGPU: "1"} })
	a.Spec.NodeName, a.Spec.AssignedGPUs = "n", []string{"1"}
	var u *NodeUsage
	u1 := u.With(UsageOf(a))
	if u1.Total() != (Resources{MilliCPU: 1000, Memory: 1 << 30, GPU: 1, Pods: 1}) || u.Total() != (Resources{}) {
		t.Fatalf("With: %+v (the empty one %+v)", u1.Total(), u.Total())
	}
	if free := u1.FreeGPUs(n); !slices.Equal(free, []string{"0"}) {
		t.Fatalf("free GPUs %v", free)
	}
	b := fitPod("b", func(p *Pod) { p.Spec.Containers[0].Resources.Limits = ResourceList{ResourceGPU: "1"} })
	b.Spec.NodeName = "n"
	for _, tt := range []struct {
		gpus []string
		want string
	}{
		{[]string{"0"}, ""}, {[]string{"1"}, `GPU "1" is in use`}, {[]string{"7"}, `node has no GPU "7"`},
		{nil, "assigned 0 GPU(s) for a request of 1"}, {[]string{"0", "0"}, "assigned 2 GPU(s) for a request of 1"},
	} {
		b.Spec.AssignedGPUs = tt.gpus
		if got := u1.CheckGPUs(n, b, b.Requests()); got != tt.want {
			t.Errorf("CheckGPUs(%v) = %q, want %q", tt.gpus, got, tt.want)
		}
	}
	// With replaces the entry of the same pod; Without removes it, and
	// leaves the usage it was made from as it was.
	if u2 := u1.With(UsageOf(a)); u2.Total() != u1.Total() || len(u2.Pods) != 1 {
		t.Fatalf("With twice: %+v", u2)
	}
	if u3 := u1.Without("default", "a"); u3.Total() != (Resources{}) || len(u1.Pods) != 1 {
		t.Fatalf("Without: %+v, original %+v", u3, u1)
	}
}

func TestPodValidation(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*Pod)
		want   string
	}{
		{"no containers", func(p *Pod) { p.Spec.Containers = nil }, "spec.containers: required"},
		{"no image", func(p *Pod) { p.Spec.Containers[0].Image = "" }, "spec.containers[0].image: required"},
		{"bad resource", func(p *Pod) { p.Spec.Containers[0].Resources.Requests["cpu"] = "lots" }, `spec.containers[0].resources.requests.cpu: quantity "lots"`},
		{"unknown resource", func(p *Pod) { p.Spec.Containers[0].Resources.Requests["example.com/foo"] = "1" }, "spec.containers[0].resources.requests.example.com/foo: not supported"},
		{"request over limit", func(p *Pod) { p.Spec.Containers[0].Resources.Limits = ResourceList{"cpu": "500m"} }, "spec.containers[0].resources.requests.cpu: 1 is more than the limit 500m"},
		{"fractional gpu", func(p *Pod) { p.Spec.Containers[0].Resources.Limits = ResourceList{ResourceGPU: "0.5"} }, `"0.5" must be a whole number`},
		{"gpu request without limit", func(p *Pod) { p.Spec.Containers[0].Resources.Requests[ResourceGPU] = "1" }, "resources.limits.nvidia.com/gpu: must be set and equal to the request"},
		{"host port", func(p *Pod) { p.Spec.Containers[0].Ports = []ContainerPort{{ContainerPort: 80, HostPort: 70000}} }, "hostPort: 70000 is not in 0..65535"},
		{"topology", func(p *Pod) {
			p.Spec.Affinity = &Affinity{PodAntiAffinity: &PodAntiAffinity{Required: []PodAffinityTerm{{LabelSelector: &LabelSelector{}, TopologyKey: "zone"}}}}
		}, `topologyKey: "zone": not supported, only "kubernetes.io/hostname"`},
		{"affinity operator", func(p *Pod) {
			p.Spec.Affinity = &Affinity{NodeAffinity: &NodeAffinity{Required: &NodeSelector{NodeSelectorTerms: []NodeSelectorTerm{{MatchExpressions: []NodeSelectorRequirement{{Key: "a", Operator: "Near"}}}}}}}
		}, `operator: "Near" is not In, NotIn, Exists, DoesNotExist, Gt or Lt`},
		{"toleration", func(p *Pod) { p.Spec.Tolerations = []Toleration{{Key: "a", Operator: "Exists", Value: "b"}} }, "spec.tolerations[0].value: must be empty with operator Exists"},
		{"gpus without node", func(p *Pod) { p.Spec.AssignedGPUs = []string{"0"} }, "spec.assignedGPUs: set only with spec.nodeName"},
		{"strategy", func(p *Pod) { p.Metadata.Annotations = map[string]string{AnnotationStrategy: "random"} }, `berth.dev/scheduling-strategy: "random" is not`},
	} {
		err := Validate(fitPod("p", tt.mutate))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	if err := Validate(fitPod("p", nil)); err != nil {
		t.Fatal(err)
	}
}

func TestNodeDefaultsAndValidation(t *testing.T) {
	n := fitNode("gpu-box.example", nil)
	if err := Validate(n); err != nil {
		t.Fatal(err)
	}
	if len(n.Status.GPUs) != 2 || n.Status.GPUs[1].ID != "1" || n.Status.Allocatable[ResourceCPU] != "4" {
		t.Fatalf("defaults: %+v", n.Status)
	}
	if got := n.Allocatable(); got != (Resources{MilliCPU: 4000, Memory: 8 << 30, GPU: 2, Pods: 3}) {
		t.Fatalf("Allocatable %+v", got)
	}
	n.Status.GPUs = n.Status.GPUs[:1]
	if err := Validate(n); err == nil || !strings.Contains(err.Error(), "status.gpus: 1 listed, but capacity says 2") {
		t.Fatalf("error %v", err)
	}
}
