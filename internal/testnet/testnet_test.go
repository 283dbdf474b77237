package testnet

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the tools the tests run inside hosts, so that
// they need nothing beyond ip and iptables: with helperEnv set it runs
// helper(os.Args[1:]) instead of the tests; with childEnv set, TestChild
// plays a test process that fails or gets killed.
const (
	helperEnv = "BERTH_TESTNET_HELPER"
	childEnv  = "BERTH_TESTNET_CHILD"

	echoPort = "7000"
	// probeTimeout bounds one probe: how long a dropped packet is waited for.
	probeTimeout = 400 * time.Millisecond
	// waitTimeout bounds waits for things that must happen (a server's
	// start, reachability after Heal).
	waitTimeout = 10 * time.Second
)

var exe string // this test binary

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helper(os.Args[1:]))
	}
	var err error
	if exe, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// helper runs one tool: "serve ADDR" echoes TCP and UDP on ADDR until
// killed, after printing "ready"; "tcp ADDR", "udp ADDR" and "icmp IP" exit
// 0 when an echo comes back within probeTimeout.
func helper(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: serve|tcp|udp|icmp ADDR")
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		if _, _, err = listenEcho(args[1], args[1]); err == nil {
			fmt.Println("ready")
			select {}
		}
	case "tcp", "udp", "icmp":
		err = probe(nil, args[0], args[1])
	default:
		err = fmt.Errorf("unknown helper %q", args[0])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// environ is this process's environment for a child, with kv added. Under
// the race detector a process that exits with status 0 sleeps a second
// first, unless GORACE says otherwise.
func environ(kv string) []string {
	return append(os.Environ(), kv, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
}

// listenEcho echoes TCP on tcpAddr and UDP on udpAddr, in goroutines that
// stop when the listeners are closed.
func listenEcho(tcpAddr, udpAddr string) (net.Listener, net.PacketConn, error) {
	l, err := net.Listen("tcp", tcpAddr)
	if err != nil {
		return nil, nil, err
	}
	pc, err := net.ListenPacket("udp", udpAddr)
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	return l, pc, nil
}

// probe sends one echo by proto ("tcp", "udp" or "icmp") to addr from host
// from (nil: this process, in the root namespace) and reports whether it came
// back within probeTimeout.
func probe(from *Host, proto, addr string) error {
	if from != nil {
		cmd := from.Command(exe, proto, addr)
		cmd.Env = environ(helperEnv + "=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s from %s: %v: %s", proto, from.Name(), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	switch proto {
	case "tcp":
		c, err := net.DialTimeout("tcp", addr, probeTimeout)
		if err != nil {
			return err
		}
		defer c.Close()
		return echo(c)
	case "udp":
		c, err := net.Dial("udp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		return echo(c)
	case "icmp":
		return ping(addr)
	}
	return fmt.Errorf("unknown protocol %q", proto)
}

// echo writes a message on c and reads it back within probeTimeout.
func echo(c net.Conn) error {
	if err := c.SetDeadline(time.Now().Add(probeTimeout)); err != nil {
		return err
	}
	msg := []byte("ping\n")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != string(msg) {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	return nil
}

// ping sends one ICMP echo request to ip on a raw socket and waits for its
// reply within probeTimeout.
func ping(ip string) error {
	dst, err := netip.ParseAddr(ip)
	if err != nil {
		return err
	}
	c, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return err
	}
	defer c.Close()
	id, seq := uint16(os.Getpid()), uint16(mrand.Uint32())
	msg := []byte{8, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq), 'b', 'e', 'r', 't', 'h'}
	sum := 0
	for i := 0; i < len(msg); i += 2 {
		sum += int(msg[i]) << 8
		if i+1 < len(msg) {
			sum += int(msg[i+1])
		}
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(msg[2:], ^uint16(sum))
	if err := c.SetDeadline(time.Now().Add(probeTimeout)); err != nil {
		return err
	}
	if _, err := c.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf) // the IPv4 header is stripped
		if err != nil {
			return fmt.Errorf("icmp echo %s: %w", ip, err)
		}
		if n >= 8 && buf[0] == 0 && from.String() == ip &&
			binary.BigEndian.Uint16(buf[4:]) == id && binary.BigEndian.Uint16(buf[6:]) == seq {
			return nil
		}
	}
}

// endpoint is somewhere an echo server runs: a host, or the root namespace
// (host nil) on the bridge IP.
type endpoint struct {
	name     string
	host     *Host
	ip       string
	tcp, udp string
}

func (e endpoint) addr(proto string) string {
	switch proto {
	case "tcp":
		return e.tcp
	case "udp":
		return e.udp
	}
	return e.ip
}

// rootEcho serves echoes in this process on the bridge IP until the test
// ends.
func rootEcho(t *testing.T, n *Net) endpoint {
	t.Helper()
	l, pc, err := listenEcho(net.JoinHostPort(n.BridgeIP(), "0"), net.JoinHostPort(n.BridgeIP(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); pc.Close() })
	return endpoint{name: "root", ip: n.BridgeIP(), tcp: l.Addr().String(), udp: pc.LocalAddr().String()}
}

// server is an echo server running in a host.
type server struct {
	endpoint
	cmd  *exec.Cmd
	done chan struct{} // closed once the process is reaped
}

// hostEcho starts an echo server in h and waits until it serves. With kill
// it is killed when the test ends; without, it is left to the net's removal.
func hostEcho(t *testing.T, h *Host, kill bool) *server {
	t.Helper()
	addr := net.JoinHostPort(h.IP(), echoPort)
	cmd := h.Command(exe, "serve", addr)
	cmd.Env = environ(helperEnv + "=1")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{endpoint: endpoint{name: h.Name(), host: h, ip: h.IP(), tcp: addr, udp: addr}, cmd: cmd, done: make(chan struct{})}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ready <- sc.Scan() && sc.Text() == "ready"
		for sc.Scan() {
		}
		_ = cmd.Wait()
		close(s.done)
	}()
	if kill {
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-s.done })
	}
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("echo server in %s did not start", h.Name())
		}
	case <-time.After(waitTimeout):
		t.Fatalf("echo server in %s not ready after %v", h.Name(), waitTimeout)
	}
	return s
}

