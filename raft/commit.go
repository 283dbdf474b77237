//go:build !jepsenlossy

package raft

import (
	hraft "github.com/hashicorp/raft"

	"github.com/berth-dev/berth/fsm"
)

// ackBeforeCommit is false: a write is answered once it has committed and
// been applied (see lossy.go for the Jepsen suite's broken build).
const ackBeforeCommit = false

func ackEarly(hraft.ApplyFuture, *fsm.Command) (*fsm.Result, bool) { return nil, false }
