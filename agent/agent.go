package agent

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/controller"
	"github.com/berth-dev/berth/fsm"
	"github.com/berth-dev/berth/gossip"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"github.com/berth-dev/berth/raft"
	"github.com/berth-dev/berth/security"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// MaxMessageBytes bounds one gRPC message (a multi-document apply).
const MaxMessageBytes = 64 << 20

// Version is the agent's version, announced in gossip and shown on nodes
// (set at build time with -ldflags "-X github.com/berth-dev/berth/agent.Version=...").
var Version = "dev"

// Config configures an agent.
type Config struct {
	Name     string
	DataDir  string
	BindAddr string // IP the listeners bind; also advertised
	APIPort  int
	RaftPort int
	// HTTPPort serves metrics, /healthz, /readyz and the dashboard (0:
	// none); HTTPBindAddr is the IP it binds (BindAddr if empty).
	HTTPPort     int
	HTTPBindAddr string
	// Server makes the agent a voting member of the Raft quorum. Every
	// agent, server or not, is a worker that gossips its inventory.
	Server bool
	// GossipPort is where memberlist listens, UDP and TCP (0: any free port).
	GossipPort int
	// GossipKey (32 bytes) encrypts gossip; every agent needs the same.
	GossipKey []byte
	// Gossip tunes failure detection (gossip.Config's defaults if zero).
	Gossip gossip.Config
	// Inventory overrides and reserves capacity, adds labels and names the
	// GPU source; its name, data dir and version come from here.
	Inventory gossip.InventoryConfig
	// BootstrapExpect servers bootstrap the cluster together once they have
	// found each other through Join. 0 with no Join: a single server that
	// bootstraps alone (dev).
	BootstrapExpect int
	Join            []string // API addresses (host:port) of members
	// Node configures the node agent that runs this agent's pods.
	Node NodeConfig
	// ServiceNet is where the leader allocates Services' virtual IPs
	// and node ports (DefaultServiceCIDR, 30000-32767 if zero); the same
	// on every server.
	ServiceNet fsm.ServiceNet
	// NodeDownGrace is how long a node is NotReady before its pods are
	// replaced elsewhere (controller.DefaultNodeDownGrace if zero).
	NodeDownGrace time.Duration

	// Token is a join token (berth token create): an agent with no identity
	// yet joins with it through Join.
	Token string
	// CACertFile and CAKeyFile name the cluster's CA, for servers that
	// bootstrap together (--bootstrap-expect); a lone first server makes
	// its own.
	CACertFile, CAKeyFile string
	// CertLifetime is how long node certificates last
	// (DefaultCertLifetime if zero); each is renewed at 50-80% of it.
	CertLifetime time.Duration
	// BootstrapToken is the secret of the cluster's first admin token
	// ("": one is made and logged once).
	BootstrapToken string
	// KeyringFile holds the keys that encrypt Secrets (servers); default:
	// beside the data dir, never in it. Unlock, when set, is the
	// passphrase that encrypts that file.
	KeyringFile string
	Unlock      string
	// AllowedHostPaths are the host paths (and what lies under them) that
	// pods of non-admin tokens may mount.
	AllowedHostPaths []string

	SnapshotThreshold uint64
	TrailingLogs      uint64
	SnapshotInterval  time.Duration
	WatchHistory      int

	Logger    *slog.Logger
	RaftLog   io.Writer
	RaftLevel string
	// Now is the clock the leader stamps into commands (time.Now if nil).
	Now func() time.Time
}

// DefaultServiceCIDR is where Services' virtual IPs come from unless
// --service-cidr says otherwise (Kubernetes' default).
const DefaultServiceCIDR = "10.96.0.0/12"

