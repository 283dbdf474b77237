package agent

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/driver"
	"github.com/berth-dev/berth/gossip"
	"github.com/berth-dev/berth/netsvc"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Prometheus metrics, served at GET /metrics on the HTTP port. Each agent
// has a registry of its own (tests run several agents in one process).
// Timings are observed where they happen, through hooks the lower
// packages offer (raft.Config.ObserveCommit, controller's ObservePlan);
// everything else is read at scrape time from the numbers those packages
// keep (raft.Node.Status, controller.Scheduler.Stats, gossip.Pool.Stats,
// the node's pods, the DNS server's and the ingress's Stats), so nothing
// is counted twice and a scrape costs the hot paths nothing.

// promMetrics are an agent's metrics: those observed as they happen, and
// the collector that reads the rest when scraped.
type promMetrics struct {
	reg *prometheus.Registry

	// Servers only.
	raftCommit, raftApply, schedPlan prometheus.Histogram
	// Nodes that run pods only.
	podStart prometheus.Histogram

	apiRequests *prometheus.CounterVec   // method, code
	apiDuration *prometheus.HistogramVec // method
	// methods maps a gRPC method to its label; a method no service
	// declares is "unknown", so that callers cannot grow the labels.
	methods sync.Map
}

// latencyBuckets span 0.5 ms to about 16 s: fsyncs, commits, API calls.
var latencyBuckets = prometheus.ExponentialBuckets(0.0005, 2, 16)

// newPromMetrics makes the agent's registry: the Go and process
// collectors, the metrics observed as they happen, and the collector
// that reads the agent's parts when scraped.
func newPromMetrics(a *Agent) *promMetrics {
	m := &promMetrics{reg: prometheus.NewRegistry()}
	m.apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "berth_api_requests_total",
		Help: "gRPC calls this agent served, by method and status code.",
	}, []string{"method", "code"})
	m.apiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "berth_api_request_duration_seconds",
		Help:    "How long this agent took to serve gRPC calls, by method (a stream: its whole life).",
		Buckets: latencyBuckets,
	}, []string{"method"})
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.apiRequests, m.apiDuration, &agentCollector{a: a})
	if a.cfg.Server {
		m.raftCommit = histogram(m.reg, "berth_raft_commit_duration_seconds",
			"How long the commands this server proposed as leader took from proposal to commit and apply.")
		m.raftApply = histogram(m.reg, "berth_raft_fsm_apply_duration_seconds",
			"How long the state machine took to apply each command.")
		m.schedPlan = histogram(m.reg, "berth_scheduler_plan_duration_seconds",
			"How long the scheduler took to plan a batch of pods and commit the plan (leader).")
	}
	if a.cfg.Node.ContainerdSocket != "" {
		m.podStart = histogram(m.reg, "berth_node_pod_start_duration_seconds",
			"How long this node took from first seeing a pod to running all of its containers.")
	}
	return m
}

func histogram(reg *prometheus.Registry, name, help string) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: latencyBuckets})
	reg.MustRegister(h)
	return h
}

// seconds adapts a histogram to the hooks of raft and controller.
func seconds(h prometheus.Histogram) func(time.Duration) {
	return func(d time.Duration) { h.Observe(d.Seconds()) }
}

// handler serves the registry in Prometheus' text format.
func (m *promMetrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// method is a gRPC method's label: its full name when a service of ours
// (or gRPC's) declares it, else "unknown".
func (m *promMetrics) method(full string) string {
	if v, ok := m.methods.Load(full); ok {
		return v.(string)
	}
	name := strings.Replace(strings.TrimPrefix(full, "/"), "/", ".", 1)
	if _, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name)); err != nil {
		return "unknown"
	}
	m.methods.Store(full, full)
	return full
}

func (m *promMetrics) observeCall(method string, start time.Time, err error) {
	label := m.method(method)
	m.apiRequests.WithLabelValues(label, status.Code(err).String()).Inc()
	m.apiDuration.WithLabelValues(label).Observe(time.Since(start).Seconds())
}

// unary counts and times unary calls; it comes first in the chain, so
// calls the authentication refuses count too.
func (m *promMetrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	m.observeCall(info.FullMethod, start, err)
	return resp, err
}

// stream counts and times streams (and, on workers, the calls they relay
// to a server).
func (m *promMetrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	m.observeCall(info.FullMethod, start, err)
	return err
}

