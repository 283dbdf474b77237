package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/agent"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/controller"
	"github.com/berth-dev/berth/gossip"
	"github.com/berth-dev/berth/security"
	"github.com/spf13/cobra"
)

func newAgentCmd() *cobra.Command {
	var (
		cfg        agent.Config
		dev        bool
		server     bool
		join       string
		logLevel   string
		cpuProfile string
		gossipKey  string
		capacity   string
		reserved   string
		labels     []string
		fakeGPUs   string
		registries []string
		nodePorts  string
		hostPaths  []string
		configFile string
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a Berth agent: a worker (--join a member), a server of the Raft quorum (--server), or --dev for a one-node cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if configFile != "" {
				if err := applyAgentConfig(cmd, configFile, nil); err != nil {
					return err
				}
			}
			cfg.Server = server || dev
			if !cfg.Server && join == "" {
				return fmt.Errorf("a worker needs --join ADDR, the API address of a member (or run a server with --server, or --dev)")
			}
			if join != "" {
				for _, j := range strings.Split(join, ",") {
					if j = strings.TrimSpace(j); j != "" {
						cfg.Join = append(cfg.Join, j)
					}
				}
			}
			if dev {
				if cfg.DataDir == "" {
					dir, err := os.MkdirTemp("", "berth-dev-")
					if err != nil {
						return err
					}
					defer os.RemoveAll(dir)
					cfg.DataDir = dir
				}
				if cfg.Name == "" {
					cfg.Name = "dev"
				}
				if cfg.KeyringFile == "" {
					cfg.KeyringFile = filepath.Clean(cfg.DataDir) + ".keyring"
					defer os.Remove(cfg.KeyringFile)
				}
				if cfg.BootstrapToken == "" {
					t, err := security.NewACLToken()
					if err != nil {
						return err
					}
					cfg.BootstrapToken = t.String()
				}
			}
			if cfg.Unlock == "" {
				cfg.Unlock = os.Getenv("BERTH_UNLOCK")
			}
			cfg.AllowedHostPaths = hostPaths
			if cfg.DataDir == "" {
				return fmt.Errorf("--data-dir is required (or use --dev)")
			}
			if cfg.Name == "" {
				if cfg.Name, err = os.Hostname(); err != nil {
					return fmt.Errorf("--name is needed: %v", err)
				}
			}
			if err := agentInventoryFlags(&cfg, capacity, reserved, labels, fakeGPUs, gossipKey); err != nil {
				return err
			}
			if err := agentNodeFlags(&cfg, registries, nodePorts); err != nil {
				return err
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %v", err)
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			cfg.RaftLevel = "warn"
			if level <= slog.LevelDebug {
				cfg.RaftLevel = "debug"
			} else if level <= slog.LevelInfo {
				cfg.RaftLevel = "info"
			}
			if os.Getenv("GOGC") == "" {
				// The state is small and long-lived; collect less often, for
				// less CPU per write (GOGC in the environment wins).
				debug.SetGCPercent(200)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
			a, err := agent.Start(ctx, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "berth agent %q: API on %s, data in %s, cluster CA %s\n", cfg.Name, a.APIAddr(), cfg.DataDir, a.CAFingerprint())
			if dev {
				path := client.DefaultConfigPath()
				if err := devConfig(path, a.APIAddr(), a.CA(), cfg.BootstrapToken); err != nil {
					a.Close()
					return fmt.Errorf("--dev: write the client credentials: %w", err)
				}
				fmt.Fprintf(os.Stderr, "berth agent: admin credentials for the CLI written to %s\n", path)
			}
			<-ctx.Done()
			fmt.Fprintln(os.Stderr, "berth agent: shutting down")
			return a.Close()
		},
	}
	f := cmd.Flags()
	// It shadows the CLI's global --config (client credentials): under
	// `berth agent` the name means the agent's own file. `--dev` writes
	// the CLI's credentials to $BERTH_CONFIG or ~/.berth/config.
	f.StringVar(&configFile, configKey, "", "YAML file of agent flags, each key a flag's name without -- (data-dir: /var/lib/berth, join: [a:7400, b:7400], label: [zone=a]); flags given here win")
	f.BoolVar(&dev, "dev", false, "one-node cluster (a server that bootstraps alone) with a temporary data dir, on 127.0.0.1:7400-7403")
	f.BoolVar(&server, "server", false, "be a server: a voting member of the Raft quorum")
	f.StringVar(&cfg.Name, "name", "", "node name, unique in the cluster (default: host name)")
	f.StringVar(&cfg.DataDir, "data-dir", "", "where Raft log, snapshots and state live")
	f.StringVar(&cfg.BindAddr, "bind", "127.0.0.1", "IP address to listen on and advertise")
	f.IntVar(&cfg.APIPort, "api-port", 7400, "gRPC API port")
	f.IntVar(&cfg.RaftPort, "raft-port", 7401, "Raft port")
	f.IntVar(&cfg.GossipPort, "gossip-port", 7402, "gossip port, UDP and TCP")
	f.IntVar(&cfg.HTTPPort, "http-port", 7403, "HTTP port: Prometheus /metrics, /healthz, /readyz and the web dashboard (0: none)")
	f.StringVar(&cfg.HTTPBindAddr, "http-bind", "", "IP address the HTTP port listens on (default: --bind)")
	f.StringVar(&gossipKey, "gossip-key", "", "base64 of 32 bytes that encrypt gossip; the same on every agent (berth keygen makes one)")
	f.DurationVar(&cfg.Gossip.ProbeInterval, "gossip-probe-interval", 300*time.Millisecond, "how often each agent probes another")
	f.DurationVar(&cfg.Gossip.ProbeTimeout, "gossip-probe-timeout", 150*time.Millisecond, "how long a probe waits for its answer")
	f.IntVar(&cfg.Gossip.SuspicionMult, "gossip-suspicion-mult", 2, "a suspected agent has this many probe intervals (× log10 of the pool size) to refute before it is dead")
	f.DurationVar(&cfg.Gossip.RejoinInterval, "gossip-rejoin-interval", 5*time.Second, "how often to re-join known agents that look dead (heals partitions)")
	f.StringVar(&capacity, "capacity", "", "override what is measured, e.g. cpu=8,memory=32Gi,ephemeral-storage=100Gi,pods=50")
	f.StringVar(&reserved, "reserved", "", "keep for the system, e.g. cpu=500m,memory=1Gi (allocatable = capacity - reserved)")
	f.StringArrayVar(&labels, "label", nil, "node label KEY=VALUE (repeatable)")
	f.StringVar(&fakeGPUs, "fake-gpus", "", "for tests: pretend to have GPUs, COUNT:MODEL[:MEMORY]")
	_ = f.MarkHidden("fake-gpus")
	f.StringVar(&cfg.Node.ContainerdSocket, "containerd-socket", "/run/containerd/containerd.sock", "containerd to run this node's pods on (empty: this node runs none)")
	f.StringVar(&cfg.Node.ContainerdNamespace, "containerd-namespace", "berth", "containerd namespace of this agent's containers (agents sharing one containerd need their own)")
	f.StringVar(&cfg.Node.PodCIDR, "pod-cidr", agent.DefaultPodCIDR, "the cluster's pod range; each node gets a /24 of it (the same on every agent)")
	f.StringArrayVar(&registries, "insecure-registry", nil, "registry HOST:PORT to pull from over plain HTTP (repeatable)")
	f.DurationVar(&cfg.Node.BackoffBase, "restart-backoff", time.Second, "first wait before a failed container is started again; it doubles up to --restart-backoff-max")
	f.DurationVar(&cfg.Node.BackoffMax, "restart-backoff-max", 5*time.Minute, "longest wait between restarts of a failing container")
	f.DurationVar(&cfg.NodeDownGrace, "node-down-grace", controller.DefaultNodeDownGrace, "how long a node is NotReady before its Deployments' pods are replaced on other nodes")
	f.DurationVar(&cfg.Node.FenceLease, "fence-lease", controller.DefaultFenceLease, "how long a node runs its StatefulSet pods without the leader's word that it is Ready; their replacements wait longer")
	f.StringVar(&cfg.ServiceNet.CIDR, "service-cidr", agent.DefaultServiceCIDR, "the range Services' virtual IPs come from (the same on every server)")
	f.StringVar(&nodePorts, "service-node-port-range", "30000-32767", "the range of NodePort Services' ports (the same on every server)")
	f.StringVar(&cfg.Node.ClusterDomain, "cluster-domain", agent.DefaultClusterDomain, "the DNS domain of Services: NAME.NAMESPACE.svc.DOMAIN")
	f.IntVar(&cfg.Node.IngressHTTPPort, "ingress-http-port", 80, "port every node serves Ingresses on over HTTP (0: none)")
	f.IntVar(&cfg.Node.IngressHTTPSPort, "ingress-https-port", 443, "port every node serves Ingresses on over HTTPS (0: none)")
	f.IntVar(&cfg.BootstrapExpect, "bootstrap-expect", 0, "number of servers that bootstrap the cluster together")
	f.StringVar(&join, "join", "", "API addresses (HOST:PORT,...) of cluster members to join through")
	f.StringVar(&cfg.Token, "token", os.Getenv("BERTH_JOIN_TOKEN"), "join token (berth token create) for an agent that has not joined yet (env BERTH_JOIN_TOKEN)")
	f.StringVar(&cfg.CACertFile, "ca-cert", "", "the cluster's CA certificate, for servers that bootstrap together (berth tls ca-create)")
	f.StringVar(&cfg.CAKeyFile, "ca-key", "", "the cluster's CA key (with --ca-cert)")
	f.StringVar(&cfg.BootstrapToken, "bootstrap-token", os.Getenv("BERTH_BOOTSTRAP_TOKEN"), "secret of the first admin ACL token, made with the cluster (default: a new one, logged once) (env BERTH_BOOTSTRAP_TOKEN)")
	f.StringVar(&cfg.KeyringFile, "keyring-file", "", "file of the keys that encrypt Secrets, outside the data dir (default: DATA-DIR.keyring)")
	f.StringVar(&cfg.Unlock, "unlock", "", "passphrase that encrypts the keyring file (env BERTH_UNLOCK); needed at every start once set")
	f.StringArrayVar(&hostPaths, "allowed-host-path", nil, "host path that pods of non-admin tokens may mount, with what lies under it (repeatable)")
	f.DurationVar(&cfg.CertLifetime, "cert-lifetime", agent.DefaultCertLifetime, "how long node certificates last; each is renewed at 50-80% of it")
	f.Uint64Var(&cfg.SnapshotThreshold, "raft-snapshot-threshold", 8192, "log entries between snapshots")
	f.Uint64Var(&cfg.TrailingLogs, "raft-trailing-logs", 10240, "log entries kept after a snapshot")
	f.DurationVar(&cfg.SnapshotInterval, "raft-snapshot-interval", 30*time.Second, "how often to check whether to snapshot")
	f.IntVar(&cfg.WatchHistory, "watch-history", 10000, "events kept for watchers")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&cpuProfile, "cpu-profile", "", "write a CPU profile of the agent's life to this file")
	_ = f.MarkHidden("cpu-profile")
	cmd.AddCommand(newAgentPurgeCmd(func(key string) bool { return cmd.LocalFlags().Lookup(key) != nil }))
	return cmd
}