// Agent is a running daemon.
type Agent struct {
	cfg  Config
	log  *slog.Logger
	fsm  *fsm.FSM
	node *raft.Node
	grpc *grpc.Server
	lis  net.Listener
	// httpLis is the HTTP port's listener (nil: none).
	httpLis net.Listener
	conns   *connPool
	disc    *discovery
	sched   *controller.Scheduler
	nodes   *controller.Nodes
	wl      *controller.Workloads
	hpa     *controller.Autoscaler
	pool    *gossip.Pool
	// kubelet runs this node's pods; nil without containerd.
	kubelet *kubelet
	// inventory is how this agent measures its machine.
	inventory gossip.InventoryConfig
	// creds are the agent's identity; keys the keyring of Secrets
	// (servers).
	creds *creds
	keys  *keyring
	// watches counts users' open watch streams; tokens caches checked
	// ACL tokens.
	watches watchCounts
	tokens  tokenCache
	// lists keeps the rest of paged lists.
	lists listCursors
	// events records what happens to objects (events.go).
	events *recorder
	// goodServer is the last server a worker's proxy reached.
	goodServer atomic.Pointer[string]
	// prom are the agent's Prometheus metrics (prom.go).
	prom *promMetrics

	// leading counts the leader-only loops; they end when leadership is
	// lost or Raft shuts down.
	leading sync.WaitGroup

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start opens the Raft server (servers), the gossip pool and the API, and
// begins discovery.
func Start(ctx context.Context, cfg Config) (*Agent, error) {
	if cfg.Name == "" {
		h, _ := os.Hostname()
		cfg.Name = h
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ServiceNet.CIDR == "" {
		cfg.ServiceNet.CIDR = DefaultServiceCIDR
	}
	if cfg.ServiceNet.NodePortMin == 0 && cfg.ServiceNet.NodePortMax == 0 {
		cfg.ServiceNet.NodePortMin, cfg.ServiceNet.NodePortMax = 30000, 32767
	}
	if err := cfg.ServiceNet.Check(); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if !cfg.Server && len(cfg.Join) == 0 {
		return nil, fmt.Errorf("agent: a worker needs the API address of a member to join (--join)")
	}
	apiAddr := net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.APIPort))
	raftAddr := net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.RaftPort))
	creds, err := loadCreds(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	if cfg.GossipKey == nil {
		cfg.GossipKey = creds.gossip
	}
	lis, err := net.Listen("tcp", apiAddr)
	if err != nil {
		return nil, fmt.Errorf("agent: api listener: %w", err)
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("agent", cfg.Name), lis: lis, creds: creds, conns: newConnPool(creds.clientTLS())}
	a.prom = newPromMetrics(a)
	a.events = a.newEvents()
	if err := a.startGossip(lis.Addr().String(), raftAddr); err != nil {
		lis.Close()
		return nil, err
	}
	if cfg.Server {
		if err := a.startServer(raftAddr); err != nil {
			a.pool.Shutdown()
			lis.Close()
			return nil, err
		}
	} else {
		a.grpc = a.workerServer()
	}
	a.log.Info("identity", "role", creds.role, "ca", creds.fingerprint(), "certificate until", creds.kp.Leaf().NotAfter.Format(time.RFC3339))
	pb.RegisterWorkloadsServer(a.grpc, &workloadsServer{a: a})

	ctx, a.cancel = context.WithCancel(context.Background())
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		if err := a.grpc.Serve(lis); err != nil {
			a.log.Error("api server stopped", "err", err)
		}
	}()
	go func() {
		defer a.wg.Done()
		a.joinGossip(ctx)
	}()
	a.wg.Add(3)
	go func() {
		defer a.wg.Done()
		a.remeasure(ctx)
	}()
	go func() {
		defer a.wg.Done()
		a.events.run(ctx)
	}()
	go func() {
		defer a.wg.Done()
		a.renewLoop(ctx)
	}()
	if cfg.Server {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.disc.run(ctx)
		}()
	}
	a.startKubelet(ctx)
	if err := a.startHTTP(ctx); err != nil {
		a.Close()
		return nil, err
	}
	a.log.Info("agent started", "roles", cfg.roles(), "api", apiAddr, "http", a.HTTPAddr(), "gossip", a.pool.Addr(), "data", cfg.DataDir)
	return a, nil
}

