package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/testcluster"
)

// nodeReady waits (up to within, polling every 20 ms) until the node's
// Ready condition is, or is not, True, and returns how long that took.
func nodeReady(tb testing.TB, cl *client.Client, name string, ready bool, within time.Duration) time.Duration {
	tb.Helper()
	start := time.Now()
	var last error
	for time.Since(start) < within {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		obj, err := cl.Get(ctx, "Node", "", name)
		cancel()
		if err == nil {
			n := obj.(*api.Node)
			if n.Ready() == ready {
				return time.Since(start)
			}
			err = fmt.Errorf("Ready=%v: %+v", n.Ready(), n.Status.Conditions)
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("node %s: Ready not %v within %v: %v", name, ready, within, last)
	return 0
}

// Three servers and two workers show as five Ready nodes with what each
// announced; kill -9 and SIGSTOP of a worker or a follower make its node
// NotReady, a restart or SIGCONT makes it Ready again; a new leader marks
// a worker that died with the old leader NotReady.
func TestNodesFromGossip(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Servers: 3, Args: []string{"--capacity", "cpu=2,memory=4Gi", "--reserved", "cpu=500m"}})
	c.AddWorker(t, "--capacity", "cpu=8,memory=32Gi", "--label", "zone=a")
	c.AddWorker(t, "--capacity", "cpu=16,memory=64Gi", "--fake-gpus", "2:NVIDIA H100 80GB HBM3:80Gi", "--reserved", "memory=1Gi")
	cl := c.Client(t)
	waitNodes(t, cl, 5)
	addr := c.Nodes[0].APIAddr()
	out, _, code := berth(t, addr, "get", "nodes")
	for _, row := range []string{
		`s1 +Ready +server,worker +127\.0\.0\.1 +0/1500m +0/4Gi +0/0 `,
		`s3 +Ready +server,worker +127\.0\.0\.1 +0/1500m +0/4Gi +0/0 `,
		`w1 +Ready +worker +127\.0\.0\.1 +0/8 +0/32Gi +0/0 `,
		`w2 +Ready +worker +127\.0\.0\.1 +0/16 +0/63Gi +0/2 `,
	} {
		if code != 0 || !regexp.MustCompile(`(?m)^`+row).MatchString(out) {
			t.Fatalf("get nodes lacks %q:\n%s", row, out)
		}
	}
	out, _, _ = berth(t, addr, "describe", "node", "w2")
	for _, want := range []string{"nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3", "GPU 0:", "GPU-fake-w2-0 NVIDIA H100 80GB HBM3", "Ready  True", "nvidia.com/gpu=2"} {
		if !strings.Contains(out, want) {
			t.Fatalf("describe node w2 lacks %q:\n%s", want, out)
		}
	}
	if out, _, _ = berth(t, c.Workers[0].APIAddr(), "members"); strings.Count(out, " alive ") != 5 || !strings.Contains(out, "w1 (self)") {
		t.Fatalf("members through a worker:\n%s", out)
	}

	w1 := c.Workers[0]
	w1.Kill(t)
	t.Logf("kill -9 of a worker: NotReady after %v", nodeReady(t, cl, "w1", false, 15*time.Second))
	w1.Start(t)
	t.Logf("restart: Ready after %v", nodeReady(t, cl, "w1", true, 15*time.Second))
	w1.Pause(t)
	t.Logf("SIGSTOP of a worker: NotReady after %v", nodeReady(t, cl, "w1", false, 15*time.Second))
	w1.Resume(t)
	t.Logf("SIGCONT: Ready after %v", nodeReady(t, cl, "w1", true, 15*time.Second))

	leader := c.WaitLeader(t)
	var follower *testcluster.Node
	for _, n := range c.Nodes {
		if n != leader {
			follower = n
			break
		}
	}
	follower.Kill(t)
	t.Logf("kill -9 of a follower: NotReady after %v", nodeReady(t, cl, follower.Name, false, 15*time.Second))
	follower.Start(t)
	nodeReady(t, cl, follower.Name, true, 15*time.Second)
	follower.Pause(t)
	t.Logf("SIGSTOP of a follower: NotReady after %v", nodeReady(t, cl, follower.Name, false, 15*time.Second))
	follower.Resume(t)
	nodeReady(t, cl, follower.Name, true, 15*time.Second)

	// The leader and a worker die together: the new leader records the
	// worker NotReady although the old one never did.
	waitNodes(t, cl, 5)
	leader = c.WaitLeader(t)
	w2 := c.Workers[1]
	w2.Kill(t)
	leader.Kill(t)
	c.WaitLeader(t)
	t.Logf("worker and leader killed: the new leader has the worker NotReady after %v", nodeReady(t, cl, "w2", false, 20*time.Second))
	nodeReady(t, cl, leader.Name, false, 20*time.Second)
}

