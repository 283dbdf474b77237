package testnet

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// ruleComment, followed by the net's ID, marks the root namespace's
	// iptables rules of a net.
	ruleComment = "berth-testnet:"
	// isolateComment marks the rules Isolate adds inside a host.
	isolateComment = "berth-testnet-isolate"
	// stateDir holds one ID.lock per live net, flocked by its owner.
	stateDir = "/run/berth-testnet"
	// maxHosts is how many hosts fit in a /24 beside the bridge (.2–.254).
	maxHosts = 253
	// upTimeout bounds the wait for a new host's link to forward.
	upTimeout = 5 * time.Second
	// sweepWait bounds Sweep's wait for another sweeper removing a net.
	sweepWait = 10 * time.Second
)

var (
	idRE   = regexp.MustCompile(`^bt[0-9a-f]{6}$`)
	vethRE = regexp.MustCompile(`^(bt[0-9a-f]{6})h[0-9]+$`)
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
)

// Net is a bridge in the root network namespace with an IPv4 /24 of its own,
// and hosts in network namespaces attached to it by veth pairs.
//
// Its ID (the bridge's name, "bt" and six hex digits) begins every name it
// creates. A Net's methods may be called from several goroutines.
type Net struct {
	id     string
	prefix netip.Prefix
	lock   *os.File // flocked for the net's life: Sweep leaves it alone

	mu    sync.Mutex
	hosts map[string]*Host
	next  int // index of the last host added
}

// Host is a network namespace attached to a Net's bridge: a machine of its
// own as far as the network goes, with lo and eth0 (IPv4 only) and a default
// route via the bridge.
type Host struct {
	name string
	ns   string
	ip   string

	mu sync.Mutex // serializes Isolate and Heal
}

// Available reports what this machine lacks to build nets: root, `ip` or
// `iptables`. It returns nil when New can work. Tests call New directly and
// fail on such a machine; a caller that would rather skip asks here first.
func Available() error {
	var errs []error
	if uid := os.Geteuid(); uid != 0 {
		errs = append(errs, fmt.Errorf("testnet: needs root (euid is %d)", uid))
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			errs = append(errs, fmt.Errorf("testnet: %w", err))
		}
	}
	return errors.Join(errs...)
}

// New creates a net: a bridge named with a fresh ID, holding X.Y.Z.1/24 for
// a /24 picked at random in 10.200.0.0–10.250.255.0 and not used by any
// route or address of the machine; iptables rules at the top of FORWARD
// (traffic in or out of the bridge) and INPUT (traffic from the bridge)
// accept the net's traffic whatever the chains' policies. It first removes
// the leftovers of dead processes (Sweep, best effort).
//
// t.Cleanup removes everything the net made, hosts included, also when the
// test fails; processes still running in its hosts are killed. New fails the
// test, rather than skip it, when Available reports a lack.
func New(t testing.TB) *Net {
	t.Helper()
	if err := Available(); err != nil {
		t.Fatalf("testnet: this test builds a network of namespaces and cannot run here: %v", err)
	}
	if err := Sweep(); err != nil {
		t.Logf("testnet: sweeping leftovers: %v", err)
	}
	n, err := register()
	if err != nil {
		t.Fatalf("testnet: %v", err)
	}
	t.Cleanup(func() {
		if err := n.close(); err != nil {
			t.Errorf("testnet: removing net %s: %v", n.id, err)
		}
	})
	if err := n.setup(); err != nil {
		t.Fatalf("testnet: net %s: %v", n.id, err)
	}
	t.Logf("testnet: net %s on %s", n.id, n.prefix)
	return n
}

// Open is New for a program that is not a test (the Jepsen runner): the
// caller removes the net with Close, also after a failure; a net whose
// process dies is swept by the next New, Open or Sweep.
func Open() (*Net, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if err := Sweep(); err != nil {
		return nil, fmt.Errorf("testnet: sweeping leftovers: %w", err)
	}
	n, err := register()
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	if err := n.setup(); err != nil {
		return nil, errors.Join(fmt.Errorf("testnet: net %s: %w", n.id, err), n.close())
	}
	return n, nil
}

