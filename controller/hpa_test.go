package controller

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/fsm"
)

// hpaPod is a pod of the "web" app asking for cpu (millicores, 0: no
// request) and gpus, in a phase, ready or not.
func hpaPod(name string, cpu, gpus int64, phase string, ready bool) *api.Pod {
	p := &api.Pod{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		Metadata: api.ObjectMeta{Name: name, Namespace: "default", UID: "uid-default-" + name, Labels: map[string]string{"app": "web"}}}
	c := api.Container{Name: "c", Image: "busybox", Resources: api.ResourceRequirements{Requests: api.ResourceList{}}}
	if cpu > 0 {
		c.Resources.Requests[api.ResourceCPU] = api.Quantity(fmt.Sprintf("%dm", cpu))
	}
	if gpus > 0 {
		c.Resources.Requests[api.ResourceGPU] = api.Quantity(fmt.Sprint(gpus))
		c.Resources.Limits = api.ResourceList{api.ResourceGPU: api.Quantity(fmt.Sprint(gpus))}
	}
	p.Spec.Containers = []api.Container{c}
	p.Spec.NodeName = "n1"
	p.Status.Phase = phase
	status := api.ConditionFalse
	if ready {
		status = api.ConditionTrue
	}
	p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: status}}
	return p
}

func running(name string, cpu int64) *api.Pod { return hpaPod(name, cpu, 0, api.PodRunning, true) }

// cpuUse is the metrics of pods by name: name → millicores.
func cpuUse(use map[string]int64) map[string]PodMetric {
	out := map[string]PodMetric{}
	for name, m := range use {
		out[name] = PodMetric{Namespace: "default", Name: name, UID: "uid-default-" + name, CPUMilli: m, Window: 15 * time.Second}
	}
	return out
}

func TestReplicasForResource(t *testing.T) {
	three := []*api.Pod{running("a", 100), running("b", 100), running("c", 100)}
	tests := []struct {
		name    string
		current int32
		target  int32
		pods    []*api.Pod
		use     map[string]int64
		want    int32
		util    int32
		err     string
	}{
		{"at target", 3, 50, three, map[string]int64{"a": 50, "b": 50, "c": 50}, 3, 50, ""},
		{"within tolerance up", 3, 50, three, map[string]int64{"a": 55, "b": 54, "c": 55}, 3, 54, ""},
		{"within tolerance down", 3, 50, three, map[string]int64{"a": 46, "b": 45, "c": 46}, 3, 45, ""},
		{"double load", 3, 50, three, map[string]int64{"a": 100, "b": 100, "c": 100}, 6, 100, ""},
		{"rounds up", 3, 50, three, map[string]int64{"a": 60, "b": 60, "c": 60}, 4, 60, ""},
		{"idle", 3, 50, three, map[string]int64{"a": 1, "b": 0, "c": 2}, 1, 1, ""},
		{"one pod at 4x", 1, 50, three[:1], map[string]int64{"a": 200}, 4, 200, ""},
		{"uneven requests", 2, 50, []*api.Pod{running("a", 100), running("b", 300)}, map[string]int64{"a": 100, "b": 300}, 4, 100, ""},
		// Not measured: counted as using all it asks when scaling down (so
		// 1 of 3 idle is not enough to go down), nothing when scaling up.
		{"missing on the way down", 3, 50, three, map[string]int64{"a": 10, "b": 10}, 3, 10, ""},
		{"missing on the way up", 3, 50, three, map[string]int64{"a": 200, "b": 200}, 8, 200, ""},
		// An unready pod counts as idle when scaling up.
		{"unready on the way up", 3, 50, []*api.Pod{running("a", 100), running("b", 100), hpaPod("c", 100, 0, api.PodPending, false)},
			map[string]int64{"a": 100, "b": 100}, 4, 100, ""},
		{"unready on the way down", 3, 50, []*api.Pod{running("a", 100), running("b", 100), hpaPod("c", 100, 0, api.PodRunning, false)},
			map[string]int64{"a": 10, "b": 10, "c": 300}, 1, 10, ""},
		// Assumptions that would reverse the direction change nothing.
		{"missing reverses", 2, 50, []*api.Pod{running("a", 100), running("b", 100)}, map[string]int64{"a": 60}, 2, 60, ""},
		{"finished pods ignored", 2, 50, []*api.Pod{running("a", 100), hpaPod("b", 100, 0, api.PodFailed, false), hpaPod("c", 0, 0, api.PodSucceeded, false)},
			map[string]int64{"a": 100}, 2, 100, ""},
		{"no metrics", 2, 50, three, nil, 0, 0, "did not receive metrics"},
		{"only unready", 2, 50, []*api.Pod{hpaPod("a", 100, 0, api.PodRunning, false)}, map[string]int64{"a": 100}, 0, 0, "did not receive metrics"},
		{"no request", 2, 50, []*api.Pod{running("a", 100), running("b", 0)}, map[string]int64{"a": 100, "b": 100}, 0, 0,
			"missing request for cpu in container c of Pod b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, util, err := replicasForResource(tc.current, api.ResourceCPU, tc.target, tc.pods, cpuUse(tc.use))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || util != tc.util {
				t.Errorf("replicas %d at %d%%, want %d at %d%%", got, util, tc.want, tc.util)
			}
		})
	}
}

