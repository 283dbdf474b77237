package testcluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/testcreds"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary returns the path of a berth binary: $BERTH_BIN when set, else one
// built once per test process from this checkout.
func Binary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("BERTH_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "berth-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "berth")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/berth")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatalf("testcluster: %v", buildErr)
	}
	return buildPath
}

// FreePort returns a port that was free a moment ago for both TCP and UDP
// (gossip uses both), on every address. It is picked at random below the
// kernel's ephemeral range, so that the outgoing connections of the many
// agents that tests run side by side do not take it before its agent
// binds it.
func FreePort(tb testing.TB) int {
	tb.Helper()
	lo, hi := 10000, 32000
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var first, last int
		if _, err := fmt.Sscan(string(b), &first, &last); err == nil && first-1 < hi {
			hi = first - 1 // an unusual range: stay below it
		}
	}
	for range 1000 {
		port := lo + rand.IntN(max(1, hi-lo))
		if !reservePort(tb, port) {
			continue
		}
		l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", ":"+strconv.Itoa(port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port
	}
	tb.Fatalf("testcluster: no free port in %d-%d", lo, hi)
	return 0
}

// reservePort claims a port for this test, so that two test binaries
// running side by side never both pick it between the check and their
// agent's bind: a file named for the port under the temporary folder,
// created exclusively, holding this process's pid, removed when the test
// ends. The file of a process that is gone is taken over.
func reservePort(tb testing.TB, port int) bool {
	dir := filepath.Join(os.TempDir(), "berth-test-ports")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return true // no reservations: the bind check alone
	}
	path := filepath.Join(dir, strconv.Itoa(port))
	for range 2 {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprint(f, os.Getpid())
			f.Close()
			tb.Cleanup(func() { os.Remove(path) })
			return true
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && (pid == os.Getpid() || syscall.Kill(pid, 0) == nil) {
			return false // held by a live process (this one included)
		}
		os.Remove(path) // stale: its process is gone
	}
	return false
}

// Options configure a cluster.
type Options struct {
	Servers int
	// Bind is the address servers (and AddWorker's workers) bind
	// (127.0.0.1): a test bridge's address lets agents in network
	// namespaces reach them.
	Bind string
	// Args are extra flags for every agent (e.g. --raft-snapshot-threshold).
	Args []string
	// Containerd is the socket of a containerd the agents run pods on
	// (internal/testcontainerd); each agent gets a namespace of its own,
	// and the cluster a pod range of its own. Empty: agents run no pods.
	Containerd string
	// NoServerPods: the servers run no pods, only the workers do.
	NoServerPods bool
}

// Cluster is a set of berth servers on loopback.
type Cluster struct {
	Nodes []*Node // servers
	// Workers are agents without --server, added by AddWorker.
	Workers []*Node
	bind    string
	bin     string
	base    string
	// containerd and podCIDR are what agents run pods with.
	containerd   string
	podCIDR      string
	serviceCIDR  string
	nodePorts    string
	noServerPods bool
	id           string // names the cluster's containerd namespaces
	// Creds are the cluster's CA and admin credentials; workerToken joins
	// workers (made once the cluster runs).
	Creds       *testcreds.Creds
	config      string // the admin's client config file, for the CLI
	workerToken string
}

// nodeArgs are the flags of the node agent of one agent.
func (c *Cluster) nodeArgs(n *Node) []string {
	if c.containerd == "" {
		return []string{"--containerd-socket", ""}
	}
	// The leader gives out pod subnets, virtual IPs and node ports.
	ranges := []string{"--pod-cidr", c.podCIDR, "--service-cidr", c.serviceCIDR, "--service-node-port-range", c.nodePorts}
	if n.server && c.noServerPods {
		return append([]string{"--containerd-socket", ""}, ranges...)
	}
	return append([]string{"--containerd-socket", c.containerd, "--containerd-namespace", n.Namespace(),
		"--ingress-http-port", "0", "--ingress-https-port", "0"}, ranges...)
}

// ServiceCIDR is the cluster's range of Service IPs: its own, so that
// clusters side by side on one machine never share a virtual IP.
func (c *Cluster) ServiceCIDR() string { return c.serviceCIDR }