// An agent with another gossip key cannot join and says so; a worker goes
// on when the server it joined through is gone, its API included.
func TestGossipKeyAndServerLoss(t *testing.T) {
	key := "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=" // 32 bytes of 1
	other := "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
	c := testcluster.Start(t, testcluster.Options{Servers: 3, Args: []string{"--gossip-key", key}})
	w := c.AddWorker(t, "--gossip-key", key)
	cl := c.Client(t)
	waitNodes(t, cl, 4)

	bad := c.AddWorker(t, "--gossip-key", other)
	eventually(t, 15*time.Second, func() error {
		if log := bad.Log(t); !strings.Contains(log, "do all agents have the same --gossip-key?") {
			return fmt.Errorf("the agent with another key does not say why it cannot join:\n%s", log)
		}
		return nil
	})
	if objs, _, err := cl.List(ctxT(t, 5*time.Second), "Node", ""); err != nil || len(objs) != 4 {
		t.Fatalf("nodes with an agent of another key: %d, %v", len(objs), err)
	}

	// w joined through s1. s1 goes; w stays Ready and its API still
	// answers, through another server.
	c.Nodes[0].Kill(t)
	c.WaitLeader(t)
	time.Sleep(3 * time.Second) // longer than failure detection
	nodeReady(t, cl, w.Name, true, 5*time.Second)
	out, stderr, code := berth(t, w.APIAddr(), "get", "nodes")
	if code != 0 || !regexp.MustCompile(`(?m)^s1 +NotReady`).MatchString(out) || !regexp.MustCompile(`(?m)^w1 +Ready`).MatchString(out) {
		t.Fatalf("get nodes through the worker after its server died: %d %s %s", code, out, stderr)
	}
	f := writeFile(t, t.TempDir(), "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: through-worker}\ndata: {a: b}\n")
	if _, stderr, code := berth(t, w.APIAddr(), "apply", "-f", f); code != 0 {
		t.Fatalf("a write through the worker: %s", stderr)
	}
	getCM(t, ctxT(t, 5*time.Second), cl, "through-worker")
}

// Servers restarted together without --join find each other's gossip
// through the servers recorded in the state: all their nodes are Ready.
func TestServersRegossipAfterRestart(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Servers: 3})
	cl := c.Client(t)
	waitNodes(t, cl, 3)
	for _, n := range c.Nodes {
		n.Kill(t)
	}
	for _, n := range c.Nodes {
		n.DropFlag("--join")
		n.DropFlag("--bootstrap-expect")
		n.Start(t)
	}
	c.WaitLeader(t)
	eventually(t, 30*time.Second, func() error {
		for _, n := range c.Nodes {
			if out, _, _ := berth(t, n.APIAddr(), "members"); strings.Count(out, " alive ") != 3 {
				return fmt.Errorf("members of %s:\n%s", n.Name, out)
			}
		}
		return nil
	})
	waitNodes(t, cl, 3)
}