var protos = []string{"tcp", "udp", "icmp"}

// path is one probe: from an endpoint to another by a protocol.
type path struct {
	from, to endpoint
	proto    string
}

func (p path) String() string { return fmt.Sprintf("%s→%s/%s", p.from.name, p.to.name, p.proto) }

// paths returns every probe between the endpoints, both ways, by every
// protocol, leaving out root→root.
func paths(eps ...endpoint) []path {
	var ps []path
	for _, from := range eps {
		for _, to := range eps {
			if from.name == to.name || (from.host == nil && to.host == nil) {
				continue
			}
			for _, proto := range protos {
				ps = append(ps, path{from, to, proto})
			}
		}
	}
	return ps
}

// check probes every path at once: with want true each must get its echo
// within waitTimeout, with want false a single probe must fail.
func check(t *testing.T, want bool, ps []path) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(ps))
	for i, p := range ps {
		wg.Go(func() {
			if !want {
				if probe(p.from.host, p.proto, p.to.addr(p.proto)) == nil {
					errs[i] = fmt.Errorf("%v: echo came back, want none", p)
				}
				return
			}
			deadline := time.Now().Add(waitTimeout)
			for {
				err := probe(p.from.host, p.proto, p.to.addr(p.proto))
				if err == nil {
					return
				}
				if time.Now().After(deadline) {
					errs[i] = fmt.Errorf("%v: no echo after %v: %w", p, waitTimeout, err)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func TestHostsReachEachOtherAndTheBridge(t *testing.T) {
	t.Parallel()
	n := New(t)
	a, b := n.AddHost(t, "a"), n.AddHost(t, "b")
	if a.Name() != "a" || a.Namespace() != n.id+"-a" || a.IP() == b.IP() || a.IP() == n.BridgeIP() {
		t.Fatalf("host a: name %q namespace %q ip %s; b's ip %s; bridge %s", a.Name(), a.Namespace(), a.IP(), b.IP(), n.BridgeIP())
	}
	for _, ip := range []string{a.IP(), b.IP(), n.BridgeIP()} {
		if !n.prefix.Contains(netip.MustParseAddr(ip)) {
			t.Errorf("%s is outside the net's %s", ip, n.prefix)
		}
	}
	root := rootEcho(t, n)
	sa, sb := hostEcho(t, a, true), hostEcho(t, b, true)
	check(t, true, paths(root, sa.endpoint, sb.endpoint))
}

func TestCommandPidIsTheProgram(t *testing.T) {
	t.Parallel()
	n := New(t)
	a := n.AddHost(t, "a")
	s := hostEcho(t, a, true)
	pid := s.cmd.Process.Pid
	got, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		t.Fatal(err)
	}
	want, err := filepath.EvalSymlinks(exe)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("pid %d runs %s, want the program itself, %s", pid, got, want)
	}
	out, err := exec.Command("ip", "netns", "identify", fmt.Sprint(pid)).Output()
	if err != nil || strings.TrimSpace(string(out)) != a.Namespace() {
		t.Fatalf("pid %d is in namespace %q (%v), want %s", pid, out, err, a.Namespace())
	}
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.done
	if st, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || st.Signal() != syscall.SIGKILL {
		t.Fatalf("program ended with %v, want killed by SIGKILL", s.cmd.ProcessState)
	}
	if err := probe(nil, "tcp", s.tcp); err == nil {
		t.Fatal("echo server still answers after Kill")
	}
}

func TestIsolateAndHeal(t *testing.T) {
	t.Parallel()
	n := New(t)
	a, b := n.AddHost(t, "a"), n.AddHost(t, "b")
	root := rootEcho(t, n)
	sa, sb := hostEcho(t, a, true), hostEcho(t, b, true)
	all := paths(root, sa.endpoint, sb.endpoint)
	var ofA, others []path
	for _, p := range all {
		if p.from.host == a || p.to.host == a {
			ofA = append(ofA, p)
		} else {
			others = append(others, p)
		}
	}
	check(t, true, all)

	// A connection made before Isolate dies with it too.
	conn, err := net.DialTimeout("tcp", sa.tcp, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := echo(conn); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		if err := a.Isolate(); err != nil {
			t.Fatal(err)
		}
	}
	if got := isolateRules(t, a); got != 2 {
		t.Fatalf("%d isolate rules in %s after Isolate twice, want 2 (INPUT and OUTPUT)", got, a.Namespace())
	}
	check(t, false, ofA)
	check(t, true, others)
	if err := echo(conn); err == nil {
		t.Fatal("connection made before Isolate still echoes")
	}
	// lo is left alone: the host still reaches itself.
	self := endpoint{name: "a-self", host: a, ip: "127.0.0.1", tcp: sa.tcp, udp: sa.udp}
	check(t, true, []path{{sa.endpoint, self, "tcp"}, {sa.endpoint, self, "udp"}, {sa.endpoint, self, "icmp"}})

	for range 2 {
		if err := a.Heal(); err != nil {
			t.Fatal(err)
		}
	}
	if got := isolateRules(t, a); got != 0 {
		t.Fatalf("%d isolate rules in %s after Heal twice, want 0", got, a.Namespace())
	}
	check(t, true, all)
}

// DropFrom on both sides cuts a and b apart; each still reaches c and the
// root namespace, and Heal (of both) restores every path.
func TestDropFromAndHeal(t *testing.T) {
	t.Parallel()
	n := New(t)
	a, b, c := n.AddHost(t, "a"), n.AddHost(t, "b"), n.AddHost(t, "c")
	root := rootEcho(t, n)
	sa, sb, sc := hostEcho(t, a, true), hostEcho(t, b, true), hostEcho(t, c, true)
	all := paths(root, sa.endpoint, sb.endpoint, sc.endpoint)
	var cut, kept []path
	for _, p := range all {
		if (p.from.host == a && p.to.host == b) || (p.from.host == b && p.to.host == a) {
			cut = append(cut, p)
		} else {
			kept = append(kept, p)
		}
	}
	for range 2 {
		if err := a.DropFrom(b.IP()); err != nil {
			t.Fatal(err)
		}
		if err := b.DropFrom(a.IP()); err != nil {
			t.Fatal(err)
		}
	}
	if got := isolateRules(t, a); got != 1 {
		t.Fatalf("%d drop rules in %s after DropFrom twice, want 1", got, a.Namespace())
	}
	check(t, false, cut)
	check(t, true, kept)
	if err := a.DropFrom("not-an-ip"); err == nil || !strings.Contains(err.Error(), `"not-an-ip"`) {
		t.Fatalf("DropFrom(not-an-ip) = %v, want an error naming it", err)
	}
	for _, h := range []*Host{a, b} {
		if err := h.Heal(); err != nil {
			t.Fatal(err)
		}
	}
	check(t, true, all)
}

// isolateRules counts the rules in h's namespace that Isolate adds.
func isolateRules(t *testing.T, h *Host) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", h.Namespace(), "iptables", "-w", "-S").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(out), isolateComment)
}

func TestCleanupRemovesEverything(t *testing.T) {
	t.Parallel()
	var id string
	var s *server
	t.Run("net", func(t *testing.T) {
		n := New(t)
		id = n.id
		a := n.AddHost(t, "a")
		n.AddHost(t, "b")
		if err := a.Isolate(); err != nil {
			t.Fatal(err)
		}
		s = hostEcho(t, a, false)
		if left := leftoversOf(t, id); len(left) < 6 { // 2 namespaces, 3 links, 3 rules, the lock
			t.Fatalf("net %s while alive: %q, want its namespaces, links, rules and lock file", id, left)
		}
	})
	if left := leftoversOf(t, id); len(left) > 0 {
		t.Errorf("net %s after its test: %q left", id, left)
	}
	select {
	case <-s.done:
	case <-time.After(waitTimeout):
		t.Errorf("process %d in a host still runs after the net's removal", s.cmd.Process.Pid)
	}
}

func TestCleanupAfterFailure(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(exe, "-test.run=^TestChild$", "-test.count=1", "-test.v")
	cmd.Env = environ(childEnv + "=fail")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(string(out), "deliberate failure") {
		t.Fatalf("child: %v, want a failed test:\n%s", err, out)
	}
	id, pid := childNet(t, string(out))
	if left := leftoversOf(t, id); len(left) > 0 {
		t.Errorf("net %s of the failed test: %q left", id, left)
	}
	waitGone(t, pid)
}

func TestSweepRemovesOnlyOrphans(t *testing.T) {
	t.Parallel()
	own := New(t)
	x := own.AddHost(t, "x")
	sx := hostEcho(t, x, true)

	cmd := exec.Command(exe, "-test.run=^TestChild$", "-test.count=1", "-test.v")
	cmd.Env = environ(childEnv + "=hold")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed { // the child cleans up and ends when its stdin closes
			stdin.Close()
			_ = cmd.Wait()
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "net=") {
				lines <- sc.Text()
			}
		}
	}()
	var id string
	var pid int
	select {
	case line := <-lines:
		id, pid = childNet(t, line)
	case <-time.After(waitTimeout):
		t.Fatal("the child made no net")
	}

	if err := Sweep(); err != nil {
		t.Fatal(err)
	}
	if left := leftoversOf(t, id); len(left) < 6 {
		t.Fatalf("Sweep took the net of a live process: only %q left", left)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed = true
	_ = cmd.Wait()
	if left := leftoversOf(t, id); len(left) < 6 {
		t.Fatalf("kill -9 removed the net by itself? only %q left", left)
	}
	if err := Sweep(); err != nil {
		t.Fatal(err)
	}
	if left := leftoversOf(t, id); len(left) > 0 {
		t.Errorf("net %s of the killed process after Sweep: %q left", id, left)
	}
	waitGone(t, pid)
	// Sweep left this test's own live net alone.
	if left := leftoversOf(t, own.id); len(left) < 4 {
		t.Fatalf("Sweep took this test's own net: only %q left", left)
	}
	check(t, true, []path{{endpoint{name: "root"}, sx.endpoint, "tcp"}})
}

func TestTwoNetsSideBySide(t *testing.T) {
	t.Parallel()
	n1, n2 := New(t), New(t)
	a1, a2 := n1.AddHost(t, "a"), n2.AddHost(t, "a")
	if n1.id == n2.id || n1.prefix.Overlaps(n2.prefix) || n1.BridgeIP() == n2.BridgeIP() {
		t.Fatalf("nets %s (%s) and %s (%s) collide", n1.id, n1.prefix, n2.id, n2.prefix)
	}
	if a1.Namespace() == a2.Namespace() || a1.IP() == a2.IP() {
		t.Fatalf("hosts a of two nets collide: %s %s, %s %s", a1.Namespace(), a1.IP(), a2.Namespace(), a2.IP())
	}
	for _, n := range []*Net{n1, n2} {
		if !idRE.MatchString(n.id) {
			t.Errorf("net ID %q does not match %s", n.id, idRE)
		}
		for _, l := range leftoversOf(t, n.id) {
			// "7: bt0a1b2ch1@if2: <...": interface names fit in 15 bytes.
			if f := strings.Fields(l); strings.HasSuffix(f[0], ":") && len(f) > 1 {
				if name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@"); len(name) > 15 {
					t.Errorf("interface name %q is longer than 15", name)
				}
			}
		}
		if used, err := inUse(n.prefix, ""); err != nil || !used {
			t.Errorf("inUse(%s) = %v, %v; want the net's own /24 seen in use", n.prefix, used, err)
		}
		if used, err := inUse(n.prefix, n.id); err != nil || used {
			t.Errorf("inUse(%s, %s) = %v, %v; want nothing else on it", n.prefix, n.id, used, err)
		}
	}
}