func TestReplicasForGPU(t *testing.T) {
	pct := func(v int32) *int32 { return &v }
	pods := []*api.Pod{hpaPod("a", 100, 1, api.PodRunning, true), hpaPod("b", 100, 3, api.PodRunning, true)}
	use := map[string]PodMetric{"a": {Name: "a", GPUPercent: pct(90)}, "b": {Name: "b", GPUPercent: pct(90)}}
	// 4 GPUs at 90% against 60%: 1.5 × 2 pods.
	if n, util, err := replicasForResource(2, api.ResourceGPU, 60, pods, use); err != nil || n != 3 || util != 90 {
		t.Errorf("GPUs at 90%%: %d at %d%%, %v; want 3 at 90%%", n, util, err)
	}
	// Weighted by GPUs: 1 GPU at 10%, 3 at 50% is 40%.
	use["a"] = PodMetric{Name: "a", GPUPercent: pct(10)}
	use["b"] = PodMetric{Name: "b", GPUPercent: pct(50)}
	if _, util, _ := replicasForResource(2, api.ResourceGPU, 40, pods, use); util != 40 {
		t.Errorf("utilization %d%%, want 40%% (weighted by GPUs)", util)
	}
	// A pod whose GPUs cannot be read is not measured.
	use["b"] = PodMetric{Name: "b"}
	if n, _, err := replicasForResource(2, api.ResourceGPU, 60, pods, use); err != nil || n != 2 {
		t.Errorf("one pod unread, the other idle: %d, %v; want 2 (kept: the unread one may be busy)", n, err)
	}
	cpuOnly := []*api.Pod{running("a", 100)}
	if _, _, err := replicasForResource(1, api.ResourceGPU, 60, cpuOnly, map[string]PodMetric{"a": {Name: "a", GPUPercent: pct(1)}}); err == nil ||
		!strings.Contains(err.Error(), "missing request for nvidia.com/gpu in Pod a") {
		t.Errorf("a pod without GPUs: %v", err)
	}
}

func cpuMetric(target int32) api.MetricSpec {
	return api.MetricSpec{Type: api.MetricResource, Resource: &api.ResourceMetricSource{Name: api.ResourceCPU,
		Target: api.MetricTarget{Type: api.TargetUtilization, AverageUtilization: &target}}}
}

func gpuMetric(target int32) api.MetricSpec {
	m := cpuMetric(target)
	m.Resource.Name = api.ResourceGPU
	return m
}

