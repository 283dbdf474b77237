package raft

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/berth-dev/berth/fsm"
	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Errors of this package.
var (
	ErrNotLeader = errors.New("raft: not leader")
	// ErrUnknownOutcome: the command was proposed but leadership was lost
	// before it was known to commit. Retry with the same request ID.
	ErrUnknownOutcome = errors.New("raft: outcome unknown, leadership lost")
	ErrShutdown       = errors.New("raft: shut down")
)

// Config configures a Raft server.
type Config struct {
	ID       string
	DataDir  string
	BindAddr string // host:port the transport listens on
	// AdvertiseAddr is the address peers dial; BindAddr when empty.
	AdvertiseAddr string
	// SnapshotThreshold is how many log entries trigger a snapshot
	// (default 8192); TrailingLogs how many stay after it (default 10240).
	SnapshotThreshold uint64
	TrailingLogs      uint64
	SnapshotInterval  time.Duration
	// HeartbeatTimeout and ElectionTimeout (default 600 ms), tuned for a LAN.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	LogOutput        io.Writer
	LogLevel         string
	// ServerTLS and ClientTLS, when set, make the transport mutual TLS:
	// peers are accepted with the first and dialed with the second.
	ServerTLS, ClientTLS *tls.Config
	// ObserveCommit, if set, is told how long each command Apply proposed
	// took to commit and apply on this server (the leader); ObserveApply
	// how long the FSM took to apply each command. Both run on the write
	// path and must be cheap.
	ObserveCommit func(time.Duration)
	ObserveApply  func(time.Duration)
}

// Server is one member of the Raft configuration.
type Server struct {
	ID    string
	Addr  string
	Voter bool
}

// Node is one Raft server with its FSM.
type Node struct {
	cfg    Config
	raft   *hraft.Raft
	fsm    *fsm.FSM
	logs   *raftboltdb.BoltStore
	trans  *hraft.NetworkTransport
	snaps  *hraft.FileSnapshotStore
	ctx    context.Context // ends when Close begins
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	readyTerm uint64 // the term in which this leader committed its barrier
	onLeader  []func(context.Context)

	counts *counts // for Status (status.go)
}

