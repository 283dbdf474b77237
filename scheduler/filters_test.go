package scheduler

import (
	"slices"
	"testing"

	"github.com/berth-dev/berth/api"
)

// oneNode returns a cycle for pod on node (holding usage), with the node
// and the pod as the stages see them.
func oneNode(node *api.Node, usage *api.NodeUsage, pod *api.Pod) (*cycle, *nodeState, *podInfo) {
	c := newCycle(New(Options{}), &Snapshot{Nodes: []NodeInfo{{Node: node, Usage: usage}}}, []*api.Pod{pod})
	return c, &c.nodes[0], &c.pods[0]
}

func TestFilters(t *testing.T) {
	n := func(mods ...func(*api.Node)) *api.Node { return mkNode("n1", "4", "8Gi", 2, mods...) }
	p := func(mods ...func(*api.Pod)) *api.Pod { return mkPod("default", "p", "1", "1Gi", 0, mods...) }
	web := mkPod("default", "web", "1", "1Gi", 0, podLabel("app", "web"))
	webOther := mkPod("other", "web", "1", "1Gi", 0, podLabel("app", "web"))
	guard := mkPod("default", "guard", "1", "1Gi", 0, antiAffinity("app", "web"))
	onePort := mkPod("default", "port", "100m", "1Mi", 0, hostPort(8080))
	gpuHog := mkPod("default", "hog", "100m", "1Mi", 1)
	shortOfIDs := mkNode("n1", "4", "8Gi", 2, func(n *api.Node) { n.Status.GPUs = n.Status.GPUs[:1] })
	full := mkPod("default", "full", "4", "8Gi", 0)
	tests := []struct {
		name  string
		f     filter
		node  *api.Node
		usage *api.NodeUsage
		pod   *api.Pod
		want  []string // nil: feasible
	}{
		{"ready", nodeReady{}, n(), nil, p(), nil},
		{"not ready", nodeReady{}, n(notReady), nil, p(), []string{api.ReasonNodeNotReady}},
		{"no ready condition", nodeReady{}, n(func(n *api.Node) { n.Status.Conditions = nil }), nil, p(), []string{api.ReasonNodeNotReady}},
		{"schedulable", nodeSchedulable{}, n(), nil, p(), nil},
		{"cordoned", nodeSchedulable{}, n(cordoned), nil, p(), []string{api.ReasonNodeUnschedulable}},
		{"untolerated NoSchedule", taintToleration{}, n(taint("dedicated", "gpu", api.TaintNoSchedule)), nil, p(), []string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{"untolerated NoExecute", taintToleration{}, n(taint("k", "v", api.TaintNoExecute)), nil, p(), []string{"node(s) had untolerated taint {k: v}"}},
		{"PreferNoSchedule filters nothing", taintToleration{}, n(taint("k", "v", api.TaintPreferNoSchedule)), nil, p(), nil},
		{"tolerated", taintToleration{}, n(taint("dedicated", "gpu", api.TaintNoSchedule)), nil, p(tolerate("dedicated", "gpu", "")), nil},
		{"tolerated by Exists", taintToleration{}, n(taint("dedicated", "gpu", api.TaintNoSchedule)), nil,
			p(func(p *api.Pod) { p.Spec.Tolerations = []api.Toleration{{Key: "dedicated", Operator: "Exists"}} }), nil},
		{"toleration of another effect", taintToleration{}, n(taint("dedicated", "gpu", api.TaintNoSchedule)), nil,
			p(tolerate("dedicated", "gpu", api.TaintNoExecute)), []string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{"selector matches", nodeSelector{}, n(label("disk", "ssd")), nil, p(selector("disk", "ssd")), nil},
		{"selector does not match", nodeSelector{}, n(label("disk", "hdd")), nil, p(selector("disk", "ssd")), []string{api.ReasonNodeSelector}},
		{"affinity matches", nodeAffinity{}, n(label("zone", "b")), nil, p(requiredIn("zone", "a", "b")), nil},
		{"affinity does not match", nodeAffinity{}, n(label("zone", "c")), nil, p(requiredIn("zone", "a", "b")), []string{api.ReasonNodeAffinity}},
		{"preferred affinity filters nothing", nodeAffinity{}, n(), nil, p(preferred(10, "zone", "a")), nil},
		{"resources fit", resourcesFit{}, n(), nil, mkPod("default", "p", "4", "8Gi", 2), nil},
		{"short of cpu", resourcesFit{}, n(), nil, mkPod("default", "p", "4100m", "1Gi", 0), []string{api.ReasonInsufficientCPU}},
		{"short of memory", resourcesFit{}, n(), nil, mkPod("default", "p", "1", "9Gi", 0), []string{api.ReasonInsufficientMemory}},
		{"short of GPUs", resourcesFit{}, n(), nil, mkPod("default", "p", "1", "1Gi", 3), []string{api.ReasonInsufficientGPU}},
		{"short of all", resourcesFit{}, n(maxPods(1)), bind(nil, n(), full), mkPod("default", "p", "1", "1Gi", 1),
			[]string{api.ReasonTooManyPods, api.ReasonInsufficientCPU, api.ReasonInsufficientMemory}},
		{"counts bound pods", resourcesFit{}, n(), bind(nil, n(), p()), mkPod("default", "q", "3500m", "1Gi", 0), []string{api.ReasonInsufficientCPU}},
		{"port free", hostPorts{}, n(), bind(nil, n(), onePort), p(hostPort(9090)), nil},
		{"port taken", hostPorts{}, n(), bind(nil, n(), onePort), p(hostPort(8080)), []string{api.ReasonHostPorts}},
		{"no anti-affinity", podAntiAffinity{}, n(), bind(nil, n(), web), p(), nil},
		{"own anti-affinity", podAntiAffinity{}, n(), bind(nil, n(), web), p(antiAffinity("app", "web")), []string{api.ReasonAntiAffinity}},
		{"own anti-affinity, other namespace", podAntiAffinity{}, n(), bind(nil, n(), webOther), p(antiAffinity("app", "web")), nil},
		{"neighbour's anti-affinity", podAntiAffinity{}, n(), bind(nil, n(), guard), web, []string{api.ReasonAntiAffinity}},
		{"GPU IDs free", resourcesFit{}, n(), bind(nil, n(), gpuHog, "n1-gpu0"), mkPod("default", "p", "1", "1Gi", 1), nil},
		{"GPU IDs short", resourcesFit{}, shortOfIDs, nil, mkPod("default", "p", "1", "1Gi", 2), []string{api.ReasonInsufficientGPU}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ns, pi := oneNode(tt.node, tt.usage, tt.pod)
			var why []string
			got := tt.f.feasible(ns, pi, &why)
			if got != (tt.want == nil) || !slices.Equal(why, tt.want) {
				t.Errorf("feasible = %v, reasons %q; want reasons %q", got, why, tt.want)
			}
			if fast := tt.f.feasible(ns, pi, nil); fast != got {
				t.Errorf("feasible without reasons = %v, with = %v", fast, got)
			}
		})
	}
}

// TestReasonsAreCheckFits checks that the chain of stages gives exactly
// api.CheckFit's reasons, stage by stage.
func TestReasonsAreCheckFits(t *testing.T) {
	node := mkNode("n1", "2", "4Gi", 0, label("disk", "hdd"), taint("a", "b", api.TaintNoSchedule), maxPods(1))
	used := bind(nil, node, mkPod("default", "old", "1", "1Gi", 0, hostPort(80), podLabel("app", "web")))
	pods := []*api.Pod{
		mkPod("default", "p", "3", "8Gi", 0, selector("disk", "ssd"), hostPort(80), antiAffinity("app", "web")),
		mkPod("default", "p", "3", "8Gi", 0, tolerate("a", "b", ""), selector("disk", "ssd"), hostPort(80), antiAffinity("app", "web")),
		mkPod("default", "p", "3", "8Gi", 0, tolerate("a", "b", ""), hostPort(80), antiAffinity("app", "web")),
		mkPod("default", "p", "1", "1Gi", 0, tolerate("a", "b", ""), hostPort(80), antiAffinity("app", "web")),
	}
	for _, nd := range []*api.Node{node, mkNode("n1", "8", "16Gi", 0, cordoned), mkNode("n1", "8", "16Gi", 0, notReady)} {
		for _, pod := range pods {
			c, _, pi := oneNode(nd, used, pod)
			got := c.reasons(0, pi, nil)
			want := api.CheckFit(nd, used, pod, pod.Requests())
			if !slices.Equal(got, want) {
				t.Errorf("%v: reasons %q, CheckFit %q", pod.Spec, got, want)
			}
		}
	}
	// With the node's pod limit raised, each later stage shows in turn.
	roomy := mkNode("n1", "8", "16Gi", 0)
	for _, tt := range []struct {
		pod  *api.Pod
		want []string
	}{
		{mkPod("default", "p", "1", "1Gi", 0, hostPort(80)), []string{api.ReasonHostPorts}},
		{mkPod("default", "p", "1", "1Gi", 0, antiAffinity("app", "web")), []string{api.ReasonAntiAffinity}},
		{mkPod("default", "p", "1", "1Gi", 0), nil},
	} {
		c, _, pi := oneNode(roomy, used, tt.pod)
		if got := c.reasons(0, pi, nil); !slices.Equal(got, tt.want) {
			t.Errorf("reasons %q, want %q", got, tt.want)
		}
	}
}

// TestPlanSeesItsOwnPlacements: pods of one batch see those placed before.
func TestPlanSeesItsOwnPlacements(t *testing.T) {
	tests := []struct {
		name string
		pods []*api.Pod
		want string // the second pod's failure
	}{
		{"cpu", []*api.Pod{mkPod("d", "a", "3", "1Gi", 0), mkPod("d", "b", "2", "1Gi", 0)},
			"0/1 nodes are available: 1 Insufficient cpu."},
		{"ports", []*api.Pod{mkPod("d", "a", "1", "1Gi", 0, hostPort(80)), mkPod("d", "b", "1", "1Gi", 0, hostPort(80))},
			"0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."},
		{"anti-affinity", []*api.Pod{
			mkPod("d", "a", "1", "1Gi", 0, podLabel("app", "x"), antiAffinity("app", "x")),
			mkPod("d", "b", "1", "1Gi", 0, podLabel("app", "x"), antiAffinity("app", "x")),
		}, "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules."},
		{"anti-affinity, the neighbour's", []*api.Pod{
			mkPod("d", "a", "1", "1Gi", 0, antiAffinity("app", "x")),
			mkPod("d", "b", "1", "1Gi", 0, podLabel("app", "x")),
		}, "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules."},
		{"GPUs", []*api.Pod{mkPod("d", "a", "1", "1Gi", 2), mkPod("d", "b", "1", "1Gi", 1)},
			"0/1 nodes are available: 1 Insufficient nvidia.com/gpu."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := New(Options{}).Schedule(snapshotOf(mkNode("n1", "4", "8Gi", 2)), tt.pods)
			if len(plan.Placements) != 1 || len(plan.Failures) != 1 || plan.Failures[0].Message != tt.want {
				t.Fatalf("plan %+v, want one placement and a failure %q", plan, tt.want)
			}
		})
	}
}
