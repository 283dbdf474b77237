package workloads

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/internal/stats"
	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/internal/testpods"
)

// fleetDeployment: small sleepers kept off the servers.
func fleetDeployment(name string, replicas int, surge string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[2]d
  selector:
    matchLabels: {app: %[1]s}
  strategy:
    rollingUpdate: {maxSurge: %[4]q, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: %[1]s}
      annotations: {berth.dev/scheduling-strategy: spread}
    spec:
      terminationGracePeriodSeconds: 1
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - {key: node-role.kubernetes.io/server, operator: DoesNotExist}
      containers:
      - name: main
        image: %[3]s
        command: [sleep, "3600"]
        resources:
          requests: {cpu: 10m, memory: 8Mi}
`, name, replicas, testimage.Ref, surge)
}

func trials(def int) int {
	if n, err := strconv.Atoi(os.Getenv("BERTH_BENCH_TRIALS")); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkWorkerFailover: 3 servers and 3 workers, a Deployment of 30
// pods on the workers; kill -9 of the worker holding most of them (agent
// and containers), and the time until all 30 are Running and ready with
// none on it. 20 trials (BERTH_BENCH_TRIALS), with the default
// --node-down-grace of 10 s and with 3 s.
//
//	go test -run '^$' -bench WorkerFailover -benchtime 1x -timeout 60m ./test/workloads/
func BenchmarkWorkerFailover(b *testing.B) {
	for _, grace := range []time.Duration{10 * time.Second, 3 * time.Second} {
		b.Run("grace="+grace.String(), func(b *testing.B) {
			times := failoverTrials(b, grace, trials(20))
			p50, p99 := stats.Percentile(times, 50), stats.Percentile(times, 99)
			b.ReportMetric(p50.Seconds(), "p50-s")
			b.ReportMetric(p99.Seconds(), "p99-s")
			b.Logf("--node-down-grace %v, %d trials: p50 %v p99 %v max %v", grace, len(times),
				p50.Round(10*time.Millisecond), p99.Round(10*time.Millisecond), slices.Max(times).Round(10*time.Millisecond))
		})
	}
}

func failoverTrials(b *testing.B, grace time.Duration, n int) []time.Duration {
	c := testpods.Start(b, 3, 3, []string{"--node-down-grace", grace.String()})
	cl := c.Client(b)
	s1 := c.Nodes[0].APIAddr()
	apply(b, s1, fleetDeployment("fleet", 30, "25%"))
	waitReady(b, cl, "fleet", 30, 3*time.Minute, nil)
	var times []time.Duration
	for trial := range n {
		count := map[string]int{}
		for _, p := range pods(b, cl, "fleet") {
			count[p.Spec.NodeName]++
		}
		victim := c.Workers[0]
		for _, w := range c.Workers {
			if count[w.Name] > count[victim.Name] {
				victim = w
			}
		}
		start := time.Now()
		killNode(b, victim)
		deadline := start.Add(3 * time.Minute)
		for {
			ps := pods(b, cl, "fleet")
			ok := len(ps) == 30
			for _, p := range ps {
				ok = ok && p.Spec.NodeName != victim.Name && p.Status.Phase == api.PodRunning && p.Ready()
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("trial %d: not back within 3 minutes: %s", trial, describe(ps))
			}
			time.Sleep(50 * time.Millisecond)
		}
		took := time.Since(start)
		times = append(times, took)
		b.Logf("trial %d: %d pods of %s running elsewhere after %v", trial, count[victim.Name], victim.Name, took.Round(10*time.Millisecond))
		victim.Start(b)
		testpods.WaitNodesReady(b, c, 6, time.Minute)
	}
	return times
}

// BenchmarkRollout100: a rolling update of a 100-pod Deployment (maxSurge
// 25%, maxUnavailable 0) on 3 workers, from apply to rollout status's
// success.
//
//	go test -run '^$' -bench Rollout100 -benchtime 1x -timeout 30m ./test/workloads/
func BenchmarkRollout100(b *testing.B) {
	c := testpods.Start(b, 1, 3, nil, testimage.Ref, imageV2)
	cl := c.Client(b)
	s1 := c.Nodes[0].APIAddr()
	apply(b, s1, fleetDeployment("fleet", 100, "25%"))
	start := time.Now()
	mustBerth(b, s1, "rollout", "status", "deployment/fleet", "--timeout", "20m")
	created := time.Since(start)
	waitReady(b, cl, "fleet", 100, time.Minute, nil)
	next := strings.Replace(fleetDeployment("fleet", 100, "25%"), testimage.Ref, imageV2, 1)
	start = time.Now()
	apply(b, s1, next)
	mustBerth(b, s1, "rollout", "status", "deployment/fleet", "--timeout", "20m")
	rolled := time.Since(start)
	b.ReportMetric(created.Seconds(), "create-s")
	b.ReportMetric(rolled.Seconds(), "rollout-s")
	b.Logf("100 pods: created and ready in %v; rolled to a new image in %v", created.Round(100*time.Millisecond), rolled.Round(100*time.Millisecond))
}
