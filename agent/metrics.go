package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/controller"
	"github.com/berth-dev/berth/driver"
	"github.com/berth-dev/berth/gossip"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Pod metrics, what `berth top pods` shows and the leader's autoscaler
// reads: every node reads the CPU time and memory of its running
// containers every statsInterval (and its GPUs' utilization when a pod
// of it has GPUs), keeps statsKeep of readings in memory, and answers
// PodMetrics from them: CPU as the rate between the oldest and newest
// reading of each container, memory as the newest, GPUs as the average
// of the readings of the pod's GPUs. Nothing is stored: a restarted
// agent measures again.

const (
	statsInterval = 5 * time.Second
	// statsKeep is how far back the readings go: CPU is averaged over
	// 10 to 15 s.
	statsKeep = 15 * time.Second
)

// statsSampler keeps the readings of one node's pods.
type statsSampler struct {
	mu   sync.Mutex
	pods []sampledPod
	ctrs map[string][]ctrSample // by container ID, oldest first
	gpus map[string][]gpuSample // by GPU ID, oldest first
}

// sampledPod is a pod as one round of readings saw it.
type sampledPod struct {
	namespace, name, uid string
	ctrs                 []string // its running containers
	gpus                 []string // its GPUs
}

type ctrSample struct {
	at       time.Time
	cpu, mem uint64 // CPU time (ns, cumulative) and memory in use (bytes)
}

type gpuSample struct {
	at  time.Time
	pct int32
}

// statsRound is what one round read: the readings of the containers that
// could be read, and of the GPUs.
type statsRound struct {
	at   time.Time
	pods []sampledPod
	ctrs map[string]ctrSample
	gpus map[string]int32
}

// podSample is one pod's metrics and the time of its newest reading.
type podSample struct {
	controller.PodMetric
	at time.Time
}

func newStatsSampler() *statsSampler {
	return &statsSampler{ctrs: map[string][]ctrSample{}, gpus: map[string][]gpuSample{}}
}

// recent drops the readings too old to keep at now.
func recent[T any](hist []T, now time.Time, at func(T) time.Time) []T {
	return slices.DeleteFunc(slices.Clone(hist), func(s T) bool { return now.Sub(at(s)) > statsKeep+statsInterval/2 })
}

// add records a round. Containers and GPUs it did not read are forgotten;
// a container whose CPU time went back (a new cgroup) starts over.
func (s *statsSampler) add(r statsRound) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pods = r.pods
	ctrs := make(map[string][]ctrSample, len(r.ctrs))
	for id, c := range r.ctrs {
		h := append(recent(s.ctrs[id], r.at, func(c ctrSample) time.Time { return c.at }), c)
		if n := len(h); n > 1 && h[n-1].cpu < h[n-2].cpu {
			h = h[n-1:]
		}
		ctrs[id] = h
	}
	s.ctrs = ctrs
	gpus := make(map[string][]gpuSample, len(r.gpus))
	for id, pct := range r.gpus {
		gpus[id] = append(recent(s.gpus[id], r.at, func(g gpuSample) time.Time { return g.at }), gpuSample{r.at, pct})
	}
	s.gpus = gpus
}

// metrics returns the metrics of the pods whose every running container
// has two readings, the newest at most statsKeep old at now.
func (s *statsSampler) metrics(now time.Time) []podSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []podSample
	for _, p := range s.pods {
		m, ok := s.podMetric(p)
		if ok && now.Sub(m.at) <= statsKeep {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b podSample) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return out
}

func (s *statsSampler) podMetric(p sampledPod) (podSample, bool) {
	out := podSample{PodMetric: controller.PodMetric{Namespace: p.namespace, Name: p.name, UID: p.uid}}
	if len(p.ctrs) == 0 {
		return out, false
	}
	var milli float64
	for _, id := range p.ctrs {
		h := s.ctrs[id]
		if len(h) < 2 {
			return out, false
		}
		first, last := h[0], h[len(h)-1]
		dt := last.at.Sub(first.at)
		if dt <= 0 {
			return out, false
		}
		milli += float64(last.cpu-first.cpu) * 1000 / float64(dt.Nanoseconds())
		out.MemoryBytes += int64(last.mem)
		out.Window = max(out.Window, dt)
		out.at = last.at
	}
	out.CPUMilli = int64(math.Round(milli))
	out.GPUPercent = s.gpuPercent(p.gpus)
	return out, true
}