// Namespace is the containerd namespace of the node's containers.
func (n *Node) Namespace() string { return "t" + n.ns + "-" + n.Name }

// PodCIDR is the cluster's pod range.
func (c *Cluster) PodCIDR() string { return c.podCIDR }

// purge removes what the node's agent left: containers, pod networks.
func (c *Cluster) purge(tb testing.TB, n *Node) {
	if c.containerd == "" {
		return
	}
	command := exec.Command
	if n.command != nil {
		command = n.command // in the node's network namespace
	}
	out, err := command(c.bin, "agent", "purge", "--name", n.Name, "--data-dir", n.DataDir,
		"--containerd-socket", c.containerd, "--containerd-namespace", n.Namespace()).CombinedOutput()
	if err != nil {
		tb.Errorf("purge %s: %v\n%s", n.Name, err, out)
	}
}

// freePodCIDR picks a /16 in 10.100.0.0–10.199.0.0 that no route of this
// machine touches, so clusters side by side do not share pod addresses;
// the cluster's pods take its lower half, its Services a /20 of the
// upper half, and its node ports a range of 20 of its own.
func (c *Cluster) pickRanges(tb testing.TB) {
	p := freePodCIDR(tb)
	var b int
	fmt.Sscanf(p, "10.%d.", &b)
	c.podCIDR = fmt.Sprintf("10.%d.0.0/17", b)
	c.serviceCIDR = fmt.Sprintf("10.%d.128.0/20", b)
	lo := 30000 + (b-100)*20
	c.nodePorts = fmt.Sprintf("%d-%d", lo, lo+19)
}

func freePodCIDR(tb testing.TB) string {
	for range 64 {
		b := 100 + rand.IntN(100)
		out, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
		if err != nil {
			tb.Fatalf("ip route: %v", err)
		}
		if !strings.Contains(string(out), fmt.Sprintf("10.%d.", b)) {
			return fmt.Sprintf("10.%d.0.0/16", b)
		}
	}
	tb.Fatal("no free pod range in 10.100.0.0–10.199.0.0")
	return ""
}

// newNode adds a node with its own ports and data dir, not started, with
// the flags every server has.
func (c *Cluster) newNode(tb testing.TB) *Node {
	i := len(c.Nodes) + 1
	n := &Node{
		Name: fmt.Sprintf("s%d", i), DataDir: filepath.Join(c.base, fmt.Sprintf("s%d", i)),
		APIPort: FreePort(tb), RaftPort: FreePort(tb), GossipPort: FreePort(tb), HTTPPort: FreePort(tb), bin: c.bin, IP: c.bind, ns: c.id, server: true,
	}
	n.logPath = filepath.Join(c.base, n.Name+".log")
	n.args = []string{
		"agent", "--server", "--name", n.Name, "--data-dir", n.DataDir, "--bind", n.IP,
		"--api-port", strconv.Itoa(n.APIPort), "--raft-port", strconv.Itoa(n.RaftPort),
		"--gossip-port", strconv.Itoa(n.GossipPort), "--http-port", strconv.Itoa(n.HTTPPort), "--log-level", "warn",
	}
	n.args = append(n.args, c.Creds.ServerArgs()...)
	n.args = append(n.args, c.nodeArgs(n)...)
	c.Nodes = append(c.Nodes, n)
	c.register(n)
	return n
}

// AddWorker starts a worker agent (no --server) that joins through the
// API address of the first running server, with the extra flags given
// (such as --capacity), and returns it. It is stopped at the end of the
// test.
func (c *Cluster) AddWorker(tb testing.TB, args ...string) *Node {
	tb.Helper()
	return c.AddWorkerIn(tb, nil, args...)
}

// Host is a network namespace of the test's own (internal/testnet).
type Host interface {
	IP() string
	Command(name string, args ...string) *exec.Cmd
}

