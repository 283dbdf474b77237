// Command berth-jepsen runs Berth's fault-injection suite against a berth
// binary: one scenario, or the whole matrix (-matrix), and prints a summary
// table. Each run leaves a report folder. It needs root (network
// namespaces, iptables). `berth-jepsen sweep` removes what a killed run
// left behind.
//
//	berth-jepsen -bin bin/berth -nemesis partition-leader -servers 3 -time 30s
//	berth-jepsen -bin bin/berth -lossy-bin bin/berth-lossy -matrix
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/testnet"
	"github.com/berth-dev/berth/jepsen"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "sweep" {
		if err := testnet.Sweep(); err != nil {
			fmt.Fprintln(os.Stderr, "berth-jepsen sweep:", err)
			os.Exit(1)
		}
		fmt.Println("berth-jepsen: nothing left of dead runs")
		return
	}
	var (
		bin       = flag.String("bin", "bin/berth", "the berth binary")
		out       = flag.String("out", "jepsen/runs", "where report folders go")
		nemesis   = flag.String("nemesis", "partition-mixed", "none, mixed, partition-mixed or one of: "+strings.Join(jepsen.Nemeses, ", "))
		workloads = flag.String("workloads", strings.Join(jepsen.Workloads, ","), "comma-separated: "+strings.Join(jepsen.Workloads, ", "))
		servers   = flag.Int("servers", 3, "servers in the cluster")
		dur       = flag.Duration("time", 30*time.Second, "how long faults are injected")
		seed      = flag.Int64("seed", 0, "seed of the schedule (0: from the clock); the same seed replays the same schedule")
		stale     = flag.Bool("stale", false, "stale register reads: a negative control that must be judged not linearizable")
		faultMin  = flag.Duration("fault-min", jepsen.DefaultSchedule.FaultMin, "shortest fault")
		faultMax  = flag.Duration("fault-max", jepsen.DefaultSchedule.FaultMax, "longest fault")
		healMin   = flag.Duration("heal-min", jepsen.DefaultSchedule.HealMin, "shortest calm between faults")
		healMax   = flag.Duration("heal-max", jepsen.DefaultSchedule.HealMax, "longest calm between faults")
		matrix    = flag.Bool("matrix", false, "run the full matrix: every nemesis with 3 and 5 servers, the negative controls, leader-kill timing and the partition cycles")
		lossyBin  = flag.String("lossy-bin", "", "a berth binary built with -tags jepsenlossy, for the matrix's negative control")
		trials    = flag.Int("leader-kill-trials", 50, "leader kill -9 trials the matrix times")
		cycles    = flag.Int("partition-cycles", 200, "partition cycles of the matrix's long set run")
	)
	flag.Parse()
	if *seed == 0 {
		*seed = time.Now().UnixNano() % 1_000_000
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
	abs, err := filepath.Abs(*bin)
	if err != nil {
		fatal(err)
	}
	sched := jepsen.Schedule{FaultMin: *faultMin, FaultMax: *faultMax, HealMin: *healMin, HealMax: *healMax}
	base := jepsen.Config{Binary: abs, Seed: *seed, Schedule: sched, Logf: logf, Workloads: strings.Split(*workloads, ",")}
	stamp := time.Now().Format("20060102-150405")
	dir := func(name string) string {
		return filepath.Join(*out, stamp, strings.NewReplacer("/", "-", "+", "-").Replace(name))
	}
	fmt.Printf("berth-jepsen: seed %d (the same -seed replays the same schedule)\n", *seed)

	if !*matrix {
		cfg := base
		cfg.Nemesis, cfg.Servers, cfg.Duration, cfg.Stale = *nemesis, *servers, *dur, *stale
		cfg.Dir = dir(cfg.Name())
		r, err := jepsen.Run(ctx, cfg)
		if err != nil {
			fatal(err)
		}
		printTable(os.Stdout, []*jepsen.Report{r})
		if !r.Valid {
			os.Exit(1)
		}
		return
	}
	ok := runMatrix(ctx, base, dir, *lossyBin, *trials, *cycles, *dur, logf)
	if !ok {
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "berth-jepsen:", err)
	os.Exit(1)
}
