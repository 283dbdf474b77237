package controller

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/fsm"
)

// A StatefulSet's pods have stable identities: NAME-0 … NAME-(N-1), each
// with one PersistentVolumeClaim per volumeClaimTemplate, named
// TEMPLATE-NAME-ORDINAL. A claim is a named local volume on one node: it
// is pinned (the volume.kubernetes.io/selected-node annotation) to the
// node where its pod first runs, and the pod of that ordinal goes back
// there. Only when that node is fenced (down for longer than its lease,
// see evict) or gone is the pin released, and the pod starts elsewhere
// with an empty volume; the old data stays on the old node.
//
// OrderedReady (the default) makes one pod at a time, each Running and
// Ready before the next, and removes the highest ordinal first; Parallel
// does all at once. A rolling update replaces the pods from the highest
// ordinal down to the partition, one at a time, each once all are ready.

func (w *Workloads) syncStatefulSet(ctx context.Context, st *state, ss *api.StatefulSet) error {
	want := int(api.Int32Value(ss.Spec.Replicas, 1))
	active, failed := st.owned(ss.Metadata.UID)
	byOrd := map[int]*api.Pod{}
	var condemned []*api.Pod
	for _, p := range active {
		switch ord := ordinalOf(ss.Metadata.Name, p.Metadata.Name); {
		case ord < 0:
		case ord >= want:
			condemned = append(condemned, p)
		default:
			byOrd[ord] = p
		}
	}
	var ops []fsm.Op
	for _, p := range failed {
		ops = append(ops, deleteOp("Pod", &p.Metadata))
	}
	updateRev := ss.Metadata.Name + "-" + templateHash(&ss.Spec.Template)
	parallel := ss.Spec.PodManagementPolicy == api.ParallelPodManagement
	ops = append(ops, w.pinClaims(st, ss, byOrd)...)
	created := false
	for ord := range want {
		p := byOrd[ord]
		if p == nil {
			ops = append(ops, w.statefulPod(st, ss, ord, updateRev)...)
			created = true
			if !parallel {
				break
			}
			continue
		}
		if !parallel && !runningAndReady(p) {
			break
		}
	}
	if !created {
		ops = append(ops, w.statefulScaleDown(ss, byOrd, condemned, want, parallel)...)
	}
	if len(ops) == 0 {
		ops = w.statefulUpdate(ss, byOrd, want, updateRev)
	}
	if len(ops) > 0 {
		w.countPodOps(ops)
		return w.write(ctx, st.now, ops...)
	}
	return w.statefulSetStatus(ctx, st, ss, active, updateRev)
}

