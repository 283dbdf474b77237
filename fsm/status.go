package fsm

import (
	"fmt"
	"slices"

	"github.com/berth-dev/berth/api"
	memdb "github.com/hashicorp/go-memdb"
)

// PodStatusReport is what a node says of one of its pods: the pod's
// status as the node sees it. It is recorded only when the pod still is
// the one the node runs (same UID, bound to that node), so a late report
// never lands on a pod re-created under the same name. The PodScheduled
// condition stays the scheduler's.
type PodStatusReport struct {
	Namespace string        `json:"namespace"`
	Name      string        `json:"name"`
	UID       string        `json:"uid"`
	Node      string        `json:"node"`
	Status    api.PodStatus `json:"status"`
}

// applyPodStatuses records each report that still applies; the others are
// rejected one by one, as a plan's bindings are.
func applyPodStatuses(txn *memdb.Txn, index uint64, cmd *Command, events *[]Event) ([]OpResult, []Rejection, error) {
	var results []OpResult
	var rejected []Rejection
	for _, rep := range cmd.PodStatuses {
		op, why := podStatusOp(txn, rep)
		if why == "" && op != nil {
			r, err := applyOp(txn, index, cmd, op, events)
			if err == nil {
				results = append(results, r)
				continue
			}
			why = err.Error()
		}
		if why != "" {
			rejected = append(rejected, Rejection{Namespace: rep.Namespace, Name: rep.Name, Reason: why})
		}
	}
	return results, rejected, nil
}

// podStatusOp makes the write of one report, nil when nothing changes.
func podStatusOp(txn *memdb.Txn, rep PodStatusReport) (*Op, string) {
	raw, err := txn.First("Pod", "id", recordKey(rep.Namespace, rep.Name))
	if err != nil || raw == nil {
		return nil, fmt.Sprintf("pod %s/%s: not found", rep.Namespace, rep.Name)
	}
	cur := raw.(*Record).Pod()
	switch {
	case cur.Metadata.UID != rep.UID:
		return nil, fmt.Sprintf("pod %s/%s: uid %s is not the reported %s", rep.Namespace, rep.Name, cur.Metadata.UID, rep.UID)
	case cur.Spec.NodeName != rep.Node:
		return nil, fmt.Sprintf("pod %s/%s: bound to %q, not to the reporting node %q", rep.Namespace, rep.Name, cur.Spec.NodeName, rep.Node)
	}
	p := *cur
	p.Status = rep.Status
	p.Status.Conditions = slices.DeleteFunc(slices.Clone(rep.Status.Conditions), func(c api.PodCondition) bool { return c.Type == api.PodScheduled })
	if c := cur.Condition(api.PodScheduled); c != nil {
		p.Status.Conditions = append([]api.PodCondition{*c}, p.Status.Conditions...)
	}
	op, err := ObjectOp(VerbUpdate, &p)
	if err != nil {
		return nil, err.Error()
	}
	return &op, ""
}