// AddWorkerIn is AddWorker in a network namespace: the worker binds the
// host's address and runs inside it.
func (c *Cluster) AddWorkerIn(tb testing.TB, host Host, args ...string) *Node {
	tb.Helper()
	i := len(c.Workers) + 1
	via := c.Nodes[0]
	for _, s := range c.Nodes {
		if s.Running() {
			via = s
			break
		}
	}
	n := &Node{
		Name: fmt.Sprintf("w%d", i), DataDir: filepath.Join(c.base, fmt.Sprintf("w%d", i)),
		APIPort: FreePort(tb), GossipPort: FreePort(tb), HTTPPort: FreePort(tb), bin: c.bin, IP: c.bind, ns: c.id,
	}
	if host != nil {
		n.IP, n.command = host.IP(), host.Command
		// An agent that runs pods makes namespaces and mounts them
		// (/run/netns) where containerd sees them: it must not have a
		// mount namespace of its own, as `ip netns exec` gives.
		if e, ok := host.(interface {
			Enter(name string, args ...string) *exec.Cmd
		}); ok && c.containerd != "" {
			n.command = e.Enter
		}
	}
	n.logPath = filepath.Join(c.base, n.Name+".log")
	n.args = []string{
		"agent", "--name", n.Name, "--data-dir", n.DataDir, "--bind", n.IP,
		"--api-port", strconv.Itoa(n.APIPort), "--gossip-port", strconv.Itoa(n.GossipPort),
		"--http-port", strconv.Itoa(n.HTTPPort), "--log-level", "warn", "--join", via.APIAddr(), "--token", c.joinToken(tb),
	}
	n.args = append(n.args, c.nodeArgs(n)...)
	n.args = append(n.args, args...)
	c.Workers = append(c.Workers, n)
	c.register(n)
	n.Start(tb)
	return n
}

// All is every agent: the servers, then the workers.
func (c *Cluster) All() []*Node { return append(slices.Clone(c.Nodes), c.Workers...) }

func (c *Cluster) joinList() string {
	var joins []string
	for _, n := range c.Nodes {
		joins = append(joins, n.APIAddr())
	}
	return strings.Join(joins, ",")
}

// AddServer starts one more server, with --join naming every node so far
// and the extra flags given (such as --bootstrap-expect), and returns it.
// It is stopped at the end of the test like the others.
func (c *Cluster) AddServer(tb testing.TB, args ...string) *Node {
	tb.Helper()
	joins := c.joinList()
	n := c.newNode(tb)
	n.args = append(n.args, "--join", joins)
	n.args = append(n.args, args...)
	n.Start(tb)
	return n
}

// DropFlag removes a flag and its value from the node's command line, for
// its next start (a server restarted without --join, say).
func (n *Node) DropFlag(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := 0; i < len(n.args); i++ {
		if n.args[i] == name {
			end := min(i+2, len(n.args))
			n.args = append(n.args[:i:i], n.args[end:]...)
			return
		}
	}
}

// WipeData removes a stopped node's data dir: it comes back as a new,
// empty server with the same name and addresses.
func (n *Node) WipeData(tb testing.TB) {
	tb.Helper()
	if n.Running() {
		tb.Fatalf("testcluster: %s is running", n.Name)
	}
	if err := os.RemoveAll(n.DataDir); err != nil {
		tb.Fatal(err)
	}
}