// Open starts Raft on cfg.DataDir (created if missing). A server with state
// restores it; one without waits for Bootstrap or to be added by a leader.
func Open(cfg Config, f *fsm.FSM) (*Node, error) {
	if cfg.ID == "" || cfg.DataDir == "" || cfg.BindAddr == "" {
		return nil, fmt.Errorf("raft: config needs ID, DataDir and BindAddr")
	}
	if cfg.AdvertiseAddr == "" {
		cfg.AdvertiseAddr = cfg.BindAddr
	}
	if cfg.LogOutput == nil {
		cfg.LogOutput = os.Stderr
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "warn"
	}
	dir := filepath.Join(cfg.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("raft: %w", err)
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "raft", Output: cfg.LogOutput, Level: hclog.LevelFromString(cfg.LogLevel)})

	hc := hraft.DefaultConfig()
	hc.LocalID = hraft.ServerID(cfg.ID)
	hc.Logger = logger
	hc.BatchApplyCh = true // concurrent writes share one log write and fsync
	hc.MaxAppendEntries = 256
	hc.HeartbeatTimeout = or(cfg.HeartbeatTimeout, 600*time.Millisecond)
	hc.ElectionTimeout = or(cfg.ElectionTimeout, 600*time.Millisecond)
	hc.LeaderLeaseTimeout = hc.HeartbeatTimeout / 2
	hc.CommitTimeout = 5 * time.Millisecond
	if cfg.SnapshotThreshold > 0 {
		hc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		hc.TrailingLogs = cfg.TrailingLogs
	}
	if cfg.SnapshotInterval > 0 {
		hc.SnapshotInterval = cfg.SnapshotInterval
	}

	logs, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
	if err != nil {
		return nil, fmt.Errorf("raft: log store: %w", err)
	}
	snaps, err := hraft.NewFileSnapshotStoreWithLogger(dir, 3, logger)
	if err != nil {
		logs.Close()
		return nil, fmt.Errorf("raft: snapshot store: %w", err)
	}
	adv, err := net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr)
	if err != nil {
		logs.Close()
		return nil, fmt.Errorf("raft: advertise address: %w", err)
	}
	var trans *hraft.NetworkTransport
	if cfg.ServerTLS != nil {
		var stream *tlsStream
		if stream, err = newTLSStream(cfg.BindAddr, adv, cfg.ServerTLS, cfg.ClientTLS); err == nil {
			trans = hraft.NewNetworkTransportWithConfig(&hraft.NetworkTransportConfig{Stream: stream, MaxPool: 8, Timeout: 10 * time.Second, Logger: logger})
		}
	} else {
		trans, err = hraft.NewTCPTransportWithLogger(cfg.BindAddr, adv, 8, 10*time.Second, logger)
	}
	if err != nil {
		logs.Close()
		return nil, fmt.Errorf("raft: transport: %w", err)
	}
	// Recent entries stay in memory: replication and apply read them back.
	cached, err := hraft.NewLogCache(1024, logs)
	if err != nil {
		logs.Close()
		return nil, fmt.Errorf("raft: log cache: %w", err)
	}
	counts := &counts{}
	r, err := hraft.NewRaft(hc, &adapter{f: f, counts: counts, observe: cfg.ObserveApply}, cached, logs, snaps, trans)
	if err != nil {
		trans.Close()
		logs.Close()
		return nil, fmt.Errorf("raft: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{cfg: cfg, raft: r, fsm: f, logs: logs, trans: trans, snaps: snaps, ctx: ctx, cancel: cancel, done: make(chan struct{}), counts: counts}
	r.RegisterObserver(counts.observer())
	go n.leaderLoop(ctx)
	return n, nil
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// TransferLeadership hands leadership to another voter, so that a leader
// shutting down gracefully does not leave the cluster to wait out an
// election timeout. It returns at once on a follower.
func (n *Node) TransferLeadership() error {
	if !n.IsLeader() {
		return nil
	}
	servers, err := n.Servers()
	if err != nil {
		return err
	}
	voters := 0
	for _, s := range servers {
		if s.Voter {
			voters++
		}
	}
	if voters < 2 {
		return nil // nobody to hand it to
	}
	return n.wrap(n.raft.LeadershipTransfer().Error())
}

// Close shuts Raft down and waits for its goroutines.
func (n *Node) Close() error {
	n.cancel()
	err := n.raft.Shutdown().Error()
	<-n.done
	n.trans.Close()
	if cerr := n.logs.Close(); err == nil {
		err = cerr
	}
	return err
}

// FSM returns the state machine this node applies to.
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// ID is this server's Raft ID.
func (n *Node) ID() string { return n.cfg.ID }

// Addr is the Raft address peers dial.
func (n *Node) Addr() string { return n.cfg.AdvertiseAddr }

// HasState reports whether this server has ever been part of a cluster.
func (n *Node) HasState() bool {
	ok, err := hraft.HasExistingState(n.logs, n.logs, n.snaps)
	return err == nil && ok
}

// Bootstrap makes the first configuration. Every server of an initial
// cluster must call it with the same servers; it fails on a server with
// state.
func (n *Node) Bootstrap(servers []Server) error {
	var c hraft.Configuration
	for _, s := range servers {
		c.Servers = append(c.Servers, hraft.Server{Suffrage: hraft.Voter, ID: hraft.ServerID(s.ID), Address: hraft.ServerAddress(s.Addr)})
	}
	if err := n.raft.BootstrapCluster(c).Error(); err != nil {
		return fmt.Errorf("raft: bootstrap: %w", err)
	}
	return nil
}

// IsLeader reports whether this server is the leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == hraft.Leader }

// State is the Raft state: Follower, Candidate, Leader or Shutdown.
func (n *Node) State() string { return n.raft.State().String() }

// Leader returns the ID and address of the leader this server knows of.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// LeaderCh reports leadership changes; see hashicorp/raft's LeaderCh.
func (n *Node) LeaderCh() <-chan bool { return n.raft.LeaderCh() }

// AppliedIndex is the index of the last entry handed to the FSM.
func (n *Node) AppliedIndex() uint64 { return n.raft.AppliedIndex() }

// LogRange returns the first and last index held in the Raft log.
func (n *Node) LogRange() (first, last uint64) {
	first, _ = n.logs.FirstIndex()
	last, _ = n.logs.LastIndex()
	return first, last
}

// Stats returns hashicorp/raft's statistics.
func (n *Node) Stats() map[string]string { return n.raft.Stats() }

// Servers returns the current configuration.
func (n *Node) Servers() ([]Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raft: configuration: %w", err)
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == hraft.Voter})
	}
	return out, nil
}

// AddVoter adds (or re-addresses) a voting server. Leader only.
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	return n.wrap(n.raft.AddVoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, timeout(ctx)).Error())
}

// RemoveServer removes a server from the configuration. Leader only.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	return n.wrap(n.raft.RemoveServer(hraft.ServerID(id), 0, timeout(ctx)).Error())
}

func timeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return 10 * time.Second
}

func (n *Node) wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hraft.ErrNotLeader), errors.Is(err, hraft.ErrLeadershipTransferInProgress):
		return ErrNotLeader
	case errors.Is(err, hraft.ErrLeadershipLost), errors.Is(err, hraft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
	case errors.Is(err, hraft.ErrRaftShutdown):
		return ErrShutdown
	}
	return fmt.Errorf("raft: %w", err)
}

// Apply proposes a command and waits until it is applied here. The error is
// the FSM's (errors.Is against fsm's sentinels) or this package's.
func (n *Node) Apply(ctx context.Context, cmd *fsm.Command) (*fsm.Result, error) {
	b, err := cmd.Encode()
	if err != nil {
		return nil, fmt.Errorf("raft: encode command: %w", err)
	}
	start := time.Now()
	fut := n.raft.Apply(b, timeout(ctx))
	if ackBeforeCommit {
		if res, ok := ackEarly(fut, cmd); ok {
			return res, nil
		}
	}
	// hashicorp/raft never answers a future that was queued when it shut
	// down: wait for the node's end too, not only the future.
	errc := make(chan error, 1)
	go func() { errc <- fut.Error() }()
	var ferr error
	select {
	case ferr = <-errc:
	case <-n.ctx.Done():
		return nil, ErrShutdown
	}
	if err := n.wrap(ferr); err != nil {
		return nil, err
	}
	if n.cfg.ObserveCommit != nil {
		n.cfg.ObserveCommit(time.Since(start))
	}
	res, ok := fut.Response().(*fsm.Result)
	if !ok {
		return nil, fmt.Errorf("raft: unexpected FSM response %T", fut.Response())
	}
	return res, res.Err
}
