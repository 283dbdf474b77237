package pods

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/driver"
	"github.com/berth-dev/berth/internal/stats"
	"github.com/berth-dev/berth/internal/testimage"
)

// BenchmarkStartLatency: from the API accepting a pod to the pod Running
// (as the servers see it), 50 pods one after another on one node, against
// `ctr run -d` of the same image in the same run; then 100 pods at once
// against 100 containerd-client starts at the same parallelism, and the
// agent's memory with 100 pods running.
//
//	go test -run '^$' -bench StartLatency -benchtime 1x -timeout 20m ./test/pods/
func BenchmarkStartLatency(b *testing.B) {
	c := startCluster(b, 1, 0)
	cl := c.Client(b)
	ctx := context.Background()
	const serial = 50

	// Raw ctr run -d, same image, same containerd, its own namespace.
	ns := "bench-ctr-" + strconv.Itoa(os.Getpid())
	b.Cleanup(func() { _ = exec.Command("ctr", "-a", containerd, "-n", ns, "tasks", "kill", "-a").Run() })
	var ctrTimes []time.Duration
	archive := writeArchive(b)
	if out, err := exec.Command("ctr", "-a", containerd, "-n", ns, "images", "import", archive).CombinedOutput(); err != nil {
		b.Fatalf("ctr import: %v %s", err, out)
	}
	for i := range serial {
		start := time.Now()
		out, err := exec.Command("ctr", "-a", containerd, "-n", ns, "run", "-d", testimage.Ref, fmt.Sprintf("raw%d", i), "sleep", "3600").CombinedOutput()
		if err != nil {
			b.Fatalf("ctr run: %v %s", err, out)
		}
		ctrTimes = append(ctrTimes, time.Since(start))
	}
	purgeNamespace(ns)

	// Berth: create, then watch the pod until Running.
	var berthTimes []time.Duration
	for i := range serial {
		name := fmt.Sprintf("lat%d", i)
		start := time.Now()
		if _, err := cl.Create(ctx, benchPod(name)); err != nil {
			b.Fatal(err)
		}
		waitRunning(b, cl, name)
		berthTimes = append(berthTimes, time.Since(start))
	}
	report := func(name string, d []time.Duration) {
		b.Logf("%-22s p50 %v  p95 %v  p99 %v", name, stats.Percentile(d, 50).Round(time.Millisecond), stats.Percentile(d, 95).Round(time.Millisecond), stats.Percentile(d, 99).Round(time.Millisecond))
	}
	report("ctr run -d", ctrTimes)
	report("berth pod to Running", berthTimes)
	b.Logf("ratio berth/ctr: p50 %.2f, p95 %.2f", float64(stats.Percentile(berthTimes, 50))/float64(stats.Percentile(ctrTimes, 50)),
		float64(stats.Percentile(berthTimes, 95))/float64(stats.Percentile(ctrTimes, 95)))
	b.ReportMetric(float64(stats.Percentile(berthTimes, 50).Milliseconds()), "berth-p50-ms")
	b.ReportMetric(float64(stats.Percentile(ctrTimes, 50).Milliseconds()), "ctr-p50-ms")
	for i := range serial {
		if _, err := cl.Delete(ctx, client.Ref{Kind: "Pod", Namespace: "default", Name: fmt.Sprintf("lat%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	// Each run starts from an idle node.
	eventually(b, 60*time.Second, func() error {
		if n := runningTasks(b, c.Nodes[0]); n != 0 {
			return fmt.Errorf("%d containers still running", n)
		}
		return nil
	})

	// 100 at once, against 100 containerd-client starts at the same
	// parallelism (the driver's own calls, which are the client's).
	const burst = 100
	rt, err := driver.NewContainerd(ctx, driver.ContainerdConfig{Socket: containerd, Namespace: ns + "-burst"})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	if _, err := rt.ImportImages(ctx, openArchive(b, archive)); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := rt.CreateContainer(ctx, driver.ContainerSpec{PodUID: fmt.Sprintf("raw-%03d", i), PodNamespace: "bench", PodName: fmt.Sprintf("raw%d", i),
				Name: "c", Image: testimage.Ref, Command: []string{"sleep", "3600"}, LogPath: os.DevNull})
			if err == nil {
				err = rt.StartContainer(ctx, id)
			}
			if err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	raw := time.Since(start)
	purgeNamespace(ns + "-burst")

	start = time.Now()
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cl.Create(ctx, benchPod(fmt.Sprintf("burst%d", i))); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := range burst {
		waitRunning(b, cl, fmt.Sprintf("burst%d", i))
	}
	all := time.Since(start)
	b.Logf("100 at once: berth %v to all Running, containerd client %v: ratio %.2f", all.Round(time.Millisecond), raw.Round(time.Millisecond), float64(all)/float64(raw))
	b.ReportMetric(all.Seconds()/raw.Seconds(), "burst-ratio")
	if rss := rssKiB(c.Nodes[0].Pid()); rss > 0 {
		b.Logf("agent RSS with 100 pods: %.1f MiB", float64(rss)/1024)
		b.ReportMetric(float64(rss)/1024, "agent-MiB")
	}
}

func benchPod(name string) *api.Pod {
	p := &api.Pod{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"}, Metadata: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.PodSpec{TerminationGracePeriodSeconds: new(int64), Containers: []api.Container{{Name: "c", Image: testimage.Ref, Command: []string{"sleep", "3600"},
			Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: "1m", api.ResourceMemory: "1Mi"}}}}}}
	api.Default(p)
	return p
}

// waitRunning follows the pod's watch until it is Running.
func waitRunning(tb testing.TB, cl *client.Client, name string) {
	tb.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for time.Now().Before(deadline) {
		obj, err := cl.Get(context.Background(), "Pod", "default", name, client.Stale())
		if err == nil && running(obj.(*api.Pod)) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	tb.Fatalf("pod %s not Running within 2 minutes", name)
}

func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

func purgeNamespace(ns string) {
	ctx := context.Background()
	rt, err := driver.NewContainerd(ctx, driver.ContainerdConfig{Socket: containerd, Namespace: ns})
	if err != nil {
		return
	}
	defer rt.Close()
	cs, _ := rt.ListContainers(ctx)
	for _, c := range cs {
		_ = rt.RemoveContainer(ctx, c.ID)
	}
}