// Close removes everything the net made, hosts and their processes
// included. A net made by New is closed by its test's cleanup.
func (n *Net) Close() error { return n.close() }

// ID is the net's ID, the bridge's name.
func (n *Net) ID() string { return n.id }

// NewHost is AddHost with an error instead of a test failure.
func (n *Net) NewHost(name string) (*Host, error) {
	h, err := n.addHost(name)
	if err != nil {
		return nil, fmt.Errorf("testnet: net %s: host %q: %w", n.id, name, err)
	}
	return h, nil
}

// BridgeIP is the root namespace's address on the bridge: processes started
// normally (not in a host) bind it to be reachable from the hosts.
func (n *Net) BridgeIP() string { return n.prefix.Addr().Next().String() }

// AddHost creates a host: a network namespace named ID-name, a veth pair
// with one end on the bridge and the other in the namespace as eth0, the next
// free address of the /24 on eth0, lo and eth0 up, and a default route via
// the bridge IP. It returns once the link forwards. The host lives as long
// as the net (t only reports failures). Names are unique in a net and match
// [a-z0-9][a-z0-9-]*, at most 32 characters.
func (n *Net) AddHost(t testing.TB, name string) *Host {
	t.Helper()
	h, err := n.addHost(name)
	if err != nil {
		t.Fatalf("testnet: net %s: host %q: %v", n.id, name, err)
	}
	return h
}

func (n *Net) addHost(name string) (*Host, error) {
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("name must match %s", nameRE)
	}
	n.mu.Lock()
	if _, dup := n.hosts[name]; dup {
		n.mu.Unlock()
		return nil, errors.New("already in the net")
	}
	if n.next >= maxHosts {
		n.mu.Unlock()
		return nil, fmt.Errorf("the net is full (%d hosts)", maxHosts)
	}
	n.next++
	idx := n.next
	h := &Host{name: name, ns: n.id + "-" + name, ip: nthAddr(n.prefix, idx+1)}
	n.hosts[name] = h
	n.mu.Unlock()

	veth := n.id + "h" + strconv.Itoa(idx)
	steps := [][]string{
		{"netns", "add", h.ns},
		// The peer is born in the namespace, so its name never clashes
		// with the root namespace's eth0.
		{"link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.ns},
		// No IPv6 link-local addresses: hosts speak IPv4 only, so
		// Isolate's IPv4 rules leave nothing else to talk with.
		{"link", "set", veth, "addrgenmode", "none"},
		{"link", "set", veth, "master", n.id},
		{"link", "set", veth, "up"},
		{"-n", h.ns, "link", "set", "eth0", "addrgenmode", "none"},
		{"-n", h.ns, "addr", "add", h.ip + "/24", "dev", "eth0"},
		{"-n", h.ns, "link", "set", "lo", "up"},
		{"-n", h.ns, "link", "set", "eth0", "up"},
		{"-n", h.ns, "route", "add", "default", "via", n.BridgeIP()},
	}
	for _, s := range steps {
		if _, err := run("ip", s...); err != nil {
			return nil, err
		}
	}
	return h, waitForwarding(n.id, veth)
}

// Name is the name the host was added with.
func (h *Host) Name() string { return h.name }

// IP is the host's IPv4 address on eth0.
func (h *Host) IP() string { return h.ip }

// Namespace is the name of the host's network namespace (as in
// `ip netns exec NAME ...` or `ip -n NAME ...`).
func (h *Host) Namespace() string { return h.ns }

// Command returns an exec.Cmd that runs the program inside the host's
// namespace: `ip netns exec NS name args...`. `ip netns exec` (iproute2)
// enters the namespace and then calls execvp without forking, so
// cmd.Process.Pid is the program's own pid and signals (cmd.Process.Kill,
// SIGSTOP) reach the program itself; the package's tests check this. name is
// looked up in $PATH by `ip`, so an absolute path is safest. Processes still
// running in the host when the net is removed are killed.
//
// `ip netns exec` also gives the program a mount namespace of its own (to
// remount /sys). A program that builds nets of its own inside the host
// should rather be started with `nsenter --net=/run/netns/NS`: namespaces it
// made under `ip netns exec` would be mounted out of Sweep's sight, should
// it be killed.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
}

