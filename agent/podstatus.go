package agent

import (
	"encoding/json"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/driver"
	"github.com/berth-dev/berth/fsm"
)

// reportStatus computes the pod's status from the runtime and reports it
// when it differs from what the servers hold.
func (w *podWorker) reportStatus(p *api.Pod, stopped bool) {
	s := w.status(p, stopped)
	if sameStatus(&s, &p.Status) {
		return
	}
	w.k.report(fsm.PodStatusReport{Namespace: p.Metadata.Namespace, Name: p.Metadata.Name, UID: w.uid, Node: w.k.name, Status: s})
}

// sameStatus compares what the node owns of two statuses.
func sameStatus(a, b *api.PodStatus) bool {
	strip := func(s *api.PodStatus) api.PodStatus {
		c := *s
		c.Conditions = nil
		for _, cond := range s.Conditions {
			if cond.Type != api.PodScheduled {
				c.Conditions = append(c.Conditions, cond)
			}
		}
		return c
	}
	ja, _ := json.Marshal(strip(a))
	jb, _ := json.Marshal(strip(b))
	return string(ja) == string(jb)
}

func rfc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func terminated(cs *driver.ContainerStatus) *api.ContainerStateTerminated {
	reason := cs.Reason
	if reason == "" {
		reason = api.ReasonCompleted
		if cs.ExitCode != 0 {
			reason = api.ReasonError
		}
	}
	return &api.ContainerStateTerminated{ExitCode: int32(cs.ExitCode), Reason: reason, Message: cs.Message,
		StartedAt: rfc(cs.StartedAt), FinishedAt: rfc(cs.FinishedAt), ContainerID: "containerd://" + cs.ID}
}

// status is the pod's status as this node sees it, in Kubernetes' terms.
func (w *podWorker) status(p *api.Pod, stopped bool) api.PodStatus {
	s := api.PodStatus{HostIP: w.k.hostIP, StartTime: w.startTime}
	if w.sandbox != nil {
		s.PodIP = w.sandbox.IP
	}
	all := w.k.containersOf(w.uid)
	var pending, running, restarting, failed, done int
	allReady := true
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		st := w.ctrs[c.Name]
		cs := api.ContainerStatus{Name: c.Name, Image: c.Image}
		var cur, prev *driver.ContainerStatus
		for j := range all {
			if all[j].Name != c.Name {
				continue
			}
			if cur == nil || all[j].Attempt > cur.Attempt {
				prev, cur = cur, &all[j]
			} else if prev == nil || all[j].Attempt > prev.Attempt {
				prev = &all[j]
			}
		}
		ready := false
		switch {
		case cur == nil:
			cs.State.Waiting = &api.ContainerStateWaiting{Reason: api.ReasonContainerCreating}
			if st != nil && st.waiting != nil {
				cs.State.Waiting = st.waiting
			} else if w.podErr != nil {
				cs.State.Waiting = w.podErr
			}
			pending++
		default:
			cs.RestartCount = int32(cur.Attempt)
			cs.ContainerID = "containerd://" + cur.ID
			cs.ImageID = cur.ImageDigest
			if prev != nil && prev.State == driver.StateExited {
				cs.LastTerminationState.Terminated = terminated(prev)
			}
			switch cur.State {
			case driver.StateRunning:
				started := true
				cs.Started = &started
				cs.State.Running = &api.ContainerStateRunning{StartedAt: rfc(cur.StartedAt)}
				ready = st == nil || c.ReadinessProbe == nil || st.ready.ok
				running++
			case driver.StateExited:
				if !stopped && w.wantsRestart(p, cur) {
					cs.LastTerminationState.Terminated = terminated(cur)
					cs.State.Waiting = &api.ContainerStateWaiting{Reason: api.ReasonCrashLoopBackOff}
					if st != nil && st.waiting != nil {
						cs.State.Waiting = st.waiting
					}
					restarting++
				} else {
					cs.State.Terminated = terminated(cur)
					if cur.ExitCode != 0 {
						failed++
					} else {
						done++
					}
				}
			default:
				cs.State.Waiting = &api.ContainerStateWaiting{Reason: api.ReasonContainerCreating}
				if st != nil && st.waiting != nil {
					cs.State.Waiting = st.waiting
				}
				pending++
			}
		}
		cs.Ready = ready
		allReady = allReady && ready
		s.ContainerStatuses = append(s.ContainerStatuses, cs)
	}
	n := len(p.Spec.Containers)
	switch {
	case done+failed == n && failed == 0:
		s.Phase = api.PodSucceeded
	case done+failed == n:
		s.Phase = api.PodFailed
	case running+restarting > 0 || (done+failed > 0 && pending == 0):
		s.Phase = api.PodRunning
	default:
		s.Phase = api.PodPending
	}
	if stopped {
		s.Reason, s.Message = api.ReasonStopped, "stopped by berth stop"
	}
	cond := func(t string, ok bool) api.PodCondition {
		v := api.ConditionFalse
		if ok {
			v = api.ConditionTrue
		}
		c := api.PodCondition{Type: t, Status: v, LastTransitionTime: time.Now().UTC().Format(time.RFC3339)}
		if old := p.Condition(t); old != nil && old.Status == v {
			c.LastTransitionTime = old.LastTransitionTime
		}
		return c
	}
	ready := allReady && s.Phase == api.PodRunning
	s.Conditions = []api.PodCondition{cond(api.PodInitialized, true), cond(api.ContainersReady, ready), cond(api.PodReady, ready)}
	return s
}
