package workloads

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/driver"
	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/internal/testpods"
)

const dbStatefulSet = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  replicas: 3
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
      annotations: {berth.dev/scheduling-strategy: spread}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: db
        image: ` + testimage.Ref + `
        command: [sh, -c, 'hostname >> /data/boots; exec sleep 3600']
        resources:
          requests: {cpu: 100m, memory: 16Mi}
        volumeMounts:
        - {name: data, mountPath: /data}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests: {storage: 1Gi}
`

// fenceLease is the agents' --fence-lease in this test: short, so that a
// pause can outlast it.
const fenceLease = 4 * time.Second

// Must show 3: a StatefulSet of 3 starts in order, keeps names and volumes
// across a pod's deletion, and never runs a pod twice: a worker paused for
// less than its fence lease keeps its pod; paused for longer, its pod is
// killed by the fence and only then started on another node.
func TestStatefulSet(t *testing.T) {
	t.Parallel()
	c := testpods.Start(t, 1, 2, []string{"--fence-lease", fenceLease.String()})
	cl := c.Client(t)
	s1 := c.Nodes[0].APIAddr()

	// Ordered start: a pod appears only once the one before is ready.
	var mu sync.Mutex
	var orderErr error
	order := sample(100*time.Millisecond, func() {
		byName := map[string]*api.Pod{}
		for _, p := range pods(t, cl, "db") {
			byName[p.Metadata.Name] = p
		}
		for i := 1; i < 3; i++ {
			prev := byName[fmt.Sprintf("db-%d", i-1)]
			if byName[fmt.Sprintf("db-%d", i)] != nil && (prev == nil || !prev.Ready()) {
				mu.Lock()
				orderErr = fmt.Errorf("db-%d exists while db-%d is not ready", i, i-1)
				mu.Unlock()
			}
		}
	})
	apply(t, s1, dbStatefulSet)
	if out := mustBerth(t, s1, "rollout", "status", "statefulset/db", "--timeout", "90s"); !strings.Contains(out, "roll out complete: 3 new pods") {
		t.Fatalf("rollout status statefulset/db:\n%s", out)
	}
	ps := waitReady(t, cl, "db", 3, 90*time.Second, nil)
	order.Stop()
	if orderErr != nil {
		t.Fatal(orderErr)
	}
	names := []string{}
	for _, p := range ps {
		names = append(names, p.Metadata.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"db-0", "db-1", "db-2"}) {
		t.Fatalf("pods %v", names)
	}
	out := mustBerth(t, s1, "get", "pvc")
	for i := range 3 {
		if !strings.Contains(out, fmt.Sprintf("data-db-%d", i)) {
			t.Fatalf("claims:\n%s", out)
		}
	}

	// A deleted pod comes back with its name, node and volume.
	db0 := podNamed(ps, "db-0")
	mustBerth(t, s1, "exec", "db-0", "--", "sh", "-c", "echo kept > /data/x")
	mustBerth(t, s1, "delete", "pod", "db-0")
	eventually(t, 60*time.Second, func() error {
		p := podNamed(pods(t, cl, "db"), "db-0")
		if p == nil || p.Metadata.UID == db0.Metadata.UID || !p.Ready() {
			return fmt.Errorf("db-0 not back yet")
		}
		if p.Spec.NodeName != db0.Spec.NodeName {
			return fmt.Errorf("db-0 came back on %s, not on %s where its volume is", p.Spec.NodeName, db0.Spec.NodeName)
		}
		return nil
	})
	if got := mustBerth(t, s1, "exec", "db-0", "--", "cat", "/data/x"); strings.TrimSpace(got) != "kept" {
		t.Fatalf("db-0's volume after its deletion holds %q", got)
	}

	// The pod of a worker.
	victim := c.Workers[0]
	var target *api.Pod
	for _, p := range pods(t, cl, "db") {
		if p.Spec.NodeName == victim.Name {
			target = p
		}
	}
	if target == nil {
		t.Fatalf("no db pod on %s: %s", victim.Name, describe(pods(t, cl, "db")))
	}
	name := target.Metadata.Name
	rts := runtimes(t, c)
	watch := watchRunning(t, rts, name)

	// Shorter than the lease: nothing moves, nothing stops.
	victim.Pause(t)
	time.Sleep(fenceLease / 2)
	victim.Resume(t)
	time.Sleep(fenceLease + 2*time.Second)
	if p := podNamed(pods(t, cl, "db"), name); p == nil || p.Metadata.UID != target.Metadata.UID {
		t.Fatalf("%s was replaced after a pause shorter than the lease", name)
	}
	if got := runningContainers(t, rts, name); len(got) != 1 || !strings.HasPrefix(got[0], victim.Name+"/") {
		t.Fatalf("after a short pause, %s runs as %v", name, got)
	}

	// Longer than the lease: the fence kills it, and only then does it
	// start elsewhere.
	paused := time.Now()
	victim.Pause(t)
	eventually(t, 60*time.Second, func() error {
		p := podNamed(pods(t, cl, "db"), name)
		if p == nil || p.Spec.NodeName == victim.Name || !p.Ready() {
			return fmt.Errorf("%s not running elsewhere yet", name)
		}
		return nil
	})
	moved := time.Since(paused)
	victim.Resume(t)
	eventually(t, 30*time.Second, func() error {
		if got := runningContainers(t, rts, name); len(got) != 1 || strings.HasPrefix(got[0], victim.Name+"/") {
			return fmt.Errorf("%s runs as %v", name, got)
		}
		return nil
	})
	history := watch.stop()
	t.Logf("%s moved %v after the pause began; running containers over time: %v", name, moved.Round(100*time.Millisecond), history)
	if moved < fenceLease {
		t.Fatalf("%s moved %v after the pause, before the lease of %v ran out", name, moved, fenceLease)
	}

	// Drain with --delete-local-data: the pod stops, then starts on
	// another node with a new claim, never both at once.
	p := podNamed(pods(t, cl, "db"), name)
	from := p.Spec.NodeName
	watch = watchRunning(t, rts, name)
	out = mustBerth(t, s1, "drain", from, "--delete-local-data", "--force", "--timeout", "2m")
	if !strings.Contains(out, "stopping pod default/"+name) || !strings.Contains(out, "drained") {
		t.Fatalf("drain said:\n%s", out)
	}
	eventually(t, 60*time.Second, func() error {
		q := podNamed(pods(t, cl, "db"), name)
		if q == nil || q.Spec.NodeName == from || !q.Ready() {
			return fmt.Errorf("%s not running off %s yet", name, from)
		}
		return nil
	})
	t.Logf("drain of %s: %v", from, watch.stop())
	mustBerth(t, s1, "uncordon", from)
}

func podNamed(ps []*api.Pod, name string) *api.Pod {
	for _, p := range ps {
		if p.Metadata.Name == name {
			return p
		}
	}
	return nil
}

// runningWatch samples the running containers of one pod name on every
// node and fails the test if two ever run at once.
type runningWatch struct {
	s       *sampler
	mu      sync.Mutex
	history []string
}

func watchRunning(t *testing.T, rts map[string]driver.Runtime, name string) *runningWatch {
	w := &runningWatch{}
	last := ""
	w.s = sample(100*time.Millisecond, func() {
		got := runningContainers(t, rts, name)
		if len(got) > 1 {
			t.Errorf("%s runs twice at once: %v", name, got)
		}
		if cur := strings.Join(got, ","); cur != last {
			w.mu.Lock()
			w.history = append(w.history, time.Now().Format("15:04:05.0")+" ["+cur+"]")
			w.mu.Unlock()
			last = cur
		}
	})
	return w
}

func (w *runningWatch) stop() []string {
	w.s.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.history
}