// Enter is Command without a mount namespace of its own: `nsenter
// --net=/run/netns/NS name args...`, for a program that makes network
// namespaces of its own (a berth agent running pods) that others, such as
// containerd, must see.
func (h *Host) Enter(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/run/netns/" + h.ns, name}, args...)...)
}

// Isolate drops every packet between the host and everyone else, the other
// hosts and the root namespace, in both directions: rules at the top of the
// host's own INPUT and OUTPUT chains drop everything but lo's traffic,
// established connections included. Packets the host sends fail at once
// (EPERM); packets sent to it vanish. Hosts have no IPv6 addresses, so
// nothing gets around the IPv4 rules; ARP, below IP, still passes but carries
// nothing. Isolating an isolated host does nothing.
func (h *Host) Isolate() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	have, err := rules(h.ns, isolateComment)
	if err != nil {
		return fmt.Errorf("testnet: isolate %s: %w", h.name, err)
	}
	drop := []string{"-m", "comment", "--comment", isolateComment, "-j", "DROP"}
	for _, r := range [][]string{
		append([]string{"INPUT", "!", "-i", "lo"}, drop...),
		append([]string{"OUTPUT", "!", "-o", "lo"}, drop...),
	} {
		if slices.ContainsFunc(have, func(x []string) bool { return x[0] == r[0] }) {
			continue
		}
		if _, err := iptables(h.ns, append([]string{"-I", r[0], "1"}, r[1:]...)...); err != nil {
			return fmt.Errorf("testnet: isolate %s: %w", h.name, err)
		}
	}
	return nil
}

// DropFrom drops every packet that arrives at the host from the given
// addresses (other hosts'), TCP and UDP alike, established connections
// included; what the host sends them still leaves. Calling it on both sides
// of a cut makes a partition; on one side only, a one-way fault. The root
// namespace (the bridge IP) stays reachable unless named. Dropping an
// address already dropped does nothing.
func (h *Host) DropFrom(ips ...string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	have, err := rules(h.ns, isolateComment)
	if err != nil {
		return fmt.Errorf("testnet: drop at %s: %w", h.name, err)
	}
	for _, ip := range ips {
		if net.ParseIP(ip).To4() == nil {
			return fmt.Errorf("testnet: drop at %s: %q is not an IPv4 address", h.name, ip)
		}
		src := ip + "/32"
		if slices.ContainsFunc(have, func(r []string) bool { return slices.Contains(r, src) }) {
			continue
		}
		if _, err := iptables(h.ns, "-I", "INPUT", "1", "-s", src, "-m", "comment", "--comment", isolateComment, "-j", "DROP"); err != nil {
			return fmt.Errorf("testnet: drop at %s: %w", h.name, err)
		}
	}
	return nil
}

// Heal removes what Isolate and DropFrom added; healing a host that is not
// cut off does nothing.
func (h *Host) Heal() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	have, err := rules(h.ns, isolateComment)
	if err != nil {
		return fmt.Errorf("testnet: heal %s: %w", h.name, err)
	}
	for _, r := range have {
		if _, err := iptables(h.ns, append([]string{"-D"}, r...)...); err != nil {
			return fmt.Errorf("testnet: heal %s: %w", h.name, err)
		}
	}
	return nil
}