// ordinalOf parses NAME-ORDINAL, -1 when name is not one of set's.
func ordinalOf(set, name string) int {
	s, ok := strings.CutPrefix(name, set+"-")
	if !ok || s == "" || (len(s) > 1 && s[0] == '0') {
		return -1
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

func runningAndReady(p *api.Pod) bool { return p.Status.Phase == api.PodRunning && p.Ready() }

func claimName(tpl, set string, ord int) string { return tpl + "-" + set + "-" + strconv.Itoa(ord) }

// statefulPod makes the claims an ordinal lacks and its pod, placed on
// the node its claims are pinned to.
func (w *Workloads) statefulPod(st *state, ss *api.StatefulSet, ord int, rev string) []fsm.Op {
	ns := ss.Metadata.Namespace
	name := ss.Metadata.Name + "-" + strconv.Itoa(ord)
	var ops []fsm.Op
	pinned := ""
	p := podFromTemplate(&ss.Spec.Template, ns, name, controllerRef("StatefulSet", &ss.Metadata))
	// Its DNS name under the governing (headless) Service, as in
	// Kubernetes: db-0.db.NAMESPACE.svc.cluster.local.
	p.Spec.Hostname, p.Spec.Subdomain = name, ss.Spec.ServiceName
	for i := range ss.Spec.VolumeClaimTemplates {
		tpl := &ss.Spec.VolumeClaimTemplates[i]
		cn := claimName(tpl.Metadata.Name, ss.Metadata.Name, ord)
		p.Spec.Volumes = append(p.Spec.Volumes, api.Volume{Name: tpl.Metadata.Name,
			PersistentVolumeClaim: &api.PersistentVolumeClaimVolumeSource{ClaimName: cn}})
		c := st.claims[ns+"/"+cn]
		if c == nil {
			claim := &api.PersistentVolumeClaim{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"}}
			claim.Metadata = api.ObjectMeta{Name: cn, Namespace: ns, Labels: maps.Clone(ss.Spec.Selector.MatchLabels)}
			claim.Spec = tpl.Spec
			claim.Status.Phase = api.ClaimPending
			if op, err := objectOp(fsm.VerbCreate, claim); err == nil {
				ops = append(ops, op)
			}
			continue
		}
		node := c.Metadata.Annotations[api.AnnotationSelectedNode]
		if node == "" {
			continue
		}
		if w.fenced(st, node) {
			w.log.Warn("claim's node is down past its fence: the pod starts elsewhere with an empty volume; the data stays on the old node",
				"claim", ns+"/"+cn, "node", node)
			ops = append(ops, w.unpinOp(c))
			continue
		}
		pinned = node
	}
	if pinned != "" {
		p.Spec.Affinity = withNodeName(p.Spec.Affinity, pinned)
	}
	if p.Metadata.Labels == nil {
		p.Metadata.Labels = map[string]string{}
	}
	p.Metadata.Labels[api.LabelStatefulSetPodName] = name
	p.Metadata.Labels[api.LabelControllerRevisionHash] = rev
	op, err := objectOp(fsm.VerbCreate, p)
	if err != nil {
		w.log.Warn("stateful pod", "pod", ns+"/"+name, "err", err)
		return ops
	}
	return append(ops, op)
}

// fenced reports whether a node is gone, or down longer than its lease.
func (w *Workloads) fenced(st *state, node string) bool {
	down, known := st.notReadyFor(node)
	return !known || down >= w.fenceWait(st, node)
}

// fenceWait is how long a node must be NotReady before its stateful pods
// are replaced: the longer of this leader's lease and the node's own, plus
// the margin, and at least the node-down grace.
func (w *Workloads) fenceWait(st *state, node string) time.Duration {
	lease := w.cfg.FenceLease
	if n := st.nodes[node]; n != nil {
		if d, err := time.ParseDuration(n.Metadata.Labels[api.LabelFenceLease]); err == nil {
			lease = max(lease, d)
		}
	}
	return max(w.cfg.NodeDownGrace, lease+w.cfg.FenceMargin)
}

func (w *Workloads) unpinOp(c *api.PersistentVolumeClaim) fsm.Op {
	cp := clone(c)
	delete(cp.Metadata.Annotations, api.AnnotationSelectedNode)
	op, err := objectOp(fsm.VerbUpdate, cp)
	if err != nil {
		panic(err)
	}
	return op
}

// withNodeName requires the node named name.
func withNodeName(a *api.Affinity, name string) *api.Affinity {
	if a == nil {
		a = &api.Affinity{}
	}
	if a.NodeAffinity == nil {
		a.NodeAffinity = &api.NodeAffinity{}
	}
	term := api.NodeSelectorTerm{MatchFields: []api.NodeSelectorRequirement{{Key: "metadata.name", Operator: "In", Values: []string{name}}}}
	if a.NodeAffinity.Required == nil {
		a.NodeAffinity.Required = &api.NodeSelector{NodeSelectorTerms: []api.NodeSelectorTerm{term}}
		return a
	}
	// Every term must also name the node (terms are ORed).
	for i := range a.NodeAffinity.Required.NodeSelectorTerms {
		t := &a.NodeAffinity.Required.NodeSelectorTerms[i]
		t.MatchFields = append(t.MatchFields, term.MatchFields...)
	}
	return a
}

// pinClaims pins the claims of each placed pod to its node.
func (w *Workloads) pinClaims(st *state, ss *api.StatefulSet, byOrd map[int]*api.Pod) []fsm.Op {
	var ops []fsm.Op
	for _, ord := range slices.Sorted(maps.Keys(byOrd)) {
		p := byOrd[ord]
		if p.Spec.NodeName == "" {
			continue
		}
		for i := range ss.Spec.VolumeClaimTemplates {
			c := st.claims[ss.Metadata.Namespace+"/"+claimName(ss.Spec.VolumeClaimTemplates[i].Metadata.Name, ss.Metadata.Name, ord)]
			if c == nil || c.Metadata.Annotations[api.AnnotationSelectedNode] != "" {
				continue
			}
			cp := clone(c)
			if cp.Metadata.Annotations == nil {
				cp.Metadata.Annotations = map[string]string{}
			}
			cp.Metadata.Annotations[api.AnnotationSelectedNode] = p.Spec.NodeName
			cp.Status.Phase = api.ClaimBound
			if op, err := objectOp(fsm.VerbApply, cp); err == nil {
				op.ResourceVersion = parseRV(c.Metadata.ResourceVersion)
				ops = append(ops, op)
			}
		}
	}
	return ops
}

// statefulScaleDown removes the pods beyond the replicas: the highest
// ordinal first, one at a time once the others are ready (OrderedReady),
// or all at once (Parallel).
func (w *Workloads) statefulScaleDown(ss *api.StatefulSet, byOrd map[int]*api.Pod, condemned []*api.Pod, want int, parallel bool) []fsm.Op {
	if len(condemned) == 0 {
		return nil
	}
	slices.SortFunc(condemned, func(a, b *api.Pod) int {
		return ordinalOf(ss.Metadata.Name, b.Metadata.Name) - ordinalOf(ss.Metadata.Name, a.Metadata.Name)
	})
	if parallel {
		var ops []fsm.Op
		for _, p := range condemned {
			ops = append(ops, deleteOp("Pod", &p.Metadata))
		}
		return ops
	}
	for ord := range want {
		if p := byOrd[ord]; p == nil || !runningAndReady(p) {
			return nil
		}
	}
	return stopThenDelete(condemned[0])
}

// stopThenDelete removes a stateful pod gracefully: first its node stops
// its containers (the berth.dev/stopped annotation), then, once none runs,
// the pod is deleted. So the next pod goes only after this one has
// stopped, and its replacement never runs beside it. A pod whose node is
// down is deleted by the eviction, after the fence.
func stopThenDelete(p *api.Pod) []fsm.Op {
	if p.Metadata.Annotations[api.AnnotationStopped] != "true" {
		cp := clone(p)
		if cp.Metadata.Annotations == nil {
			cp.Metadata.Annotations = map[string]string{}
		}
		cp.Metadata.Annotations[api.AnnotationStopped] = "true"
		op, err := objectOp(fsm.VerbUpdate, cp)
		if err != nil {
			return nil
		}
		return []fsm.Op{op}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running != nil {
			return nil // still stopping
		}
	}
	return []fsm.Op{deleteOp("Pod", &p.Metadata)}
}

// statefulUpdate replaces the highest pod not at the update revision, at
// or above the partition, once every pod is running and ready.
func (w *Workloads) statefulUpdate(ss *api.StatefulSet, byOrd map[int]*api.Pod, want int, rev string) []fsm.Op {
	if ss.Spec.UpdateStrategy.Type == api.OnDeleteStrategy {
		return nil
	}
	partition := 0
	if ru := ss.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		partition = int(api.Int32Value(ru.Partition, 0))
	}
	for ord := want - 1; ord >= partition; ord-- {
		if p := byOrd[ord]; p != nil && p.Metadata.Annotations[api.AnnotationStopped] == "true" &&
			p.Metadata.Labels[api.LabelControllerRevisionHash] != rev {
			return stopThenDelete(p) // under way
		}
	}
	for ord := range want {
		if p := byOrd[ord]; p == nil || !runningAndReady(p) {
			return nil
		}
	}
	for ord := want - 1; ord >= partition; ord-- {
		if p := byOrd[ord]; p.Metadata.Labels[api.LabelControllerRevisionHash] != rev {
			w.log.Info("updating stateful pod", "pod", p.Metadata.Namespace+"/"+p.Metadata.Name, "revision", rev)
			return stopThenDelete(p)
		}
	}
	return nil
}

func (w *Workloads) statefulSetStatus(ctx context.Context, st *state, ss *api.StatefulSet, active []*api.Pod, updateRev string) error {
	next := ss.Status
	next.ObservedGeneration = ss.Metadata.Generation
	next.UpdateRevision = updateRev
	if next.CurrentRevision == "" {
		next.CurrentRevision = updateRev
	}
	next.Replicas, next.ReadyReplicas, next.AvailableReplicas, next.UpdatedReplicas, next.CurrentReplicas = 0, 0, 0, 0, 0
	for _, p := range active {
		next.Replicas++
		if p.Ready() {
			next.ReadyReplicas++
		}
		if st.available(p, ss.Spec.MinReadySeconds) {
			next.AvailableReplicas++
		}
		if p.Metadata.Labels[api.LabelControllerRevisionHash] == updateRev {
			next.UpdatedReplicas++
		}
	}
	if want := api.Int32Value(ss.Spec.Replicas, 1); next.UpdatedReplicas == want && next.Replicas == want {
		next.CurrentRevision = updateRev
	}
	for _, p := range active {
		if p.Metadata.Labels[api.LabelControllerRevisionHash] == next.CurrentRevision {
			next.CurrentReplicas++
		}
	}
	if next.ObservedGeneration == ss.Status.ObservedGeneration && next.Replicas == ss.Status.Replicas &&
		next.ReadyReplicas == ss.Status.ReadyReplicas && next.AvailableReplicas == ss.Status.AvailableReplicas &&
		next.UpdatedReplicas == ss.Status.UpdatedReplicas && next.CurrentReplicas == ss.Status.CurrentReplicas &&
		next.CurrentRevision == ss.Status.CurrentRevision && next.UpdateRevision == ss.Status.UpdateRevision {
		return nil
	}
	cp := *ss
	cp.Status = next
	op, err := objectOp(fsm.VerbStatus, &cp)
	if err != nil {
		return err
	}
	return w.write(ctx, st.now, op)
}