// startServer opens Raft and the API of a server, and the loops it runs
// while it leads.
func (a *Agent) startServer(raftAddr string) error {
	cfg := a.cfg
	f := fsm.New(fsm.Options{WatchHistory: cfg.WatchHistory})
	a.keys = &keyring{a: a, path: keyringPath(&cfg)}
	if err := a.keys.load(); err != nil {
		return err
	}
	rc := raft.Config{
		ID: cfg.Name, DataDir: cfg.DataDir, BindAddr: raftAddr,
		SnapshotThreshold: cfg.SnapshotThreshold, TrailingLogs: cfg.TrailingLogs, SnapshotInterval: cfg.SnapshotInterval,
		LogOutput: cfg.RaftLog, LogLevel: cfg.RaftLevel,
		ObserveCommit: seconds(a.prom.raftCommit), ObserveApply: seconds(a.prom.raftApply),
	}
	if !plaintext {
		rc.ServerTLS, rc.ClientTLS = raftTLS(a.creds.serverTLS(tls.RequireAndVerifyClientCert)), raftTLS(a.creds.clientTLS())
	}
	node, err := raft.Open(rc, f)
	if err != nil {
		return err
	}
	a.fsm, a.node = f, node
	a.disc = newDiscovery(a, &pb.ServerInfo{Id: cfg.Name, RaftAddr: raftAddr, ApiAddr: a.APIAddr(), BootstrapExpect: int32(cfg.BootstrapExpect), GossipAddr: a.pool.Addr()})
	a.grpc = grpc.NewServer(a.serverOptions(grpc.ChainUnaryInterceptor(a.unaryAuth, a.nameLeader))...)
	pb.RegisterResourcesServer(a.grpc, &resourceServer{a: a})
	pb.RegisterSecurityServer(a.grpc, &securityServer{a: a})
	pb.RegisterClusterServer(a.grpc, &clusterServer{a: a})
	pb.RegisterNodesServer(a.grpc, &nodesServer{a: a})
	a.sched = controller.NewScheduler(controller.SchedulerConfig{FSM: f, Proposer: node, Logger: a.log, Now: cfg.Now, Events: a.events.component("scheduler"),
		ObservePlan: seconds(a.prom.schedPlan)})
	a.nodes = controller.NewNodes(controller.NodesConfig{
		FSM: f, Proposer: node, Logger: a.log, Now: cfg.Now, Members: a.members, Changes: a.pool.Changes(),
		PodCIDR: cmp.Or(cfg.Node.PodCIDR, DefaultPodCIDR), Events: a.events.component("node-controller"),
	})
	a.wl = controller.NewWorkloads(controller.WorkloadsConfig{
		FSM: f, Proposer: node, Logger: a.log, Now: cfg.Now,
		NodeDownGrace: cfg.NodeDownGrace, FenceLease: cfg.Node.FenceLease, Events: a.events.component("workload-controller"),
	})
	a.hpa = controller.NewAutoscaler(controller.AutoscalerConfig{FSM: f, Proposer: node, Logger: a.log, Now: cfg.Now, Metrics: a, Events: a.events.component("horizontal-pod-autoscaler")})
	node.OnLeader(a.leaderTasks)
	for _, loop := range []func(context.Context){a.sched.Run, a.nodes.Run, a.wl.Run, a.hpa.Run, a.trimEvents} {
		node.OnLeader(func(ctx context.Context) {
			a.leading.Add(1)
			go func() {
				defer a.leading.Done()
				loop(ctx)
			}()
		})
	}
	return nil
}

// serverOptions are those of every agent's gRPC server: mutual TLS (a
// client certificate is checked if given; only joining and logging in go
// without one), message limits, and the authentication interceptors.
func (a *Agent) serverOptions(more ...grpc.ServerOption) []grpc.ServerOption {
	creds := credentials.NewTLS(a.creds.serverTLS(tls.VerifyClientCertIfGiven))
	if plaintext {
		creds = insecure.NewCredentials()
	}
	return append([]grpc.ServerOption{
		grpc.Creds(creds),
		grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.MaxConcurrentStreams(MaxStreamsPerClient),
		grpc.ChainUnaryInterceptor(a.prom.unary),
		grpc.ChainStreamInterceptor(a.prom.stream, a.streamAuth),
	}, more...)
}

// MaxStreamsPerClient bounds the calls (watches included) one connection
// may have open at once.
const MaxStreamsPerClient = 256

// raftTLS narrows a TLS configuration to servers: a Raft peer, in or out,
// must present a server's certificate of the cluster.
func raftTLS(c *tls.Config) *tls.Config {
	c = c.Clone()
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if _, role, ok := security.PeerIdentity(cs); !ok || role != security.RoleServer {
			return fmt.Errorf("raft: the peer's certificate is not a server's of this cluster")
		}
		return nil
	}
	return c
}

// APIAddr is where the gRPC API listens.
func (a *Agent) APIAddr() string { return a.lis.Addr().String() }

