//go:build jepsenlossy

package raft

import (
	hraft "github.com/hashicorp/raft"

	"github.com/berth-dev/berth/fsm"
)

// ackBeforeCommit makes this build broken on purpose, for the Jepsen
// suite's negative control: a client's write is acknowledged as soon as it
// is queued, before it commits, so writes a deposed or killed leader had
// queued are reported done and then lost. The set checker must catch it.
// Never built without the jepsenlossy tag.
const ackBeforeCommit = true

// ackEarly answers a client's write at once, "created" for each object.
func ackEarly(fut hraft.ApplyFuture, cmd *fsm.Command) (*fsm.Result, bool) {
	if cmd.Type != fsm.CmdWrite || cmd.RequestID == "" {
		return nil, false
	}
	go func() { _ = fut.Error() }()
	res := &fsm.Result{}
	for range cmd.Ops {
		res.Results = append(res.Results, fsm.OpResult{Action: fsm.ActionCreated})
	}
	return res, true
}