func TestAddHostRejects(t *testing.T) {
	t.Parallel()
	n := New(t)
	n.AddHost(t, "a")
	for _, name := range []string{"a", "", "A", "-a", "a b", strings.Repeat("x", 33)} {
		if _, err := n.addHost(name); err == nil {
			t.Errorf("addHost(%q) = nil error, want a rejection", name)
		}
	}
}

// TestForwardDropPolicy builds a net inside a host of another net, whose
// iptables policies are DROP like Docker's FORWARD (bridge-nf-call-iptables
// on): the net's own rules must let its traffic through.
//
// The child enters the host's network namespace with nsenter rather than
// Command: `ip netns exec` would give it a mount namespace of its own, where
// the namespaces it makes would be mounted out of sight of the root one,
// and of Sweep there, should it be killed.
func TestForwardDropPolicy(t *testing.T) {
	t.Parallel()
	outer := New(t).AddHost(t, "outer")
	cmd := exec.Command("nsenter", "--net=/run/netns/"+outer.Namespace(), exe, "-test.run=^TestChild$", "-test.count=1", "-test.v")
	cmd.Env = environ(childEnv + "=dropfwd")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child in %s: %v\n%s", outer.Namespace(), err, out)
	}
	id, _ := childNet(t, string(out))
	if left := leftoversOf(t, id); len(left) > 0 {
		t.Errorf("net %s of the child: %q left", id, left)
	}
}

