package services

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/testcluster"
	"github.com/berth-dev/berth/internal/testcontainerd"
	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/internal/testnet"
	"github.com/berth-dev/berth/internal/testpods"
)

// envLoadgen makes the test binary a load generator (loadgen): run in a
// host's network namespace, it sends requests and prints one JSON line
// per request.
const envLoadgen = "BERTH_TEST_LOADGEN"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(envLoadgen); cfg != "" {
		os.Exit(runLoadgen(cfg))
	}
	os.Exit(testcontainerd.Main(m))
}

// loadConfig is what a load generator does.
type loadConfig struct {
	URL      string        `json:"url"`
	Requests int           `json:"requests"` // this many, or for Duration
	Duration time.Duration `json:"duration"`
	// Pause between requests.
	Pause time.Duration `json:"pause"`
	// Loops sending requests at once (1 if 0).
	Loops int `json:"loops"`
}

// result is one request of a load generator.
type result struct {
	At   int64  `json:"at"` // unix nanoseconds of its start
	OK   bool   `json:"ok"`
	Body string `json:"body,omitempty"`
	Err  string `json:"err,omitempty"`
}

func runLoadgen(raw string) int {
	var cfg loadConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cl := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	var mu sync.Mutex
	var wg sync.WaitGroup
	end := time.Now().Add(cfg.Duration)
	for range max(cfg.Loops, 1) {
		wg.Go(func() {
			for i := 0; cfg.Requests > 0 && i < cfg.Requests || cfg.Requests == 0 && time.Now().Before(end); i++ {
				r := result{At: time.Now().UnixNano()}
				resp, err := cl.Get(cfg.URL)
				if err == nil {
					b, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					r.Body = strings.TrimSpace(string(b))
					switch {
					case rerr != nil:
						err = rerr
					case resp.StatusCode != 200:
						err = fmt.Errorf("status %s", resp.Status)
					}
				}
				r.OK = err == nil
				if err != nil {
					r.Err = err.Error()
				}
				mu.Lock()
				enc.Encode(r)
				mu.Unlock()
				time.Sleep(cfg.Pause)
			}
		})
	}
	wg.Wait()
	return 0
}

// loadgen starts a load generator in host; wait returns its results.
func loadgen(t testing.TB, host *testnet.Host, cfg loadConfig) (wait func() []result) {
	t.Helper()
	raw, _ := json.Marshal(cfg)
	cmd := host.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envLoadgen+"="+string(raw))
	var out, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() []result {
		t.Helper()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("loadgen: %v: %s", err, stderr.String())
		}
		var rs []result
		for line := range strings.Lines(out.String()) {
			var r result
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("loadgen: %q: %v", line, err)
			}
			rs = append(rs, r)
		}
		return rs
	}
}

// env is a cluster of one server (no pods) and workers, each in a host of
// its own, and a client host outside the cluster.
type env struct {
	c       *testcluster.Cluster
	cl      *client.Client
	api     string // the server's API address
	workers []*testnet.Host
	client  *testnet.Host
}

// start starts a cluster with a worker per args entry (its extra flags).
func start(t testing.TB, workers ...[]string) *env {
	t.Helper()
	sock := testcontainerd.Start(t)
	nt := testnet.New(t)
	c := testcluster.Start(t, testcluster.Options{Servers: 1, Bind: nt.BridgeIP(), Containerd: sock, NoServerPods: true})
	e := &env{c: c, cl: c.Client(t), api: c.Nodes[0].APIAddr()}
	// The server runs no pods: none may be placed there.
	testcluster.MustCLI(t, e.api, "cordon", c.Nodes[0].Name)
	for i, args := range workers {
		h := nt.AddHost(t, fmt.Sprintf("w%d", i+1))
		c.AddWorkerIn(t, h, args...)
		e.workers = append(e.workers, h)
	}
	e.client = nt.AddHost(t, "client")
	testpods.WaitNodesReady(t, c, len(workers)+1, 60*time.Second)
	archive := testpods.WriteImage(t, testimage.Ref)
	testcluster.Eventually(t, 60*time.Second, func() error {
		// The server, which runs no pods, answers with an error.
		out, errs, code := testcluster.CLI(t, e.api, "", "image", "load", archive)
		if n := strings.Count(out, testimage.Ref); n != len(workers) {
			return fmt.Errorf("image load (exit %d): on %d nodes:\n%s%s", code, n, out, errs)
		}
		return nil
	})
	return e
}

func (e *env) apply(t testing.TB, manifest string) {
	t.Helper()
	out, errs, code := testcluster.CLI(t, e.api, manifest, "apply", "-f", "-")
	if code != 0 {
		t.Fatalf("berth apply: exit %d\n%s%s\n%s", code, out, errs, manifest)
	}
}

func (e *env) berth(t testing.TB, args ...string) string {
	t.Helper()
	return testcluster.MustCLI(t, e.api, args...)
}

// pods lists the pods with label app=app.
func (e *env) pods(t testing.TB, app string) []*api.Pod {
	t.Helper()
	return testpods.Pods(t, e.cl, app)
}

// waitReady waits until n pods of app are ready and the Service of the
// same name has them all as ready endpoints.
func (e *env) waitReady(t testing.TB, app string, n int) []*api.Pod {
	t.Helper()
	ps := e.waitPods(t, app, n)
	e.waitEndpoints(t, app, n)
	return ps
}

// waitPods waits until n pods of app are ready.
func (e *env) waitPods(t testing.TB, app string, n int) []*api.Pod {
	t.Helper()
	var ps []*api.Pod
	testcluster.Eventually(t, 90*time.Second, func() error {
		ps = e.pods(t, app)
		ready := 0
		for _, p := range ps {
			if p.Ready() {
				ready++
			}
		}
		if len(ps) != n || ready != n {
			return fmt.Errorf("%s: %d pods, %d ready, want %d", app, len(ps), ready, n)
		}
		return nil
	})
	return ps
}

// waitEndpoints waits until the Service svc has n ready endpoints.
func (e *env) waitEndpoints(t testing.TB, svc string, n int) {
	t.Helper()
	testcluster.Eventually(t, 30*time.Second, func() error {
		obj, err := e.cl.Get(context.Background(), "Endpoints", "default", svc)
		if err != nil {
			return err
		}
		got := 0
		for _, ss := range obj.(*api.Endpoints).Subsets {
			got += len(ss.Addresses)
		}
		if got != n {
			return fmt.Errorf("endpoints %s: %d ready addresses, want %d", svc, got, n)
		}
		return nil
	})
}

// curl runs curl in host and returns its output.
func curl(t testing.TB, host *testnet.Host, args ...string) (string, error) {
	t.Helper()
	out, err := host.Command("curl", append([]string{"-sS", "--max-time", "5"}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