// agentInventoryFlags checks the inventory and gossip flags into cfg.
func agentInventoryFlags(cfg *agent.Config, capacity, reserved string, labels []string, fakeGPUs, key string) error {
	var err error
	if cfg.Inventory.Capacity, err = gossip.ParseResources(capacity); err != nil {
		return fmt.Errorf("--capacity: %w", err)
	}
	if cfg.Inventory.Reserved, err = gossip.ParseResources(reserved); err != nil {
		return fmt.Errorf("--reserved: %w", err)
	}
	if cfg.Inventory.Labels, err = gossip.ParseLabels(labels); err != nil {
		return fmt.Errorf("--label: %w", err)
	}
	cfg.Inventory.GPUs = gossip.NVML()
	if fakeGPUs != "" {
		if cfg.Inventory.GPUs, err = gossip.FakeGPUs(cfg.Name, fakeGPUs); err != nil {
			return fmt.Errorf("--fake-gpus: %w", err)
		}
	}
	if key != "" {
		b, err := base64.StdEncoding.DecodeString(key)
		if err != nil {
			return fmt.Errorf("--gossip-key: not base64: %v", err)
		}
		if len(b) != 32 {
			return fmt.Errorf("--gossip-key: %d bytes, want 32 (berth keygen makes one)", len(b))
		}
		cfg.GossipKey = b
	}
	return nil
}