// Sweep removes the leftovers of nets whose creating process is gone (after
// a kill -9 of a test binary, say): processes in their namespaces,
// namespaces, veths, bridges, iptables rules and state files. A net's owner
// holds an flock on /run/berth-testnet/ID.lock while the net lives, and the
// kernel drops it when the process dies, however it dies: Sweep removes only
// nets whose lock it can take (or that have no lock file), so it never
// touches the net of a test still running, in this process or another.
// When another Sweep is removing a dead net at the same time, it waits for
// it: on return, every dead net seen at the start is gone, or the error
// says what is left.
func Sweep() error {
	// Killing the processes of a dead net may orphan a net that one of them
	// owned (a test may nest a net in a host): sweep again while a pass
	// finds work.
	var errs []error
	for range 4 {
		removed, err := sweepOnce()
		if err != nil {
			errs = append(errs, err)
		}
		if removed == 0 {
			break
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("testnet: sweep: %w", err)
	}
	return nil
}

// sweepOnce removes the dead nets it finds and says how many.
func sweepOnce() (removed int, err error) {
	// Objects first, locks second: an owner makes its lock file before
	// anything else and removes it after everything else, so an object seen
	// here without a lock file afterwards has no owner any more.
	found, err := listAll()
	if err != nil {
		return 0, err
	}
	ids := make(map[string]bool)
	for id := range found {
		ids[id] = true
	}
	entries, err := os.ReadDir(stateDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".lock"); ok && idRE.MatchString(id) {
			ids[id] = true
		} else if strings.HasPrefix(e.Name(), ".new-") {
			sweepTemp(filepath.Join(stateDir, e.Name()))
		}
	}
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		lock, live, err := claim(id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if live {
			continue
		}
		removed++
		if err := remove(id); err != nil {
			errs = append(errs, fmt.Errorf("net %s: %w", id, err))
		}
		if err := os.Remove(lockPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		if lock != nil {
			lock.Close()
		}
	}
	return removed, errors.Join(errs...)
}

// register makes the net's lock file and takes its lock before the net has
// anything to sweep. The file is locked under a temporary name and linked to
// its final one, so no sweeper ever sees it unlocked; the link fails when the
// ID is taken, and another is drawn.
func register() (n *Net, err error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(stateDir, ".new-")
	if err != nil {
		return nil, err
	}
	defer func() {
		os.Remove(f.Name())
		if n == nil {
			f.Close()
		}
	}()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	// For people, and for Sweep to tell a dead owner from a live one.
	if _, err := fmt.Fprintf(f, "pid %d\n", os.Getpid()); err != nil {
		return nil, err
	}
	for range 8 {
		b := make([]byte, 3)
		_, _ = rand.Read(b) // never fails
		id := "bt" + hex.EncodeToString(b)
		switch err := os.Link(f.Name(), lockPath(id)); {
		case err == nil:
			return &Net{id: id, lock: f, hosts: make(map[string]*Host)}, nil
		case !errors.Is(err, fs.ErrExist):
			return nil, err
		}
	}
	return nil, errors.New("no free net ID after 8 draws")
}

// setup makes the bridge, gives it a free /24 and accepts its traffic.
func (n *Net) setup() error {
	for _, s := range [][]string{
		{"link", "add", n.id, "type", "bridge"},
		{"link", "set", n.id, "addrgenmode", "none"},
		{"link", "set", n.id, "up"},
	} {
		if _, err := run("ip", s...); err != nil {
			return err
		}
	}
	if err := n.pickPrefix(); err != nil {
		return err
	}
	accept := []string{"-m", "comment", "--comment", ruleComment + n.id, "-j", "ACCEPT"}
	for _, r := range [][]string{
		append([]string{"FORWARD", "-i", n.id}, accept...),
		append([]string{"FORWARD", "-o", n.id}, accept...),
		append([]string{"INPUT", "-i", n.id}, accept...),
	} {
		if _, err := iptables("", append([]string{"-I", r[0], "1"}, r[1:]...)...); err != nil {
			return err
		}
	}
	// Traffic between hosts is bridged, and with br_netfilter on it would
	// fill the root namespace's connection tracking, which the whole
	// machine shares (a benchmark's hundred thousand connections did):
	// the root namespace does not track what only crosses the bridge.
	if _, err := iptables("", "-I", "PREROUTING", "1", "-i", n.id, "!", "-d", n.BridgeIP()+"/32",
		"-m", "comment", "--comment", ruleComment+n.id, "-j", "NOTRACK", "-t", "raw"); err != nil {
		return err
	}
	return nil
}

// pickPrefix draws /24s until one is free, and puts its .1 on the bridge.
// Two processes may draw the same /24 at the same moment: each checks again
// after adding its address, so at least one of them sees the other's and
// draws again.
func (n *Net) pickPrefix() error {
	for range 32 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(200 + mrand.IntN(51)), byte(mrand.IntN(256)), 0}), 24)
		used, err := inUse(p, "")
		if err != nil {
			return err
		}
		if used {
			continue
		}
		addr := p.Addr().Next().String() + "/24"
		if _, err := run("ip", "addr", "add", addr, "dev", n.id); err != nil {
			return err
		}
		if used, err = inUse(p, n.id); err != nil {
			return err
		}
		if !used {
			n.prefix = p
			return nil
		}
		if _, err := run("ip", "addr", "del", addr, "dev", n.id); err != nil {
			return err
		}
	}
	return errors.New("no free /24 in 10.200.0.0/16–10.250.0.0/16 after 32 draws")
}

