package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-dev/berth/internal/stats"
	"github.com/berth-dev/berth/jepsen"
)

// row is one line of the summary table.
type row struct {
	scenario string
	ops      int
	faults   int
	verdicts string
	expect   string // "valid", or "invalid" for a negative control
	pass     bool
	dir      string
}

func rowOf(r *jepsen.Report, wantValid bool) row {
	var vs []string
	for _, v := range r.Verdicts {
		mark := "ok"
		if !v.Valid {
			mark = "FAIL"
		}
		vs = append(vs, strings.Fields(v.Checker)[0]+":"+mark)
	}
	expect := "valid"
	if !wantValid {
		expect = "invalid"
	}
	return row{scenario: r.Scenario, ops: r.Ops, faults: r.Faults, verdicts: strings.Join(vs, " "), expect: expect, pass: r.Valid == wantValid, dir: r.Dir}
}

func printRows(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tOPS\tFAULTS\tCHECKERS\tEXPECTED\tRESULT")
	for _, r := range rows {
		res := "PASS"
		if !r.pass {
			res = "FAIL (" + r.dir + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", r.scenario, r.ops, r.faults, r.verdicts, r.expect, res)
	}
	tw.Flush()
}

func printTable(w io.Writer, reports []*jepsen.Report) {
	var rows []row
	for _, r := range reports {
		rows = append(rows, rowOf(r, true))
	}
	printRows(w, rows)
}

// runMatrix runs every nemesis with 3 and 5 servers (all workloads on one
// cluster), the two negative controls, the long partition-cycle set run
// and the leader-kill timing, and prints one table.
func runMatrix(ctx context.Context, base jepsen.Config, dir func(string) string, lossyBin string, trials, cycles int, dur time.Duration, logf func(string, ...any)) bool {
	var rows []row
	run := func(cfg jepsen.Config, wantValid bool) {
		if ctx.Err() != nil {
			return
		}
		cfg.Dir = dir(cfg.Name())
		r, err := jepsen.Run(ctx, cfg)
		if err != nil {
			logf("%s: %v", cfg.Name(), err)
			rows = append(rows, row{scenario: cfg.Name(), verdicts: "error: " + err.Error(), pass: false, dir: cfg.Dir})
			return
		}
		rows = append(rows, rowOf(r, wantValid))
	}
	for _, servers := range []int{3, 5} {
		for _, nem := range jepsen.Nemeses {
			cfg := base
			cfg.Servers, cfg.Nemesis, cfg.Duration = servers, nem, dur
			run(cfg, true)
		}
	}
	// Negative controls: the checkers must catch a broken system.
	stale := base
	stale.Workloads, stale.Servers, stale.Nemesis, stale.Duration, stale.Stale = []string{"register"}, 3, "partition-leader", dur, true
	run(stale, false)
	if lossyBin != "" {
		lossy := base
		lossy.Binary, lossy.Workloads, lossy.Servers, lossy.Nemesis, lossy.Duration = lossyBin, []string{"set"}, 3, "partition-leader", dur
		run(lossy, false)
	} else {
		rows = append(rows, row{scenario: "set/partition-leader/3/lossy", verdicts: "not run: no -lossy-bin"})
	}
	// Many short partitions, then every acknowledged write must be there.
	long := base
	long.Workloads, long.Servers, long.Nemesis, long.MaxFaults = []string{"set"}, 3, "partition-mixed", cycles
	long.Schedule = jepsen.Schedule{FaultMin: time.Second, FaultMax: 1500 * time.Millisecond, HealMin: 500 * time.Millisecond, HealMax: time.Second}
	long.Duration = time.Duration(cycles) * 3 * time.Second
	run(long, true)

	ok := true
	for _, r := range rows {
		ok = ok && r.pass
	}
	fmt.Println()
	printRows(os.Stdout, rows)

	if ctx.Err() == nil {
		times, err := jepsen.LeaderKill(ctx, base.Binary, dir("leader-kill"), 3, trials, logf)
		if err != nil {
			fmt.Printf("\nleader kill -9: %v\n", err)
			ok = false
		}
		if len(times) > 0 {
			p99 := stats.Percentile(times, 99)
			fmt.Printf("\nleader kill -9, 3 servers, %d trials: new leader accepting writes after p50 %v, p99 %v, max %v (goal: p99 ≤ 2s)\n",
				len(times), stats.Percentile(times, 50).Round(time.Millisecond), p99.Round(time.Millisecond), stats.Percentile(times, 100).Round(time.Millisecond))
			ok = ok && p99 <= 2*time.Second
		}
	}
	return ok && ctx.Err() == nil
}
