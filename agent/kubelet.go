package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/controller"
	"github.com/berth-dev/berth/driver"
	"github.com/berth-dev/berth/driver/cni"
	"github.com/berth-dev/berth/driver/volume"
	"github.com/berth-dev/berth/fsm"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The node agent (what Kubernetes calls the kubelet): every agent runs the
// pods bound to it. It watches the pods of its node through its own API,
// keeps one worker per pod that drives the driver (sandbox, volumes,
// containers, restarts with back-off, probes), and reports each pod's
// status back in batches. All it knows is rebuilt at start from the API
// and from the runtime's container labels, so a restarted agent adopts
// the containers that run and starts again those that vanished.

// NodeConfig configures the node agent of an agent.
type NodeConfig struct {
	// ContainerdSocket is the containerd to run pods on; empty: this agent
	// runs no pods (they stay bound to it, not started).
	ContainerdSocket string
	// ContainerdNamespace separates this agent's containers (default berth).
	ContainerdNamespace string
	// PodCIDR is the cluster's pod range; the leader gives each node a
	// subnet of it, and traffic within it is not masqueraded.
	PodCIDR string
	// PlainHTTP lists registries (host:port) pulled over plain HTTP.
	PlainHTTP []string
	// LoggerBinary is started by containerd's shim as each container's
	// logger (the berth executable); empty: plain log files.
	LoggerBinary string
	// BackoffBase and BackoffMax bound the restart back-off (1s, 5m).
	BackoffBase, BackoffMax time.Duration
	// ResyncInterval is how often the runtime is listed (1s).
	ResyncInterval time.Duration
	// FenceLease is how long this node runs its stateful pods without the
	// leader's word that it is Ready (fence.go; default 10 s).
	FenceLease time.Duration
	// ClusterDomain is the DNS domain of Services (cluster.local).
	ClusterDomain string
	// DNSPort is where the node's DNS answers on its pod bridge's
	// address (53).
	DNSPort int
	// IngressHTTPPort and IngressHTTPSPort are where the node serves
	// Ingresses (0: not served).
	IngressHTTPPort, IngressHTTPSPort int
}

// DefaultPodCIDR is the cluster's pod range unless --pod-cidr says another.
const DefaultPodCIDR = "10.244.0.0/16"

type kubelet struct {
	a    *Agent
	cfg  NodeConfig
	log  *slog.Logger
	name string
	dir  string

	rt   driver.Runtime
	net  *cni.Network
	vols *volume.Manager
	res  pb.ResourcesClient
	node pb.NodesClient

	hostIP string
	fence  *fence
	// svc serves Services (netsvc.go); nil until the node has its pod
	// subnet.
	svc       *services
	podSubnet string // this node's, from the leader

	mu      sync.Mutex
	workers map[string]*podWorker               // by pod UID
	cache   map[string][]driver.ContainerStatus // by pod UID, from the last listing
	dirty   map[string]fsm.PodStatusReport      // reports not sent yet
	kick    chan struct{}                       // a report is waiting
	ready   chan struct{}                       // closed once the node can run pods

	wg sync.WaitGroup
}

// startKubelet starts the node agent when a containerd socket is set.
func (a *Agent) startKubelet(ctx context.Context) {
	cfg := a.cfg.Node
	if cfg.ContainerdSocket == "" {
		a.log.Info("no containerd socket: this node runs no pods")
		return
	}
	if cfg.ContainerdNamespace == "" {
		cfg.ContainerdNamespace = "berth"
	}
	if cfg.PodCIDR == "" {
		cfg.PodCIDR = DefaultPodCIDR
	}
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = time.Second
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = 5 * time.Minute
	}
	if cfg.ResyncInterval == 0 {
		cfg.ResyncInterval = time.Second
	}
	if cfg.FenceLease <= 0 {
		cfg.FenceLease = controller.DefaultFenceLease
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = DefaultClusterDomain
	}
	if cfg.DNSPort == 0 {
		cfg.DNSPort = 53
	}
	k := &kubelet{a: a, cfg: cfg, log: a.log.With("part", "node"), name: a.cfg.Name, dir: a.cfg.DataDir,
		hostIP: a.cfg.BindAddr, fence: newFence(a.cfg.DataDir, cfg.FenceLease),
		workers: map[string]*podWorker{}, cache: map[string][]driver.ContainerStatus{},
		dirty: map[string]fsm.PodStatusReport{}, kick: make(chan struct{}, 1), ready: make(chan struct{})}
	a.kubelet = k
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		k.run(ctx)
	}()
}

