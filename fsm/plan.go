package fsm

import (
	"fmt"
	"slices"

	"github.com/berth-dev/berth/api"
	memdb "github.com/hashicorp/go-memdb"
)

// Plan is a scheduler's decision, committed as one command (CmdPlan).
// Apply re-checks every binding against the state at the command's index
// (optimistic concurrency): a pod that is gone, already bound, or that no
// longer fits is rejected and stays pending, while the others are bound.
type Plan struct {
	Binds   []Bind          `json:"binds,omitempty"`
	Pending []PendingStatus `json:"pending,omitempty"`
}

// Bind places one pod on a node, with the node's GPUs it is given.
type Bind struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	UID       string   `json:"uid"` // the pod planned for, not a new one of the same name
	Node      string   `json:"node"`
	GPUs      []string `json:"gpus,omitempty"`
}

// PendingStatus records why a pod fits no node: its PodScheduled condition
// becomes False, reason Unschedulable, with Message.
type PendingStatus struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	Message   string `json:"message"`
}

// Rejection is a binding Apply refused, and why.
type Rejection struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Reason    string `json:"reason"`
}

func (f *FSM) applyPlan(txn *memdb.Txn, index uint64, cmd *Command, events *[]Event) ([]OpResult, []Rejection, error) {
	if cmd.Plan == nil {
		return nil, nil, fmt.Errorf("%w: plan command without a plan", ErrInvalid)
	}
	var results []OpResult
	var rejected []Rejection
	for _, b := range cmd.Plan.Binds {
		op, why := bindOp(txn, b, cmd.Time)
		if why == "" {
			r, err := applyOp(txn, index, cmd, op, events)
			if err == nil {
				results = append(results, r)
				continue
			}
			why = err.Error()
		}
		rejected = append(rejected, Rejection{Namespace: b.Namespace, Name: b.Name, Reason: why})
	}
	for _, p := range cmd.Plan.Pending {
		op := pendingOp(txn, p, cmd.Time)
		if op == nil {
			continue
		}
		if r, err := applyOp(txn, index, cmd, op, events); err == nil {
			results = append(results, r)
		}
	}
	return results, rejected, nil
}

// planPod returns the pod a plan entry is for, or why it no longer applies.
func planPod(txn *memdb.Txn, ns, name, uid string) (*Record, string) {
	raw, err := txn.First("Pod", "id", recordKey(ns, name))
	if err != nil || raw == nil {
		return nil, "pod not found"
	}
	r := raw.(*Record)
	p := r.Pod()
	switch {
	case r.Meta.UID != uid:
		return nil, "pod was replaced"
	case p.Spec.NodeName != "":
		return nil, "pod is already bound to node " + p.Spec.NodeName
	case p.Terminated():
		return nil, "pod has terminated"
	}
	return r, ""
}

// bindOp makes the write that binds a pod; the write's own check
// (checkBinding) decides whether it fits.
func bindOp(txn *memdb.Txn, b Bind, now string) (*Op, string) {
	r, why := planPod(txn, b.Namespace, b.Name, b.UID)
	if r == nil {
		return nil, why
	}
	p := copyPod(r.Pod())
	p.Spec.NodeName = b.Node
	p.Spec.AssignedGPUs = slices.Clone(b.GPUs)
	setScheduled(p, api.ConditionTrue, "", "", now)
	op, err := ObjectOp(VerbUpdate, p)
	if err != nil {
		return nil, err.Error()
	}
	return &op, ""
}

// pendingOp makes the write that says why a pod is pending, or nil when
// its status already says so.
func pendingOp(txn *memdb.Txn, ps PendingStatus, now string) *Op {
	r, _ := planPod(txn, ps.Namespace, ps.Name, ps.UID)
	if r == nil {
		return nil
	}
	if c := r.Pod().Condition(api.PodScheduled); c != nil && c.Status == api.ConditionFalse && c.Message == ps.Message {
		return nil
	}
	p := copyPod(r.Pod())
	setScheduled(p, api.ConditionFalse, api.ReasonUnschedulable, ps.Message, now)
	op, err := ObjectOp(VerbUpdate, p)
	if err != nil {
		return nil
	}
	return &op
}

// copyPod copies what a plan changes: the spec's GPUs and the conditions.
func copyPod(p *api.Pod) *api.Pod {
	c := *p
	c.Spec.AssignedGPUs = slices.Clone(p.Spec.AssignedGPUs)
	c.Status.Conditions = slices.Clone(p.Status.Conditions)
	return &c
}

func setScheduled(p *api.Pod, status, reason, msg, now string) {
	c := p.Condition(api.PodScheduled)
	if c == nil {
		p.Status.Conditions = append(p.Status.Conditions, api.PodCondition{Type: api.PodScheduled})
		c = &p.Status.Conditions[len(p.Status.Conditions)-1]
	}
	if c.Status != status {
		c.LastTransitionTime = now
	}
	c.Status, c.Reason, c.Message = status, reason, msg
}
