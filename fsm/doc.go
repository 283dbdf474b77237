// Package fsm is Berth's replicated state machine: the commands that Raft
// carries, the go-memdb tables they change, revisions, watch, and
// snapshot/restore.
//
// It may import only the api package (and go-memdb). Apply is
// deterministic: no clock, no randomness, no map-order effects, no I/O. The
// leader stamps times and UIDs into the Command before it is proposed, so
// any two replicas that applied the same log hold byte-identical state
// (compare their Snapshot bytes).
//
// The revision of the store is the Raft index of the last applied command,
// and an object's resourceVersion is the index of its last change.
//
// An Op carries an object split in two (ObjectOp): the metadata Apply
// stamps, and the body it stores as bytes, so Apply never decodes objects.
//
//	f := fsm.New(fsm.Options{})
//	op, _ := fsm.ObjectOp(fsm.VerbApply, configMap) // an api.Object
//	op.UID = uid                                     // used if it is created
//	res := f.ApplyCommand(7, &fsm.Command{Time: "2026-01-02T15:04:05Z", Ops: []fsm.Op{op}})
//	if errors.Is(res.Err, fsm.ErrConflict) { ... }
//	rec, _ := f.Get("ConfigMap", "default", "web") // rec.Object is its JSON
package fsm
