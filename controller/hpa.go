package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/fsm"
)

// The autoscaler (Kubernetes' HorizontalPodAutoscaler controller): every
// Interval it reads what the pods of each autoscaler's target use, from
// their nodes (MetricsSource), recommends a replica count (hpa_calc.go),
// writes it into the target's spec.replicas and the autoscaler's status.
// The recommendations of the stabilization windows are kept in memory
// only: a new leader starts them again from the current replicas, so it
// scales nothing down before a whole window has passed.

// MetricsSource reads what the pods of a node use, as the node measures
// them. The agent implements it with each node's PodMetrics call.
type MetricsSource interface {
	PodMetrics(ctx context.Context, node string) ([]PodMetric, error)
}

// PodMetric is what one pod uses.
type PodMetric struct {
	Namespace, Name, UID string
	// CPUMilli is CPU in thousandths of a core, averaged over Window.
	CPUMilli int64
	// MemoryBytes is the memory in use (working set) at the window's end.
	MemoryBytes int64
	// GPUPercent is the average utilization of the pod's GPUs; nil when it
	// has none or they cannot be read.
	GPUPercent *int32
	Window     time.Duration
}

// AutoscalerConfig configures the autoscaler.
type AutoscalerConfig struct {
	FSM      *fsm.FSM
	Proposer Proposer
	Logger   *slog.Logger
	Now      func() time.Time
	Metrics  MetricsSource
	// Interval is the time between two rounds (default 5 s).
	Interval time.Duration
	// MetricsTimeout bounds the wait for one node's metrics (default 5 s).
	MetricsTimeout time.Duration
	// Events records each rescale (nil: nothing).
	Events Recorder
}

// DefaultHPAInterval is the autoscaler's round unless configured.
const DefaultHPAInterval = 5 * time.Second

// Autoscaler is the leader's HorizontalPodAutoscaler controller.
type Autoscaler struct {
	cfg AutoscalerConfig
	log *slog.Logger

	mu sync.Mutex
	// recs are the recent recommendations, by autoscaler UID.
	recs  map[string][]recommendation
	stats AutoscalerStats
}

// AutoscalerStats counts what the autoscaler did.
type AutoscalerStats struct {
	Rounds, Scaled, StatusWrites, Conflicts uint64
}

// NewAutoscaler returns an autoscaler; Run drives it.
func NewAutoscaler(cfg AutoscalerConfig) *Autoscaler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultHPAInterval
	}
	if cfg.MetricsTimeout <= 0 {
		cfg.MetricsTimeout = 5 * time.Second
	}
	return &Autoscaler{cfg: cfg, log: cfg.Logger.With("controller", "autoscaler"), recs: map[string][]recommendation{}}
}

// Stats returns the counts so far.
func (c *Autoscaler) Stats() AutoscalerStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

func (c *Autoscaler) count(f func(s *AutoscalerStats)) {
	c.mu.Lock()
	f(&c.stats)
	c.mu.Unlock()
}

