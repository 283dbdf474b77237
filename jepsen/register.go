package jepsen

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
)

// The register workload: a few keys, each a ConfigMap whose data["v"] is
// the register's value. Workers read (linearizable, or stale in the
// negative control), write (apply) and compare-and-set (an update naming
// the resourceVersion the worker last saw). Porcupine checks that the
// history of each key is linearizable.

const registerKeys = 3

func registerKey(i int) string { return "reg-" + strconv.Itoa(i) }

// regState is a register's value and resourceVersion (0: not known, after
// a write whose answer was lost).
type regState struct {
	value string
	rv    uint64
}

type regIn struct {
	key    string
	op     string // read, write, cas
	value  string
	expect uint64
}

type regOut struct {
	unknown  bool // the answer was lost
	conflict bool // a cas whose resourceVersion was stale
	value    string
	rv       uint64
}

// registerModel is a register with versions: a read returns the value and
// the version of the last write; a write's version is above every earlier
// one; a cas succeeds exactly when the version it names is the current one.
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(regIn).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return regState{value: "init"} },
	Step: func(st, in, out any) (bool, any) {
		s, i, o := st.(regState), in.(regIn), out.(regOut)
		rvMatches := func(rv uint64) bool { return s.rv == 0 || s.rv == rv }
		switch i.op {
		case "read":
			return o.value == s.value && rvMatches(o.rv), regState{value: o.value, rv: o.rv}
		case "write":
			if o.unknown {
				return true, regState{value: i.value}
			}
			return s.rv == 0 || o.rv > s.rv, regState{value: i.value, rv: o.rv}
		case "cas":
			switch {
			case o.unknown:
				if rvMatches(i.expect) {
					return true, regState{value: i.value}
				}
				return true, s
			case o.conflict:
				return s.rv == 0 || s.rv != i.expect, s
			default:
				return rvMatches(i.expect) && (s.rv == 0 || o.rv > s.rv), regState{value: i.value, rv: o.rv}
			}
		}
		return false, s
	},
	Equal: func(a, b any) bool { return a.(regState) == b.(regState) },
	DescribeOperation: func(in, out any) string {
		i, o := in.(regIn), out.(regOut)
		res := fmt.Sprintf("%q @%d", o.value, o.rv)
		switch {
		case o.unknown:
			res = "?"
		case o.conflict:
			res = "conflict"
		case i.op != "read":
			res = fmt.Sprintf("ok @%d", o.rv)
		}
		switch i.op {
		case "read":
			return fmt.Sprintf("%s read → %s", i.key, res)
		case "write":
			return fmt.Sprintf("%s write %q → %s", i.key, i.value, res)
		}
		return fmt.Sprintf("%s cas @%d→%q → %s", i.key, i.expect, i.value, res)
	},
	DescribeState: func(st any) string {
		s := st.(regState)
		return fmt.Sprintf("%q @%d", s.value, s.rv)
	},
}

type registerWorkload struct{ env *env }

func (w *registerWorkload) name() string { return "register" }

func (w *registerWorkload) setup(ctx context.Context, cl *client.Client) error {
	for i := range registerKeys {
		if _, err := cl.Apply(ctx, labelled(registerKey(i), "register", map[string]string{"v": "init"})); err != nil {
			return err
		}
	}
	return nil
}

func (w *registerWorkload) run(ctx context.Context) {
	e := w.env
	e.workers(ctx, e.perServer*len(e.c.Servers), 1, func(ctx context.Context, id int, node string, cl *client.Client, rng *rand.Rand) {
		lastRV := map[string]uint64{}
		var readOpts []client.ReadOption
		if e.stale {
			readOpts = append(readOpts, client.Stale())
		}
		for seq := 0; pace(ctx, rng); seq++ {
			key := registerKey(rng.IntN(registerKeys))
			op := Op{Process: id, Workload: "register", Key: key, Node: node, Invoke: e.h.Now()}
			octx, cancel := context.WithTimeout(ctx, opTimeout)
			r := rng.IntN(4)
			if r == 3 && lastRV[key] == 0 {
				r = 0 // a cas needs a version this worker has seen: read first
			}
			switch {
			case r < 2:
				op.F = "read"
				obj, err := cl.Get(octx, "ConfigMap", "default", key, readOpts...)
				op.Outcome, op.Error = outcome(err), errText(err)
				if err == nil {
					cm := obj.(*api.ConfigMap)
					op.Result = cm.Data["v"]
					op.Revision, _ = strconv.ParseUint(cm.Metadata.ResourceVersion, 10, 64)
					lastRV[key] = op.Revision
				}
			case r == 2:
				op.F, op.Value = "write", fmt.Sprintf("w%d-%d", id, seq)
				res, err := cl.Apply(octx, labelled(key, "register", map[string]string{"v": op.Value}))
				op.Outcome, op.Error = outcome(err), errText(err)
				if err == nil {
					op.Revision = res[0].Revision
				}
			default:
				op.F, op.Value, op.Expect = "cas", fmt.Sprintf("c%d-%d", id, seq), lastRV[key]
				cm := labelled(key, "register", map[string]string{"v": op.Value})
				cm.Metadata.ResourceVersion = strconv.FormatUint(op.Expect, 10)
				res, err := cl.Update(octx, cm)
				op.Outcome, op.Error = outcome(err), errText(err)
				if err == nil {
					op.Revision = res[0].Revision
				}
			}
			cancel()
			e.h.Add(op)
		}
	})
}

// porcupineOps turns the register's history into Porcupine's operations. A
// read whose answer was lost changed nothing and is left out; a write or
// cas whose answer was lost may take effect at any time after its call, so
// it never returns.
func porcupineOps(ops []Op) []porcupine.Operation {
	var out []porcupine.Operation
	for _, op := range ops {
		in := regIn{key: op.Key, op: op.F, value: op.Value, expect: op.Expect}
		o := regOut{value: op.Result, rv: op.Revision}
		ret := op.Return
		switch op.Outcome {
		case Unknown:
			if op.F == "read" {
				continue
			}
			o, ret = regOut{unknown: true}, math.MaxInt64
		case Fail:
			if op.F != "cas" {
				continue // a write refused for certain did nothing
			}
			o = regOut{conflict: true}
		}
		out = append(out, porcupine.Operation{ClientId: op.Process, Input: in, Call: op.Invoke, Output: o, Return: ret})
	}
	return out
}

func (w *registerWorkload) check(ctx context.Context, dir string) []Verdict {
	ops := w.env.h.Ops("register")
	hist := porcupineOps(ops)
	v := Verdict{Checker: "register (linearizable)"}
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(registerModel, hist, 60*time.Second)
	took := time.Since(start).Round(time.Millisecond)
	if err := porcupine.VisualizePath(registerModel, info, filepath.Join(dir, "register.html")); err == nil {
		v.Artifact = "register.html"
	}
	count := map[Outcome]int{}
	for _, op := range ops {
		count[op.Outcome]++
	}
	stats := fmt.Sprintf("%d operations (%d ok, %d fail, %d unknown) on %d keys, checked in %v", len(ops), count[OK], count[Fail], count[Unknown], registerKeys, took)
	switch res {
	case porcupine.Ok:
		v.Valid, v.Summary = count[OK] > 0, "linearizable: "+stats
		if count[OK] == 0 {
			v.Summary = "no operation succeeded: " + stats
		}
	case porcupine.Illegal:
		v.Summary = "NOT linearizable: " + stats
		v.Details = append(v.Details, "see register.html for the longest linearizable prefix of each key and where it breaks")
	default:
		v.Summary = "the check did not finish in 60 s: " + stats
	}
	return []Verdict{v}
}
