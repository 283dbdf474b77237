package agent

import (
	"testing"
	"time"
)

// TestStatsSampler feeds a sampler rounds 5 s apart and reads what it
// answers.
func TestStatsSampler(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	web := sampledPod{namespace: "default", name: "web", uid: "u1", ctrs: []string{"c1", "c2"}}
	gpu := sampledPod{namespace: "ml", name: "train", uid: "u2", ctrs: []string{"g1"}, gpus: []string{"GPU-a", "GPU-b"}}
	s := newStatsSampler()
	// c1 uses half a core, c2 a quarter; g1 a whole core.
	round := func(sec int, gpus map[string]int32, pods ...sampledPod) {
		ns := uint64(sec) * uint64(time.Second)
		r := statsRound{at: at(sec), pods: pods, gpus: gpus, ctrs: map[string]ctrSample{
			"c1": {at: at(sec), cpu: ns / 2, mem: 10 << 20},
			"c2": {at: at(sec), cpu: ns / 4, mem: 5 << 20},
			"g1": {at: at(sec), cpu: ns, mem: 1 << 30},
		}}
		s.add(r)
	}
	round(0, map[string]int32{"GPU-a": 10, "GPU-b": 30}, web, gpu)
	if ms := s.metrics(at(0)); len(ms) != 0 {
		t.Fatalf("metrics after one reading: %+v", ms)
	}
	round(5, map[string]int32{"GPU-a": 30, "GPU-b": 50}, web, gpu)
	ms := s.metrics(at(6))
	if len(ms) != 2 || ms[0].Name != "web" || ms[1].Name != "train" {
		t.Fatalf("metrics %+v", ms)
	}
	if m := ms[0]; m.CPUMilli != 750 || m.MemoryBytes != 15<<20 || m.Window != 5*time.Second || m.GPUPercent != nil || m.UID != "u1" {
		t.Errorf("web: %+v", m)
	}
	// GPUs: (10+30)/2 and (30+50)/2, averaged.
	if m := ms[1]; m.CPUMilli != 1000 || m.GPUPercent == nil || *m.GPUPercent != 30 {
		t.Errorf("train: %+v", m)
	}
	for _, sec := range []int{10, 15, 20, 25} {
		round(sec, nil, web)
	}
	ms = s.metrics(at(25))
	if len(ms) != 1 || ms[0].Window != 15*time.Second || ms[0].CPUMilli != 750 {
		t.Fatalf("after 25 s: %+v (want a 15 s window)", ms)
	}
	// Too old to answer with.
	if ms := s.metrics(at(25 + 16)); len(ms) != 0 {
		t.Errorf("stale metrics answered: %+v", ms)
	}

	// A container that restarted (its CPU time went back) starts over.
	s.add(statsRound{at: at(30), pods: []sampledPod{web}, ctrs: map[string]ctrSample{
		"c1": {at: at(30), cpu: 1}, "c2": {at: at(30), cpu: 30 * uint64(time.Second) / 4}}})
	if ms := s.metrics(at(30)); len(ms) != 0 {
		t.Errorf("metrics of a pod with a restarted container: %+v", ms)
	}
	// A container that could not be read leaves its pod out.
	s.add(statsRound{at: at(35), pods: []sampledPod{web}, ctrs: map[string]ctrSample{
		"c2": {at: at(35), cpu: 35 * uint64(time.Second) / 4}}})
	if ms := s.metrics(at(35)); len(ms) != 0 {
		t.Errorf("metrics of a pod with a container unread: %+v", ms)
	}
	// A pod with no running container has no metrics.
	s.add(statsRound{at: at(40), pods: []sampledPod{{namespace: "default", name: "done", uid: "u3"}}})
	if ms := s.metrics(at(40)); len(ms) != 0 {
		t.Errorf("metrics of a pod without containers: %+v", ms)
	}
}

// TestStatsSamplerGPUUnread: a pod one of whose GPUs has no reading has
// no GPU percentage, but its CPU is measured.
func TestStatsSamplerGPUUnread(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := sampledPod{namespace: "ml", name: "train", uid: "u2", ctrs: []string{"g1"}, gpus: []string{"GPU-a", "GPU-b"}}
	s := newStatsSampler()
	for i := range 2 {
		at := t0.Add(time.Duration(i) * statsInterval)
		s.add(statsRound{at: at, pods: []sampledPod{p}, gpus: map[string]int32{"GPU-a": 80},
			ctrs: map[string]ctrSample{"g1": {at: at, cpu: uint64(i) * uint64(statsInterval)}}})
	}
	ms := s.metrics(t0.Add(statsInterval))
	if len(ms) != 1 || ms[0].GPUPercent != nil || ms[0].CPUMilli != 1000 {
		t.Errorf("metrics %+v", ms)
	}
}
