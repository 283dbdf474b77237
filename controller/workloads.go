package controller

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/fsm"
)

// The workload controllers keep the pods of Deployments, ReplicaSets and
// StatefulSets, and replace the pods of nodes that failed. One loop runs
// them all on the leader: each round reads one consistent view of the
// store, decides, and commits what it decided; a round runs after every
// change of the store and at least every Resync, for what depends on the
// clock (minReadySeconds, progress deadlines, node grace).
//
// Timings of node failure (defaults):
//
//   - A node is NotReady once gossip declares its agent dead (a few
//     seconds after it stops answering; see gossip.Config).
//   - After NodeDownGrace (10 s) NotReady, the node's ReplicaSet pods are
//     deleted, and their ReplicaSets make new ones, which the scheduler
//     places on ready nodes.
//   - A StatefulSet's pod is replaced only when the node has been NotReady
//     for FenceLease + FenceMargin (10 s + 3 s): by then the node has
//     stopped it (the fence, see agent/fence.go). A worker renews its lease
//     only when a linearizable read says its Node is Ready, and a lease
//     runs FenceLease from the moment that read was sent, so the lease
//     has run out before the NotReady condition is FenceLease old. The
//     margin covers the second granularity of condition times, the commit
//     latency, the kill, and clock skew between machines.

// WorkloadsConfig configures the workload controllers.
type WorkloadsConfig struct {
	FSM      *fsm.FSM
	Proposer Proposer
	Logger   *slog.Logger
	Now      func() time.Time
	// NodeDownGrace is how long a node is NotReady before its pods are
	// replaced elsewhere (default 10 s).
	NodeDownGrace time.Duration
	// FenceLease is how long a worker keeps running its stateful pods
	// without a confirmation that it is Ready (default 10 s); FenceMargin
	// is added before they are replaced (default 3 s).
	FenceLease, FenceMargin time.Duration
	// Resync is the longest time between two rounds (default 1 s).
	Resync time.Duration
	// StartFailureGrace is how long a pod's container may fail to start
	// (image pull, create or run errors) before the pod is replaced,
	// preferably on another node (default 30 s).
	StartFailureGrace time.Duration
	// Events records what the controllers did (nil: nothing).
	Events Recorder
}

// Defaults of WorkloadsConfig.
const (
	DefaultNodeDownGrace = 10 * time.Second
	DefaultFenceLease    = 10 * time.Second
	DefaultFenceMargin   = 3 * time.Second
)

// Workloads runs the workload controllers.
type Workloads struct {
	cfg WorkloadsConfig
	log *slog.Logger

	mu    sync.Mutex
	stats WorkloadsStats
	// badNodes: by ReplicaSet UID, the nodes where its pods could not
	// start lately, and when.
	badNodes map[string]map[string]time.Time
	// next is when a round must run at the latest for a deadline (a
	// node's grace running out); zero: none.
	next time.Time
}

// WorkloadsStats counts what the controllers wrote.
type WorkloadsStats struct {
	Rounds, PodsCreated, PodsDeleted, Evicted, Conflicts uint64
}

// NewWorkloads returns the workload controllers; Run drives them.
func NewWorkloads(cfg WorkloadsConfig) *Workloads {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NodeDownGrace <= 0 {
		cfg.NodeDownGrace = DefaultNodeDownGrace
	}
	if cfg.FenceLease <= 0 {
		cfg.FenceLease = DefaultFenceLease
	}
	if cfg.FenceMargin <= 0 {
		cfg.FenceMargin = DefaultFenceMargin
	}
	if cfg.Resync <= 0 {
		cfg.Resync = time.Second
	}
	if cfg.StartFailureGrace <= 0 {
		cfg.StartFailureGrace = 30 * time.Second
	}
	return &Workloads{cfg: cfg, log: cfg.Logger.With("controller", "workloads")}
}

// Stats returns the counts so far.
func (w *Workloads) Stats() WorkloadsStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

func (w *Workloads) count(f func(s *WorkloadsStats)) {
	w.mu.Lock()
	f(&w.stats)
	w.mu.Unlock()
}

// Run reconciles until ctx ends (leadership lost).
func (w *Workloads) Run(ctx context.Context) {
	if !w.barrier(ctx) {
		return
	}
	for ctx.Err() == nil {
		_, changed := w.cfg.FSM.Applied()
		if err := w.Reconcile(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("reconcile workloads", "err", err)
		}
		wait := w.cfg.Resync
		w.mu.Lock()
		if !w.next.IsZero() {
			wait = min(wait, max(time.Until(w.next), time.Millisecond))
		}
		w.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-changed:
			// Let a burst of commits (pod reports) gather into one round.
			sleepCtx(ctx, 20*time.Millisecond)
		case <-t.C:
		}
		t.Stop()
	}
}

// barrier commits an empty command and waits for it: a new leader's
// state machine may not have applied every committed entry yet, and a
// round on such a view would make pods that exist already. It reports
// false when ctx ended first.
func (w *Workloads) barrier(ctx context.Context) bool {
	for ctx.Err() == nil {
		_, err := w.cfg.Proposer.Apply(ctx, &fsm.Command{Type: fsm.CmdWrite, Time: w.cfg.Now().UTC().Format(time.RFC3339)})
		if err == nil {
			return true
		}
		w.log.Debug("barrier", "err", err)
		sleepCtx(ctx, 200*time.Millisecond)
	}
	return false
}