func TestReplicasForMetrics(t *testing.T) {
	pods := []*api.Pod{running("a", 100), running("b", 100)}
	use := cpuUse(map[string]int64{"a": 100, "b": 100})
	// Two cpu metrics: the highest recommendation wins.
	r := replicasForMetrics(2, []api.MetricSpec{cpuMetric(50), cpuMetric(25)}, pods, use)
	if r.replicas != 8 || len(r.statuses) != 2 || r.active.Status != api.ConditionTrue || r.active.Reason != ReasonValidMetricFound {
		t.Errorf("two metrics: %+v", r)
	}
	if r.metric != "cpu resource utilization (percentage of request)" || *r.statuses[0].Resource.Current.AverageUtilization != 100 {
		t.Errorf("metric %q, statuses %+v", r.metric, r.statuses)
	}
	// A failing GPU metric: scaling up on cpu goes on; scaling down does not.
	r = replicasForMetrics(2, []api.MetricSpec{cpuMetric(50), gpuMetric(50)}, pods, use)
	if r.replicas != 4 || r.active.Status != api.ConditionTrue {
		t.Errorf("up with one metric failing: %+v", r)
	}
	idle := cpuUse(map[string]int64{"a": 1, "b": 1})
	r = replicasForMetrics(2, []api.MetricSpec{cpuMetric(50), gpuMetric(50)}, pods, idle)
	if r.replicas != -1 || r.active.Status != api.ConditionFalse || r.active.Reason != ReasonFailedGetResourceMetric ||
		!strings.Contains(r.active.Message, "failed to get nvidia.com/gpu utilization: missing request for nvidia.com/gpu in Pod a") {
		t.Errorf("down with one metric failing: %+v", r)
	}
	r = replicasForMetrics(2, []api.MetricSpec{cpuMetric(50)}, pods, nil)
	if r.replicas != -1 || r.active.Reason != ReasonFailedGetResourceMetric || len(r.statuses) != 0 {
		t.Errorf("no metrics: %+v", r)
	}
}

func TestStabilize(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	hist := []recommendation{{at(0), 5}, {at(100), 3}, {at(200), 2}, {at(290), 4}}
	tests := []struct {
		name            string
		now             int
		current, wanted int32
		up, down        time.Duration
		want            int32
		reason          string
		kept            int
	}{
		// Down: the highest of the down window (5 min).
		{"down held by the window", 295, 5, 1, 0, 300 * time.Second, 5, ReasonScaleDownStabilized, 5},
		{"down to the window's highest", 305, 5, 1, 0, 300 * time.Second, 4, ReasonScaleDownStabilized, 4},
		{"down once the window is quiet", 600, 5, 1, 0, 300 * time.Second, 1, ReasonReadyForNewScale, 1},
		{"down within the short window", 295, 5, 1, 0, 10 * time.Second, 4, ReasonScaleDownStabilized, 2},
		// Up: at once with no up window; the lowest of it otherwise.
		{"up at once", 295, 2, 6, 0, 300 * time.Second, 6, ReasonReadyForNewScale, 5},
		{"up held by an up window", 295, 2, 6, 100 * time.Second, 300 * time.Second, 2, ReasonScaleUpStabilized, 5},
		{"up to the up window's lowest", 295, 1, 6, 10 * time.Second, 300 * time.Second, 4, ReasonScaleUpStabilized, 5},
		{"steady", 295, 4, 4, 0, 300 * time.Second, 4, ReasonReadyForNewScale, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, kept, cond := stabilize(hist, at(tc.now), tc.current, tc.wanted, tc.up, tc.down)
			if got != tc.want || cond.Reason != tc.reason || len(kept) != tc.kept {
				t.Errorf("stabilize = %d (%s, %d kept), want %d (%s, %d kept)", got, cond.Reason, len(kept), tc.want, tc.reason, tc.kept)
			}
			if last := kept[len(kept)-1]; last.replicas != tc.wanted || !last.at.Equal(at(tc.now)) {
				t.Errorf("this round's recommendation not recorded: %+v", last)
			}
		})
	}
	if len(hist) != 4 || hist[0].replicas != 5 {
		t.Errorf("the history passed in was changed: %+v", hist)
	}
}

func TestClampReplicas(t *testing.T) {
	tests := []struct {
		desired, current, lo, hi int32
		want                     int32
		reason                   string
	}{
		{5, 3, 1, 10, 5, ReasonDesiredWithinRange},
		{12, 3, 1, 10, 10, ReasonTooManyReplicas},
		{1, 3, 2, 10, 2, ReasonTooFewReplicas},
		{3, 3, 1, 10, 3, ReasonDesiredWithinRange},
		{1, 3, 1, 10, 1, ReasonDesiredWithinRange},
	}
	for _, tc := range tests {
		got, cond := clampReplicas(tc.desired, tc.current, tc.lo, tc.hi)
		if got != tc.want || cond.Reason != tc.reason || (cond.Status == api.ConditionTrue) != (tc.reason != ReasonDesiredWithinRange) {
			t.Errorf("clamp(%d, current %d, [%d, %d]) = %d %+v, want %d %s", tc.desired, tc.current, tc.lo, tc.hi, got, cond, tc.want, tc.reason)
		}
	}
}

