package controller

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/berth-dev/berth/api"
)

// The autoscaler's arithmetic, as Kubernetes' HPA controller does it
// (pkg/controller/podautoscaler): pure functions of the spec, the pods,
// what they use, the recommendations of the last windows and the clock.

// HPATolerance: a usage ratio within 10% of 1 changes nothing.
const HPATolerance = 0.1

// The default stabilization windows (behavior.scaleUp and .scaleDown).
const (
	DefaultScaleUpWindow   = 0
	DefaultScaleDownWindow = 300 * time.Second
)

// Condition types and reasons of an autoscaler, Kubernetes' own.
const (
	HPAAbleToScale    = "AbleToScale"
	HPAScalingActive  = "ScalingActive"
	HPAScalingLimited = "ScalingLimited"

	ReasonSucceededGetScale       = "SucceededGetScale"
	ReasonFailedGetScale          = "FailedGetScale"
	ReasonSucceededRescale        = "SucceededRescale"
	ReasonFailedUpdateScale       = "FailedUpdateScale"
	ReasonReadyForNewScale        = "ReadyForNewScale"
	ReasonScaleUpStabilized       = "ScaleUpStabilized"
	ReasonScaleDownStabilized     = "ScaleDownStabilized"
	ReasonValidMetricFound        = "ValidMetricFound"
	ReasonFailedGetResourceMetric = "FailedGetResourceMetric"
	ReasonScalingDisabled         = "ScalingDisabled"
	ReasonTooManyReplicas         = "TooManyReplicas"
	ReasonTooFewReplicas          = "TooFewReplicas"
	ReasonDesiredWithinRange      = "DesiredWithinRange"
)

// errNoMetrics: no ready pod of the target has a measurement.
var errNoMetrics = errors.New("did not receive metrics for targeted pods (pods might be unready)")

// podClass is how a pod counts toward a metric.
type podClass int

const (
	podIgnored podClass = iota // finished: left out
	podUnready                 // not running, or not ready
	podMissing                 // ready, but not measured
	podReady                   // ready and measured
)

func classify(p *api.Pod, measured bool) podClass {
	switch {
	case p.Terminated():
		return podIgnored
	case p.Status.Phase != api.PodRunning || !p.Ready():
		return podUnready
	case !measured:
		return podMissing
	}
	return podReady
}

// podRequest is what a pod asks for of a resource, in the unit podUsage
// measures it in: millicores of cpu (every container must ask, as
// Kubernetes wants), hundredths of a GPU for nvidia.com/gpu.
func podRequest(p *api.Pod, resource string) (int64, error) {
	var total int64
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		q, ok := c.Resources.Requests[resource]
		if resource == api.ResourceCPU && (!ok || q.Milli() <= 0) {
			return 0, fmt.Errorf("missing request for %s in container %s of Pod %s", resource, c.Name, p.Metadata.Name)
		}
		if ok && resource == api.ResourceCPU {
			total += q.Milli()
		} else if ok {
			total += q.Value() * 100
		}
	}
	if total <= 0 {
		return 0, fmt.Errorf("missing request for %s in Pod %s", resource, p.Metadata.Name)
	}
	return total, nil
}

// podUsage is what a pod uses of a resource, in podRequest's unit; false
// when the node could not say.
func podUsage(m PodMetric, p *api.Pod, resource string) (int64, bool) {
	if resource == api.ResourceCPU {
		return m.CPUMilli, true
	}
	if m.GPUPercent == nil {
		return 0, false
	}
	return int64(*m.GPUPercent) * p.Requests().GPU, true
}

// utilizationRatio is the pods' usage over their requests in percent, and
// that over the target.
func utilizationRatio(usage, requests map[string]int64, target int32) (float64, int32) {
	var used, asked int64
	for name, u := range usage {
		if r, ok := requests[name]; ok {
			used += u
			asked += r
		}
	}
	if asked == 0 {
		return 0, 0
	}
	util := int32(used * 100 / asked)
	return float64(util) / float64(target), util
}

