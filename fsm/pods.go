package fsm

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/berth-dev/berth/api"
	memdb "github.com/hashicorp/go-memdb"
)

// Pods and nodes are decoded when they are stored, because the state
// machine keeps what each node's pods hold (the _usage table, derived from
// the pods and rebuilt on restore, never in snapshots) and refuses a write
// that binds a pod to a node it does not fit. Whoever binds — a scheduler's
// plan or a user naming spec.nodeName — no node is ever given more than it
// has, nor one GPU to two pods.

const tableUsage = "_usage"

// usageRow is what the pods bound to one node hold. Rows are replaced,
// never changed.
type usageRow struct {
	Node  string
	Usage *api.NodeUsage
}

// derivedTables are rebuilt from the others and left out of snapshots.
var derivedTables = []string{tableUsage}

// decode fills the record's decoded object (pods, nodes and services
// only).
func (r *Record) decode() error {
	var obj api.Object
	switch r.Kind {
	case "Pod":
		obj = &api.Pod{}
	case "Node":
		obj = &api.Node{}
	case "Service":
		obj = &api.Service{}
	default:
		return nil
	}
	if err := json.Unmarshal(r.Object, obj); err != nil {
		return fmt.Errorf("%s %q: %w: %v", lower(r.Kind), r.Name, ErrInvalid, err)
	}
	r.obj = obj
	if p, ok := obj.(*api.Pod); ok {
		r.Pending = p.Spec.NodeName == "" && !p.Terminated()
	}
	return nil
}

// Pod returns a stored pod, decoded, or nil for another kind. It is shared:
// never change it.
func (r *Record) Pod() *api.Pod {
	p, _ := r.obj.(*api.Pod)
	return p
}

// Node returns a stored node, decoded, or nil for another kind. It is
// shared: never change it.
func (r *Record) Node() *api.Node {
	n, _ := r.obj.(*api.Node)
	return n
}

// Service returns a stored Service, decoded, or nil for another kind. It
// is shared: never change it.
func (r *Record) Service() *api.Service {
	s, _ := r.obj.(*api.Service)
	return s
}

// holds reports whether a pod holds resources on a node.
func holds(p *api.Pod) bool { return p != nil && p.Spec.NodeName != "" && !p.Terminated() }