// agentNodeFlags checks the node agent's flags into cfg.
func agentNodeFlags(cfg *agent.Config, registries []string, nodePorts string) error {
	if cfg.Node.PodCIDR != "" {
		if _, err := netip.ParsePrefix(cfg.Node.PodCIDR); err != nil {
			return fmt.Errorf("--pod-cidr: %q is not a CIDR such as 10.244.0.0/16", cfg.Node.PodCIDR)
		}
	}
	for _, r := range registries {
		if _, _, err := net.SplitHostPort(r); err != nil {
			return fmt.Errorf("--insecure-registry: %q is not HOST:PORT", r)
		}
	}
	cfg.Node.PlainHTTP = registries
	if _, err := netip.ParsePrefix(cfg.ServiceNet.CIDR); err != nil {
		return fmt.Errorf("--service-cidr: %q is not a CIDR such as 10.96.0.0/12", cfg.ServiceNet.CIDR)
	}
	lo, hi, ok := strings.Cut(nodePorts, "-")
	a, err1 := strconv.ParseInt(lo, 10, 32)
	b, err2 := strconv.ParseInt(hi, 10, 32)
	if !ok || err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
		return fmt.Errorf("--service-node-port-range: %q is not a range such as 30000-32767", nodePorts)
	}
	cfg.ServiceNet.NodePortMin, cfg.ServiceNet.NodePortMax = int32(a), int32(b)
	if err := cfg.ServiceNet.Check(); err != nil {
		return fmt.Errorf("--service-cidr, --service-node-port-range: %w", err)
	}
	for _, p := range []struct {
		flag string
		port int
	}{{"--ingress-http-port", cfg.Node.IngressHTTPPort}, {"--ingress-https-port", cfg.Node.IngressHTTPSPort}, {"--http-port", cfg.HTTPPort}} {
		if p.port < 0 || p.port > 65535 {
			return fmt.Errorf("%s: %d is not a port (0 for none)", p.flag, p.port)
		}
	}
	if cfg.Node.ClusterDomain == "" || strings.Trim(cfg.Node.ClusterDomain, ".") != cfg.Node.ClusterDomain {
		return fmt.Errorf("--cluster-domain: %q is not a domain such as cluster.local", cfg.Node.ClusterDomain)
	}
	if cfg.NodeDownGrace <= 0 {
		return fmt.Errorf("--node-down-grace must be positive")
	}
	if cfg.Node.FenceLease < time.Second {
		return fmt.Errorf("--fence-lease must be at least 1s")
	}
	if cfg.Node.BackoffBase <= 0 || cfg.Node.BackoffMax < cfg.Node.BackoffBase {
		return fmt.Errorf("--restart-backoff must be positive and at most --restart-backoff-max")
	}
	// The shim starts this binary as each container's logger.
	if exe, err := os.Executable(); err == nil {
		cfg.Node.LoggerBinary = exe
	}
	return nil
}