// replicasForResource is Kubernetes' recommendation for one resource
// metric: ceil(usage ratio × ready pods), with nothing changed within the
// tolerance. Pods not measured count as using all they ask (scaling down)
// or nothing (scaling up), unready pods as using nothing when scaling up,
// and such assumptions may not reverse the direction. usage is by pod
// name. It returns the replicas and the measured utilization.
func replicasForResource(current int32, resource string, target int32, pods []*api.Pod, usage map[string]PodMetric) (int32, int32, error) {
	requests, metrics := map[string]int64{}, map[string]int64{}
	var missing, unready []string
	ready := 0
	for _, p := range pods {
		name := p.Metadata.Name
		m, has := usage[name]
		var value int64
		if has {
			value, has = podUsage(m, p, resource)
		}
		switch classify(p, has) {
		case podIgnored:
			continue
		case podUnready:
			unready = append(unready, name)
		case podMissing:
			missing = append(missing, name)
		case podReady:
			metrics[name] = value
			ready++
		}
		req, err := podRequest(p, resource)
		if err != nil {
			return 0, 0, err
		}
		requests[name] = req
	}
	if len(metrics) == 0 {
		return 0, 0, errNoMetrics
	}
	ratio, util := utilizationRatio(metrics, requests, target)
	upWithUnready := len(unready) > 0 && ratio > 1
	if !upWithUnready && len(missing) == 0 {
		if math.Abs(1-ratio) <= HPATolerance {
			return current, util, nil
		}
		return int32(math.Ceil(ratio * float64(ready))), util, nil
	}
	for _, name := range missing {
		switch {
		case ratio < 1:
			metrics[name] = requests[name] * int64(max(100, target)) / 100
		case ratio > 1:
			metrics[name] = 0
		}
	}
	if upWithUnready {
		for _, name := range unready {
			metrics[name] = 0
		}
	}
	newRatio, _ := utilizationRatio(metrics, requests, target)
	if math.Abs(1-newRatio) <= HPATolerance || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1) {
		return current, util, nil
	}
	n := int32(math.Ceil(newRatio * float64(len(metrics))))
	if (newRatio < 1 && n > current) || (newRatio > 1 && n < current) {
		return current, util, nil
	}
	return n, util, nil
}

// metricsRecommendation is what the metrics of an autoscaler recommend.
type metricsRecommendation struct {
	replicas int32  // -1: no valid recommendation
	metric   string // the metric that recommends the most
	statuses []api.MetricStatus
	active   api.DeploymentCondition // ScalingActive
}

// replicasForMetrics takes the highest recommendation of the metrics. It
// gives none (-1) when every metric failed, or when some failed and the
// others would scale down: a missing metric may hide load.
func replicasForMetrics(current int32, specs []api.MetricSpec, pods []*api.Pod, usage map[string]PodMetric) metricsRecommendation {
	out := metricsRecommendation{}
	invalid := 0
	for _, spec := range specs {
		r := spec.Resource
		if spec.Type != api.MetricResource || r == nil || r.Target.AverageUtilization == nil || *r.Target.AverageUtilization <= 0 {
			invalid++
			out.active = hpaCondition(HPAScalingActive, false, ReasonFailedGetResourceMetric, "the HPA was unable to compute the replica count: unsupported metric")
			continue
		}
		n, util, err := replicasForResource(current, r.Name, *r.Target.AverageUtilization, pods, usage)
		if err != nil {
			if invalid == 0 {
				out.active = hpaCondition(HPAScalingActive, false, ReasonFailedGetResourceMetric,
					fmt.Sprintf("the HPA was unable to compute the replica count: failed to get %s utilization: %v", r.Name, err))
			}
			invalid++
			continue
		}
		out.statuses = append(out.statuses, api.MetricStatus{Type: api.MetricResource,
			Resource: &api.ResourceMetricStatus{Name: r.Name, Current: api.MetricValueStatus{AverageUtilization: &util}}})
		if out.metric == "" || n > out.replicas {
			out.replicas, out.metric = n, r.Name+" resource utilization (percentage of request)"
		}
	}
	if invalid >= len(specs) || (invalid > 0 && out.replicas < current) {
		out.replicas, out.metric = -1, ""
		return out
	}
	out.active = hpaCondition(HPAScalingActive, true, ReasonValidMetricFound,
		"the HPA was able to successfully calculate a replica count from "+out.metric)
	return out
}

// recommendation is one round's unstabilized recommendation.
type recommendation struct {
	at       time.Time
	replicas int32
}

// stabilize applies the stabilization windows (Kubernetes' rule): scaling
// up goes to the lowest recommendation of the up window, scaling down to
// the highest of the down window, and never past what is recommended now.
// It returns the stabilized count, the history with this round's
// recommendation added (those older than both windows dropped), and the
// AbleToScale condition that says so.
func stabilize(hist []recommendation, now time.Time, current, desired int32, up, down time.Duration) (int32, []recommendation, api.DeploymentCondition) {
	upCut, downCut := now.Add(-up), now.Add(-down)
	upRec, downRec := desired, desired
	kept := hist[:0:0]
	for _, r := range hist {
		if r.at.After(upCut) {
			upRec = min(upRec, r.replicas)
		}
		if r.at.After(downCut) {
			downRec = max(downRec, r.replicas)
		}
		if r.at.After(upCut) || r.at.After(downCut) {
			kept = append(kept, r)
		}
	}
	kept = append(kept, recommendation{at: now, replicas: desired})
	n := min(max(current, upRec), downRec)
	if n == desired {
		return n, kept, hpaCondition(HPAAbleToScale, true, ReasonReadyForNewScale, "recommended size matches current size")
	}
	if desired >= current {
		return n, kept, hpaCondition(HPAAbleToScale, true, ReasonScaleUpStabilized,
			"recent recommendations were lower than current one, applying the lowest recent recommendation")
	}
	return n, kept, hpaCondition(HPAAbleToScale, true, ReasonScaleDownStabilized,
		"recent recommendations were higher than current one, applying the highest recent recommendation")
}