// TestChild is the test process that other tests start, by childEnv:
// "fail" fails with a net and a process in a host, "hold" waits with them
// until its stdin closes (or it is killed), "dropfwd" checks its net under
// DROP policies. Run directly, it does nothing.
func TestChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		return
	}
	if mode == "dropfwd" {
		for _, c := range [][]string{{"-P", "FORWARD", "DROP"}, {"-P", "INPUT", "DROP"}} {
			if _, err := iptables("", c...); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile("/proc/sys/net/bridge/bridge-nf-call-iptables", []byte("1"), 0); err != nil {
			t.Fatal(err)
		}
	}
	n := New(t)
	a, b := n.AddHost(t, "a"), n.AddHost(t, "b")
	s := hostEcho(t, a, false)
	fmt.Printf("net=%s pid=%d\n", n.id, s.cmd.Process.Pid)
	switch mode {
	case "fail":
		if err := a.Isolate(); err != nil {
			t.Fatal(err)
		}
		t.Fatal("deliberate failure")
	case "hold":
		_, _ = io.Copy(io.Discard, os.Stdin)
	case "dropfwd":
		root := rootEcho(t, n)
		sb := hostEcho(t, b, true)
		check(t, true, paths(root, s.endpoint, sb.endpoint))
		// The DROP policy bites: without the net's FORWARD rules, a and
		// b no longer talk.
		rs, err := rules("", ruleComment+n.id)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r[0] == "FORWARD" {
				if _, err := iptables("", append([]string{"-D"}, r...)...); err != nil {
					t.Fatal(err)
				}
			}
		}
		check(t, false, []path{{s.endpoint, sb.endpoint, "tcp"}, {sb.endpoint, s.endpoint, "udp"}})
	}
}

// childNet reads the "net=ID pid=PID" line a child prints.
func childNet(t *testing.T, out string) (id string, pid int) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if _, err := fmt.Sscanf(line, "net=%s pid=%d", &id, &pid); err == nil {
			return id, pid
		}
	}
	t.Fatalf("no net=ID pid=PID line in the child's output:\n%s", out)
	return "", 0
}

// leftoversOf lists, as `ip` and `iptables` print them, what the machine
// holds of the net id: namespaces, links and rules; and its lock file.
func leftoversOf(t *testing.T, id string) []string {
	t.Helper()
	var left []string
	for _, c := range [][]string{{"ip", "netns", "list"}, {"ip", "-o", "link", "show"}, {"iptables", "-w", "-S"}} {
		out, err := exec.Command(c[0], c[1:]...).Output()
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, id) {
				left = append(left, line)
			}
		}
	}
	if _, err := os.Stat(lockPath(id)); err == nil {
		left = append(left, lockPath(id))
	}
	return left
}

// waitGone waits until process pid has ended (a zombie counts).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !dead(pid) {
		if time.Now().After(deadline) {
			t.Errorf("process %d in a host of a removed net still runs", pid)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
