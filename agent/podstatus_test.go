package agent

import (
	"log/slog"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/driver"
)

// statusOf computes a pod's status from the given runtime containers.
func statusOf(t *testing.T, policy string, stopped bool, cs ...driver.ContainerStatus) api.PodStatus {
	t.Helper()
	k := &kubelet{log: slog.Default(), hostIP: "10.0.0.1", cache: map[string][]driver.ContainerStatus{"u1": cs}}
	p := &api.Pod{Metadata: api.ObjectMeta{Name: "p", Namespace: "default", UID: "u1"},
		Spec: api.PodSpec{RestartPolicy: policy, Containers: []api.Container{{Name: "c", Image: "img"}}}}
	w := newPodWorker(k, p)
	return w.status(p, stopped)
}

func TestPodStatus(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	run := func(attempt int) driver.ContainerStatus {
		return driver.ContainerStatus{ID: "c" + string(rune('0'+attempt)), Name: "c", Attempt: attempt, State: driver.StateRunning, StartedAt: start}
	}
	exit := func(attempt, code int, reason string) driver.ContainerStatus {
		return driver.ContainerStatus{ID: "c" + string(rune('0'+attempt)), Name: "c", Attempt: attempt, State: driver.StateExited,
			ExitCode: code, Reason: reason, StartedAt: start, FinishedAt: start.Add(time.Second)}
	}
	for _, tc := range []struct {
		name     string
		policy   string
		stopped  bool
		cs       []driver.ContainerStatus
		phase    string
		state    string // waiting reason, "running", or terminated reason
		restarts int32
		last     string // lastState's terminated reason
		ready    bool
	}{
		{"nothing yet", "Always", false, nil, api.PodPending, api.ReasonContainerCreating, 0, "", false},
		{"running", "Always", false, []driver.ContainerStatus{run(0)}, api.PodRunning, "running", 0, "", true},
		{"crashed, Always", "Always", false, []driver.ContainerStatus{exit(0, 3, "Error")}, api.PodRunning, api.ReasonCrashLoopBackOff, 0, "Error", false},
		{"OOM, restarted", "Always", false, []driver.ContainerStatus{exit(0, 137, api.ReasonOOMKilled), run(1)}, api.PodRunning, "running", 1, api.ReasonOOMKilled, true},
		{"failed, Never", "Never", false, []driver.ContainerStatus{exit(0, 3, "")}, api.PodFailed, api.ReasonError, 0, "", false},
		{"done, OnFailure", "OnFailure", false, []driver.ContainerStatus{exit(0, 0, "")}, api.PodSucceeded, api.ReasonCompleted, 0, "", false},
		{"failed, OnFailure", "OnFailure", false, []driver.ContainerStatus{exit(2, 1, "")}, api.PodRunning, api.ReasonCrashLoopBackOff, 2, "Error", false},
		{"stopped", "Always", true, []driver.ContainerStatus{exit(0, 143, "")}, api.PodFailed, api.ReasonError, 0, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := statusOf(t, tc.policy, tc.stopped, tc.cs...)
			if s.Phase != tc.phase {
				t.Errorf("phase %s, want %s", s.Phase, tc.phase)
			}
			c := s.ContainerStatuses[0]
			state := ""
			switch {
			case c.State.Running != nil:
				state = "running"
			case c.State.Waiting != nil:
				state = c.State.Waiting.Reason
			case c.State.Terminated != nil:
				state = c.State.Terminated.Reason
			}
			if state != tc.state || c.RestartCount != tc.restarts || c.Ready != tc.ready {
				t.Errorf("container %+v: state %q restarts %d ready %v, want %q %d %v", c, state, c.RestartCount, c.Ready, tc.state, tc.restarts, tc.ready)
			}
			last := ""
			if c.LastTerminationState.Terminated != nil {
				last = c.LastTerminationState.Terminated.Reason
			}
			if last != tc.last {
				t.Errorf("last state %q, want %q", last, tc.last)
			}
			ready := false
			for _, cond := range s.Conditions {
				if cond.Type == api.PodReady {
					ready = cond.Status == api.ConditionTrue
				}
			}
			if ready != tc.ready || s.HostIP != "10.0.0.1" {
				t.Errorf("Ready %v (want %v), hostIP %q", ready, tc.ready, s.HostIP)
			}
			if tc.stopped && s.Reason != api.ReasonStopped {
				t.Errorf("reason %q for a stopped pod", s.Reason)
			}
		})
	}
}
