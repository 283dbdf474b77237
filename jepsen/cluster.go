package jepsen

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/testcreds"
	"github.com/berth-dev/berth/internal/testnet"
)

// Ports every server uses on its own host's address.
const (
	apiPort    = 7400
	raftPort   = 7401
	gossipPort = 7402
)

// Cluster is a set of berth servers, one per test host: each host a
// network namespace on a bridge of the run's own (internal/testnet), with
// one address, running a real `berth agent --server`.
type Cluster struct {
	bin  string
	dir  string // data dirs and logs
	net  *testnet.Net
	key  string
	args []string // extra agent flags
	// creds are the cluster's CA and admin credentials.
	creds *testcreds.Creds

	Servers []*Server
}

// Server is one berth agent in its host.
type Server struct {
	Name    string
	host    *testnet.Host
	dataDir string
	logPath string
	args    []string
	bin     string
	creds   *testcreds.Creds

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	paused bool
}

// StartCluster creates n hosts and starts a server in each; they bootstrap
// together. The caller closes it, also after a failure.
func StartCluster(ctx context.Context, bin, dir string, n int, args ...string) (*Cluster, error) {
	tn, err := testnet.Open()
	if err != nil {
		return nil, err
	}
	var key [32]byte
	_, _ = rand.Read(key[:])
	c := &Cluster{bin: bin, dir: dir, net: tn, key: base64.StdEncoding.EncodeToString(key[:]), args: args}
	if err := c.start(ctx, n); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, n int) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	var err error
	if c.creds, err = testcreds.New(c.dir); err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		name := "n" + strconv.Itoa(i)
		h, err := c.net.NewHost(name)
		if err != nil {
			return err
		}
		c.Servers = append(c.Servers, &Server{Name: name, host: h, bin: c.bin, creds: c.creds,
			dataDir: filepath.Join(c.dir, name), logPath: filepath.Join(c.dir, name+".log")})
	}
	for _, s := range c.Servers {
		s.args = c.agentArgs(s, "--bootstrap-expect", strconv.Itoa(n), "--join", c.joinList())
		if err := s.Start(); err != nil {
			return err
		}
	}
	return c.WaitHealthy(ctx, 60*time.Second)
}

func (c *Cluster) agentArgs(s *Server, extra ...string) []string {
	args := []string{"agent", "--server", "--name", s.Name, "--data-dir", s.dataDir, "--bind", s.IP(),
		"--api-port", strconv.Itoa(apiPort), "--raft-port", strconv.Itoa(raftPort), "--gossip-port", strconv.Itoa(gossipPort),
		"--gossip-key", c.key, "--log-level", "warn", "--containerd-socket", ""}
	args = append(args, c.creds.ServerArgs()...)
	return append(append(args, c.args...), extra...)
}

func (c *Cluster) joinList() string {
	var addrs []string
	for _, s := range c.Servers {
		addrs = append(addrs, s.APIAddr())
	}
	return strings.Join(addrs, ",")
}

// Addrs are the servers' API addresses, starting with the i-th (mod n), so
// that clients spread over the servers.
func (c *Cluster) Addrs(i int) []string {
	var out []string
	for k := range c.Servers {
		out = append(out, c.Servers[(i+k)%len(c.Servers)].APIAddr())
	}
	return out
}

// Client returns an admin client of addrs with the options given.
func (c *Cluster) Client(addrs []string, opts ...client.Option) (*client.Client, error) {
	return c.creds.Client(addrs, opts...)
}

// Close kills every server and removes the hosts and the bridge.
func (c *Cluster) Close() error {
	for _, s := range c.Servers {
		s.Kill()
	}
	return c.net.Close()
}

// Server returns the server with that name, or nil.
func (c *Cluster) Server(name string) *Server {
	for _, s := range c.Servers {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// IP is the server's host address.
func (s *Server) IP() string { return s.host.IP() }

// APIAddr is the server's API address.
func (s *Server) APIAddr() string { return net.JoinHostPort(s.IP(), strconv.Itoa(apiPort)) }

// Start starts the server's process (again) with its data dir.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("jepsen: %s is running", s.Name)
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := s.host.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("jepsen: start %s: %w", s.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.cmd, s.done, s.paused = cmd, done, false
	return nil
}

// Running reports whether the process runs (paused counts).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Kill kills the process with SIGKILL (kill -9) and waits for it.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.paused = nil, false
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Pause stops the process with SIGSTOP; Resume continues it.
func (s *Server) Pause() error { return s.signal(syscall.SIGSTOP, true) }

// Resume sends SIGCONT to a paused process.
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT, false) }

func (s *Server) signal(sig syscall.Signal, paused bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return fmt.Errorf("jepsen: %s is not running", s.Name)
	}
	s.paused = paused
	return s.cmd.Process.Signal(sig)
}

// Wipe removes a stopped server's data dir: it comes back as a new, empty
// server with the same name and address.
func (s *Server) Wipe() error {
	if s.Running() {
		return fmt.Errorf("jepsen: %s is running", s.Name)
	}
	return os.RemoveAll(s.dataDir)
}

// Client returns a client of this one server only.
func (s *Server) Client() *client.Client {
	cl, _ := s.creds.Client([]string{s.APIAddr()}, client.WithTimeout(2*time.Second),
		client.WithAttemptTimeout(time.Second), client.WithUnreachableTimeout(time.Second))
	return cl
}

// Info asks the server about itself, within a second.
func (s *Server) Info(ctx context.Context) (*client.ServerInfo, error) {
	cl := s.Client()
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return cl.Info(ctx)
}

// Leader is the server that says it leads and that the most servers name
// as their leader; nil when none does.
func (c *Cluster) Leader(ctx context.Context) *Server {
	votes := map[string]int{}
	self := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range c.Servers {
		if !s.Running() {
			continue
		}
		wg.Go(func() {
			info, err := s.Info(ctx)
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if info.LeaderID != "" {
				votes[info.LeaderID]++
			}
			if info.State == "Leader" {
				self[s.Name] = true
			}
		})
	}
	wg.Wait()
	var best *Server
	for _, s := range c.Servers {
		if self[s.Name] && (best == nil || votes[s.Name] > votes[best.Name]) {
			best = s
		}
	}
	return best
}

// WaitHealthy waits until every server runs, answers, names the same
// leader, and that leader has every server as a Raft peer and answers a
// linearizable read.
func (c *Cluster) WaitHealthy(ctx context.Context, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var last error
	for {
		if last = c.healthy(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("jepsen: cluster not healthy within %v: %w", within, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) healthy(ctx context.Context) error {
	leader := ""
	for _, s := range c.Servers {
		if !s.Running() {
			return fmt.Errorf("%s is not running", s.Name)
		}
		info, err := s.Info(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		if info.LeaderID == "" || (leader != "" && info.LeaderID != leader) {
			return fmt.Errorf("%s names leader %q, others %q", s.Name, info.LeaderID, leader)
		}
		leader = info.LeaderID
	}
	l := c.Server(leader)
	if l == nil {
		return fmt.Errorf("leader %q is not one of ours", leader)
	}
	cl := l.Client()
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	peers, err := cl.Peers(rctx)
	if err != nil {
		return err
	}
	if len(peers) != len(c.Servers) {
		return fmt.Errorf("the leader has %d raft peers, want %d", len(peers), len(c.Servers))
	}
	_, err = cl.Get(rctx, "Namespace", "", "default")
	return err
}
