// Command writebench measures the write throughput and latency of a
// 3-server Berth cluster against a 3-member etcd cluster, both on loopback
// on this machine, one after the other.
//
// Each system gets fresh data dirs under one temp dir, removed at the end.
// The workload is puts of 256-byte values over 1,000 keys (Berth: Apply of
// a ConfigMap; etcd: Put), at each concurrency level in turn; every level
// runs a warm-up and then a measured period.
//
//	go run ./cmd/writebench -berth /tmp/berth -etcd /usr/bin/etcd -duration 10s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	berthBin, etcdBin string
	levels            []int
	warmup, duration  time.Duration
	keys, valueSize   int
	keepDir           bool
	// plainBin, when set, is a berth built with -tags benchplain (no TLS,
	// ACLs or Secret encryption): the run compares berthBin with it
	// instead of with etcd.
	plainBin string
	secrets  bool
}

func main() {
	var cfg config
	var levels string
	flag.StringVar(&cfg.berthBin, "berth", os.Getenv("BERTH_BIN"), "berth binary ($BERTH_BIN)")
	flag.StringVar(&cfg.etcdBin, "etcd", "etcd", "etcd binary")
	flag.StringVar(&levels, "clients", "1,16,64", "concurrency levels, comma-separated")
	flag.DurationVar(&cfg.warmup, "warmup", time.Second, "warm-up before each measured period")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured period of each level")
	flag.IntVar(&cfg.keys, "keys", 1000, "keyspace size")
	flag.IntVar(&cfg.valueSize, "value-size", 256, "value size in bytes")
	flag.BoolVar(&cfg.keepDir, "keep", false, "keep the temp dir (data and logs)")
	flag.StringVar(&cfg.plainBin, "plain", "", "berth built with -tags benchplain: compare security on (-berth) with off (this) instead of berth with etcd")
	flag.BoolVar(&cfg.secrets, "secrets", false, "berth writes Secrets (encrypted at rest) instead of ConfigMaps")
	flag.Parse()
	var err error
	if cfg.levels, err = parseLevels(levels); err != nil {
		fmt.Fprintln(os.Stderr, "writebench:", err)
		os.Exit(2)
	}
	if cfg.berthBin == "" {
		fmt.Fprintln(os.Stderr, "writebench: -berth (or $BERTH_BIN) is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "writebench:", err)
		os.Exit(1)
	}
}

func parseLevels(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-clients: bad level %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// system is one cluster under test.
type system struct {
	name  string
	start func(ctx context.Context, dir string) (*cluster, error)
	// newPutter returns client i's put function and a closer.
	newPutter func(c *cluster, i int) (putFunc, func(), error)
}

func run(ctx context.Context, cfg config) error {
	dir, err := os.MkdirTemp("", "writebench-")
	if err != nil {
		return err
	}
	if cfg.keepDir {
		fmt.Fprintln(os.Stderr, "writebench: data and logs in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	systems := []system{berthSystem("berth", cfg.berthBin, false, cfg.secrets), etcdSystem(cfg.etcdBin)}
	if cfg.plainBin != "" {
		systems[1] = berthSystem("berth-plain", cfg.plainBin, true, cfg.secrets)
	}
	results := map[string][]levelResult{}
	for _, s := range systems {
		rs, err := runSystem(ctx, cfg, s, dir)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		results[s.name] = rs
	}
	if cfg.plainBin != "" {
		printSecurityTable(os.Stdout, cfg, results["berth"], results["berth-plain"])
		return nil
	}
	printTable(os.Stdout, cfg, results["berth"], results["etcd"])
	return nil
}

// runSystem starts a fresh cluster of s, runs every level against it and
// stops it.
func runSystem(ctx context.Context, cfg config, s system, dir string) ([]levelResult, error) {
	fmt.Fprintf(os.Stderr, "writebench: starting 3-server %s cluster\n", s.name)
	c, err := s.start(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	var out []levelResult
	for _, n := range cfg.levels {
		fmt.Fprintf(os.Stderr, "writebench: %s, %d clients, %v warm-up + %v\n", s.name, n, cfg.warmup, cfg.duration)
		r, err := runLevel(ctx, cfg, c, s, n)
		if err != nil {
			c.dumpLogs(os.Stderr)
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