// observeStart records the pod's start latency once: when a container
// this worker started makes every container of the pod run. Pods adopted
// from the runtime after a restart are not counted.
func (w *podWorker) observeStart(p *api.Pod) {
	h := w.k.a.prom.podStart
	if w.startObserved || h == nil {
		return
	}
	for i := range p.Spec.Containers {
		if cs := w.latest(p.Spec.Containers[i].Name); cs == nil || cs.State != driver.StateRunning {
			return
		}
	}
	w.startObserved = true
	h.Observe(time.Since(w.seen).Seconds())
}

// agentCollector reads the agent's parts when scraped.
type agentCollector struct{ a *Agent }

var _ prometheus.Collector = (*agentCollector)(nil)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descInfo = desc("berth_agent_info", "The agent's name, version and roles (always 1).", "name", "version", "roles")

	descRaftState   = desc("berth_raft_state", "1 for this server's Raft state, 0 for the others.", "state")
	descRaftTerm    = desc("berth_raft_term", "This server's current Raft term.")
	descRaftLast    = desc("berth_raft_last_log_index", "The last index in this server's Raft log.")
	descRaftCommit  = desc("berth_raft_commit_index", "The last Raft index this server knows committed.")
	descRaftApplied = desc("berth_raft_applied_index", "The last Raft index handed to this server's state machine.")
	descRaftPeers   = desc("berth_raft_peers", "Servers in the Raft configuration, by suffrage.", "suffrage")
	descRaftLeaders = desc("berth_raft_leader_changes_total", "Times this server saw a new leader (itself included) take over.")
	descRaftSnaps   = desc("berth_raft_snapshots_total", "Snapshots this server took and persisted.")
	descRaftSnapB   = desc("berth_raft_last_snapshot_bytes", "Size of the last snapshot this server persisted.")
	descRaftSnapI   = desc("berth_raft_last_snapshot_index", "Raft index of the last snapshot this server persisted.")

	descSchedPlans    = desc("berth_scheduler_plans_total", "Plans this server's scheduler committed while it led.")
	descSchedBound    = desc("berth_scheduler_placements_total", "Pods this server's scheduler bound to a node while it led.")
	descSchedRejected = desc("berth_scheduler_rejected_placements_total", "Placements the state machine refused (the node no longer had room).")
	descSchedUnsched  = desc("berth_scheduler_unschedulable_total", "Times a pod was found to fit on no node.")
	descSchedPending  = desc("berth_scheduler_pending_pods", "Pods waiting for a node, in this server's replica.")

	descGossipMembers = desc("berth_gossip_members", "Members of the gossip pool this agent knows, by state (itself included).", "state")
	descGossipProbes  = desc("berth_gossip_probe_failures_total", "Probes of a member that got no ack, direct or indirect.")
	descGossipHealth  = desc("berth_gossip_health_score", "memberlist's awareness of this agent's own health (0: healthy).")

	descPods     = desc("berth_node_pods", "Pods bound to this node, by phase as the cluster holds it.", "phase")
	descRestarts = desc("berth_node_container_restarts", "Restarts of the containers of this node's pods (their restartCount, summed).")
	descOOM      = desc("berth_node_containers_oom_killed", "Containers of this node's pods whose current or last run was OOM-killed.")

	descEndpoints   = desc("berth_service_endpoints", "Addresses of a Service's endpoints, by readiness, as this node serves them.", "namespace", "service", "state")
	descDNS         = desc("berth_dns_answers_total", "Answers of this node's cluster DNS, by response code.", "rcode")
	descIngressReqs = desc("berth_ingress_requests_total", "Requests this node's ingress served, by result (routed, bad_gateway, not_found, unavailable).", "result")
	descIngressConn = desc("berth_ingress_connections_open", "Client connections open to this node's ingress.")
)

func (c *agentCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInfo,
		descRaftState, descRaftTerm, descRaftLast, descRaftCommit, descRaftApplied, descRaftPeers, descRaftLeaders, descRaftSnaps, descRaftSnapB, descRaftSnapI,
		descSchedPlans, descSchedBound, descSchedRejected, descSchedUnsched, descSchedPending,
		descGossipMembers, descGossipProbes, descGossipHealth,
		descPods, descRestarts, descOOM,
		descEndpoints, descDNS, descIngressReqs, descIngressConn} {
		ch <- d
	}
}