// checkPodWrite refuses what may not happen to a pod: changing its node or
// GPUs once bound, changing a bound pod's requests, or binding it to a node
// where it does not fit. It then updates the nodes' usage. cur is the pod
// as stored (nil when new), next as it will be.
func checkPodWrite(txn *memdb.Txn, cur, next *Record) error {
	np := next.Pod()
	var op *api.Pod
	if cur != nil {
		op = cur.Pod()
	}
	what := fmt.Sprintf("pod %q", next.Name)
	if op != nil && op.Spec.NodeName != "" {
		if np.Spec.NodeName != op.Spec.NodeName {
			return fmt.Errorf("%s: %w: spec.nodeName may not change once set (bound to %q)", what, ErrInvalid, op.Spec.NodeName)
		}
		if !slices.Equal(np.Spec.AssignedGPUs, op.Spec.AssignedGPUs) {
			return fmt.Errorf("%s: %w: spec.assignedGPUs may not change once bound", what, ErrInvalid)
		}
		if holds(op) && holds(np) && np.Requests() != op.Requests() {
			return fmt.Errorf("%s: %w: the resources of a bound pod may not change", what, ErrInvalid)
		}
	}
	if holds(np) && !holds(op) {
		if err := checkFits(txn, np); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if holds(op) {
		if err := putUsage(txn, op.Spec.NodeName, func(u *api.NodeUsage) *api.NodeUsage {
			return u.Without(op.Metadata.Namespace, op.Metadata.Name)
		}); err != nil {
			return err
		}
	}
	if holds(np) {
		return putUsage(txn, np.Spec.NodeName, func(u *api.NodeUsage) *api.NodeUsage { return u.With(api.UsageOf(np)) })
	}
	return nil
}

// checkFits says whether a pod being bound fits its node now.
func checkFits(txn *memdb.Txn, p *api.Pod) error {
	raw, err := txn.First("Node", "id", recordKey("", p.Spec.NodeName))
	if err != nil {
		return err
	}
	if raw == nil {
		return fmt.Errorf("%w: node %q not found", ErrConflict, p.Spec.NodeName)
	}
	node := raw.(*Record).Node()
	usage := usageOf(txn, p.Spec.NodeName)
	req := p.Requests()
	if reasons := api.CheckFit(node, usage, p, req); reasons != nil {
		return fmt.Errorf("%w: does not fit node %q: %s", ErrConflict, node.Metadata.Name, reasons[0])
	}
	if why := usage.CheckGPUs(node, p, req); why != "" {
		return fmt.Errorf("%w: node %q: %s", ErrConflict, node.Metadata.Name, why)
	}
	return nil
}

// forgetPod releases what a deleted pod held.
func forgetPod(txn *memdb.Txn, cur *Record) error {
	p := cur.Pod()
	if !holds(p) {
		return nil
	}
	return putUsage(txn, p.Spec.NodeName, func(u *api.NodeUsage) *api.NodeUsage {
		return u.Without(p.Metadata.Namespace, p.Metadata.Name)
	})
}

func usageOf(txn *memdb.Txn, node string) *api.NodeUsage {
	raw, err := txn.First(tableUsage, "id", node)
	if err != nil || raw == nil {
		return nil
	}
	return raw.(*usageRow).Usage
}

func putUsage(txn *memdb.Txn, node string, change func(*api.NodeUsage) *api.NodeUsage) error {
	u := change(usageOf(txn, node))
	if len(u.Pods) == 0 {
		_, err := txn.DeleteAll(tableUsage, "id", node)
		return err
	}
	return txn.Insert(tableUsage, &usageRow{Node: node, Usage: u})
}

// rebuildDerived rebuilds the usage table of a restored database from its
// pods (decoded as they were read).
func rebuildDerived(txn *memdb.Txn) error {
	byNode := map[string][]api.PodUsage{}
	it, err := txn.Get("Pod", "id")
	if err != nil {
		return err
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if p := raw.(*Record).Pod(); holds(p) {
			byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], api.UsageOf(p))
		}
	}
	for _, node := range slices.Sorted(maps.Keys(byNode)) {
		var u *api.NodeUsage
		for _, pu := range byNode[node] {
			u = u.With(pu)
		}
		if err := txn.Insert(tableUsage, &usageRow{Node: node, Usage: u}); err != nil {
			return err
		}
	}
	return nil
}

// PendingPods returns the pods not bound to a node and not finished, in
// namespace and name order.
func (v *View) PendingPods() []*Record {
	it, err := v.txn.Get("Pod", "pending", true)
	if err != nil {
		return nil
	}
	var out []*Record
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*Record))
	}
	slices.SortFunc(out, func(a, b *Record) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Usage returns what the pods bound to a node hold (nil: nothing). Shared:
// never change it.
func (v *View) Usage(node string) *api.NodeUsage { return usageOf(v.txn, node) }

// keepPodBinding makes re-applying a pod's manifest keep what the cluster
// set on it: its node and GPUs, and its status, unless the manifest sets
// them itself (as kubectl apply's merge keeps them).
func keepPodBinding(op *Op, cur *Record) (*Op, error) {
	old := cur.Pod()
	if old.Spec.NodeName == "" && len(old.Status.Conditions) == 0 && old.Status.Phase == api.PodPending {
		return op, nil
	}
	var p api.Pod
	if err := json.Unmarshal(op.Body, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	p.Metadata = *op.Meta
	if p.Spec.NodeName == "" {
		p.Spec.NodeName, p.Spec.AssignedGPUs = old.Spec.NodeName, old.Spec.AssignedGPUs
	}
	if len(p.Status.Conditions) == 0 && (p.Status.Phase == "" || p.Status.Phase == api.PodPending) && p.Status.PodIP == "" {
		p.Status = old.Status
	}
	next, err := ObjectOp(op.Verb, &p)
	if err != nil {
		return nil, err
	}
	next.UID, next.ResourceVersion = op.UID, op.ResourceVersion
	return &next, nil
}