// newAgentPurgeCmd removes what a stopped agent left on the machine.
// agentHas says whether the agent has a flag: purge's --config reads the
// agent's file and ignores the keys only the agent has.
func newAgentPurgeCmd(agentHas func(key string) bool) *cobra.Command {
	var cfg agent.Config
	var configFile string
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Remove what a stopped agent left on this machine: its containers, pod networks (bridge, namespaces, iptables rules, routes) and pod folders; named volumes, images and cluster state stay",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configFile != "" {
				agentOnly := func(key string) bool { return agentHas(key) && cmd.LocalFlags().Lookup(key) == nil }
				if err := applyAgentConfig(cmd, configFile, agentOnly); err != nil {
					return err
				}
			}
			if cfg.DataDir == "" {
				return fmt.Errorf("--data-dir is required")
			}
			if cfg.Name == "" {
				cfg.Name, _ = os.Hostname()
			}
			return agent.Purge(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, configKey, "", "the agent's YAML file (berth agent --config): its name, data-dir and containerd keys; flags given here win")
	f.StringVar(&cfg.Name, "name", "", "the agent's node name (default: host name)")
	f.StringVar(&cfg.DataDir, "data-dir", "", "the agent's data dir")
	f.StringVar(&cfg.Node.ContainerdSocket, "containerd-socket", "/run/containerd/containerd.sock", "the agent's containerd")
	f.StringVar(&cfg.Node.ContainerdNamespace, "containerd-namespace", "berth", "the agent's containerd namespace")
	return cmd
}