// Node is one berth agent process. Its ports and data dir stay the same
// across restarts.
type Node struct {
	Name       string
	IP         string // the address it binds
	DataDir    string
	APIPort    int
	RaftPort   int
	GossipPort int
	HTTPPort   int // metrics, health, dashboard
	args       []string
	command    func(name string, args ...string) *exec.Cmd // exec.Command, or a host's
	bin        string
	logPath    string
	ns         string // the cluster's id, in the containerd namespace
	server     bool

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// APIAddr is the node's API address.
func (n *Node) APIAddr() string { return net.JoinHostPort(n.IP, strconv.Itoa(n.APIPort)) }

// HTTPAddr is the node's HTTP address: metrics, health, dashboard.
func (n *Node) HTTPAddr() string { return net.JoinHostPort(n.IP, strconv.Itoa(n.HTTPPort)) }

// Start starts a cluster of opts.Servers servers that bootstrap together,
// waits until it has a leader that has set the cluster up, and stops
// every process at the end of the test.
func Start(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	if opts.Servers <= 0 {
		opts.Servers = 3
	}
	if opts.Bind == "" {
		opts.Bind = "127.0.0.1"
	}
	c := &Cluster{bin: Binary(tb), base: tb.TempDir(), bind: opts.Bind, containerd: opts.Containerd, noServerPods: opts.NoServerPods,
		id: fmt.Sprintf("%06x", rand.IntN(1<<24))}
	var err error
	if c.Creds, err = testcreds.New(c.base); err != nil {
		tb.Fatalf("testcluster: %v", err)
	}
	c.config = filepath.Join(c.base, "client-config")
	if c.containerd != "" {
		c.pickRanges(tb)
	}
	for i := 0; i < opts.Servers; i++ {
		c.newNode(tb)
	}
	joins := c.joinList()
	for _, n := range c.Nodes {
		n.args = append(n.args, "--bootstrap-expect", strconv.Itoa(opts.Servers), "--join", joins)
		n.args = append(n.args, opts.Args...)
	}
	tb.Cleanup(func() {
		for _, n := range c.All() {
			n.kill()
		}
		for _, n := range c.All() {
			c.purge(tb, n)
		}
		if tb.Failed() {
			for _, n := range c.All() {
				if b, err := os.ReadFile(n.logPath); err == nil {
					tb.Logf("--- log of %s ---\n%s", n.Name, tail(b, 4000))
				}
			}
		}
	})
	for _, n := range c.Nodes {
		n.Start(tb)
	}
	var addrs []string
	for _, n := range c.Nodes {
		addrs = append(addrs, n.APIAddr())
	}
	if err := c.Creds.Config(addrs).Save(c.config); err != nil {
		tb.Fatalf("testcluster: %v", err)
	}
	c.WaitReady(tb)
	return c
}

// WaitReady waits (up to 30 s) until the cluster has a leader and that
// leader has finished its set-up: the default namespace exists, so a
// test's first write into it cannot race the leader's.
func (c *Cluster) WaitReady(tb testing.TB) {
	tb.Helper()
	leader := c.WaitLeader(tb)
	cl, err := c.Creds.Client([]string{leader.APIAddr()}, client.WithTimeout(time.Second), client.WithAttemptTimeout(time.Second))
	if err != nil {
		tb.Fatalf("testcluster: %v", err)
	}
	defer cl.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cl.Get(ctx, "Namespace", "", "default")
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("testcluster: no default namespace within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// Start (re)starts the node's process with its data dir and ports.
func (n *Node) Start(tb testing.TB) {
	tb.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		tb.Fatalf("testcluster: %s is running", n.Name)
	}
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		tb.Fatalf("testcluster: %v", err)
	}
	command := exec.Command
	if n.command != nil {
		command = n.command
	}
	cmd := command(n.bin, n.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		tb.Fatalf("testcluster: start %s: %v", n.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	n.cmd, n.done = cmd, done
}

// Log returns what the node's process has written so far, across restarts.
func (n *Node) Log(tb testing.TB) string {
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		tb.Fatalf("testcluster: %v", err)
	}
	return string(b)
}

// Running reports whether the process is running (paused counts).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// Pid is the process's ID (0 when it is not running).
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// Kill stops the process with SIGKILL and waits for it.
func (n *Node) Kill(tb testing.TB) { n.kill() }

func (n *Node) kill() {
	n.signalAndWait(syscall.SIGKILL, 0)
}

// Stop stops the process with SIGTERM (a graceful shutdown) and waits.
func (n *Node) Stop(tb testing.TB) { n.signalAndWait(syscall.SIGTERM, 10*time.Second) }

func (n *Node) signalAndWait(sig syscall.Signal, grace time.Duration) {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(sig)
	if grace > 0 {
		select {
		case <-done:
			return
		case <-time.After(grace):
			_ = cmd.Process.Kill()
		}
	}
	<-done
}

// Pause stops the process with SIGSTOP; Resume continues it.
func (n *Node) Pause(tb testing.TB)  { n.signal(tb, syscall.SIGSTOP) }
func (n *Node) Resume(tb testing.TB) { n.signal(tb, syscall.SIGCONT) }

func (n *Node) signal(tb testing.TB, sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		tb.Fatalf("testcluster: %s is not running", n.Name)
	}
	_ = n.cmd.Process.Signal(sig)
}

// Client returns a client of every node, closed at the end of the test.
func (c *Cluster) Client(tb testing.TB, opts ...client.Option) *client.Client {
	var addrs []string
	for _, n := range c.Nodes {
		addrs = append(addrs, n.APIAddr())
	}
	return newClient(tb, addrs, opts...)
}

// Client returns a client of this node only.
func (n *Node) Client(tb testing.TB, opts ...client.Option) *client.Client {
	return newClient(tb, []string{n.APIAddr()}, opts...)
}

func newClient(tb testing.TB, addrs []string, opts ...client.Option) *client.Client {
	tb.Helper()
	cl, err := client.New(addrs, append(ClientOptions(tb, addrs[0]), opts...)...)
	if err != nil {
		tb.Fatalf("testcluster: %v", err)
	}
	tb.Cleanup(func() { cl.Close() })
	return cl
}

// WaitLeader waits (up to 30 s) until the running nodes agree on a leader
// that is running, and returns it.
func (c *Cluster) WaitLeader(tb testing.TB) *Node {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if n := c.leader(tb); n != nil {
			return n
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("testcluster: no leader within 30s")
	return nil
}

func (c *Cluster) leader(tb testing.TB) *Node {
	var leader string
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		cl, err := c.Creds.Client([]string{n.APIAddr()}, client.WithTimeout(time.Second), client.WithAttemptTimeout(time.Second))
		if err != nil {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := cl.Info(ctx)
		cancel()
		cl.Close()
		if err != nil || info.LeaderID == "" || info.LeaderAPIAddr == "" || (leader != "" && info.LeaderID != leader) {
			return nil
		}
		leader = info.LeaderID
	}
	for _, n := range c.Nodes {
		if n.Name == leader && n.Running() {
			return n
		}
	}
	return nil
}

// Node returns the node with a name.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.All() {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// CLI runs the berth binary against an API address, with stdin, and
// returns what it printed and its exit code. A Go stack in its output
// fails the test.
func CLI(tb testing.TB, addr, stdin string, args ...string) (stdout, stderr string, code int) {
	tb.Helper()
	cmd := exec.Command(Binary(tb), append([]string{"--addr", addr}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	if config := ConfigFor(addr); config != "" {
		cmd.Env = append(os.Environ(), "BERTH_CONFIG="+config)
	}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		tb.Fatal(err)
	}
	if strings.Contains(errb.String(), "goroutine ") {
		tb.Fatalf("berth %v printed a Go stack:\n%s", args, errb.String())
	}
	return out.String(), errb.String(), code
}

// MustCLI runs the berth binary against an API address, with no stdin,
// fails the test on a non-zero exit, and returns what it printed.
func MustCLI(tb testing.TB, addr string, args ...string) string {
	tb.Helper()
	out, errs, code := CLI(tb, addr, "", args...)
	if code != 0 {
		tb.Fatalf("berth %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// clusters maps each test agent's API address to its cluster, whose
// admin credentials CLI, ConfigFor and ClientOptions use.
var clusters sync.Map

// register makes the node's API address known to CLI and ClientOptions.
func (c *Cluster) register(n *Node) { clusters.Store(n.APIAddr(), c) }

// ConfigFor is the admin client config file of the test cluster that has
// an agent at addr, for a CLI run by hand: berth --config FILE.
func ConfigFor(addr string) string {
	if v, ok := clusters.Load(addr); ok {
		return v.(*Cluster).config
	}
	return ""
}

// ClientOptions are the admin credentials of the test cluster that has an
// agent at addr (none for an address of no test cluster).
func ClientOptions(tb testing.TB, addr string) []client.Option {
	if v, ok := clusters.Load(addr); ok {
		return v.(*Cluster).Creds.Options()
	}
	return nil
}

// joinToken is the cluster's worker join token, made on first use.
func (c *Cluster) joinToken(tb testing.TB) string {
	tb.Helper()
	if c.workerToken != "" {
		return c.workerToken
	}
	cl := c.Client(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t, err := cl.CreateJoinToken(ctx, "worker", 0, 0, "testcluster workers")
	if err != nil {
		tb.Fatalf("testcluster: worker join token: %v", err)
	}
	c.workerToken = t.Token
	return t.Token
}

// Eventually retries f every 100 ms until it returns nil, and fails the
// test with f's last error when d has passed.
func Eventually(tb testing.TB, d time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("not within %v: %v", d, err)
}