// Reconcile runs every controller once over one view of the store.
func (w *Workloads) Reconcile(ctx context.Context) error {
	w.count(func(s *WorkloadsStats) { s.Rounds++ })
	st, err := w.snapshot()
	if err != nil {
		return err
	}
	errs := []error{w.evict(ctx, st)}
	for _, d := range st.deployments {
		errs = append(errs, w.syncDeployment(ctx, st, d))
	}
	for _, rs := range st.replicaSets {
		errs = append(errs, w.syncReplicaSet(ctx, st, rs))
	}
	for _, ss := range st.statefulSets {
		errs = append(errs, w.syncStatefulSet(ctx, st, ss))
	}
	errs = append(errs, w.syncEndpoints(ctx, st))
	return errors.Join(errs...)
}

// state is what one round sees.
type state struct {
	now          time.Time
	rev          uint64
	nodes        map[string]*api.Node
	pods         []*api.Pod
	byOwner      map[string][]*api.Pod // active and finished pods, by controller UID
	deployments  []*api.Deployment
	replicaSets  []*api.ReplicaSet
	statefulSets []*api.StatefulSet
	claims       map[string]*api.PersistentVolumeClaim // by namespace/name
	services     []*api.Service
	endpoints    map[string]*api.Endpoints // by namespace/name
}

func (w *Workloads) snapshot() (*state, error) {
	v := w.cfg.FSM.View()
	st := &state{now: w.cfg.Now(), rev: v.Revision(), nodes: map[string]*api.Node{}, byOwner: map[string][]*api.Pod{},
		claims: map[string]*api.PersistentVolumeClaim{}, endpoints: map[string]*api.Endpoints{}}
	nodes, err := v.List("Node", "", api.Selector{})
	if err != nil {
		return nil, err
	}
	for _, r := range nodes {
		st.nodes[r.Name] = r.Node()
	}
	pods, err := v.List("Pod", "", api.Selector{})
	if err != nil {
		return nil, err
	}
	for _, r := range pods {
		p := r.Pod()
		st.pods = append(st.pods, p)
		if ref := api.ControllerOf(&p.Metadata); ref != nil {
			st.byOwner[ref.UID] = append(st.byOwner[ref.UID], p)
		}
	}
	if err := decodeAll(v, "Deployment", &st.deployments); err != nil {
		return nil, err
	}
	if err := decodeAll(v, "ReplicaSet", &st.replicaSets); err != nil {
		return nil, err
	}
	if err := decodeAll(v, "StatefulSet", &st.statefulSets); err != nil {
		return nil, err
	}
	var claims []*api.PersistentVolumeClaim
	if err := decodeAll(v, "PersistentVolumeClaim", &claims); err != nil {
		return nil, err
	}
	for _, c := range claims {
		st.claims[c.Metadata.Namespace+"/"+c.Metadata.Name] = c
	}
	if err := decodeAll(v, "Service", &st.services); err != nil {
		return nil, err
	}
	var eps []*api.Endpoints
	if err := decodeAll(v, "Endpoints", &eps); err != nil {
		return nil, err
	}
	for _, e := range eps {
		st.endpoints[e.Metadata.Namespace+"/"+e.Metadata.Name] = e
	}
	return st, nil
}

// decodeAll decodes every stored object of a kind into *out.
func decodeAll[T api.Object](v *fsm.View, kind string, out *[]T) error {
	recs, err := v.List(kind, "", api.Selector{})
	if err != nil {
		return err
	}
	for _, r := range recs {
		obj, err := api.DecodeStored(kind, r.Object)
		if err != nil {
			return fmt.Errorf("%s %s/%s: %w", kind, r.Namespace, r.Name, err)
		}
		*out = append(*out, obj.(T))
	}
	return nil
}

// owned returns the pods whose controller is uid that have not finished,
// and those that failed.
func (st *state) owned(uid string) (active, failed []*api.Pod) {
	for _, p := range st.byOwner[uid] {
		switch p.Status.Phase {
		case api.PodFailed:
			failed = append(failed, p)
		case api.PodSucceeded:
		default:
			active = append(active, p)
		}
	}
	return active, failed
}

// available reports whether a pod has been ready for minReady.
func (st *state) available(p *api.Pod, minReady int32) bool {
	c := p.Condition(api.PodReady)
	if c == nil || c.Status != api.ConditionTrue {
		return false
	}
	if minReady <= 0 {
		return true
	}
	t, err := time.Parse(time.RFC3339, c.LastTransitionTime)
	return err == nil && !st.now.Before(t.Add(time.Duration(minReady)*time.Second))
}

// draining reports whether a pod's node is being drained: its pods are
// replaced elsewhere before they are deleted.
func (st *state) draining(p *api.Pod) bool {
	n := st.nodes[p.Spec.NodeName]
	return n != nil && n.Spec.Unschedulable && n.Metadata.Annotations[api.AnnotationDraining] == "true"
}