// clampReplicas keeps a change of replicas within [lo, hi], and says in
// the ScalingLimited condition whether it had to.
func clampReplicas(desired, current, lo, hi int32) (int32, api.DeploymentCondition) {
	switch {
	case desired > current && desired > hi:
		return hi, hpaCondition(HPAScalingLimited, true, ReasonTooManyReplicas, "the desired replica count is more than the maximum replica count")
	case desired < current && desired < lo:
		return lo, hpaCondition(HPAScalingLimited, true, ReasonTooFewReplicas, "the desired replica count is less than the minimum replica count")
	}
	return desired, hpaCondition(HPAScalingLimited, false, ReasonDesiredWithinRange, "the desired count is within the acceptable range")
}

// hpaWindows returns the stabilization windows of an autoscaler.
func hpaWindows(s *api.HorizontalPodAutoscalerSpec) (up, down time.Duration) {
	up, down = DefaultScaleUpWindow, DefaultScaleDownWindow
	if b := s.Behavior; b != nil {
		if b.ScaleUp != nil && b.ScaleUp.StabilizationWindowSeconds != nil {
			up = time.Duration(*b.ScaleUp.StabilizationWindowSeconds) * time.Second
		}
		if b.ScaleDown != nil && b.ScaleDown.StabilizationWindowSeconds != nil {
			down = time.Duration(*b.ScaleDown.StabilizationWindowSeconds) * time.Second
		}
	}
	return up, down
}

// hpaDecision is what one round decides for an autoscaler.
type hpaDecision struct {
	desired int32
	// failed: no recommendation (the metrics failed); desired is the
	// last one, and nothing is scaled.
	failed   bool
	reason   string // why it scales, for the log
	statuses []api.MetricStatus
	conds    []api.DeploymentCondition
	hist     []recommendation
}

// decide is one round of an autoscaler whose target has current replicas:
// the metrics' recommendation, stabilized, clamped to [min, max]. A target
// outside [min, max] is brought back within at once; one with 0 replicas
// is left alone (scaling is disabled).
func decide(h *api.HorizontalPodAutoscaler, current int32, pods []*api.Pod, usage map[string]PodMetric, hist []recommendation, now time.Time) hpaDecision {
	lo, hi := api.Int32Value(h.Spec.MinReplicas, 1), h.Spec.MaxReplicas
	d := hpaDecision{hist: hist, conds: []api.DeploymentCondition{
		hpaCondition(HPAAbleToScale, true, ReasonSucceededGetScale, "the HPA controller was able to get the target's current scale")}}
	switch {
	case current == 0 && lo != 0:
		d.conds = append(d.conds, hpaCondition(HPAScalingActive, false, ReasonScalingDisabled, "scaling is disabled since the replica count of the target is zero"))
		return d
	case current > hi:
		d.desired, d.reason = hi, "Current number of replicas above Spec.MaxReplicas"
		return d
	case current < lo:
		d.desired, d.reason = lo, "Current number of replicas below Spec.MinReplicas"
		return d
	}
	rec := replicasForMetrics(current, h.Spec.Metrics, pods, usage)
	d.statuses = rec.statuses
	d.conds = append(d.conds, rec.active)
	if rec.replicas < 0 {
		d.desired, d.failed = h.Status.DesiredReplicas, true
		return d
	}
	switch {
	case rec.replicas > current:
		d.reason = rec.metric + " above target"
	case rec.replicas < current:
		d.reason = "All metrics below target"
	}
	if len(hist) == 0 {
		// A new autoscaler, or a new leader: what runs now counts as
		// recommended, so nothing scales down before a whole window.
		hist = []recommendation{{at: now, replicas: current}}
	}
	up, down := hpaWindows(&h.Spec)
	stable, hist, able := stabilize(hist, now, current, rec.replicas, up, down)
	desired, limited := clampReplicas(stable, current, lo, hi)
	d.desired, d.hist = desired, hist
	d.conds = append([]api.DeploymentCondition{able}, d.conds[1:]...)
	d.conds = append(d.conds, limited)
	return d
}

// hpaCondition is a condition of an autoscaler (its times are set when it
// is stored).
func hpaCondition(typ string, ok bool, reason, message string) api.DeploymentCondition {
	status := api.ConditionFalse
	if ok {
		status = api.ConditionTrue
	}
	return api.DeploymentCondition{Type: typ, Status: status, Reason: reason, Message: message}
}
