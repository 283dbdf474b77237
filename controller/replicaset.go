package controller

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/fsm"
)

// maxCreatesPerRound bounds the pods one ReplicaSet makes in one command.
const maxCreatesPerRound = 500

// syncReplicaSet keeps a ReplicaSet's pods at its replicas: it makes the
// missing ones, deletes the extra ones (those not yet placed, not ready or
// newest first), replaces failed ones, and moves the pods of draining
// nodes: a replacement first, then the old pod once enough are available.
// Then it records the counts in the status.
func (w *Workloads) syncReplicaSet(ctx context.Context, st *state, rs *api.ReplicaSet) error {
	active, failed := st.owned(rs.Metadata.UID)
	want := api.Int32Value(rs.Spec.Replicas, 1)
	var ops []fsm.Op
	for _, p := range failed {
		ops = append(ops, deleteOp("Pod", &p.Metadata))
	}
	var staying, leaving []*api.Pod
	for _, p := range active {
		if st.cannotStart(p, w.cfg.StartFailureGrace) {
			w.log.Info("replacing a pod whose container cannot start", "pod", p.Metadata.Namespace+"/"+p.Metadata.Name, "node", p.Spec.NodeName)
			w.avoid(rs.Metadata.UID, p.Spec.NodeName, st.now)
			ops = append(ops, deleteOp("Pod", &p.Metadata))
			continue
		}
		if st.draining(p) {
			leaving = append(leaving, p)
		} else {
			staying = append(staying, p)
		}
	}
	diff := int(want) - len(staying)
	switch {
	case diff > 0:
		ref := controllerRef("ReplicaSet", &rs.Metadata)
		avoid := w.avoided(rs.Metadata.UID, st.now)
		for range min(diff, maxCreatesPerRound) {
			p := podFromTemplate(&rs.Spec.Template, rs.Metadata.Namespace, rs.Metadata.Name+"-"+randomSuffix(), ref)
			p.Spec.Affinity = preferNotOn(p.Spec.Affinity, avoid)
			op, err := objectOp(fsm.VerbCreate, p)
			if err != nil {
				return err
			}
			ops = append(ops, op)
		}
	case diff < 0:
		slices.SortStableFunc(staying, func(a, b *api.Pod) int { return deletionRank(st, a, rs) - deletionRank(st, b, rs) })
		for _, p := range staying[:-diff] {
			ops = append(ops, deleteOp("Pod", &p.Metadata))
		}
		staying = staying[-diff:]
	}
	ops = append(ops, w.releaseLeaving(st, rs, staying, leaving)...)
	if len(ops) > 0 {
		if err := w.write(ctx, st.now, ops...); err != nil {
			return err
		}
		w.countPodOps(ops)
	}
	return w.replicaSetStatus(ctx, st, rs, active)
}

// releaseLeaving deletes the pods of draining nodes for which enough
// replacements are available: never fewer available pods than replicas
// less the owner's maxUnavailable.
func (w *Workloads) releaseLeaving(st *state, rs *api.ReplicaSet, staying, leaving []*api.Pod) []fsm.Op {
	want := api.Int32Value(rs.Spec.Replicas, 1)
	minAvailable := want - w.maxUnavailable(st, rs)
	avail := int32(0)
	for _, p := range slices.Concat(staying, leaving) {
		if st.available(p, rs.Spec.MinReadySeconds) {
			avail++
		}
	}
	var ops []fsm.Op
	for _, p := range leaving {
		isAvail := st.available(p, rs.Spec.MinReadySeconds)
		if isAvail && avail-1 < minAvailable {
			continue
		}
		if isAvail {
			avail--
		}
		w.log.Info("moving pod off a draining node", "pod", p.Metadata.Namespace+"/"+p.Metadata.Name, "node", p.Spec.NodeName)
		ops = append(ops, deleteOp("Pod", &p.Metadata))
	}
	return ops
}

// maxUnavailable is the owning Deployment's, or 0 for a ReplicaSet of its
// own.
func (w *Workloads) maxUnavailable(st *state, rs *api.ReplicaSet) int32 {
	ref := api.ControllerOf(&rs.Metadata)
	if ref == nil || ref.Kind != "Deployment" {
		return 0
	}
	for _, d := range st.deployments {
		if d.Metadata.UID == ref.UID && d.Spec.Strategy.RollingUpdate != nil {
			return resolve(d.Spec.Strategy.RollingUpdate.MaxUnavailable, api.Int32Value(d.Spec.Replicas, 1), false)
		}
	}
	return 0
}

