package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/fsm"
)

// A Deployment keeps one ReplicaSet per pod template it has run, named
// after the template's hash and numbered by the revision annotation. The
// newest template's ReplicaSet is scaled up and the others down, within
// maxSurge and maxUnavailable (RollingUpdate), or all the old ones to zero
// before the new one starts (Recreate). Going back to an old template
// (`berth rollout undo`) finds its ReplicaSet again and gives it the next
// revision. Each round takes one step; the next round sees its effect.

// syncDeployment takes a Deployment one step towards its template.
func (w *Workloads) syncDeployment(ctx context.Context, st *state, d *api.Deployment) error {
	rss := st.replicaSetsOf(d.Metadata.UID)
	hash := templateHash(&d.Spec.Template)
	var newRS *api.ReplicaSet
	var old []*api.ReplicaSet
	maxRev := int64(0)
	for _, rs := range rss {
		maxRev = max(maxRev, revisionOf(&rs.Metadata))
		if rs.Metadata.Labels[api.LabelPodTemplateHash] == hash {
			newRS = rs
		} else {
			old = append(old, rs)
		}
	}
	if newRS == nil {
		if d.Spec.Paused {
			return w.deploymentStatus(ctx, st, d, nil, old)
		}
		return w.createReplicaSet(ctx, st, d, hash, maxRev+1)
	}
	if rev := revisionOf(&newRS.Metadata); rev < maxRev {
		// Back to an older template: its ReplicaSet becomes the newest.
		return w.setRevision(ctx, st, d, newRS, maxRev+1)
	}
	if rev := newRS.Metadata.Annotations[api.AnnotationRevision]; d.Metadata.Annotations[api.AnnotationRevision] != rev {
		cp := clone(d)
		if cp.Metadata.Annotations == nil {
			cp.Metadata.Annotations = map[string]string{}
		}
		cp.Metadata.Annotations[api.AnnotationRevision] = rev
		op, err := objectOp(fsm.VerbUpdate, cp)
		if err != nil {
			return err
		}
		return w.write(ctx, st.now, op)
	}
	if d.Spec.Paused {
		return w.deploymentStatus(ctx, st, d, newRS, old)
	}
	var ops []fsm.Op
	if d.Spec.Strategy.Type == api.RecreateStrategy {
		ops = w.recreate(st, d, newRS, old)
	} else {
		ops = w.rollingUpdate(st, d, newRS, old)
	}
	if len(ops) == 0 {
		ops = w.cleanupHistory(st, d, old)
	}
	if len(ops) > 0 {
		return w.write(ctx, st.now, ops...)
	}
	return w.deploymentStatus(ctx, st, d, newRS, old)
}

// replicaSetsOf returns the ReplicaSets a Deployment controls, by revision.
func (st *state) replicaSetsOf(uid string) []*api.ReplicaSet {
	var out []*api.ReplicaSet
	for _, rs := range st.replicaSets {
		if ref := api.ControllerOf(&rs.Metadata); ref != nil && ref.UID == uid {
			out = append(out, rs)
		}
	}
	slices.SortStableFunc(out, func(a, b *api.ReplicaSet) int {
		return int(revisionOf(&a.Metadata) - revisionOf(&b.Metadata))
	})
	return out
}

func revisionOf(m *api.ObjectMeta) int64 {
	n, _ := strconv.ParseInt(m.Annotations[api.AnnotationRevision], 10, 64)
	return n
}

