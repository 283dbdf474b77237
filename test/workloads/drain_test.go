package workloads

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/internal/testpods"
)

// Drain moves a Deployment's pods off a node with each replacement ready
// before its pod goes (maxUnavailable 0): never fewer ready pods than
// replicas; the node ends empty, cordoned, and uncordon lets pods back.
func TestDrainMovesPods(t *testing.T) {
	t.Parallel()
	c := testpods.Start(t, 1, 2, nil)
	cl := c.Client(t)
	s1 := c.Nodes[0].APIAddr()
	apply(t, s1, strings.Replace(sleeperDeployment("mover", 3), "spec:\n  replicas", "spec:\n  strategy:\n    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}\n  replicas", 1))
	ps := waitReady(t, cl, "mover", 3, 60*time.Second, nil)
	victim := c.Workers[0]
	had := 0
	for _, p := range ps {
		if p.Spec.NodeName == victim.Name {
			had++
		}
	}
	if had == 0 {
		t.Fatalf("no pod on %s: %s", victim.Name, describe(ps))
	}
	var mu sync.Mutex
	minReady := 99
	s := sample(100*time.Millisecond, func() {
		n := len(ready(pods(t, cl, "mover")))
		mu.Lock()
		minReady = min(minReady, n)
		mu.Unlock()
	})
	out := mustBerth(t, s1, "drain", victim.Name, "--timeout", "2m")
	s.Stop()
	if !strings.Contains(out, "evicting pod") || !strings.Contains(out, "node/"+victim.Name+" drained") {
		t.Fatalf("drain said:\n%s", out)
	}
	if minReady < 3 {
		t.Fatalf("ready pods fell to %d while draining", minReady)
	}
	waitReady(t, cl, "mover", 3, 30*time.Second, func(p *api.Pod) bool { return p.Spec.NodeName != victim.Name })
	t.Logf("%d pod(s) moved off %s; ready pods never below %d", had, victim.Name, minReady)
	if got := mustBerth(t, s1, "get", "nodes"); !strings.Contains(got, "SchedulingDisabled") {
		t.Fatalf("drained node not cordoned:\n%s", got)
	}
	mustBerth(t, s1, "uncordon", victim.Name)
}
