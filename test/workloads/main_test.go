package workloads

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/driver"
	"github.com/berth-dev/berth/internal/testcluster"
	"github.com/berth-dev/berth/internal/testcontainerd"
	"github.com/berth-dev/berth/internal/testpods"
)

func TestMain(m *testing.M) { os.Exit(testcontainerd.Main(m)) }

func berth(t testing.TB, addr string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return testcluster.CLI(t, addr, "", args...)
}

func mustBerth(t testing.TB, addr string, args ...string) string {
	t.Helper()
	return testcluster.MustCLI(t, addr, args...)
}

// apply applies a manifest through the CLI.
func apply(t testing.TB, addr, manifest string) string {
	t.Helper()
	out, errs, code := testcluster.CLI(t, addr, manifest, "apply", "-f", "-")
	if code != 0 {
		t.Fatalf("berth apply: exit %d\n%s%s\n%s", code, out, errs, manifest)
	}
	return out
}

func eventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	testcluster.Eventually(t, d, f)
}

// pods lists the pods with label app=app.
func pods(t testing.TB, cl *client.Client, app string) []*api.Pod {
	t.Helper()
	return testpods.Pods(t, cl, app)
}

func ready(ps []*api.Pod) []*api.Pod {
	return slices.DeleteFunc(slices.Clone(ps), func(p *api.Pod) bool { return !p.Ready() })
}

// waitReady waits until exactly n pods of app are ready, and all pods of
// app satisfy ok.
func waitReady(t testing.TB, cl *client.Client, app string, n int, d time.Duration, ok func(*api.Pod) bool) []*api.Pod {
	t.Helper()
	var ps []*api.Pod
	eventually(t, d, func() error {
		ps = pods(t, cl, app)
		r := ready(ps)
		if len(ps) != n || len(r) != n {
			return fmt.Errorf("%d pods, %d ready, want %d: %s", len(ps), len(r), n, describe(ps))
		}
		for _, p := range ps {
			if ok != nil && !ok(p) {
				return fmt.Errorf("pod %s not as wanted: %s", p.Metadata.Name, describe(ps))
			}
		}
		return nil
	})
	return ps
}

func describe(ps []*api.Pod) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "\n  %s node=%s phase=%s ready=%v image=%s", p.Metadata.Name, p.Spec.NodeName, p.Status.Phase, p.Ready(), p.Spec.Containers[0].Image)
	}
	return b.String()
}

// runtimes opens each agent's containerd namespace, to see the containers
// themselves rather than what the API says.
func runtimes(t testing.TB, c *testcluster.Cluster) map[string]driver.Runtime {
	t.Helper()
	out := map[string]driver.Runtime{}
	for _, n := range c.All() {
		rt, err := driver.NewContainerd(context.Background(), driver.ContainerdConfig{Socket: testcontainerd.Start(t), Namespace: n.Namespace()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rt.Close() })
		out[n.Name] = rt
	}
	return out
}

// runningContainers lists the running containers of pods named name, on
// every node: "node/podUID".
func runningContainers(t testing.TB, rts map[string]driver.Runtime, name string) []string {
	t.Helper()
	var out []string
	for node, rt := range rts {
		cs, err := rt.ListContainers(context.Background())
		if err != nil {
			t.Errorf("list containers of %s: %v", node, err)
			continue
		}
		for _, c := range cs {
			if c.PodName == name && c.State == driver.StateRunning {
				out = append(out, node+"/"+c.PodUID)
			}
		}
	}
	slices.Sort(out)
	return out
}

// sampler calls f every interval until stopped.
type sampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
}

func sample(every time.Duration, f func()) *sampler {
	s := &sampler{stop: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			f()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) Stop() {
	close(s.stop)
	s.wg.Wait()
}
