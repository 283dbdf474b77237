package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/agent"
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
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a Berth agent (a server of the Raft quorum with --server, or --dev for a one-node cluster)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !dev && !server {
				return fmt.Errorf("berth agent needs --server (workers come with a later release) or --dev")
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
			}
			if cfg.DataDir == "" {
				return fmt.Errorf("--data-dir is required (or use --dev)")
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
			fmt.Fprintf(os.Stderr, "berth agent %q: API on %s, data in %s\n", cfg.Name, a.APIAddr(), cfg.DataDir)
			<-ctx.Done()
			fmt.Fprintln(os.Stderr, "berth agent: shutting down")
			return a.Close()
		},
	}
	f := cmd.Flags()
	f.BoolVar(&dev, "dev", false, "one-node cluster with a temporary data dir, on 127.0.0.1:7400-7402")
	f.BoolVar(&server, "server", false, "be a server: a voting member of the Raft quorum")
	f.StringVar(&cfg.Name, "name", "", "node name, unique in the cluster (default: host name)")
	f.StringVar(&cfg.DataDir, "data-dir", "", "where Raft log, snapshots and state live")
	f.StringVar(&cfg.BindAddr, "bind", "127.0.0.1", "IP address to listen on and advertise")
	f.IntVar(&cfg.APIPort, "api-port", 7400, "gRPC API port")
	f.IntVar(&cfg.RaftPort, "raft-port", 7401, "Raft port")
	f.Int("gossip-port", 7402, "gossip port (used once gossip lands)")
	f.IntVar(&cfg.BootstrapExpect, "bootstrap-expect", 0, "number of servers that bootstrap the cluster together")
	f.StringVar(&join, "join", "", "API addresses (HOST:PORT,...) of cluster members to join through")
	f.Uint64Var(&cfg.SnapshotThreshold, "raft-snapshot-threshold", 8192, "log entries between snapshots")
	f.Uint64Var(&cfg.TrailingLogs, "raft-trailing-logs", 10240, "log entries kept after a snapshot")
	f.DurationVar(&cfg.SnapshotInterval, "raft-snapshot-interval", 30*time.Second, "how often to check whether to snapshot")
	f.IntVar(&cfg.WatchHistory, "watch-history", 10000, "events kept for watchers")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&cpuProfile, "cpu-profile", "", "write a CPU profile of the agent's life to this file")
	_ = f.MarkHidden("cpu-profile")
	return cmd
}
