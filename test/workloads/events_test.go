package workloads

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testcluster"
	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/internal/testpods"
)

// syncBuffer is an output buffer that a test reads while a process
// writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Must show 2: `berth events -f` shows a rollout as it happens (the
// Deployment's ReplicaSets scaled, pods created, scheduled, started and
// stopped), and `berth describe pod` of a pod that fits nowhere shows
// the scheduler's FailedScheduling Event.
func TestEvents(t *testing.T) {
	t.Parallel()
	c := testpods.Start(t, 1, 1, nil, testimage.Ref)
	s1 := c.Nodes[0].APIAddr()
	apply(t, s1, webDeployment(testimage.Ref, 600))
	mustBerth(t, s1, "rollout", "status", "deployment/web", "--timeout", "90s")

	// Follow the Events, then roll the Deployment out again.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	follow := exec.CommandContext(ctx, testcluster.Binary(t), "--addr", s1, "events", "-f")
	follow.Env = append(os.Environ(), "BERTH_CONFIG="+testcluster.ConfigFor(s1))
	var out, errs syncBuffer
	follow.Stdout, follow.Stderr = &out, &errs
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = follow.Wait() }()
	// What happened before: the first rollout's Events.
	eventually(t, 20*time.Second, func() error {
		if !strings.Contains(out.String(), "Scaled up replica set web-") {
			return fmt.Errorf("no ScalingReplicaSet Event of the first rollout yet:\n%s%s", out.String(), errs.String())
		}
		return nil
	})
	before := len(out.String())
	mustBerth(t, s1, "rollout", "restart", "deployment/web")
	mustBerth(t, s1, "rollout", "status", "deployment/web", "--timeout", "120s")
	want := []string{
		"ScalingReplicaSet", "deployment/web", // the new ReplicaSet up, the old one down
		"SuccessfulCreate", "SuccessfulDelete", // its pods
		"Scheduled", "Started", "Killing", // placed, started, the old ones stopped
	}
	eventually(t, 30*time.Second, func() error {
		got := out.String()[before:]
		for _, w := range want {
			if !strings.Contains(got, w) {
				return fmt.Errorf("events -f after the restart shows no %q:\n%s", w, got)
			}
		}
		if !strings.Contains(got, "Scaled down replica set web-") {
			return fmt.Errorf("events -f shows no scale-down of the old ReplicaSet:\n%s", got)
		}
		return nil
	})
	t.Logf("berth events -f during the rollout:\n%s", out.String()[before:])

	// A pod that fits nowhere.
	apply(t, s1, `apiVersion: v1
kind: Pod
metadata: {name: huge}
spec:
  containers:
  - name: c
    image: `+testimage.Ref+`
    resources: {requests: {cpu: "512"}}
`)
	eventually(t, 20*time.Second, func() error {
		d := mustBerth(t, s1, "describe", "pod", "huge")
		if !strings.Contains(d, "FailedScheduling") || !strings.Contains(d, "Insufficient cpu") || !strings.Contains(d, "scheduler") {
			return fmt.Errorf("describe pod huge shows no scheduling Event:\n%s", d)
		}
		return nil
	})
	// --for narrows the list to one object.
	forPod := mustBerth(t, s1, "events", "--for", "pod/huge")
	if !strings.Contains(forPod, "FailedScheduling") || strings.Contains(forPod, "ScalingReplicaSet") {
		t.Fatalf("events --for pod/huge:\n%s", forPod)
	}
}