// networkConfig is the pod network of the agent named name with data in
// dataDir: its bridge, and its records under dataDir/cni.
func networkConfig(name, dataDir, podCIDR, clusterCIDR string, log *slog.Logger) cni.Config {
	return cni.Config{Name: "berth", Bridge: bridgeName(name, dataDir), PodCIDR: podCIDR,
		ClusterCIDR: clusterCIDR, DataDir: filepath.Join(dataDir, "cni"), Logger: log}
}

// bridgeName is the node's pod bridge: short (15 bytes at most) and its
// own, so several agents on one machine do not share one.
func bridgeName(name, dataDir string) string {
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	h := sha256.Sum256([]byte(name + "\x00" + dataDir))
	return "bz" + hex.EncodeToString(h[:])[:10]
}

func (k *kubelet) run(ctx context.Context) {
	defer func() {
		k.wg.Wait()
		if k.rt != nil {
			k.rt.Close()
		}
	}()
	if err := k.setup(ctx); err != nil {
		if ctx.Err() == nil {
			k.log.Error("node agent", "err", err)
		}
		return
	}
	// Know what runs before any worker looks: a restarted agent adopts
	// its containers instead of creating them again.
	for !k.relist(ctx) {
		if !sleepCtx(ctx, time.Second) {
			return
		}
	}
	if err := k.startServices(ctx, k.podSubnet); err != nil {
		if ctx.Err() == nil {
			k.log.Error("serving Services", "err", err)
		}
		return
	}
	close(k.ready)
	k.log.Info("node agent ready", "bridge", k.net, "containerd", k.cfg.ContainerdSocket, "namespace", k.cfg.ContainerdNamespace)
	k.wg.Add(4)
	go func() { defer k.wg.Done(); k.fenceLoop(ctx) }()
	go func() { defer k.wg.Done(); k.reportLoop(ctx) }()
	go func() { defer k.wg.Done(); k.routesLoop(ctx) }()
	go func() { defer k.wg.Done(); k.relistLoop(ctx) }()
	k.wg.Go(func() { k.statsLoop(ctx) }) // pod metrics (metrics.go)
	k.podsLoop(ctx)
}

// setup connects to containerd and its API, and waits for the leader to
// give this node its pod subnet.
func (k *kubelet) setup(ctx context.Context) error {
	conn, err := k.a.conns.get(k.a.APIAddr())
	if err != nil {
		return err
	}
	k.res, k.node = pb.NewResourcesClient(conn), pb.NewNodesClient(conn)
	// Until containerd answers, try again every 2 s, then less often (up
	// to every 30 s), and say so once a minute at most.
	wait, said := 2*time.Second, time.Time{}
	for {
		rt, err := driver.NewContainerd(ctx, driver.ContainerdConfig{
			Socket: k.cfg.ContainerdSocket, Namespace: k.cfg.ContainerdNamespace,
			PlainHTTP: k.cfg.PlainHTTP, LoggerBinary: k.cfg.LoggerBinary, Logger: k.log,
		})
		if err == nil {
			k.rt = rt
			break
		}
		if time.Since(said) > time.Minute {
			k.log.Warn("containerd not reachable; this node runs no pods until it is", "socket", k.cfg.ContainerdSocket, "err", err)
			said = time.Now()
		}
		if !sleepCtx(ctx, wait) {
			return ctx.Err()
		}
		wait = min(2*wait, 30*time.Second)
	}
	var podCIDR string
	for podCIDR == "" {
		n, err := k.getNode(ctx, k.name)
		if err == nil {
			podCIDR = n.Spec.PodCIDR
			if ip := nodeIP(n); ip != "" {
				k.hostIP = ip
			}
		}
		if podCIDR == "" && !sleepCtx(ctx, 300*time.Millisecond) {
			return ctx.Err()
		}
	}
	nw, err := cni.New(networkConfig(k.name, k.dir, podCIDR, k.cfg.PodCIDR, k.log))
	if err != nil {
		return err
	}
	if err := nw.EnsureHost(ctx); err != nil {
		return err
	}
	k.net, k.podSubnet = nw, podCIDR
	k.vols = volume.New(volume.Config{DataDir: k.dir, ContainerdSocket: k.cfg.ContainerdSocket, Logger: k.log})
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func nodeIP(n *api.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == "InternalIP" {
			return a.Address
		}
	}
	return ""
}