// routeTypes are the words `ip route` may print before a route's destination.
var routeTypes = map[string]bool{
	"unicast": true, "local": true, "broadcast": true, "multicast": true, "throw": true,
	"unreachable": true, "prohibit": true, "blackhole": true, "nat": true, "anycast": true,
}

// inUse reports whether a route (default routes aside) or an address of
// the root namespace overlaps p, not counting those on the device self.
func inUse(p netip.Prefix, self string) (bool, error) {
	out, err := run("ip", "-4", "-o", "route", "show", "table", "all")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && routeTypes[f[0]] {
			f = f[1:]
		}
		if len(f) == 0 || f[0] == "default" {
			continue
		}
		dst, err := parsePrefix(f[0])
		if err != nil || dst.Bits() == 0 || !dst.Overlaps(p) {
			continue
		}
		if i := slices.Index(f, "dev"); i >= 0 && i+1 < len(f) && f[i+1] == self {
			continue
		}
		return true, nil
	}
	out, err = run("ip", "-4", "-o", "addr", "show")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(out, "\n") {
		// 5: eth0    inet 10.0.0.2/24 brd 10.0.0.255 scope global eth0 ...
		f := strings.Fields(line)
		if len(f) < 4 || f[2] != "inet" || f[1] == self {
			continue
		}
		if a, err := netip.ParsePrefix(f[3]); err == nil && p.Contains(a.Addr()) {
			return true, nil
		}
	}
	return false, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// nthAddr is the i-th address of p (p itself is the 0th).
func nthAddr(p netip.Prefix, i int) string {
	a := p.Addr().As4()
	a[3] += byte(i)
	return netip.AddrFrom4(a).String()
}

