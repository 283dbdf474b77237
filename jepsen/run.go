package jepsen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/client"
)

// Workloads are the workloads a run can compose; they run side by side on
// one cluster.
var Workloads = []string{"register", "set", "watch", "sched"}

// Config describes one run.
type Config struct {
	// Binary is the berth binary the servers run.
	Binary string
	// Dir is the report folder (created); the servers' data dirs and logs
	// go under it too.
	Dir     string
	Servers int
	// Nemesis is one of Nemeses, "mixed", "partition-mixed" or "none".
	Nemesis string
	// Workloads to run (default all).
	Workloads []string
	// Duration is how long faults are injected; the workloads run on for
	// a few seconds after the last heal.
	Duration time.Duration
	// Seed draws the nemesis schedule and the operations: the same seed
	// gives the same schedule.
	Seed     int64
	Schedule Schedule
	// Stale makes the register's reads stale: the negative control that
	// the linearizability checker must fail.
	Stale bool
	// PerServer is how many workers each workload runs per server
	// (default 1).
	PerServer int
	// MaxFaults ends the faults after that many (0: no limit; Duration
	// still bounds them).
	MaxFaults int
	// Logf receives progress lines (default: none).
	Logf func(format string, args ...any)
}

// Name is the scenario's short name: workloads, nemesis and servers.
func (c Config) Name() string {
	n := fmt.Sprintf("%s/%s/%d", strings.Join(c.Workloads, "+"), c.Nemesis, c.Servers)
	if c.Stale {
		n += "/stale"
	}
	return n
}

// DefaultSchedule: faults of 2–5 s with 1–3 s of calm between them.
var DefaultSchedule = Schedule{FaultMin: 2 * time.Second, FaultMax: 5 * time.Second, HealMin: time.Second, HealMax: 3 * time.Second}

// Report is the outcome of a run, also written to its folder.
type Report struct {
	Scenario string        `json:"scenario"`
	Seed     int64         `json:"seed"`
	Dir      string        `json:"dir"`
	Ops      int           `json:"ops"`
	Faults   int           `json:"faults"`
	Took     time.Duration `json:"took"`
	Verdicts []Verdict     `json:"verdicts"`
	Valid    bool          `json:"valid"`
}

type workload interface {
	name() string
	setup(ctx context.Context, cl *client.Client) error
	run(ctx context.Context)
	check(ctx context.Context, dir string) []Verdict
}