// Close leaves the gossip pool, stops serving and shuts Raft down. A
// leader first hands its leadership over, so writes go on without an
// election timeout.
func (a *Agent) Close() error {
	if a.node != nil {
		if err := a.node.TransferLeadership(); err != nil {
			a.log.Warn("leadership transfer", "err", err)
		}
	}
	if err := a.pool.Leave(2 * time.Second); err != nil {
		a.log.Warn("leave the gossip pool", "err", err)
	}
	a.cancel()
	stopped := make(chan struct{})
	go func() { a.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(3 * time.Second):
		a.grpc.Stop()
	}
	a.wg.Wait()
	a.conns.close()
	if a.node == nil {
		return nil
	}
	err := a.node.Close()
	a.leading.Wait()
	return err
}

// Pool is the agent's gossip pool.
func (a *Agent) Pool() *gossip.Pool { return a.pool }

// NodesStats returns what this server's node lifecycle wrote while it led.
func (a *Agent) NodesStats() controller.NodesStats { return a.nodes.Stats() }

// WorkloadsStats returns what this server's workload controllers did
// while it led.
func (a *Agent) WorkloadsStats() controller.WorkloadsStats { return a.wl.Stats() }

// SchedulerStats returns what this server's scheduling loop did while it
// led.
func (a *Agent) SchedulerStats() controller.SchedulerStats { return a.sched.Stats() }

// nameLeader tells clients in a trailer where the leader's API is, so that
// their next call goes there directly.
func (a *Agent) nameLeader(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if addr, lerr := a.leaderAPI(); lerr == nil {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("berth-leader", addr))
	}
	return resp, err
}

// now is the leader's clock as stamped into commands.
func (a *Agent) now() string { return a.cfg.Now().UTC().Format(time.RFC3339) }

// leaderTasks runs each time this server becomes leader.
func (a *Agent) leaderTasks(ctx context.Context) {
	for ctx.Err() == nil {
		err := a.leaderSetup(ctx)
		if err == nil {
			return
		}
		a.log.Warn("leader set-up", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// leaderSetup registers this server's API address (so followers can forward
// to it) and makes sure the default namespace exists.
func (a *Agent) leaderSetup(ctx context.Context) error {
	if err := a.syncIndex(ctx); err != nil {
		return err
	}
	self := a.disc.self
	if err := a.registerServer(ctx, self); err != nil {
		return err
	}
	if err := a.keys.ensure(ctx); err != nil {
		return err
	}
	if _, err := a.fsm.Get("Namespace", "", "default"); err == nil {
		return nil
	}
	op, err := fsm.NewOp(fsm.VerbCreate, "Namespace", []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}`))
	if err != nil {
		return err
	}
	op.UID = controller.NewUID()
	ops := []fsm.Op{op}
	// A new cluster: its first admin token comes with it.
	if !a.hasACLTokens() {
		tok, err := a.bootstrapToken()
		if err != nil {
			return err
		}
		ops = append(ops, *tok)
	}
	_, err = a.node.Apply(ctx, &fsm.Command{Type: fsm.CmdWrite, Time: a.now(), Ops: ops})
	if err != nil && !isAlreadyExists(err) {
		return err
	}
	return nil
}

// hasACLTokens reports whether the cluster has any ACL token.
func (a *Agent) hasACLTokens() bool {
	recs, err := a.fsm.View().List("ACLToken", "", api.Selector{})
	return err == nil && len(recs) > 0
}

// syncIndex commits an empty command, so that every replica's state
// revision moves past what came before: after a snapshot restore, the FSM
// knows only the index written in the snapshot, and linearizable reads wait
// for the FSM to reach the commit index.
func (a *Agent) syncIndex(ctx context.Context) error {
	_, err := a.node.Apply(ctx, &fsm.Command{Type: fsm.CmdWrite, Time: a.now()})
	return err
}

// registerServer records a server's addresses in the state, if they changed.
func (a *Agent) registerServer(ctx context.Context, s *pb.ServerInfo) error {
	for _, r := range a.fsm.View().Servers() {
		if r.ID == s.Id && r.RaftAddr == s.RaftAddr && r.APIAddr == s.ApiAddr {
			return nil
		}
	}
	_, err := a.node.Apply(ctx, &fsm.Command{
		Type: fsm.CmdRegisterServer, Time: a.now(),
		Server: &fsm.ServerRecord{ID: s.Id, RaftAddr: s.RaftAddr, APIAddr: s.ApiAddr},
	})
	return err
}
