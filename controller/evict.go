package controller

import (
	"context"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/fsm"
)

// evict deletes the controllers' pods of nodes that have been NotReady too
// long, so that their controllers make new ones on ready nodes: those of
// ReplicaSets after NodeDownGrace, those of StatefulSets once the node's
// fence lease has run out too (see the timings above). A pod that no
// controller manages stays: nothing would make it again. When the node
// comes back, its agent finds the pods gone and stops them.
func (w *Workloads) evict(ctx context.Context, st *state) error {
	var ops []fsm.Op
	var next time.Time
	due := func(down, wait time.Duration) {
		if at := st.now.Add(wait - down); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	defer func() {
		w.mu.Lock()
		w.next = next
		w.mu.Unlock()
	}()
	for _, p := range st.pods {
		if p.Spec.NodeName == "" || p.Terminated() {
			continue
		}
		ref := api.ControllerOf(&p.Metadata)
		if ref == nil {
			continue
		}
		down, known := st.notReadyFor(p.Spec.NodeName)
		switch {
		case !known && ref.Kind == "ReplicaSet":
			// Its node was deleted: nothing runs it any more.
		case down < w.cfg.NodeDownGrace:
			if down > 0 {
				due(down, w.cfg.NodeDownGrace)
			}
			continue
		case ref.Kind == "StatefulSet" && down < w.fenceWait(st, p.Spec.NodeName):
			due(down, w.fenceWait(st, p.Spec.NodeName))
			continue
		case ref.Kind != "ReplicaSet" && ref.Kind != "StatefulSet":
			continue
		}
		w.log.Info("evicting pod of a node that is down", "pod", p.Metadata.Namespace+"/"+p.Metadata.Name,
			"node", p.Spec.NodeName, "notReadyFor", down.String(), "owner", ref.Kind+"/"+ref.Name)
		ops = append(ops, deleteOp("Pod", &p.Metadata))
	}
	if len(ops) == 0 {
		return nil
	}
	// One command per pod: a pod deleted meanwhile must not hold back the
	// others.
	for _, op := range ops {
		if err := w.write(ctx, st.now, op); err != nil {
			return err
		}
	}
	w.count(func(s *WorkloadsStats) { s.Evicted += uint64(len(ops)) })
	return nil
}