// Run starts a cluster, runs the workloads under the nemesis, heals,
// checks and writes the report. An error means the run could not be made
// (no cluster); a run whose checks fail returns a Report with Valid false.
// Everything it started is gone when it returns, also when ctx is
// cancelled.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Servers < 1 {
		return nil, fmt.Errorf("jepsen: servers must be at least 1, not %d", cfg.Servers)
	}
	if !ValidNemesis(cfg.Nemesis) {
		return nil, fmt.Errorf("jepsen: unknown nemesis %q (one of none, mixed, partition-mixed, %s)", cfg.Nemesis, strings.Join(Nemeses, ", "))
	}
	if len(cfg.Workloads) == 0 {
		cfg.Workloads = Workloads
	}
	for _, w := range cfg.Workloads {
		if !slices.Contains(Workloads, w) {
			return nil, fmt.Errorf("jepsen: unknown workload %q (one of %s)", w, strings.Join(Workloads, ", "))
		}
	}
	if cfg.Schedule == (Schedule{}) {
		cfg.Schedule = DefaultSchedule
	}
	if cfg.PerServer <= 0 {
		cfg.PerServer = 1
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	began := time.Now()
	logf("jepsen: %s, seed %d, report in %s", cfg.Name(), cfg.Seed, cfg.Dir)
	c, err := StartCluster(ctx, cfg.Binary, filepath.Join(cfg.Dir, "nodes"), cfg.Servers, "--capacity", schedCapacity,
		"--node-down-grace", ctrlNodeDownGrace.String())
	if err != nil {
		return nil, err
	}
	defer c.Close()

	h := NewHistory()
	e := &env{c: c, h: h, seed: cfg.Seed, logf: logf, stale: cfg.Stale, perServer: cfg.PerServer}
	var ws []workload
	for _, name := range []string{"watch", "sched", "register", "set"} { // watchers first: they see the others' set-up
		if !slices.Contains(cfg.Workloads, name) {
			continue
		}
		switch name {
		case "watch":
			ws = append(ws, &watchWorkload{env: e})
		case "register":
			ws = append(ws, &registerWorkload{env: e})
		case "set":
			ws = append(ws, &setWorkload{env: e})
		case "sched":
			ws = append(ws, &schedWorkload{env: e})
		}
	}
	setup, err := c.Client(c.Addrs(0), client.WithTimeout(30*time.Second))
	if err != nil {
		return nil, err
	}
	defer setup.Close()
	for _, w := range ws {
		if err := w.setup(ctx, setup); err != nil {
			return nil, fmt.Errorf("jepsen: set up %s: %w", w.name(), err)
		}
	}

	wctx, stopWork := context.WithCancel(ctx)
	var working sync.WaitGroup
	for _, w := range ws {
		working.Go(func() { w.run(wctx) })
	}
	nctx, stopNemesis := context.WithTimeout(ctx, cfg.Duration)
	nem := &nemesis{c: c, h: h, plan: newPlan(cfg.Seed, cfg.Nemesis, cfg.Servers, cfg.Schedule), max: cfg.MaxFaults, logf: logf}
	faults := nem.run(nctx)
	stopNemesis()
	// The cluster is whole again: the workloads go on a little, so that
	// the history shows it serving after the heal.
	sleepCtx(ctx, 3*time.Second)
	stopWork()
	working.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	var verdicts []Verdict
	if err := c.WaitHealthy(ctx, 60*time.Second); err != nil {
		verdicts = append(verdicts, Verdict{Checker: "recovery", Summary: err.Error()})
	}
	verdicts = append(verdicts, checkConvergence(ctx, c, 30*time.Second))
	for _, w := range ws {
		verdicts = append(verdicts, w.check(ctx, cfg.Dir)...)
	}
	r := &Report{Scenario: cfg.Name(), Seed: cfg.Seed, Dir: cfg.Dir, Ops: len(h.Ops("")), Faults: faults, Took: time.Since(began), Verdicts: verdicts, Valid: true}
	for _, v := range verdicts {
		r.Valid = r.Valid && v.Valid
		logf("jepsen: %s: %s", v.Checker, v.Summary)
	}
	return r, errors.Join(ctx.Err(), writeReport(cfg, r, h))
}

// writeReport writes the run's folder: history.jsonl, faults.jsonl,
// verdicts.json (the Report) and report.html.
func writeReport(cfg Config, r *Report, h *History) error {
	write := func(name string, fn func(f *os.File) error) error {
		f, err := os.Create(filepath.Join(cfg.Dir, name))
		if err != nil {
			return err
		}
		return errors.Join(fn(f), f.Close())
	}
	return errors.Join(
		write("history.jsonl", func(f *os.File) error { return writeJSONLines(f, h.Ops("")) }),
		write("faults.jsonl", func(f *os.File) error { return writeJSONLines(f, h.Faults()) }),
		write("verdicts.json", func(f *os.File) error {
			enc := json.NewEncoder(f)
			enc.SetIndent("", "  ")
			return enc.Encode(r)
		}),
		write("report.html", func(f *os.File) error {
			return writeHTML(f, htmlPage{Title: r.Scenario, Verdicts: r.Verdicts, Ops: h.Ops(""), Faults: h.Faults(),
				Subtitle: fmt.Sprintf("seed %d · %d operations · %d faults · %v", r.Seed, r.Ops, r.Faults, r.Took.Round(time.Second))})
		}),
	)
}
