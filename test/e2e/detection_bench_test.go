package e2e

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/internal/stats"
	"github.com/berth-dev/berth/internal/testcluster"
)

// BenchmarkDetection measures, in a cluster of 3 servers and 2 workers
// with default settings, the time from kill -9 (and from SIGSTOP) of a
// worker to its node's NotReady in the store, over BERTH_TRIALS trials
// (20) of each, and prints p50 and p99. Run: make bench, or
//
//	go test -run '^$' -bench Detection -benchtime 1x ./test/e2e/
func BenchmarkDetection(b *testing.B) {
	trials := 20
	if s := os.Getenv("BERTH_TRIALS"); s != "" {
		fmt.Sscan(s, &trials)
	}
	c := testcluster.Start(b, testcluster.Options{Servers: 3})
	c.AddWorker(b)
	c.AddWorker(b)
	cl := c.Client(b)
	waitNodes(b, cl, 5)
	b.ResetTimer()
	for range b.N {
		var killed, stopped []time.Duration
		for i := range trials {
			w := c.Workers[i%2]
			start := time.Now()
			w.Kill(b)
			nodeReady(b, cl, w.Name, false, 30*time.Second)
			killed = append(killed, time.Since(start))
			w.Start(b)
			nodeReady(b, cl, w.Name, true, 30*time.Second)

			start = time.Now()
			w.Pause(b)
			nodeReady(b, cl, w.Name, false, 30*time.Second)
			stopped = append(stopped, time.Since(start))
			w.Resume(b)
			nodeReady(b, cl, w.Name, true, 30*time.Second)
			time.Sleep(time.Second) // let the pool settle
		}
		for _, r := range []struct {
			what string
			d    []time.Duration
		}{{"kill -9", killed}, {"SIGSTOP", stopped}} {
			p50, p99 := stats.Percentile(r.d, 50), stats.Percentile(r.d, 99)
			b.Logf("%s → NotReady over %d trials: p50 %v, p99 %v, max %v", r.what, len(r.d), p50, p99, slices.Max(r.d))
			name := strings.Fields(r.what)[0]
			b.ReportMetric(p50.Seconds(), name+"-p50-s")
			b.ReportMetric(p99.Seconds(), name+"-p99-s")
		}
	}
}

// BenchmarkNoFalseNotReady keeps a healthy cluster of 3 servers and 2
// workers under load (every core busy in this process, and a stream of
// writes) for BERTH_SOAK (1m; the figure is 10m) and counts every
// time a node left Ready. Run:
//
//	BERTH_SOAK=10m go test -run '^$' -bench NoFalseNotReady -benchtime 1x -timeout 20m ./test/e2e/
func BenchmarkNoFalseNotReady(b *testing.B) {
	soak := time.Minute
	if s := os.Getenv("BERTH_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		soak = d
	}
	c := testcluster.Start(b, testcluster.Options{Servers: 3})
	c.AddWorker(b)
	c.AddWorker(b)
	cl := c.Client(b)
	waitNodes(b, cl, 5)
	objs, rev, err := cl.List(context.Background(), "Node", "")
	if err != nil || len(objs) != 5 {
		b.Fatal(len(objs), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), soak)
	defer cancel()
	var spin atomic.Bool
	for range runtime.NumCPU() {
		go func() {
			for ctx.Err() == nil {
				spin.Store(!spin.Load())
			}
		}()
	}
	var writes atomic.Int64
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			if _, err := cl.Apply(ctx, configMap(fmt.Sprintf("load-%d", i%100), map[string]string{"i": fmt.Sprint(i)})); err == nil {
				writes.Add(1)
			}
		}
	}()
	b.ResetTimer()
	falseNotReady := 0
	for ev := range cl.Watch(ctx, "Node", "", rev) {
		if ev.Err != nil {
			if ctx.Err() != nil {
				break
			}
			b.Logf("watch: %v", ev.Err)
			continue
		}
		if n, ok := ev.Object.(*api.Node); ok && !n.Ready() {
			falseNotReady++
			b.Logf("node %s NotReady at %v: %+v", n.Metadata.Name, time.Now().Format(time.RFC3339), n.Status.Conditions)
		}
	}
	b.Logf("%v under load (%d writes): %d false NotReady", soak, writes.Load(), falseNotReady)
	b.ReportMetric(float64(falseNotReady), "false-NotReady")
}