// deletionRank orders the pods to delete first: not placed, then not
// ready, then not available, then the rest.
func deletionRank(st *state, p *api.Pod, rs *api.ReplicaSet) int {
	switch {
	case p.Spec.NodeName == "":
		return 0
	case !p.Ready():
		return 1
	case !st.available(p, rs.Spec.MinReadySeconds):
		return 2
	}
	return 3
}

func (w *Workloads) countPodOps(ops []fsm.Op) {
	w.count(func(s *WorkloadsStats) {
		for _, op := range ops {
			if op.Kind != "Pod" {
				continue
			}
			switch op.Verb {
			case fsm.VerbCreate:
				s.PodsCreated++
			case fsm.VerbDelete:
				s.PodsDeleted++
			}
		}
	})
}

// replicaSetStatus records the counts of the pods the round saw.
func (w *Workloads) replicaSetStatus(ctx context.Context, st *state, rs *api.ReplicaSet, active []*api.Pod) error {
	next := api.ReplicaSetStatus{ObservedGeneration: rs.Metadata.Generation, Replicas: int32(len(active))}
	for _, p := range active {
		if rs.Spec.Selector.Matches(p.Metadata.Labels) {
			next.FullyLabeledReplicas++
		}
		if p.Ready() {
			next.ReadyReplicas++
		}
		if st.available(p, rs.Spec.MinReadySeconds) {
			next.AvailableReplicas++
		}
	}
	if next == rs.Status {
		return nil
	}
	cp := *rs
	cp.Status = next
	op, err := objectOp(fsm.VerbStatus, &cp)
	if err != nil {
		return err
	}
	return w.write(ctx, st.now, op)
}

// clone deep-copies an api object through JSON.
func clone[T any](v *T) *T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return out
}

// startFailures are the container waiting reasons of a pod that cannot
// start where it is: the image, the container's creation or its start.
var startFailures = []string{api.ReasonErrImagePull, api.ReasonImagePullBackOff, api.ReasonCreateContainerErr,
	api.ReasonCreateConfigErr, api.ReasonRunContainerError}

// cannotStart reports whether a placed pod has been unable to start a
// container for grace since it was made.
func (st *state) cannotStart(p *api.Pod, grace time.Duration) bool {
	if p.Spec.NodeName == "" || p.Ready() {
		return false
	}
	created, err := time.Parse(time.RFC3339, p.Metadata.CreationTimestamp)
	if err != nil || st.now.Sub(created) < grace {
		return false
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && slices.Contains(startFailures, w.Reason) {
			return true
		}
	}
	return false
}

// avoidFor is how long a node where a ReplicaSet's pod could not start is
// avoided for its new pods.
const avoidFor = 5 * time.Minute

// avoid remembers, on this leader only (a hint, not state), that a pod of
// a ReplicaSet could not start on a node.
func (w *Workloads) avoid(rs, node string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.badNodes == nil {
		w.badNodes = map[string]map[string]time.Time{}
	}
	if w.badNodes[rs] == nil {
		w.badNodes[rs] = map[string]time.Time{}
	}
	w.badNodes[rs][node] = now
}

// avoided returns the nodes a ReplicaSet's new pods should avoid.
func (w *Workloads) avoided(rs string, now time.Time) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for node, at := range w.badNodes[rs] {
		if now.Sub(at) < avoidFor {
			out = append(out, node)
		} else {
			delete(w.badNodes[rs], node)
		}
	}
	slices.Sort(out)
	return out
}

// preferNotOn steers a pod away from nodes (a preference: a pod that fits
// only there still goes there).
func preferNotOn(a *api.Affinity, nodes []string) *api.Affinity {
	if len(nodes) == 0 {
		return a
	}
	if a == nil {
		a = &api.Affinity{}
	}
	if a.NodeAffinity == nil {
		a.NodeAffinity = &api.NodeAffinity{}
	}
	a.NodeAffinity.Preferred = append(a.NodeAffinity.Preferred, api.PreferredSchedulingTerm{Weight: 100,
		Preference: api.NodeSelectorTerm{MatchFields: []api.NodeSelectorRequirement{{Key: "metadata.name", Operator: "NotIn", Values: nodes}}}})
	return a
}
