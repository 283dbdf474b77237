package workloads

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/internal/testcluster"
	"github.com/berth-dev/berth/internal/testcontainerd"
	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/internal/testpods"
)

func sleeperDeployment(name string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[2]d
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
      annotations: {berth.dev/scheduling-strategy: spread}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: %[3]s
        command: [sleep, "3600"]
        resources:
          requests: {cpu: 100m, memory: 16Mi}
`, name, replicas, testimage.Ref)
}

// killNode kills a worker agent (kill -9) and then its containers, with
// ctr, as a machine that died would lose both.
func killNode(t testing.TB, n *testcluster.Node) {
	t.Helper()
	n.Kill(t)
	sock := testcontainerd.Start(t)
	out, err := exec.Command("ctr", "--address", sock, "-n", n.Namespace(), "tasks", "ls", "-q").Output()
	if err != nil {
		t.Fatalf("ctr tasks ls: %v", err)
	}
	for _, id := range strings.Fields(string(out)) {
		if b, err := exec.Command("ctr", "--address", sock, "-n", n.Namespace(), "tasks", "kill", "-s", "SIGKILL", id).CombinedOutput(); err != nil {
			t.Logf("ctr tasks kill %s: %v %s", id, err, b)
		}
	}
}

// Must show 2: kill -9 of a worker and its containers: the Deployment is
// back to 3 ready pods on the other nodes after --node-down-grace; when the
// worker returns, it ends with no extra pods and runs none of the old.
func TestWorkerKilled(t *testing.T) {
	t.Parallel()
	c := testpods.Start(t, 1, 2, nil)
	cl := c.Client(t)
	s1 := c.Nodes[0].APIAddr()
	apply(t, s1, sleeperDeployment("sleeper", 3))
	ps := waitReady(t, cl, "sleeper", 3, 60*time.Second, nil)
	victim := c.Workers[0]
	onVictim := 0
	for _, p := range ps {
		if p.Spec.NodeName == victim.Name {
			onVictim++
		}
	}
	if onVictim == 0 {
		t.Fatalf("no pod on %s to lose: %s", victim.Name, describe(ps))
	}
	killed := time.Now()
	killNode(t, victim)
	waitReady(t, cl, "sleeper", 3, 60*time.Second, func(p *api.Pod) bool { return p.Spec.NodeName != victim.Name })
	t.Logf("%d pod(s) of %s running elsewhere %v after the kill", onVictim, victim.Name, time.Since(killed).Round(100*time.Millisecond))

	victim.Start(t)
	testpods.WaitNodesReady(t, c, 3, 60*time.Second)
	rts := runtimes(t, c)
	// Once back, the worker has removed what it ran before, and the
	// Deployment still has exactly its 3 pods.
	eventually(t, 30*time.Second, func() error {
		cs, err := rts[victim.Name].ListContainers(context.Background())
		if err != nil {
			return err
		}
		if len(cs) > 0 {
			return fmt.Errorf("%d containers left on %s", len(cs), victim.Name)
		}
		return nil
	})
	for range 20 {
		if ps := pods(t, cl, "sleeper"); len(ps) != 3 || len(ready(ps)) != 3 {
			t.Fatalf("after the worker came back: %s", describe(ps))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