// createReplicaSet makes the ReplicaSet of a Deployment's current
// template, with no replicas yet.
func (w *Workloads) createReplicaSet(ctx context.Context, st *state, d *api.Deployment, hash string, rev int64) error {
	rs := &api.ReplicaSet{TypeMeta: api.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"}}
	rs.Metadata = api.ObjectMeta{
		Name: d.Metadata.Name + "-" + hash, Namespace: d.Metadata.Namespace,
		Labels:          maps.Clone(d.Spec.Template.Metadata.Labels),
		Annotations:     map[string]string{api.AnnotationRevision: strconv.FormatInt(rev, 10)},
		OwnerReferences: []api.OwnerReference{controllerRef("Deployment", &d.Metadata)},
	}
	if rs.Metadata.Labels == nil {
		rs.Metadata.Labels = map[string]string{}
	}
	rs.Metadata.Labels[api.LabelPodTemplateHash] = hash
	if cause, ok := d.Metadata.Annotations[api.AnnotationChangeCause]; ok {
		rs.Metadata.Annotations[api.AnnotationChangeCause] = cause
	}
	zero := int32(0)
	rs.Spec.Replicas = &zero
	rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
	sel := clone(d.Spec.Selector)
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[api.LabelPodTemplateHash] = hash
	rs.Spec.Selector = sel
	rs.Spec.Template = *clone(&d.Spec.Template)
	if rs.Spec.Template.Metadata.Labels == nil {
		rs.Spec.Template.Metadata.Labels = map[string]string{}
	}
	rs.Spec.Template.Metadata.Labels[api.LabelPodTemplateHash] = hash
	op, err := objectOp(fsm.VerbCreate, rs)
	if err != nil {
		return err
	}
	w.log.Info("new replica set", "deployment", d.Metadata.Namespace+"/"+d.Metadata.Name, "replicaset", rs.Metadata.Name, "revision", rev)
	return w.write(ctx, st.now, op)
}

// setRevision gives a ReplicaSet a new revision (and the Deployment's
// change cause).
func (w *Workloads) setRevision(ctx context.Context, st *state, d *api.Deployment, rs *api.ReplicaSet, rev int64) error {
	cp := clone(rs)
	cp.Metadata.Annotations[api.AnnotationRevision] = strconv.FormatInt(rev, 10)
	if cause, ok := d.Metadata.Annotations[api.AnnotationChangeCause]; ok {
		cp.Metadata.Annotations[api.AnnotationChangeCause] = cause
	}
	op, err := objectOp(fsm.VerbUpdate, cp)
	if err != nil {
		return err
	}
	w.log.Info("replica set back as the newest", "replicaset", rs.Metadata.Name, "revision", rev)
	return w.write(ctx, st.now, op)
}

// scaleOp sets a ReplicaSet's replicas.
func scaleOp(rs *api.ReplicaSet, n int32) fsm.Op {
	cp := clone(rs)
	cp.Spec.Replicas = &n
	op, err := objectOp(fsm.VerbUpdate, cp)
	if err != nil {
		panic(err) // a stored ReplicaSet with another count encodes
	}
	return op
}

func specReplicas(rs *api.ReplicaSet) int32 { return api.Int32Value(rs.Spec.Replicas, 1) }

// effectiveAvailable is how many of a ReplicaSet's pods are available, at
// most its replicas: it deletes its extra pods unavailable ones first, so
// this is what it keeps once it has caught up with its count.
func (st *state) effectiveAvailable(rs *api.ReplicaSet) int32 {
	active, _ := st.owned(rs.Metadata.UID)
	n := int32(0)
	for _, p := range active {
		if st.available(p, rs.Spec.MinReadySeconds) {
			n++
		}
	}
	return min(n, specReplicas(rs))
}

// recreate scales every old ReplicaSet to zero, waits until their pods
// are gone, then scales the new one up.
func (w *Workloads) recreate(st *state, d *api.Deployment, newRS *api.ReplicaSet, old []*api.ReplicaSet) []fsm.Op {
	var ops []fsm.Op
	running := 0
	for _, rs := range old {
		if specReplicas(rs) > 0 {
			ops = append(ops, scaleOp(rs, 0))
		}
		active, _ := st.owned(rs.Metadata.UID)
		running += len(active)
	}
	if len(ops) > 0 || running > 0 {
		return ops
	}
	if want := api.Int32Value(d.Spec.Replicas, 1); specReplicas(newRS) != want {
		return []fsm.Op{scaleOp(newRS, want)}
	}
	return nil
}

// rollingBounds resolves maxSurge and maxUnavailable; both 0 (a
// percentage of few replicas) allows one unavailable, as Kubernetes does.
func rollingBounds(d *api.Deployment) (surge, unavailable int32) {
	want := api.Int32Value(d.Spec.Replicas, 1)
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		surge, unavailable = resolve(ru.MaxSurge, want, true), resolve(ru.MaxUnavailable, want, false)
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

// rollingUpdate scales the new ReplicaSet up within maxSurge, or else the
// old ones down within maxUnavailable.
func (w *Workloads) rollingUpdate(st *state, d *api.Deployment, newRS *api.ReplicaSet, old []*api.ReplicaSet) []fsm.Op {
	want := api.Int32Value(d.Spec.Replicas, 1)
	surge, unavailable := rollingBounds(d)
	total := specReplicas(newRS)
	for _, rs := range old {
		total += specReplicas(rs)
	}
	// The new ReplicaSet up, as far as the surge allows.
	switch cur := specReplicas(newRS); {
	case cur > want:
		return []fsm.Op{scaleOp(newRS, want)}
	case cur < want && total < want+surge:
		return []fsm.Op{scaleOp(newRS, cur+min(want+surge-total, want-cur))}
	}
	// The old ones down, as far as availability allows: first their
	// unavailable pods, then available ones beyond the minimum.
	minAvailable := want - unavailable
	newUnavailable := specReplicas(newRS) - st.effectiveAvailable(newRS)
	budget := total - minAvailable - newUnavailable
	if budget <= 0 {
		return nil
	}
	avail := st.effectiveAvailable(newRS)
	next := map[string]int32{}
	for _, rs := range old {
		a := st.effectiveAvailable(rs)
		avail += a
		n := specReplicas(rs)
		down := min(n-a, budget)
		next[rs.Metadata.Name] = n - down
		budget -= down
	}
	spare := avail - minAvailable
	var ops []fsm.Op
	for _, rs := range old {
		n := next[rs.Metadata.Name]
		down := max(min(n, spare), 0)
		spare -= down
		if n-down != specReplicas(rs) {
			ops = append(ops, scaleOp(rs, n-down))
		}
	}
	return ops
}

// cleanupHistory deletes the oldest empty ReplicaSets beyond
// revisionHistoryLimit.
func (w *Workloads) cleanupHistory(st *state, d *api.Deployment, old []*api.ReplicaSet) []fsm.Op {
	limit := int(api.Int32Value(d.Spec.RevisionHistoryLimit, 10))
	var empty []*api.ReplicaSet
	for _, rs := range old {
		active, _ := st.owned(rs.Metadata.UID)
		if specReplicas(rs) == 0 && len(active) == 0 {
			empty = append(empty, rs)
		}
	}
	var ops []fsm.Op
	for i := 0; i < len(empty)-limit; i++ {
		ops = append(ops, deleteOp("ReplicaSet", &empty[i].Metadata))
	}
	return ops
}

// deploymentStatus records the counts of the Deployment's pods and its
// Available and Progressing conditions; with no progress for
// progressDeadlineSeconds, Progressing turns False.
func (w *Workloads) deploymentStatus(ctx context.Context, st *state, d *api.Deployment, newRS *api.ReplicaSet, old []*api.ReplicaSet) error {
	want := api.Int32Value(d.Spec.Replicas, 1)
	next := api.DeploymentStatus{ObservedGeneration: d.Metadata.Generation, Conditions: slices.Clone(d.Status.Conditions)}
	for _, rs := range slices.Concat(old, []*api.ReplicaSet{newRS}) {
		if rs == nil {
			continue
		}
		active, _ := st.owned(rs.Metadata.UID)
		for _, p := range active {
			next.Replicas++
			if rs == newRS {
				next.UpdatedReplicas++
			}
			if p.Ready() {
				next.ReadyReplicas++
			}
			if st.available(p, d.Spec.MinReadySeconds) {
				next.AvailableReplicas++
			}
		}
	}
	next.UnavailableReplicas = max(want-next.AvailableReplicas, 0)
	now := st.now.UTC().Format(time.RFC3339)
	_, unavailable := rollingBounds(d)
	if d.Spec.Strategy.Type == api.RecreateStrategy {
		unavailable = 0
	}
	avail := api.DeploymentCondition{Type: api.DeploymentAvailable, Status: api.ConditionTrue, Reason: api.ReasonMinimumReplicasAvailable,
		Message: "Deployment has minimum availability.", LastUpdateTime: now, LastTransitionTime: now}
	if next.AvailableReplicas < want-unavailable {
		avail.Status, avail.Reason, avail.Message = api.ConditionFalse, api.ReasonMinimumReplicasUnavailable, "Deployment does not have minimum availability."
	}
	if c := conditionOf(next.Conditions, api.DeploymentAvailable); c != nil && c.Status == avail.Status {
		avail.LastUpdateTime = c.LastUpdateTime
	}
	setCondition(&next.Conditions, avail)
	setCondition(&next.Conditions, progressing(st, d, newRS, &next))
	if sameDeploymentStatus(&next, &d.Status) {
		return nil
	}
	cp := *d
	cp.Status = next
	op, err := objectOp(fsm.VerbStatus, &cp)
	if err != nil {
		return err
	}
	return w.write(ctx, st.now, op)
}

// progressing is the Progressing condition after this round.
func progressing(st *state, d *api.Deployment, newRS *api.ReplicaSet, next *api.DeploymentStatus) api.DeploymentCondition {
	want := api.Int32Value(d.Spec.Replicas, 1)
	now := st.now.UTC().Format(time.RFC3339)
	rsName := "(none)"
	if newRS != nil {
		rsName = newRS.Metadata.Name
	}
	c := api.DeploymentCondition{Type: api.DeploymentProgressing, Status: api.ConditionTrue, LastUpdateTime: now, LastTransitionTime: now}
	cur := conditionOf(d.Status.Conditions, api.DeploymentProgressing)
	s := &d.Status
	// Progress is Kubernetes' less the new pods made: more ready or
	// available pods, fewer old ones, or a new spec. (A pod that cannot
	// start is replaced; its replacement is no progress.)
	moved := cur == nil || s.ObservedGeneration != d.Metadata.Generation || next.ReadyReplicas > s.ReadyReplicas ||
		next.AvailableReplicas > s.AvailableReplicas || next.Replicas-next.UpdatedReplicas < s.Replicas-s.UpdatedReplicas
	switch {
	case d.Spec.Paused:
		c.Status, c.Reason, c.Message = api.ConditionUnknown, api.ReasonDeploymentPaused, "Deployment is paused"
	case newRS != nil && next.UpdatedReplicas == want && next.Replicas == want && next.AvailableReplicas == want:
		c.Reason, c.Message = api.ReasonNewReplicaSetAvailable, fmt.Sprintf("ReplicaSet %q has successfully progressed.", rsName)
	case moved:
		c.Reason, c.Message = api.ReasonReplicaSetUpdated, fmt.Sprintf("ReplicaSet %q is progressing.", rsName)
	default:
		c = *cur
		deadline := time.Duration(api.Int32Value(d.Spec.ProgressDeadlineSeconds, 600)) * time.Second
		last, err := time.Parse(time.RFC3339, cur.LastUpdateTime)
		if cur.Status == api.ConditionTrue && cur.Reason != api.ReasonNewReplicaSetAvailable && err == nil && st.now.Sub(last) > deadline {
			c.Status, c.Reason, c.Message = api.ConditionFalse, api.ReasonProgressDeadlineExceeded, fmt.Sprintf("ReplicaSet %q has timed out progressing.", rsName)
			c.LastUpdateTime, c.LastTransitionTime = now, now
		}
		return c
	}
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		c.LastTransitionTime = cur.LastTransitionTime
		if !moved {
			c.LastUpdateTime = cur.LastUpdateTime
		}
	}
	return c
}

func sameDeploymentStatus(a, b *api.DeploymentStatus) bool {
	return a.ObservedGeneration == b.ObservedGeneration && a.Replicas == b.Replicas && a.UpdatedReplicas == b.UpdatedReplicas &&
		a.ReadyReplicas == b.ReadyReplicas && a.AvailableReplicas == b.AvailableReplicas &&
		a.UnavailableReplicas == b.UnavailableReplicas && slices.Equal(a.Conditions, b.Conditions)
}
