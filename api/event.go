package api

import "time"

// Event is Kubernetes' v1 Event: something that happened to an object,
// for people to read (`berth describe`, `berth events`). Events repeat:
// the same reason and message for the same object bump Count and
// LastTimestamp of one Event rather than making another. The cluster
// keeps a bounded history of them (the leader deletes the oldest).
type Event struct {
	TypeMeta
	Metadata       ObjectMeta      `json:"metadata"`
	InvolvedObject ObjectReference `json:"involvedObject"`
	// Reason is short and CamelCase (FailedScheduling, Pulled, Started,
	// Killing, OOMKilled, Unhealthy, NodeNotReady, ScalingReplicaSet).
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Type is EventNormal or EventWarning.
	Type   string      `json:"type,omitempty"`
	Source EventSource `json:"source,omitempty"`
	// FirstTimestamp and LastTimestamp (RFC 3339) bound the Count times
	// it happened.
	FirstTimestamp string `json:"firstTimestamp,omitempty"`
	LastTimestamp  string `json:"lastTimestamp,omitempty"`
	Count          int32  `json:"count,omitempty"`
}

// The types of an Event.
const (
	EventNormal  = "Normal"
	EventWarning = "Warning"
)

// EventSource says which part of which node reported an Event.
type EventSource struct {
	Component string `json:"component,omitempty"` // scheduler, node, deployment-controller, ...
	Host      string `json:"host,omitempty"`
}

// GetTypeMeta returns the object's TypeMeta.
func (o *Event) GetTypeMeta() *TypeMeta { return &o.TypeMeta }

// GetObjectMeta returns the object's metadata.
func (o *Event) GetObjectMeta() *ObjectMeta { return &o.Metadata }

// defaultEvent fills what a reporter may leave out: the type (Normal), the
// count (1), and the first time (the last).
func defaultEvent(e *Event) {
	if e.Type == "" {
		e.Type = EventNormal
	}
	if e.Count == 0 {
		e.Count = 1
	}
	if e.FirstTimestamp == "" {
		e.FirstTimestamp = e.LastTimestamp
	}
}

func validateEvent(l *errList, e *Event) {
	if e.InvolvedObject.Kind == "" {
		l.add("involvedObject.kind", "required")
	}
	if e.InvolvedObject.Name == "" {
		l.add("involvedObject.name", "required")
	}
	if e.Reason == "" {
		l.add("reason", "required")
	}
	if e.Type != EventNormal && e.Type != EventWarning {
		notSupported(l, "type", e.Type, EventNormal, EventWarning)
	}
	if e.Count < 0 {
		l.add("count", "%d is negative", e.Count)
	}
	for _, ts := range []struct{ path, v string }{{"firstTimestamp", e.FirstTimestamp}, {"lastTimestamp", e.LastTimestamp}} {
		if ts.v == "" {
			continue
		}
		if _, err := time.Parse(time.RFC3339, ts.v); err != nil {
			l.add(ts.path, "%s is not an RFC 3339 time", quote(ts.v))
		}
	}
}