func newHPA(name, target string, lo, hi, util int32, downSeconds int32) *api.HorizontalPodAutoscaler {
	h := &api.HorizontalPodAutoscaler{TypeMeta: api.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		Metadata: api.ObjectMeta{Name: name, Namespace: "default"}}
	h.Spec.ScaleTargetRef = api.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target}
	h.Spec.MinReplicas, h.Spec.MaxReplicas = &lo, hi
	h.Spec.Metrics = []api.MetricSpec{cpuMetric(util)}
	h.Spec.Behavior = &api.HorizontalPodAutoscalerBehavior{ScaleDown: &api.HPAScalingRules{StabilizationWindowSeconds: &downSeconds}}
	return h
}

func TestDecide(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	pods := []*api.Pod{running("a", 100), running("b", 100)}
	busy := cpuUse(map[string]int64{"a": 100, "b": 100})
	reasons := func(d hpaDecision) string {
		var out []string
		for _, c := range d.conds {
			out = append(out, c.Type+"="+c.Status+"/"+c.Reason)
		}
		return strings.Join(out, " ")
	}
	tests := []struct {
		name    string
		current int32
		lo, hi  int32
		use     map[string]PodMetric
		want    int32
		conds   string
	}{
		{"scale up", 2, 1, 10, busy, 4, "AbleToScale=True/ReadyForNewScale ScalingActive=True/ValidMetricFound ScalingLimited=False/DesiredWithinRange"},
		{"limited by max", 2, 1, 3, busy, 3, "AbleToScale=True/ReadyForNewScale ScalingActive=True/ValidMetricFound ScalingLimited=True/TooManyReplicas"},
		{"disabled at zero", 0, 1, 10, busy, 0, "AbleToScale=True/SucceededGetScale ScalingActive=False/ScalingDisabled"},
		{"above max", 12, 1, 10, busy, 10, "AbleToScale=True/SucceededGetScale"},
		{"below min", 1, 2, 10, busy, 2, "AbleToScale=True/SucceededGetScale"},
		{"no metrics", 2, 1, 10, nil, 7, "AbleToScale=True/SucceededGetScale ScalingActive=False/FailedGetResourceMetric"},
		// A new autoscaler holds its target for a down window first.
		{"first round down", 2, 1, 10, cpuUse(map[string]int64{"a": 1, "b": 1}), 2,
			"AbleToScale=True/ScaleDownStabilized ScalingActive=True/ValidMetricFound ScalingLimited=False/DesiredWithinRange"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHPA("web", "web", tc.lo, tc.hi, 50, 300)
			h.Status.DesiredReplicas = 7
			d := decide(h, tc.current, pods, tc.use, nil, now)
			if d.desired != tc.want || reasons(d) != tc.conds {
				t.Errorf("decide = %d [%s], want %d [%s]", d.desired, reasons(d), tc.want, tc.conds)
			}
		})
	}
}

// fakeMetrics answers PodMetrics from a settable table, by node.
type fakeMetrics struct {
	mu    sync.Mutex
	nodes map[string][]PodMetric
	calls int
}

func (f *fakeMetrics) PodMetrics(_ context.Context, node string) ([]PodMetric, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	ms, ok := f.nodes[node]
	if !ok {
		return nil, fmt.Errorf("node %s is not reachable", node)
	}
	return ms, nil
}

func (f *fakeMetrics) set(node string, use map[string]int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ms []PodMetric
	for _, m := range cpuUse(use) {
		ms = append(ms, m)
	}
	f.nodes = map[string][]PodMetric{node: ms}
}

type hpaTest struct {
	a   *applier
	m   *fakeMetrics
	c   *Autoscaler
	now *time.Time
}