// waitForwarding waits until the bridge port veth forwards and the bridge is
// up, so that the first packet a test sends is not lost: the kernel brings
// a bridge's transmit queue up when its link watcher marks it up, and that
// may take a second after its first port. It asks `ip`, not /sys, which
// shows the namespace of whoever mounted it.
func waitForwarding(bridge, veth string) error {
	deadline := time.Now().Add(upTimeout)
	for {
		port, portErr := linkState(veth)
		br, brErr := linkState(bridge)
		if port.OperState == "UP" && port.LinkInfo.SlaveData.State == "forwarding" && br.OperState == "UP" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not forward after %v (port %+v %v, bridge %+v %v)",
				veth, upTimeout, port, portErr, br, brErr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// link is what waitForwarding reads of `ip -d -j link show`.
type link struct {
	OperState string `json:"operstate"`
	LinkInfo  struct {
		SlaveData struct {
			State string `json:"state"`
		} `json:"info_slave_data"`
	} `json:"linkinfo"`
}

func linkState(name string) (link, error) {
	out, err := run("ip", "-d", "-j", "link", "show", "dev", name)
	if err != nil {
		return link{}, err
	}
	var ls []link
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 1 {
		return link{}, fmt.Errorf("ip link show %s: %q: %v", name, out, err)
	}
	return ls[0], nil
}

// close removes the net and then its lock file, in that order (see Sweep).
func (n *Net) close() error {
	err := remove(n.id)
	if rmErr := os.Remove(lockPath(n.id)); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
		err = errors.Join(err, rmErr)
	}
	n.lock.Close()
	return err
}

func lockPath(id string) string { return filepath.Join(stateDir, id+".lock") }

// claim takes the lock of net id for its removal; live is true when the
// net's owner runs. A lock held while the owner's pid is gone is another
// sweeper's, at work on the same net: claim waits for it (up to sweepWait),
// so that when Sweep returns, the nets of dead owners are gone whoever
// removed them. The lock alone decides what is removed; the pid only decides
// whether to wait.
func claim(id string) (lock *os.File, live bool, err error) {
	path := lockPath(id)
	deadline := time.Now().Add(sweepWait)
	for {
		lock, live, err := tryLock(path)
		if err != nil || !live || ownerAlive(path) {
			return lock, live, err
		}
		if time.Now().After(deadline) {
			return nil, true, fmt.Errorf("%s is still locked after %v, and its owner is gone", path, sweepWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ownerAlive reports whether the pid written in a lock file runs; when in
// doubt, it says yes.
func ownerAlive(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	var pid int
	if _, err := fmt.Sscanf(string(b), "pid %d", &pid); err != nil || pid <= 0 {
		return true
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// tryLock takes the lock of a net's lock file. live is true when another
// open file holds it; lock is nil when there is no file.
func tryLock(path string) (lock *os.File, live bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); {
	case err == nil:
		return f, false, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		f.Close()
		return nil, true, nil
	default:
		f.Close()
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
}

// sweepTemp removes a lock file that never got its final name, once it is
// unlocked and old enough not to be in the middle of register.
func sweepTemp(path string) {
	lock, live, err := tryLock(path)
	if err != nil || live || lock == nil {
		return
	}
	defer lock.Close()
	if st, err := lock.Stat(); err == nil && time.Since(st.ModTime()) > 10*time.Second {
		os.Remove(path)
	}
}

// leftovers are the objects of one net found on the machine.
type leftovers struct {
	namespaces []string
	links      []string   // veths first, the bridge last
	rules      [][]string // iptables -S fields without "-A"
}

func (l *leftovers) empty() bool {
	return l == nil || len(l.namespaces)+len(l.links)+len(l.rules) == 0
}

func (l *leftovers) String() string {
	var parts []string
	for _, ns := range l.namespaces {
		parts = append(parts, "namespace "+ns)
	}
	for _, link := range l.links {
		parts = append(parts, "link "+link)
	}
	for _, r := range l.rules {
		parts = append(parts, "rule "+strings.Join(r, " "))
	}
	return strings.Join(parts, ", ")
}

// listAll finds the objects of every net on the machine, by name and by
// iptables comment, keyed by net ID.
func listAll() (map[string]*leftovers, error) {
	found := make(map[string]*leftovers)
	of := func(id string) *leftovers {
		if found[id] == nil {
			found[id] = &leftovers{}
		}
		return found[id]
	}
	out, err := run("ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line) // "bt0a1b2c-a (id: 3)"
		if len(f) == 0 {
			continue
		}
		if id, _, ok := strings.Cut(f[0], "-"); ok && idRE.MatchString(id) {
			of(id).namespaces = append(of(id).namespaces, f[0])
		}
	}
	out, err = run("ip", "-o", "link", "show")
	if err != nil {
		return nil, err
	}
	var bridges []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line) // "7: bt0a1b2ch1@if2: <BROADCAST,..."
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if idRE.MatchString(name) {
			bridges = append(bridges, name)
		} else if m := vethRE.FindStringSubmatch(name); m != nil {
			of(m[1]).links = append(of(m[1]).links, name)
		}
	}
	for _, br := range bridges { // after the veths: removed last
		of(br).links = append(of(br).links, br)
	}
	rs, err := rules("", ruleComment)
	if err != nil {
		return nil, err
	}
	raw, err := tableRules("", "raw", ruleComment)
	if err != nil {
		return nil, err
	}
	rs = append(rs, raw...)
	for _, r := range rs {
		if i := slices.Index(r, "--comment"); i >= 0 && i+1 < len(r) {
			if id, ok := strings.CutPrefix(r[i+1], ruleComment); ok && idRE.MatchString(id) {
				of(id).rules = append(of(id).rules, r)
			}
		}
	}
	return found, nil
}

// remove removes every object of the net id: it kills the processes in its
// namespaces, deletes veths, namespaces, rules and the bridge. Objects that
// vanish meanwhile (another sweeper, say) are no error; only what is left at
// the end is.
func remove(id string) error {
	all, err := listAll()
	if err != nil {
		return err
	}
	l := all[id]
	if l.empty() {
		return nil
	}
	var errs []error
	var pids []int
	for _, ns := range l.namespaces {
		out, err := run("ip", "netns", "pids", ns)
		if err != nil {
			errs = append(errs, err)
		}
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && syscall.Kill(pid, syscall.SIGKILL) == nil {
				pids = append(pids, pid)
			}
		}
	}
	// Their deaths free their own nets' locks (a test may nest a net in a
	// host), for Sweep's next pass.
	if err := waitDead(pids); err != nil {
		errs = append(errs, err)
	}
	for _, link := range l.links {
		if _, err := run("ip", "link", "del", link); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ns := range l.namespaces {
		if _, err := run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range l.rules {
		if _, err := iptables("", append([]string{"-D"}, r...)...); err != nil {
			errs = append(errs, err)
		}
	}
	all, err = listAll()
	if err != nil {
		return err
	}
	if left := all[id]; !left.empty() {
		return errors.Join(append([]error{fmt.Errorf("left behind: %s", left)}, errs...)...)
	}
	return nil
}

// waitDead waits until the processes have died (zombies count: their
// parents reap them).
func waitDead(pids []int) error {
	deadline := time.Now().Add(upTimeout)
	for _, pid := range pids {
		for !dead(pid) {
			if time.Now().After(deadline) {
				return fmt.Errorf("process %d still runs %v after SIGKILL", pid, upTimeout)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

func dead(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// "PID (COMM) STATE ...": COMM may hold anything, STATE follows the last ')'.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

// rules returns the filter table's rules, in namespace ns ("" for the root
// one), whose comment starts with comment, as `iptables -S` fields without
// the leading "-A" and with quotes removed: ready for -D.
func rules(ns, comment string) ([][]string, error) { return tableRules(ns, "filter", comment) }

// tableRules is rules of another table; the fields of a rule not of the
// filter table end in "-t TABLE", which iptables takes after the rule.
func tableRules(ns, table, comment string) ([][]string, error) {
	out, err := iptables(ns, "-S", "-t", table)
	if err != nil {
		return nil, err
	}
	var rs [][]string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "-A" {
			continue
		}
		for i := range f {
			f[i] = strings.Trim(f[i], `"`)
		}
		if i := slices.Index(f, "--comment"); i >= 0 && i+1 < len(f) && strings.HasPrefix(f[i+1], comment) {
			if table != "filter" {
				f = append(f, "-t", table)
			}
			rs = append(rs, f[1:])
		}
	}
	return rs, nil
}

// iptables runs iptables on the filter table, in namespace ns ("" for the
// root one), waiting for the xtables lock if another holds it.
func iptables(ns string, args ...string) (string, error) {
	args = append([]string{"-w"}, args...)
	if ns == "" {
		return run("iptables", args...)
	}
	return run("ip", append([]string{"netns", "exec", ns, "iptables"}, args...)...)
}

// run runs a command and returns its standard output; its error carries the
// command line and standard error.
func run(name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.String(), nil
}