// Run runs a round every Interval until ctx ends (leadership lost).
func (c *Autoscaler) Run(ctx context.Context) {
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	for {
		if err := c.Reconcile(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("reconcile autoscalers", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// hpaWork is one autoscaler of a round, with its target and pods.
type hpaWork struct {
	hpa    *api.HorizontalPodAutoscaler
	target *scaleTarget
	err    error // the target could not be read
	pods   []*api.Pod
}

// Reconcile runs one round over one view of the store.
func (c *Autoscaler) Reconcile(ctx context.Context) error {
	c.count(func(s *AutoscalerStats) { s.Rounds++ })
	v := c.cfg.FSM.View()
	var hpas []*api.HorizontalPodAutoscaler
	if err := decodeAll(v, "HorizontalPodAutoscaler", &hpas); err != nil {
		return err
	}
	c.forget(hpas)
	if len(hpas) == 0 {
		return nil
	}
	work := make([]hpaWork, 0, len(hpas))
	nodes := map[string]bool{}
	for _, h := range hpas {
		w := hpaWork{hpa: h}
		w.target, w.err = targetOf(v, h.Metadata.Namespace, h.Spec.ScaleTargetRef)
		if w.err == nil {
			if w.pods, w.err = targetPods(v, h.Metadata.Namespace, w.target.selector); w.err != nil {
				return w.err
			}
			for _, p := range w.pods {
				if p.Spec.NodeName != "" && p.Status.Phase == api.PodRunning {
					nodes[p.Spec.NodeName] = true
				}
			}
		}
		work = append(work, w)
	}
	usage := c.fetch(ctx, slices.Sorted(maps.Keys(nodes)))
	var errs []error
	for _, w := range work {
		errs = append(errs, c.reconcileOne(ctx, w, usage))
	}
	return errors.Join(errs...)
}

// forget drops the recommendations of autoscalers that are gone.
func (c *Autoscaler) forget(hpas []*api.HorizontalPodAutoscaler) {
	live := map[string]bool{}
	for _, h := range hpas {
		live[h.Metadata.UID] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	maps.DeleteFunc(c.recs, func(uid string, _ []recommendation) bool { return !live[uid] })
}

// fetch asks every node at once for its pods' metrics, and returns them by
// namespace/name. A node that does not answer leaves its pods unmeasured.
func (c *Autoscaler) fetch(ctx context.Context, nodes []string) map[string]PodMetric {
	out := map[string]PodMetric{}
	if c.cfg.Metrics == nil {
		return out
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, node := range nodes {
		wg.Go(func() {
			nctx, cancel := context.WithTimeout(ctx, c.cfg.MetricsTimeout)
			defer cancel()
			ms, err := c.cfg.Metrics.PodMetrics(nctx, node)
			if err != nil {
				c.log.Debug("pod metrics", "node", node, "err", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, m := range ms {
				out[m.Namespace+"/"+m.Name] = m
			}
		})
	}
	wg.Wait()
	return out
}

// scaleTarget is the object an autoscaler scales.
type scaleTarget struct {
	obj      api.Object
	replicas int32
	selector *api.LabelSelector
	// scale sets the object's spec.replicas.
	scale func(n int32)
}

// targetOf reads the Deployment, StatefulSet or ReplicaSet an autoscaler
// names.
func targetOf(v *fsm.View, ns string, ref api.CrossVersionObjectReference) (*scaleTarget, error) {
	switch ref.Kind {
	case "Deployment", "StatefulSet", "ReplicaSet":
	default:
		return nil, fmt.Errorf("%s is not a kind that scales", ref.Kind)
	}
	r, err := v.Get(ref.Kind, ns, ref.Name)
	if err != nil {
		return nil, err
	}
	obj, err := api.DecodeStored(ref.Kind, r.Object)
	if err != nil {
		return nil, err
	}
	t := &scaleTarget{obj: obj}
	var replicas **int32
	switch o := obj.(type) {
	case *api.Deployment:
		replicas, t.selector = &o.Spec.Replicas, o.Spec.Selector
	case *api.StatefulSet:
		replicas, t.selector = &o.Spec.Replicas, o.Spec.Selector
	case *api.ReplicaSet:
		replicas, t.selector = &o.Spec.Replicas, o.Spec.Selector
	}
	t.replicas = api.Int32Value(*replicas, 1)
	t.scale = func(n int32) { *replicas = &n }
	return t, nil
}

// targetPods returns the pods of a namespace that a selector matches.
func targetPods(v *fsm.View, ns string, sel *api.LabelSelector) ([]*api.Pod, error) {
	recs, err := v.List("Pod", ns, api.Selector{})
	if err != nil {
		return nil, err
	}
	var out []*api.Pod
	for _, r := range recs {
		if p := r.Pod(); p != nil && sel.Matches(p.Metadata.Labels) {
			out = append(out, p)
		}
	}
	return out, nil
}

// usageOf picks the metrics of pods from a round's, by pod name; a metric
// of another pod of the same name (an older one) does not count.
func usageOf(pods []*api.Pod, all map[string]PodMetric) map[string]PodMetric {
	out := map[string]PodMetric{}
	for _, p := range pods {
		m, ok := all[p.Metadata.Namespace+"/"+p.Metadata.Name]
		if ok && (m.UID == "" || m.UID == p.Metadata.UID) {
			out[p.Metadata.Name] = m
		}
	}
	return out
}

// reconcileOne decides for one autoscaler, scales its target when that
// changes, and writes its status when that changes.
func (c *Autoscaler) reconcileOne(ctx context.Context, w hpaWork, all map[string]PodMetric) error {
	h, now := w.hpa, c.cfg.Now()
	status := cloneHPAStatus(&h.Status)
	if w.err != nil {
		setHPACondition(status, now, hpaCondition(HPAAbleToScale, false, ReasonFailedGetScale,
			"the HPA controller was unable to get the target's current scale: "+w.err.Error()))
		return c.writeStatus(ctx, h, status)
	}
	c.mu.Lock()
	hist := c.recs[h.Metadata.UID]
	c.mu.Unlock()
	d := decide(h, w.target.replicas, w.pods, usageOf(w.pods, all), hist, now)
	c.mu.Lock()
	c.recs[h.Metadata.UID] = d.hist
	c.mu.Unlock()
	status.ObservedGeneration = h.Metadata.Generation
	status.CurrentReplicas, status.DesiredReplicas, status.CurrentMetrics = w.target.replicas, d.desired, d.statuses
	for _, cond := range d.conds {
		setHPACondition(status, now, cond)
	}
	if !d.failed && d.desired != w.target.replicas {
		err := c.scale(ctx, h, w.target, d, now)
		switch {
		case errors.Is(err, fsm.ErrConflict) || errors.Is(err, fsm.ErrNotFound):
			c.count(func(s *AutoscalerStats) { s.Conflicts++ })
			return nil // the target changed meanwhile: next round
		case err != nil:
			setHPACondition(status, now, hpaCondition(HPAAbleToScale, false, ReasonFailedUpdateScale,
				"the HPA controller was unable to update the target scale: "+err.Error()))
			return errors.Join(err, c.writeStatus(ctx, h, status))
		}
		status.LastScaleTime = now.UTC().Format(time.RFC3339)
		setHPACondition(status, now, hpaCondition(HPAAbleToScale, true, ReasonSucceededRescale,
			fmt.Sprintf("the HPA controller was able to update the target scale to %d", d.desired)))
	}
	return c.writeStatus(ctx, h, status)
}

// scale writes the target's new replicas at the version it was read.
func (c *Autoscaler) scale(ctx context.Context, h *api.HorizontalPodAutoscaler, t *scaleTarget, d hpaDecision, now time.Time) error {
	t.scale(d.desired)
	op, err := objectOp(fsm.VerbUpdate, t.obj)
	if err != nil {
		return err
	}
	if _, err := c.cfg.Proposer.Apply(ctx, &fsm.Command{Type: fsm.CmdWrite, Time: now.UTC().Format(time.RFC3339), Ops: []fsm.Op{op}}); err != nil {
		return err
	}
	c.count(func(s *AutoscalerStats) { s.Scaled++ })
	ref := h.Spec.ScaleTargetRef
	c.log.Info("hpa scaled", "hpa", h.Metadata.Namespace+"/"+h.Metadata.Name, "target", ref.Kind+"/"+ref.Name,
		"old", t.replicas, "new", d.desired, "metric", d.reason)
	record(c.cfg.Events, event{refOf("HorizontalPodAutoscaler", &h.Metadata), api.EventNormal, "SuccessfulRescale", fmt.Sprintf("New size: %d; reason: %s", d.desired, d.reason)})
	return nil
}

// writeStatus writes an autoscaler's status if it changed, at the version
// the autoscaler was read; a conflict waits for the next round.
func (c *Autoscaler) writeStatus(ctx context.Context, h *api.HorizontalPodAutoscaler, status *api.HorizontalPodAutoscalerStatus) error {
	old, _ := json.Marshal(&h.Status)
	next, _ := json.Marshal(status)
	if string(old) == string(next) {
		return nil
	}
	obj := *h
	obj.Status = *status
	op, err := fsm.ObjectOp(fsm.VerbStatus, &obj)
	if err != nil {
		return err
	}
	op.ResourceVersion = parseRV(h.Metadata.ResourceVersion)
	_, err = c.cfg.Proposer.Apply(ctx, &fsm.Command{Type: fsm.CmdWrite, Time: c.cfg.Now().UTC().Format(time.RFC3339), Ops: []fsm.Op{op}})
	if errors.Is(err, fsm.ErrConflict) || errors.Is(err, fsm.ErrNotFound) {
		c.count(func(s *AutoscalerStats) { s.Conflicts++ })
		return nil
	}
	if err == nil {
		c.count(func(s *AutoscalerStats) { s.StatusWrites++ })
	}
	return err
}

// cloneHPAStatus copies a status deeply enough to change its lists.
func cloneHPAStatus(s *api.HorizontalPodAutoscalerStatus) *api.HorizontalPodAutoscalerStatus {
	out := *s
	out.Conditions = slices.Clone(s.Conditions)
	out.CurrentMetrics = slices.Clone(s.CurrentMetrics)
	return &out
}

// setHPACondition sets a condition, its transition time now when its
// status changes.
func setHPACondition(s *api.HorizontalPodAutoscalerStatus, now time.Time, cond api.DeploymentCondition) {
	cond.LastTransitionTime = now.UTC().Format(time.RFC3339)
	setCondition(&s.Conditions, cond)
}
