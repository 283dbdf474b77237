package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
)

var stderr io.Writer = os.Stderr

// putFunc writes value at key.
type putFunc func(ctx context.Context, key, value string) error

// levelResult is what one concurrency level measured.
type levelResult struct {
	clients  int
	ops      int // successful puts in the measured period
	errors   int
	opsPerS  float64
	p50, p99 time.Duration
	cpuCores float64 // CPU used by the three servers, in cores
	selfCPU  float64 // CPU used by this program (the clients), in cores
}

// sample is one put's outcome.
type sample struct {
	start time.Time
	took  time.Duration
	err   bool
}

// runLevel runs n clients for the warm-up and the measured period; only
// the puts that start and end inside the measured period count.
func runLevel(ctx context.Context, cfg config, c *cluster, s system, n int) (levelResult, error) {
	puts := make([]putFunc, n)
	for i := range n {
		put, closer, err := s.newPutter(c, i)
		if err != nil {
			return levelResult{}, err
		}
		defer closer()
		puts[i] = put
	}
	from := time.Now().Add(cfg.warmup)
	to := from.Add(cfg.duration)
	lctx, cancel := context.WithDeadline(ctx, to)
	defer cancel()
	samples := make([][]sample, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { samples[i] = worker(lctx, cfg, puts[i], uint64(i)) })
	}
	cpu := measureCPU(lctx, c, from, to)
	wg.Wait()
	if ctx.Err() != nil {
		return levelResult{}, ctx.Err()
	}
	if err := c.checkAlive(); err != nil {
		return levelResult{}, err
	}
	r := summarize(samples, from, to)
	used := <-cpu
	r.clients, r.cpuCores, r.selfCPU = n, used[0], used[1]
	if r.ops == 0 || r.errors*100 > r.ops {
		return r, fmt.Errorf("%d clients: %d puts succeeded, %d failed", n, r.ops, r.errors)
	}
	return r, nil
}

// worker puts random keys until ctx ends. Values differ on every put (a
// counter leads them), so that no write is a no-op.
func worker(ctx context.Context, cfg config, put putFunc, id uint64) []sample {
	rng := rand.New(rand.NewPCG(id, 0x5eed))
	pad := strings.Repeat("x", max(cfg.valueSize-24, 0))
	var out []sample
	for seq := uint64(0); ctx.Err() == nil; seq++ {
		key := fmt.Sprintf("key-%05d", rng.IntN(cfg.keys))
		value := fmt.Sprintf("%08x%016x", id, seq) + pad
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := put(pctx, key, value)
		cancel()
		out = append(out, sample{start: start, took: time.Since(start), err: err != nil})
	}
	return out
}

// measureCPU returns the CPU (in cores) that the cluster's processes use
// between from and to.
// The second value is this program's own CPU.
func measureCPU(ctx context.Context, c *cluster, from, to time.Time) <-chan [2]float64 {
	out := make(chan [2]float64, 1)
	go func() {
		sleepUntil(ctx, from)
		t0, c0, s0 := time.Now(), c.cpuTicks(), selfCPU()
		sleepUntil(ctx, to)
		t1, c1, s1 := time.Now(), c.cpuTicks(), selfCPU()
		secs := t1.Sub(t0).Seconds()
		out <- [2]float64{float64(c1-c0) / clockTicks / secs, (s1 - s0).Seconds() / secs}
	}()
	return out
}

// selfCPU returns the user+system CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func sleepUntil(ctx context.Context, t time.Time) {
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}

func summarize(samples [][]sample, from, to time.Time) levelResult {
	var r levelResult
	var lat []time.Duration
	for _, ss := range samples {
		for _, s := range ss {
			if s.start.Before(from) || s.start.Add(s.took).After(to) {
				continue
			}
			if s.err {
				r.errors++
				continue
			}
			lat = append(lat, s.took)
		}
	}
	slices.Sort(lat)
	r.ops = len(lat)
	r.opsPerS = float64(r.ops) / to.Sub(from).Seconds()
	if len(lat) > 0 {
		r.p50 = lat[len(lat)*50/100]
		r.p99 = lat[len(lat)*99/100]
	}
	return r
}

func printTable(w io.Writer, cfg config, berth, etcd []levelResult) {
	fmt.Fprintf(w, "\nwrites of %d-byte values over %d keys, 3 servers each on 127.0.0.1, %v per level after %v warm-up, %d CPUs\n",
		cfg.valueSize, cfg.keys, cfg.duration, cfg.warmup, runtime.NumCPU())
	fmt.Fprintln(w, "ratio = berth/etcd (throughput: higher is better; p50: lower is better); cpu = cores used by the 3 servers")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clients\tberth ops/s\tetcd ops/s\tratio\tberth p50\tetcd p50\tratio\tberth p99\tetcd p99\tberth cpu\tetcd cpu\t")
	for i := range berth {
		b, e := berth[i], etcd[i]
		fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.2f\t%s\t%s\t%.2f\t%s\t%s\t%.2f\t%.2f\t\n",
			b.clients, b.opsPerS, e.opsPerS, b.opsPerS/e.opsPerS,
			ms(b.p50), ms(e.p50), float64(b.p50)/float64(e.p50), ms(b.p99), ms(e.p99), b.cpuCores, e.cpuCores)
	}
	tw.Flush()
	for i := range berth {
		fmt.Fprintf(w, "%d clients: the bench's own clients used %.2f cores (berth run) and %.2f (etcd run)\n",
			berth[i].clients, berth[i].selfCPU, etcd[i].selfCPU)
	}
	for i := range berth {
		if berth[i].errors+etcd[i].errors > 0 {
			fmt.Fprintf(w, "%d clients: %d berth and %d etcd puts failed\n", berth[i].clients, berth[i].errors, etcd[i].errors)
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// printSecurityTable compares Berth with its security on and off.
func printSecurityTable(w io.Writer, cfg config, on, off []levelResult) {
	what := "ConfigMaps"
	if cfg.secrets {
		what = "Secrets"
	}
	fmt.Fprintf(w, "\nwrites of %s with %d-byte values over %d keys, 3 Berth servers on 127.0.0.1, %v per level after %v warm-up, %d CPUs\n",
		what, cfg.valueSize, cfg.keys, cfg.duration, cfg.warmup, runtime.NumCPU())
	fmt.Fprintln(w, "on = mutual TLS, ACL token checks, Secrets encrypted (the normal build); off = the same code built with -tags benchplain; ratio = on/off (goal >= 0.9)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clients\ton ops/s\toff ops/s\tratio\ton p50\toff p50\ton p99\toff p99\ton cpu\toff cpu\t")
	for i := range on {
		a, b := on[i], off[i]
		fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.2f\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t\n",
			a.clients, a.opsPerS, b.opsPerS, a.opsPerS/b.opsPerS, ms(a.p50), ms(b.p50), ms(a.p99), ms(b.p99), a.cpuCores, b.cpuCores)
	}
	tw.Flush()
	for i := range on {
		if on[i].errors+off[i].errors > 0 {
			fmt.Fprintf(w, "%d clients: %d puts failed with security on, %d off\n", on[i].clients, on[i].errors, off[i].errors)
		}
	}
}