func newHPATest(t *testing.T, replicas int32, pods ...*api.Pod) *hpaTest {
	a := newApplier(t)
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	ht := &hpaTest{a: a, m: &fakeMetrics{}, now: &now}
	ht.c = NewAutoscaler(AutoscalerConfig{FSM: a.f, Proposer: a, Metrics: ht.m, Now: func() time.Time { return *ht.now },
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	d := &api.Deployment{TypeMeta: api.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, Metadata: api.ObjectMeta{Name: "web", Namespace: "default"}}
	d.Spec.Replicas = &replicas
	d.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	d.Spec.Template.Metadata.Labels = map[string]string{"app": "web"}
	d.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: "busybox",
		Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: "100m"}}}}
	objs := []api.Object{node("n1", 8, 0), d, newHPA("web", "web", 1, 5, 50, 60)}
	for _, p := range pods {
		objs = append(objs, p)
	}
	a.write(t, objs...)
	return ht
}

func (ht *hpaTest) round(t *testing.T) {
	t.Helper()
	if err := ht.c.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (ht *hpaTest) replicas(t *testing.T) int32 {
	t.Helper()
	r, err := ht.a.f.Get("Deployment", "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	obj, err := api.DecodeStored("Deployment", r.Object)
	if err != nil {
		t.Fatal(err)
	}
	return *obj.(*api.Deployment).Spec.Replicas
}

func (ht *hpaTest) hpa(t *testing.T) (*api.HorizontalPodAutoscaler, uint64) {
	t.Helper()
	r, err := ht.a.f.Get("HorizontalPodAutoscaler", "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	obj, err := api.DecodeStored("HorizontalPodAutoscaler", r.Object)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*api.HorizontalPodAutoscaler), r.Revision
}

func TestAutoscalerScalesUpAndDown(t *testing.T) {
	ht := newHPATest(t, 1, running("web-a", 100))
	ht.m.set("n1", map[string]int64{"web-a": 200})
	ht.round(t)
	if n := ht.replicas(t); n != 4 {
		t.Fatalf("replicas %d after 200%% of the request at a target of 50%%, want 4", n)
	}
	h, _ := ht.hpa(t)
	st := h.Status
	if st.CurrentReplicas != 1 || st.DesiredReplicas != 4 || st.LastScaleTime != "2026-01-02T15:00:00Z" ||
		len(st.CurrentMetrics) != 1 || *st.CurrentMetrics[0].Resource.Current.AverageUtilization != 200 {
		t.Fatalf("status %+v", st)
	}
	if c := conditionOf(st.Conditions, HPAAbleToScale); c == nil || c.Reason != ReasonSucceededRescale ||
		c.Message != "the HPA controller was able to update the target scale to 4" {
		t.Fatalf("AbleToScale %+v", c)
	}
	if h.Status.ObservedGeneration != h.Metadata.Generation {
		t.Errorf("observedGeneration %d, generation %d", h.Status.ObservedGeneration, h.Metadata.Generation)
	}

	// The four pods at the target: the status changes once (AbleToScale
	// says the size is as recommended), then a round like it writes nothing.
	ht.a.write(t, running("web-b", 100), running("web-c", 100), running("web-d", 100))
	ht.m.set("n1", map[string]int64{"web-a": 50, "web-b": 50, "web-c": 50, "web-d": 50})
	*ht.now = ht.now.Add(5 * time.Second)
	ht.round(t)
	_, rev := ht.hpa(t)
	writes := ht.c.Stats().StatusWrites
	*ht.now = ht.now.Add(5 * time.Second)
	ht.round(t)
	if _, rev2 := ht.hpa(t); rev2 != rev || ht.c.Stats().StatusWrites != writes {
		t.Errorf("an unchanged status was written again (revision %d → %d)", rev, rev2)
	}

	// Idle: held for the down window (60 s), then down to the minimum.
	ht.m.set("n1", map[string]int64{"web-a": 1, "web-b": 1, "web-c": 1, "web-d": 1})
	for range 11 {
		*ht.now = ht.now.Add(5 * time.Second)
		ht.round(t)
		if n := ht.replicas(t); n != 4 {
			t.Fatalf("scaled down to %d within the down window", n)
		}
	}
	h, _ = ht.hpa(t)
	if c := conditionOf(h.Status.Conditions, HPAAbleToScale); c.Reason != ReasonScaleDownStabilized {
		t.Errorf("AbleToScale within the window: %+v", c)
	}
	*ht.now = ht.now.Add(5 * time.Second)
	ht.round(t)
	if n := ht.replicas(t); n != 1 {
		t.Fatalf("replicas %d after the down window, want 1", n)
	}
	if s := ht.c.Stats(); s.Scaled != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestAutoscalerMetricErrors(t *testing.T) {
	ht := newHPATest(t, 2, running("web-a", 100), running("web-b", 0))
	ht.m.set("n1", map[string]int64{"web-a": 200, "web-b": 200})
	ht.round(t)
	if n := ht.replicas(t); n != 2 {
		t.Fatalf("scaled to %d without a usable metric", n)
	}
	h, _ := ht.hpa(t)
	c := conditionOf(h.Status.Conditions, HPAScalingActive)
	if c == nil || c.Status != api.ConditionFalse || c.Reason != ReasonFailedGetResourceMetric || !strings.Contains(c.Message, "Pod web-b") {
		t.Fatalf("ScalingActive %+v", c)
	}

	// A node that does not answer: its pods are not measured.
	ht = newHPATest(t, 1, running("web-a", 100))
	ht.m.nodes = map[string][]PodMetric{}
	ht.round(t)
	h, _ = ht.hpa(t)
	if c := conditionOf(h.Status.Conditions, HPAScalingActive); c == nil || !strings.Contains(c.Message, "did not receive metrics") {
		t.Fatalf("ScalingActive with the node silent: %+v", c)
	}

	// A metric of an older pod of the same name does not count.
	ht = newHPATest(t, 1, running("web-a", 100))
	ht.m.nodes = map[string][]PodMetric{"n1": {{Namespace: "default", Name: "web-a", UID: "another", CPUMilli: 500}}}
	ht.round(t)
	if n := ht.replicas(t); n != 1 {
		t.Errorf("scaled to %d on another pod's metric", n)
	}
}

func TestAutoscalerTargetMissing(t *testing.T) {
	a := newApplier(t)
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	c := NewAutoscaler(AutoscalerConfig{FSM: a.f, Proposer: a, Metrics: &fakeMetrics{}, Now: func() time.Time { return now }})
	a.write(t, newHPA("web", "nothing", 1, 5, 50, 60))
	if err := c.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, _ := a.f.Get("HorizontalPodAutoscaler", "default", "web")
	obj, _ := api.DecodeStored("HorizontalPodAutoscaler", r.Object)
	cond := conditionOf(obj.(*api.HorizontalPodAutoscaler).Status.Conditions, HPAAbleToScale)
	if cond == nil || cond.Status != api.ConditionFalse || cond.Reason != ReasonFailedGetScale || !strings.Contains(cond.Message, "not found") ||
		cond.LastTransitionTime != "2026-01-02T15:00:00Z" {
		t.Fatalf("AbleToScale %+v", cond)
	}
}

// conflictProposer fails the first write of a Deployment with a conflict,
// as when the workload controller wrote it first.
type conflictProposer struct {
	*applier
	failed bool
}

func (p *conflictProposer) Apply(ctx context.Context, cmd *fsm.Command) (*fsm.Result, error) {
	if !p.failed && len(cmd.Ops) == 1 && cmd.Ops[0].Kind == "Deployment" {
		p.failed = true
		return nil, fmt.Errorf("deployment %q: %w", cmd.Ops[0].Name, fsm.ErrConflict)
	}
	return p.applier.Apply(ctx, cmd)
}

func TestAutoscalerConflict(t *testing.T) {
	ht := newHPATest(t, 1, running("web-a", 100))
	p := &conflictProposer{applier: ht.a}
	ht.c.cfg.Proposer = p
	ht.m.set("n1", map[string]int64{"web-a": 100})
	ht.round(t)
	if n := ht.replicas(t); n != 1 || !p.failed || ht.c.Stats().Conflicts != 1 {
		t.Fatalf("after a conflict: replicas %d, stats %+v", n, ht.c.Stats())
	}
	*ht.now = ht.now.Add(5 * time.Second)
	ht.round(t)
	if n := ht.replicas(t); n != 2 {
		t.Fatalf("replicas %d the round after a conflict, want 2", n)
	}
}