func (k *kubelet) getNode(ctx context.Context, name string) (*api.Node, error) {
	resp, err := k.res.Get(ctx, &pb.GetRequest{Ref: &pb.ObjectRef{Kind: "Node", Name: name}, Stale: true})
	if err != nil {
		return nil, err
	}
	var n api.Node
	if err := json.Unmarshal(resp.Object, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// routesLoop keeps routes to the other nodes' pod subnets.
func (k *kubelet) routesLoop(ctx context.Context) {
	last := ""
	for ctx.Err() == nil {
		resp, err := k.res.List(ctx, &pb.ListRequest{Kind: "Node", Stale: true})
		if err == nil {
			var routes []cni.Route
			for _, raw := range resp.Objects {
				var n api.Node
				if json.Unmarshal(raw, &n) != nil || n.Metadata.Name == k.name || n.Spec.PodCIDR == "" {
					continue
				}
				if ip := nodeIP(&n); ip != "" {
					routes = append(routes, cni.Route{CIDR: n.Spec.PodCIDR, Via: ip})
				}
			}
			b, _ := json.Marshal(routes)
			if string(b) != last {
				if err := k.net.SetRoutes(ctx, routes); err != nil {
					k.log.Warn("routes to other nodes' pods", "err", err)
				} else {
					last = string(b)
				}
			}
		}
		sleepCtx(ctx, 5*time.Second)
	}
}

// podsLoop lists the pods, then follows the watch; after a compaction or
// a lost stream it lists again.
func (k *kubelet) podsLoop(ctx context.Context) {
	first := true
	for ctx.Err() == nil {
		rev, err := k.listPods(ctx, first)
		if err != nil {
			if ctx.Err() == nil {
				k.log.Warn("list pods", "err", err)
			}
			sleepCtx(ctx, time.Second)
			continue
		}
		first = false
		err = k.watchPods(ctx, rev)
		if ctx.Err() == nil && err != nil {
			k.log.Debug("pod watch ended", "err", err)
			sleepCtx(ctx, 200*time.Millisecond)
		}
	}
}

// listPods starts a worker for each pod of this node and, the first time,
// removes what the runtime holds of pods that are gone.
func (k *kubelet) listPods(ctx context.Context, first bool) (uint64, error) {
	// Linearizable: a lagging server's list could lack a pod that runs here,
	// and a pod missing from the list is torn down.
	resp, err := k.res.List(ctx, &pb.ListRequest{Kind: "Pod"})
	if err != nil {
		return 0, err
	}
	mine := map[string]*api.Pod{}
	for _, raw := range resp.Objects {
		var p api.Pod
		if err := json.Unmarshal(raw, &p); err != nil {
			continue
		}
		if p.Spec.NodeName == k.name {
			mine[p.Metadata.UID] = &p
		}
	}
	k.mu.Lock()
	for uid, w := range k.workers {
		if _, ok := mine[uid]; !ok {
			w.set(nil) // deleted while we did not watch
		}
	}
	k.mu.Unlock()
	for _, p := range mine {
		k.podChanged(ctx, p)
	}
	if first {
		k.collectOrphans(ctx, mine)
	}
	return resp.Revision, nil
}

func (k *kubelet) watchPods(ctx context.Context, rev uint64) error {
	stream, err := k.res.Watch(ctx, &pb.WatchRequest{Kind: "Pod", Revision: rev})
	if err != nil {
		return err
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			if status.Code(err) == codes.OutOfRange {
				return nil // compacted: list again
			}
			return err
		}
		var p api.Pod
		if err := json.Unmarshal(ev.Object, &p); err != nil {
			continue
		}
		if p.Spec.NodeName != k.name {
			continue
		}
		if ev.Type == string(fsm.EventDeleted) {
			k.mu.Lock()
			if w := k.workers[p.Metadata.UID]; w != nil {
				w.set(nil)
			}
			k.mu.Unlock()
			continue
		}
		k.podChanged(ctx, &p)
	}
}

// podChanged hands a pod's new version to its worker, starting one.
func (k *kubelet) podChanged(ctx context.Context, p *api.Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if w := k.workers[p.Metadata.UID]; w != nil {
		w.set(p)
		return
	}
	w := newPodWorker(k, p)
	w.log.Debug("pod bound to this node")
	k.workers[p.Metadata.UID] = w
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		w.run(ctx)
		k.mu.Lock()
		if k.workers[w.uid] == w {
			delete(k.workers, w.uid)
		}
		delete(k.dirty, w.uid)
		k.mu.Unlock()
	}()
}

// collectOrphans removes the containers and sandboxes of pods that were
// deleted while the agent was down.
func (k *kubelet) collectOrphans(ctx context.Context, mine map[string]*api.Pod) {
	cs, err := k.rt.ListContainers(ctx)
	if err != nil {
		k.log.Warn("list containers", "err", err)
		return
	}
	gone := map[string]bool{}
	for _, c := range cs {
		if _, ok := mine[c.PodUID]; !ok && c.PodUID != "" {
			gone[c.PodUID] = true
			if err := k.rt.RemoveContainer(ctx, c.ID); err != nil {
				k.log.Warn("remove orphaned container", "container", c.ID, "err", err)
			}
		}
	}
	sbs, err := k.net.Sandboxes()
	if err == nil {
		for _, sb := range sbs {
			if _, ok := mine[sb.PodUID]; !ok {
				gone[sb.PodUID] = true
				if err := k.net.Teardown(ctx, sb.PodUID); err != nil {
					k.log.Warn("remove orphaned sandbox", "pod", sb.PodUID, "err", err)
				}
			}
		}
	}
	for uid := range gone {
		k.log.Info("removed a pod deleted while the agent was down", "uid", uid)
		if err := k.vols.Cleanup(uid); err != nil {
			k.log.Warn("clean up volumes", "pod", uid, "err", err)
		}
	}
}