// gpuPercent averages the readings of GPUs; nil when there are none, or
// one GPU has no reading.
func (s *statsSampler) gpuPercent(ids []string) *int32 {
	if len(ids) == 0 {
		return nil
	}
	var sum float64
	for _, id := range ids {
		h := s.gpus[id]
		if len(h) == 0 {
			return nil
		}
		var one int64
		for _, g := range h {
			one += int64(g.pct)
		}
		sum += float64(one) / float64(len(h))
	}
	pct := int32(math.Round(sum / float64(len(ids))))
	return &pct
}

// samplers holds the sampler of each running node agent, registered by
// its loop, so that the API finds it.
var samplers = struct {
	sync.Mutex
	m map[*kubelet]*statsSampler
}{m: map[*kubelet]*statsSampler{}}

func samplerOf(k *kubelet) *statsSampler {
	samplers.Lock()
	defer samplers.Unlock()
	return samplers.m[k]
}

// statsLoop reads the pods' use every statsInterval until ctx ends.
func (k *kubelet) statsLoop(ctx context.Context) {
	s := newStatsSampler()
	samplers.Lock()
	samplers.m[k] = s
	samplers.Unlock()
	defer func() {
		samplers.Lock()
		delete(samplers.m, k)
		samplers.Unlock()
	}()
	usage, _ := k.a.cfg.Inventory.GPUs.(gossip.GPUUsage)
	tick := time.NewTicker(statsInterval)
	defer tick.Stop()
	for {
		s.add(k.readStats(ctx, usage))
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// readStats reads every running container of this node's pods, and the
// GPUs when a pod has some.
func (k *kubelet) readStats(ctx context.Context, usage gossip.GPUUsage) statsRound {
	k.mu.Lock()
	workers := slices.Collect(maps.Values(k.workers))
	k.mu.Unlock()
	r := statsRound{ctrs: map[string]ctrSample{}}
	withGPUs := false
	for _, w := range workers {
		p := w.current()
		if p == nil || p.Terminated() {
			continue
		}
		sp := sampledPod{namespace: p.Metadata.Namespace, name: p.Metadata.Name, uid: p.Metadata.UID, gpus: p.Spec.AssignedGPUs}
		for _, c := range k.containersOf(w.uid) {
			if c.State != driver.StateRunning {
				continue
			}
			sp.ctrs = append(sp.ctrs, c.ID)
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			st, err := k.rt.Stats(rctx, c.ID)
			cancel()
			if err != nil {
				k.log.Debug("container stats", "container", c.ID, "err", err)
				continue
			}
			r.ctrs[c.ID] = ctrSample{at: time.Now(), cpu: st.CPUNanos, mem: st.MemoryBytes}
		}
		withGPUs = withGPUs || len(sp.gpus) > 0
		r.pods = append(r.pods, sp)
	}
	r.at = time.Now()
	if withGPUs && usage != nil {
		var err error
		if r.gpus, err = usage.GPUUtilization(); err != nil {
			k.log.Warn("GPU utilization", "err", err)
		}
	}
	return r
}

// localPodMetrics returns the metrics of this node's pods.
func (a *Agent) localPodMetrics() ([]podSample, error) {
	k := a.kubelet
	if k == nil {
		return nil, nil // it runs no pods
	}
	select {
	case <-k.ready:
	default:
		return nil, fmt.Errorf("node %s is not ready to run pods yet", a.cfg.Name)
	}
	s := samplerOf(k)
	if s == nil {
		return nil, fmt.Errorf("node %s does not measure its pods", a.cfg.Name)
	}
	return s.metrics(time.Now()), nil
}

// localPodMetricsPB is this node's answer to PodMetrics.
func (a *Agent) localPodMetricsPB() *pb.NodePodMetrics {
	out := &pb.NodePodMetrics{Node: a.cfg.Name}
	ms, err := a.localPodMetrics()
	if err != nil {
		out.Error = err.Error()
	}
	for _, m := range ms {
		out.Pods = append(out.Pods, &pb.PodMetric{Namespace: m.Namespace, Name: m.Name, Uid: m.UID,
			CpuMilli: m.CPUMilli, MemoryBytes: m.MemoryBytes, GpuPercent: m.GPUPercent,
			WindowMillis: m.Window.Milliseconds(), Timestamp: m.at.UTC().Format(time.RFC3339)})
	}
	return out
}

// PodMetrics answers for this node, relays a call naming another node to
// it (once), and asks every live node when none is named.
func (s *workloadsServer) PodMetrics(ctx context.Context, req *pb.PodMetricsRequest) (*pb.PodMetricsResponse, error) {
	a := s.a
	if isLocal(ctx) || req.Node == a.cfg.Name {
		return &pb.PodMetricsResponse{Nodes: []*pb.NodePodMetrics{a.localPodMetricsPB()}}, nil
	}
	if req.Node != "" {
		addr, err := a.memberAPI(req.Node)
		if err != nil {
			return nil, err
		}
		n, err := a.nodePodMetrics(ctx, req.Node, addr)
		if err != nil {
			return nil, nodeError(addr, err)
		}
		return &pb.PodMetricsResponse{Nodes: []*pb.NodePodMetrics{n}}, nil
	}
	return &pb.PodMetricsResponse{Nodes: eachMember(a, func(name, addr string) *pb.NodePodMetrics {
		if addr == "" {
			return a.localPodMetricsPB()
		}
		n, err := a.nodePodMetrics(ctx, name, addr)
		if err != nil {
			return &pb.NodePodMetrics{Node: name, Error: fmt.Sprint("pod metrics: ", nodeError(addr, err))}
		}
		return n
	})}, nil
}

// nodePodMetrics asks the node at addr for its own pods' metrics.
func (a *Agent) nodePodMetrics(ctx context.Context, name, addr string) (*pb.NodePodMetrics, error) {
	conn, err := a.conns.get(addr)
	if err != nil {
		return nil, err
	}
	resp, err := pb.NewWorkloadsClient(conn).PodMetrics(toNode(ctx), &pb.PodMetricsRequest{Node: name})
	if err != nil {
		return nil, err
	}
	if len(resp.Nodes) != 1 {
		return nil, fmt.Errorf("node %s answered for %d nodes", name, len(resp.Nodes))
	}
	n := resp.Nodes[0]
	n.Node = name
	return n, nil
}

var _ controller.MetricsSource = (*Agent)(nil)

// PodMetrics returns what the pods of a node use, as the node measures
// them: the leader's autoscaler reads them through it.
func (a *Agent) PodMetrics(ctx context.Context, node string) ([]controller.PodMetric, error) {
	if node == a.cfg.Name {
		ms, err := a.localPodMetrics()
		out := make([]controller.PodMetric, 0, len(ms))
		for _, m := range ms {
			out = append(out, m.PodMetric)
		}
		return out, err
	}
	addr, err := a.memberAPI(node)
	if err != nil {
		return nil, err
	}
	n, err := a.nodePodMetrics(ctx, node, addr)
	if err != nil {
		return nil, nodeError(addr, err)
	}
	if n.Error != "" {
		return nil, errors.New(n.Error)
	}
	out := make([]controller.PodMetric, 0, len(n.Pods))
	for _, m := range n.Pods {
		out = append(out, controller.PodMetric{Namespace: m.Namespace, Name: m.Name, UID: m.Uid,
			CPUMilli: m.CpuMilli, MemoryBytes: m.MemoryBytes, GPUPercent: m.GpuPercent,
			Window: time.Duration(m.WindowMillis) * time.Millisecond})
	}
	return out, nil
}

// memberAPI returns the API address of a live member.
func (a *Agent) memberAPI(name string) (string, error) {
	for _, m := range a.pool.Members() {
		if m.Name != name {
			continue
		}
		if m.State != gossip.StateAlive || m.Meta.API == "" {
			return "", status.Errorf(codes.Unavailable, "node %s is %s", name, m.State)
		}
		return m.Meta.API, nil
	}
	return "", status.Errorf(codes.NotFound, "node %s is not in the cluster", name)
}

// eachMember calls fn for every live member at once (addr "" for this
// agent) and returns the answers in name order.
func eachMember[T any](a *Agent, fn func(name, addr string) T) []T {
	live := slices.DeleteFunc(a.pool.Members(), func(m gossip.Member) bool { return m.State != gossip.StateAlive })
	slices.SortFunc(live, func(x, y gossip.Member) int { return strings.Compare(x.Name, y.Name) })
	out := make([]T, len(live))
	var wg sync.WaitGroup
	for i, m := range live {
		addr := m.Meta.API
		if m.Name == a.cfg.Name {
			addr = ""
		}
		wg.Go(func() { out[i] = fn(m.Name, addr) })
	}
	wg.Wait()
	return out
}