func (c *agentCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(descInfo, 1, a.cfg.Name, Version, strings.Join(a.cfg.roles(), ","))

	if a.node != nil {
		s := a.node.Status()
		for _, st := range []string{"Follower", "Candidate", "Leader", "Shutdown"} {
			gauge(descRaftState, b2f(s.State == st), strings.ToLower(st))
		}
		gauge(descRaftTerm, float64(s.Term))
		gauge(descRaftLast, float64(s.LastIndex))
		gauge(descRaftCommit, float64(s.CommitIndex))
		gauge(descRaftApplied, float64(s.AppliedIndex))
		gauge(descRaftPeers, float64(s.Voters), "voter")
		gauge(descRaftPeers, float64(s.Servers-s.Voters), "nonvoter")
		counter(descRaftLeaders, float64(s.LeaderChanges))
		counter(descRaftSnaps, float64(s.Snapshots))
		gauge(descRaftSnapB, float64(s.LastSnapshotBytes))
		gauge(descRaftSnapI, float64(s.LastSnapshotIndex))
	}
	if a.sched != nil {
		s := a.sched.Stats()
		counter(descSchedPlans, float64(s.Plans))
		counter(descSchedBound, float64(s.Bound))
		counter(descSchedRejected, float64(s.Rejected))
		counter(descSchedUnsched, float64(s.Unschedulable))
		gauge(descSchedPending, float64(len(a.fsm.View().PendingPods())))
	}

	g := a.pool.Stats()
	for _, st := range []string{gossip.StateAlive, gossip.StateDead, gossip.StateLeft} {
		gauge(descGossipMembers, float64(g.Members[st]), st)
	}
	counter(descGossipProbes, float64(g.ProbeFailures))
	gauge(descGossipHealth, float64(g.HealthScore))

	if k := a.kubelet; k != nil {
		k.collectPods(gauge)
		select {
		case <-k.ready: // k.svc is set before
			if k.svc != nil {
				k.svc.collect(gauge, counter)
			}
		default:
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// collectPods reports the node's pods by phase and what their containers'
// statuses say of restarts and OOM kills.
func (k *kubelet) collectPods(gauge func(*prometheus.Desc, float64, ...string)) {
	phases := map[string]int{api.PodPending: 0, api.PodRunning: 0, api.PodSucceeded: 0, api.PodFailed: 0, api.PodUnknown: 0}
	var restarts, oom int
	k.mu.Lock()
	for _, w := range k.workers {
		p := w.current()
		if p == nil {
			continue // deleted: being torn down
		}
		ph := p.Status.Phase
		if _, ok := phases[ph]; !ok {
			ph = api.PodPending // not reported yet
		}
		phases[ph]++
		for _, cs := range p.Status.ContainerStatuses {
			restarts += int(cs.RestartCount)
			if t := cs.State.Terminated; t != nil && t.Reason == api.ReasonOOMKilled {
				oom++
			} else if t := cs.LastTerminationState.Terminated; t != nil && t.Reason == api.ReasonOOMKilled {
				oom++
			}
		}
	}
	k.mu.Unlock()
	for ph, n := range phases {
		gauge(descPods, float64(n), ph)
	}
	gauge(descRestarts, float64(restarts))
	gauge(descOOM, float64(oom))
}

// collect reports the Services' endpoints as this node serves them, and
// what its DNS and ingress answered.
func (s *services) collect(gauge, counter func(*prometheus.Desc, float64, ...string)) {
	s.mu.Lock()
	for key, o := range s.objs["Endpoints"] {
		if _, ok := s.objs["Service"][key]; !ok {
			continue
		}
		var ready, notReady int
		for _, ss := range o.(*api.Endpoints).Subsets {
			ready += len(ss.Addresses)
			notReady += len(ss.NotReadyAddresses)
		}
		ns, name, _ := strings.Cut(key, "/")
		gauge(descEndpoints, float64(ready), ns, name, "ready")
		gauge(descEndpoints, float64(notReady), ns, name, "not_ready")
	}
	s.mu.Unlock()
	s.dns.mu.Lock()
	if d, ok := s.dns.srv.(*netsvc.DNS); ok {
		for rcode, n := range d.Stats().Answers {
			counter(descDNS, float64(n), rcode)
		}
	}
	s.dns.mu.Unlock()
	s.ingress.mu.Lock()
	if g, ok := s.ingress.srv.(*netsvc.Ingress); ok {
		st := g.Stats()
		counter(descIngressReqs, float64(st.Routed), "routed")
		counter(descIngressReqs, float64(st.BadGateway), "bad_gateway")
		counter(descIngressReqs, float64(st.NotFound), "not_found")
		counter(descIngressReqs, float64(st.Unavailable), "unavailable")
		gauge(descIngressConn, float64(st.Connections))
	}
	s.ingress.mu.Unlock()
}
