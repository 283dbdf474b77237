package pods

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/testcluster"
	"github.com/berth-dev/berth/internal/testcontainerd"
	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/internal/testpods"
)

// containerd is the socket of this test binary's containerd, set by
// startCluster.
var containerd string

func TestMain(m *testing.M) { os.Exit(testcontainerd.Main(m)) }

// berth runs the CLI against an agent's API.
func berth(t testing.TB, addr string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return testcluster.CLI(t, addr, "", args...)
}

func mustBerth(t testing.TB, addr string, args ...string) string {
	t.Helper()
	return testcluster.MustCLI(t, addr, args...)
}

// startCluster starts servers (and workers) that run pods on the test's
// containerd, loads the test image onto every node, and waits until every
// node has its pod subnet.
func startCluster(t testing.TB, servers, workers int, args ...string) *testcluster.Cluster {
	t.Helper()
	containerd = testcontainerd.Start(t)
	return testpods.Start(t, servers, workers, args)
}

// eventually retries f until it returns nil or the time is up.
func eventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	testcluster.Eventually(t, d, f)
}

func getPod(t testing.TB, cl *client.Client, name string) *api.Pod {
	t.Helper()
	obj, err := cl.Get(context.Background(), "Pod", "default", name)
	if err != nil {
		t.Fatalf("get pod %s: %v", name, err)
	}
	return obj.(*api.Pod)
}

// waitPod waits until the pod satisfies ok, and returns it.
func waitPod(t testing.TB, cl *client.Client, name string, d time.Duration, ok func(p *api.Pod) bool) *api.Pod {
	t.Helper()
	var p *api.Pod
	eventually(t, d, func() error {
		obj, err := cl.Get(context.Background(), "Pod", "default", name)
		if err != nil {
			return err
		}
		p = obj.(*api.Pod)
		if !ok(p) {
			b, _ := json.Marshal(p.Status)
			return fmt.Errorf("pod %s: %s", name, b)
		}
		return nil
	})
	return p
}

func running(p *api.Pod) bool {
	return p.Status.Phase == api.PodRunning && p.Status.PodIP != "" && len(p.Status.ContainerStatuses) > 0 &&
		p.Status.ContainerStatuses[0].State.Running != nil
}

func httpGet(t testing.TB, url string) (string, error) {
	t.Helper()
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

// otherAgent is an agent that is not the pod's node.
func otherAgent(c *testcluster.Cluster, node string) *testcluster.Node {
	for _, n := range c.All() {
		if n.Name != node {
			return n
		}
	}
	return nil
}

// writeArchive writes the test image's archive to a temporary file.
func writeArchive(t testing.TB) string { return testpods.WriteImage(t, testimage.Ref) }

func openArchive(t testing.TB, path string) io.Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
