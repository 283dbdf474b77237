package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/api"
)

// Errors of Apply and of the reads. Apply wraps them with the object's name.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrConflict      = errors.New("conflict")
	ErrInvalid       = errors.New("invalid")
	ErrForbidden     = errors.New("forbidden")
	// ErrCompacted: the watch revision is older than the events kept.
	ErrCompacted = errors.New("fsm: revision compacted, list again")
)

// Verb is what an Op does to its object.
type Verb string

// The verbs of an Op.
const (
	VerbCreate Verb = "create" // fails if the object exists
	VerbUpdate Verb = "update" // fails if it does not
	VerbApply  Verb = "apply"  // create or replace
	VerbDelete Verb = "delete" // fails if it does not exist
	// VerbStatus replaces only the status of an existing object of a kind
	// with a status subresource (HasStatusSubresource): its spec,
	// metadata and generation stay.
	VerbStatus Verb = "status"
)

// CommandType says which kind of command a log entry holds.
type CommandType string

// The command types.
const (
	CmdWrite          CommandType = "write"
	CmdRegisterServer CommandType = "register-server"
	CmdRemoveServer   CommandType = "remove-server"
	// CmdPlan commits a scheduler's plan (Command.Plan): each placement is
	// re-checked and applied or rejected on its own.
	CmdPlan CommandType = "plan"
	// CmdPodStatus records what nodes report of their pods
	// (Command.PodStatuses); see status.go.
	CmdPodStatus CommandType = "pod-status"
)

// Command is the payload of one Raft log entry. The leader fills Time (its
// clock, RFC 3339) and each creating Op's UID before proposing it.
type Command struct {
	Type CommandType `json:"type"`
	// RequestID makes a retried write apply once: a second command with the
	// same ID returns the first one's result and changes nothing.
	RequestID string        `json:"requestID,omitempty"`
	Time      string        `json:"time,omitempty"`
	Ops       []Op          `json:"ops,omitempty"`
	Server    *ServerRecord `json:"server,omitempty"`
	Plan      *Plan         `json:"plan,omitempty"`
	// ServiceNet is the leader's range of service addresses and node
	// ports, stamped into a command that writes a Service (service.go).
	ServiceNet *ServiceNet `json:"serviceNet,omitempty"`
	// PodStatuses are node reports (CmdPodStatus).
	PodStatuses []PodStatusReport `json:"podStatuses,omitempty"`
}

// Op is one object write. All Ops of a Command apply, or none does.
type Op struct {
	Verb      Verb   `json:"verb"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Meta and Body are the object, split by ObjectOp (create, update,
	// apply). Server-set fields of Meta are ignored.
	Meta *api.ObjectMeta `json:"meta,omitempty"`
	Body json.RawMessage `json:"body,omitempty"`
	// UID is used when the Op creates the object.
	UID string `json:"uid,omitempty"`
	// ResourceVersion, when not zero, must equal the object's current one.
	ResourceVersion uint64 `json:"resourceVersion,omitempty"`
}

// Encode returns the command's bytes for the Raft log (codec.go).
func (c *Command) Encode() ([]byte, error) { return encodeCommand(c) }

// DecodeCommand parses a Raft log entry: the binary form Encode writes, or
// JSON (a Command as encoding/json writes it, handy in tests and tools).
func DecodeCommand(b []byte) (*Command, error) {
	if len(b) > 0 && b[0] == '{' {
		var c Command
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("fsm: decode command: %w", err)
		}
		return &c, nil
	}
	c, err := decodeCommand(b)
	if err != nil {
		return nil, fmt.Errorf("fsm: decode command: %w", err)
	}
	return c, nil
}

// Action says what a write did to one object.
type Action string

// The actions of a write.
const (
	ActionCreated    Action = "created"
	ActionConfigured Action = "configured"
	ActionUnchanged  Action = "unchanged"
	ActionDeleted    Action = "deleted"
)

// OpResult is the outcome of one Op: the object as stored (for a delete,
// as it was last).
type OpResult struct {
	Action Action          `json:"action"`
	Object json.RawMessage `json:"object,omitempty"`
}

// Result is what applying a Command returned.
type Result struct {
	Index   uint64     `json:"index"`
	Results []OpResult `json:"results,omitempty"`
	// Rejected lists the placements of a plan that Apply refused.
	Rejected []Rejection `json:"rejected,omitempty"`
	Err      error       `json:"-"`
}

// ServerRecord names a Raft server and where its API listens, so followers
// can forward to the leader.
type ServerRecord struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raftAddr"`
	APIAddr  string `json:"apiAddr"`
}

// errorCode and codeError carry an error through the request table (kept in
// snapshots) so that a deduplicated retry returns the same error.
func errorCode(err error) string {
	for _, e := range []error{ErrNotFound, ErrAlreadyExists, ErrConflict, ErrInvalid, ErrForbidden} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "error"
}

type codedError struct {
	sentinel error
	msg      string
}

func (e *codedError) Error() string { return e.msg }
func (e *codedError) Unwrap() error { return e.sentinel }

func codeError(code, msg string) error {
	for _, e := range []error{ErrNotFound, ErrAlreadyExists, ErrConflict, ErrInvalid, ErrForbidden} {
		if e.Error() == code {
			return &codedError{sentinel: e, msg: msg}
		}
	}
	return errors.New(msg)
}
