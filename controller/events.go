package controller

import (
	"encoding/json"
	"fmt"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/fsm"
)

// Recorder records Events about objects (api.Event): the agent gathers
// them and writes them in batches. The controllers record what they did
// once their write has committed: a pod scheduled or found to fit
// nowhere, pods created and deleted, ReplicaSets scaled, nodes that went
// NotReady, autoscaling.
type Recorder interface {
	Record(ref api.ObjectReference, typ, reason, message string)
}

// event is one Event to record.
type event struct {
	ref                  api.ObjectReference
	typ, reason, message string
}

func record(r Recorder, evs ...event) {
	if r == nil {
		return
	}
	for _, e := range evs {
		r.Record(e.ref, e.typ, e.reason, e.message)
	}
}

// refOf names an object for an Event.
func refOf(kind string, m *api.ObjectMeta) api.ObjectReference {
	return api.ObjectReference{Kind: kind, Namespace: m.Namespace, Name: m.Name, UID: m.UID}
}

// ownerRef names an object's controller for an Event.
func ownerRef(m *api.ObjectMeta) (api.ObjectReference, bool) {
	o := api.ControllerOf(m)
	if o == nil {
		return api.ObjectReference{}, false
	}
	return api.ObjectReference{Kind: o.Kind, Namespace: m.Namespace, Name: o.Name, UID: o.UID}, true
}

// opEvents says, as Kubernetes' controllers do, what the workload
// controllers' ops do: pods created and deleted by their ReplicaSet or
// StatefulSet, ReplicaSets of a Deployment scaled. v is the view the ops
// were made against; the Events are recorded once the ops commit.
func opEvents(v *fsm.View, ops []fsm.Op) []event {
	var out []event
	for _, op := range ops {
		switch {
		case op.Kind == "Pod" && op.Verb == fsm.VerbCreate && op.Meta != nil:
			if owner, ok := ownerRef(op.Meta); ok {
				out = append(out, event{owner, api.EventNormal, "SuccessfulCreate", podVerb(owner, "create", "Created", op.Name)})
			}
		case op.Kind == "Pod" && op.Verb == fsm.VerbDelete:
			r, err := v.Get("Pod", op.Namespace, op.Name)
			if err != nil {
				continue
			}
			if owner, ok := ownerRef(&r.Meta); ok {
				out = append(out, event{owner, api.EventNormal, "SuccessfulDelete", podVerb(owner, "delete", "Deleted", op.Name)})
			}
		case op.Kind == "ReplicaSet" && op.Meta != nil && (op.Verb == fsm.VerbCreate || op.Verb == fsm.VerbUpdate):
			owner, ok := ownerRef(op.Meta)
			if !ok || owner.Kind != "Deployment" {
				continue
			}
			var next api.ReplicaSet
			if json.Unmarshal(op.Body, &next) != nil {
				continue
			}
			to := specReplicas(&next)
			if op.Verb == fsm.VerbCreate {
				if to > 0 {
					out = append(out, event{owner, api.EventNormal, "ScalingReplicaSet", fmt.Sprintf("Scaled up replica set %s to %d", op.Name, to)})
				}
				continue
			}
			r, err := v.Get("ReplicaSet", op.Namespace, op.Name)
			if err != nil {
				continue
			}
			obj, err := api.DecodeStored("ReplicaSet", r.Object)
			if err != nil {
				continue
			}
			from := specReplicas(obj.(*api.ReplicaSet))
			dir := "up"
			if to < from {
				dir = "down"
			}
			if to != from {
				out = append(out, event{owner, api.EventNormal, "ScalingReplicaSet", fmt.Sprintf("Scaled %s replica set %s from %d to %d", dir, op.Name, from, to)})
			}
		}
	}
	return out
}

// podVerb words a pod's creation or deletion as Kubernetes does for the
// owner's kind.
func podVerb(owner api.ObjectReference, verb, past, pod string) string {
	if owner.Kind == "StatefulSet" {
		return fmt.Sprintf("%s Pod %s in StatefulSet %s successful", verb, pod, owner.Name)
	}
	return fmt.Sprintf("%s pod: %s", past, pod)
}
