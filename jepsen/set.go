package jepsen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/berth-dev/berth/client"
)

// The set workload: workers create ConfigMaps with names never used
// before. At the end every acknowledged one must be there, and nothing
// must be there that was never attempted.

type setWorkload struct{ env *env }

func (w *setWorkload) name() string { return "set" }

func (w *setWorkload) setup(context.Context, *client.Client) error { return nil }

func (w *setWorkload) run(ctx context.Context) {
	e := w.env
	e.workers(ctx, e.perServer*len(e.c.Servers), 2, func(ctx context.Context, id int, node string, cl *client.Client, rng *rand.Rand) {
		for seq := 0; pace(ctx, rng); seq++ {
			op := Op{Process: id, Workload: "set", F: "add", Key: fmt.Sprintf("set-%d-%d", id, seq), Node: node, Invoke: e.h.Now()}
			octx, cancel := context.WithTimeout(ctx, opTimeout)
			res, err := cl.Create(octx, labelled(op.Key, "set", nil))
			cancel()
			op.Outcome, op.Error = outcome(err), errText(err)
			if err == nil {
				op.Revision = res[0].Revision
			}
			e.h.Add(op)
		}
	})
}

// finalList lists a workload's objects with a linearizable read, trying
// again for up to 30 s.
func finalList(ctx context.Context, c *Cluster, workload string) ([]string, error) {
	cl, err := c.Client(c.Addrs(0), client.WithTimeout(5*time.Second))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		objs, _, err := cl.List(ctx, "ConfigMap", "default", client.LabelSelector("jepsen="+workload))
		if err == nil {
			var out []string
			for _, o := range objs {
				out = append(out, o.GetObjectMeta().Name)
			}
			return out, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (w *setWorkload) check(ctx context.Context, dir string) []Verdict {
	ops := w.env.h.Ops("set")
	v := Verdict{Checker: "set (no acknowledged write lost)"}
	present, err := finalList(ctx, w.env.c, "set")
	if err != nil {
		v.Summary = "the final read failed: " + err.Error()
		return []Verdict{v}
	}
	return []Verdict{checkSet(ops, present)}
}

// checkSet judges the set's adds against the names present at the end.
func checkSet(ops []Op, present []string) Verdict {
	v := Verdict{Checker: "set (no acknowledged write lost)"}
	have := map[string]bool{}
	for _, name := range present {
		have[name] = true
	}
	attempted := map[string]Outcome{}
	var lost []string
	count := map[Outcome]int{}
	recovered := 0
	for _, op := range ops {
		attempted[op.Key] = op.Outcome
		count[op.Outcome]++
		switch {
		case op.Outcome == OK && !have[op.Key]:
			lost = append(lost, fmt.Sprintf("%s acknowledged at %.3fs (revision %d, via %s), missing", op.Key, float64(op.Return)/1e9, op.Revision, op.Node))
		case op.Outcome == Unknown && have[op.Key]:
			recovered++
		}
	}
	var unexpected []string
	for _, name := range present {
		o, ok := attempted[name]
		switch {
		case !ok:
			unexpected = append(unexpected, name+": present, never attempted")
		case o == Fail:
			unexpected = append(unexpected, name+": present, its create was refused")
		}
	}
	slices.Sort(unexpected)
	v.Details = append(lost, unexpected...)
	v.Valid = len(v.Details) == 0 && count[OK] > 0
	v.Summary = fmt.Sprintf("%d adds (%d ok, %d fail, %d unknown, of which %d present); %d present; %d lost, %d unexpected",
		len(ops), count[OK], count[Fail], count[Unknown], recovered, len(present), len(lost), len(unexpected))
	if count[OK] == 0 {
		v.Summary = "no add succeeded: " + v.Summary
	}
	return v
}