// relistLoop lists the runtime's containers every interval and wakes the
// workers whose containers changed (an exit, an OOM kill).
func (k *kubelet) relistLoop(ctx context.Context) {
	t := time.NewTicker(k.cfg.ResyncInterval)
	defer t.Stop()
	for {
		k.relist(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (k *kubelet) relist(ctx context.Context) bool {
	cs, err := k.rt.ListContainers(ctx)
	if err != nil {
		if ctx.Err() == nil {
			k.log.Warn("list containers", "err", err)
		}
		return false
	}
	byPod := map[string][]driver.ContainerStatus{}
	for _, c := range cs {
		byPod[c.PodUID] = append(byPod[c.PodUID], c)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for uid, w := range k.workers {
		if !sameContainers(k.cache[uid], byPod[uid]) {
			w.poke()
		}
	}
	k.cache = byPod
	return true
}

func sameContainers(a, b []driver.ContainerStatus) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(c driver.ContainerStatus) string { return fmt.Sprintf("%s/%s/%d", c.ID, c.State, c.ExitCode) }
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		ka[i], kb[i] = key(a[i]), key(b[i])
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}

// report queues a pod's status; the report loop sends it.
func (k *kubelet) report(r fsm.PodStatusReport) {
	k.mu.Lock()
	k.dirty[r.UID] = r
	k.mu.Unlock()
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// reportLoop sends the queued reports in batches, one call at a time.
func (k *kubelet) reportLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-k.kick:
		}
		// Reports that come while a call is under way gather into the next
		// batch.
		k.mu.Lock()
		batch := k.dirty
		k.dirty = map[string]fsm.PodStatusReport{}
		k.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		req := &pb.ReportPodsRequest{Node: k.name}
		for _, r := range batch {
			b, err := json.Marshal(r)
			if err == nil {
				req.Reports = append(req.Reports, b)
			}
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		t0 := time.Now()
		resp, err := k.node.ReportPods(cctx, req)
		cancel()
		k.log.Debug("pod status reported", "pods", len(req.Reports), "took", time.Since(t0), "err", err)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			k.log.Warn("report pod status; trying again", "err", err)
			k.mu.Lock()
			for uid, r := range batch {
				if _, newer := k.dirty[uid]; !newer {
					k.dirty[uid] = r
				}
			}
			k.mu.Unlock()
			sleepCtx(ctx, 500*time.Millisecond)
			select {
			case k.kick <- struct{}{}:
			default:
			}
			continue
		}
		for _, why := range resp.Rejected {
			k.log.Debug("pod status not recorded", "why", why)
		}
	}
}

// containersOf returns the runtime's containers of a pod, from the last
// listing.
func (k *kubelet) containersOf(uid string) []driver.ContainerStatus {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.cache[uid])
}

// refresh replaces one container in the cache after the worker acted on
// it, so that the next sync sees it without waiting for the listing.
func (k *kubelet) refresh(ctx context.Context, uid, id string) {
	st, err := k.rt.ContainerStatus(ctx, id)
	k.mu.Lock()
	defer k.mu.Unlock()
	list := slices.DeleteFunc(slices.Clone(k.cache[uid]), func(c driver.ContainerStatus) bool { return c.ID == id })
	if err == nil {
		list = append(list, st)
	} else if !errors.Is(err, driver.ErrNotFound) {
		k.log.Warn("container status", "container", id, "err", err)
	}
	k.cache[uid] = list
}

// worker returns the worker of a pod of this node by namespace and name.
func (k *kubelet) workerByName(ns, name string) *podWorker {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, w := range k.workers {
		if p := w.current(); p != nil && p.Metadata.Namespace == ns && p.Metadata.Name == name {
			return w
		}
	}
	return nil
}

// logPath is where a container's log is kept, across its restarts.
func (k *kubelet) logPath(p *api.Pod, container string) string {
	return filepath.Join(k.dir, "logs", p.Metadata.Namespace+"_"+p.Metadata.Name+"_"+p.Metadata.UID, container+".log")
}

func (k *kubelet) removeLogs(p *api.Pod) {
	_ = os.RemoveAll(filepath.Dir(k.logPath(p, "x")))
	_ = os.RemoveAll(k.etcDir(p.Metadata.UID))
}