// notReadyFor says how long a node has not been Ready (0 when it is), and
// whether it is known at all.
func (st *state) notReadyFor(name string) (time.Duration, bool) {
	n := st.nodes[name]
	if n == nil {
		return 0, false
	}
	c := readyOf(n)
	if c.Status == api.ConditionTrue {
		return 0, true
	}
	t, err := time.Parse(time.RFC3339, c.LastTransitionTime)
	if err != nil {
		return 0, true
	}
	return max(st.now.Sub(t), 0), true
}

// write commits ops as one command; a conflict (someone wrote first) is
// counted and left to the next round.
func (w *Workloads) write(ctx context.Context, now time.Time, ops ...fsm.Op) error {
	if len(ops) == 0 {
		return nil
	}
	var evs []event
	if w.cfg.Events != nil {
		evs = opEvents(w.cfg.FSM.View(), ops)
	}
	_, err := w.cfg.Proposer.Apply(ctx, &fsm.Command{Type: fsm.CmdWrite, Time: now.UTC().Format(time.RFC3339), Ops: ops})
	if err == nil {
		record(w.cfg.Events, evs...)
	}
	if errors.Is(err, fsm.ErrConflict) || errors.Is(err, fsm.ErrAlreadyExists) || errors.Is(err, fsm.ErrNotFound) {
		w.count(func(s *WorkloadsStats) { s.Conflicts++ })
		return nil
	}
	return err
}

// objectOp makes the op of a write of obj at the revision it was read.
func objectOp(verb fsm.Verb, obj api.Object) (fsm.Op, error) {
	api.Default(obj)
	op, err := fsm.ObjectOp(verb, obj)
	if err != nil {
		return op, err
	}
	switch verb {
	case fsm.VerbCreate:
		op.UID = NewUID()
	default:
		op.ResourceVersion = parseRV(obj.GetObjectMeta().ResourceVersion)
	}
	return op, nil
}

func deleteOp(kind string, m *api.ObjectMeta) fsm.Op {
	return fsm.Op{Verb: fsm.VerbDelete, Kind: kind, Namespace: m.Namespace, Name: m.Name, ResourceVersion: parseRV(m.ResourceVersion)}
}

// controllerRef is the owner reference a controller puts on what it makes.
func controllerRef(kind string, m *api.ObjectMeta) api.OwnerReference {
	yes := true
	return api.OwnerReference{APIVersion: "apps/v1", Kind: kind, Name: m.Name, UID: m.UID, Controller: &yes}
}

// templateHash names a pod template: equal templates, equal hashes.
func templateHash(t *api.PodTemplateSpec) string {
	b, err := api.Encode(&api.Pod{Metadata: t.Metadata, Spec: t.Spec})
	if err != nil {
		panic(err) // a template that was validated encodes
	}
	h := fnv.New32a()
	h.Write(b)
	return strconv.FormatUint(uint64(h.Sum32()), 36)
}

// podFromTemplate makes a pod of a template, owned by ref.
func podFromTemplate(t *api.PodTemplateSpec, ns, name string, ref api.OwnerReference) *api.Pod {
	p := &api.Pod{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"}}
	p.Metadata = api.ObjectMeta{Name: name, Namespace: ns, Labels: maps.Clone(t.Metadata.Labels),
		Annotations: maps.Clone(t.Metadata.Annotations), OwnerReferences: []api.OwnerReference{ref}}
	// A deep copy through JSON: the template is shared with the view.
	b, _ := api.Encode(&api.Pod{Spec: t.Spec})
	var spec api.Pod
	if err := json.Unmarshal(b, &spec); err == nil {
		p.Spec = spec.Spec
	}
	return p
}

// randomSuffix is Kubernetes' generated-name suffix: 5 characters of
// consonants and digits.
func randomSuffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// resolve turns maxSurge or maxUnavailable into a count of replicas:
// percentages round up (surge) or down (unavailable).
func resolve(v *api.IntOrString, replicas int32, roundUp bool) int32 {
	if v == nil {
		return 0
	}
	if v.StrVal == "" {
		return v.IntVal
	}
	pct, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	if err != nil {
		return 0
	}
	n := int64(pct) * int64(replicas)
	if roundUp {
		return int32((n + 99) / 100)
	}
	return int32(n / 100)
}

// setCondition puts c in conds (replacing one of its type) and keeps the
// transition time when the status did not change. It reports whether
// anything changed.
func setCondition(conds *[]api.DeploymentCondition, c api.DeploymentCondition) bool {
	i := slices.IndexFunc(*conds, func(x api.DeploymentCondition) bool { return x.Type == c.Type })
	if i < 0 {
		*conds = append(*conds, c)
		return true
	}
	old := (*conds)[i]
	if old.Status == c.Status {
		c.LastTransitionTime = old.LastTransitionTime
	}
	if old == c {
		return false
	}
	(*conds)[i] = c
	return true
}

func conditionOf(conds []api.DeploymentCondition, t string) *api.DeploymentCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
