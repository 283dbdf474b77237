package cni

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests change the host for real: they need root, ip, iptables,
// the CNI plugins and /bin/busybox. Each makes its own bridges in a
// random cluster range, checks that Purge leaves nothing of them, and
// talks only to loopback and to the namespaces it made.

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, p := range []string{"/usr/lib/cni/bridge", "/bin/busybox"} {
		if !exists(p) {
			t.Skipf("needs %s", p)
		}
	}
}

func randInt(t *testing.T, lo, hi int64) int64 {
	n, err := rand.Int(rand.Reader, big.NewInt(hi-lo+1))
	if err != nil {
		t.Fatal(err)
	}
	return lo + n.Int64()
}

func randHex(t *testing.T, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testCluster is a random 10.X.0.0/16 none of whose /24s the tests ask for
// is routed already.
type testCluster struct {
	t      *testing.T
	prefix netip.Prefix
	used   []netip.Prefix
}

func newCluster(t *testing.T) *testCluster {
	t.Helper()
	needRoot(t)
	for {
		p := netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/16", randInt(t, 100, 250)))
		if len(routedIn(t, p)) < 200 {
			return &testCluster{t: t, prefix: p, used: routedIn(t, p)}
		}
	}
}

// routedIn lists the routes of the host that overlap p.
func routedIn(t *testing.T, p netip.Prefix) []netip.Prefix {
	out, err := exec.Command("ip", "-j", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		t.Fatal(err)
	}
	var rs []struct{ Dst string }
	_ = json.Unmarshal(out, &rs)
	var in []netip.Prefix
	for _, r := range rs {
		if q, err := netip.ParsePrefix(r.Dst); err == nil && q.Overlaps(p) {
			in = append(in, q)
		} else if a, err := netip.ParseAddr(r.Dst); err == nil && p.Contains(a) {
			in = append(in, netip.PrefixFrom(a, 32))
		}
	}
	return in
}

// subnet picks a free subnet of the cluster, of the given size.
func (c *testCluster) subnet(bits int) netip.Prefix {
	for {
		b := c.prefix.Addr().As4()
		b[2] = byte(randInt(c.t, 0, 255))
		if bits > 24 {
			b[3] = byte(randInt(c.t, 0, 255))
		}
		p := netip.PrefixFrom(netip.AddrFrom4(b), bits).Masked()
		if !slices.ContainsFunc(c.used, p.Overlaps) {
			c.used = append(c.used, p)
			return p
		}
	}
}

// tlog routes the package's logs to the test's.
type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// node makes a Network ("node") with its own bridge and data dir, host
// rules in place, purged when the test ends, with a check that nothing of
// it is left.
func (c *testCluster) node(podCIDR netip.Prefix) *Network {
	t := c.t
	t.Helper()
	return newNode(t, "bt"+randHex(t, 3), podCIDR, c.prefix, t.TempDir())
}

func newNode(t *testing.T, br string, podCIDR, cluster netip.Prefix, dir string) *Network {
	t.Helper()
	nw, err := New(Config{Bridge: br, PodCIDR: podCIDR.String(), ClusterCIDR: cluster.String(), DataDir: dir,
		Logger: slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nw.Purge(context.Background()); err != nil {
			t.Errorf("purge: %v", err)
		}
		assertGone(t, br)
	})
	if err := nw.EnsureHost(context.Background()); err != nil {
		t.Fatal(err)
	}
	return nw
}

// assertGone checks that no bridge, namespace or iptables rule of br is
// left.
func assertGone(t *testing.T, br string) {
	t.Helper()
	if _, err := net.InterfaceByName(br); err == nil {
		t.Errorf("bridge %s left", br)
	}
	for _, table := range []string{"filter", "nat"} {
		out, _ := exec.Command("iptables", "-w", "-t", table, "-S").Output()
		if strings.Contains(string(out), `"berth:`+br+`"`) || strings.Contains(string(out), "berth:"+br+" ") {
			t.Errorf("rules of %s left in %s:\n%s", br, table, out)
		}
	}
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), br+"-") {
		t.Errorf("namespaces of %s left:\n%s", br, out)
	}
}

func podUID(t *testing.T) string {
	return randHex(t, 4) + "-" + randHex(t, 2) + "-" + randHex(t, 2) + "-" + randHex(t, 2) + "-" + randHex(t, 6)
}

func setup(t *testing.T, nw *Network, ports ...PortMapping) Sandbox {
	t.Helper()
	sb, err := nw.Setup(context.Background(), podUID(t), ports)
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// inPod runs busybox in the pod's namespace.
func inPod(sb Sandbox, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", filepath.Base(sb.NetNS), "/bin/busybox"}, args...)...)
}

// eventually retries f until it succeeds or 5 seconds pass.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func output(cmd *exec.Cmd) error {
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(cmd.Args, " "), err, out)
	}
	return nil
}

func ping(from *Sandbox, ip string) error {
	if from == nil {
		return output(exec.Command("/bin/busybox", "ping", "-c1", "-W1", ip))
	}
	return output(inPod(*from, "ping", "-c1", "-W1", ip))
}

// serve runs busybox httpd on port 80 of the pod, answering body.
func serve(t *testing.T, sb Sandbox, body string) {
	t.Helper()
	www := t.TempDir()
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := inPod(sb, "httpd", "-f", "-p", "80", "-h", www)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
}

func httpGet(url string) (string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func wantBody(url, want string) func() error {
	return func() error {
		got, err := httpGet(url)
		if err == nil && got != want {
			err = fmt.Errorf("got %q, want %q", got, want)
		}
		return err
	}
}

// gateway is the bridge's address: the first of the pod subnet.
func gateway(nw *Network) string { return nw.podNet.Addr().Next().String() }

func TestPodsOnOneNode(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	nw := c.node(c.subnet(24))
	ctx := context.Background()
	p1, p2 := setup(t, nw), setup(t, nw)
	for _, sb := range []Sandbox{p1, p2} {
		if a, err := netip.ParseAddr(sb.IP); err != nil || !nw.podNet.Contains(a) || a.String() == gateway(nw) {
			t.Fatalf("pod address %q not in %s", sb.IP, nw.podNet)
		}
		out, err := inPod(sb, "ip", "-4", "addr", "show", "eth0").CombinedOutput()
		if err != nil || !strings.Contains(string(out), sb.IP+"/24") {
			t.Fatalf("eth0 of %s: %v %s", sb.PodUID, err, out)
		}
		out, err = inPod(sb, "ip", "route", "show", "default").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "via "+gateway(nw)) {
			t.Fatalf("default route of %s: %v %q", sb.PodUID, err, out)
		}
		eventually(t, "loopback in the pod", func() error { return ping(&sb, "127.0.0.1") })
	}
	if p1.IP == p2.IP {
		t.Fatalf("two pods with %s", p1.IP)
	}
	eventually(t, "pod 1 to pod 2", func() error { return ping(&p1, p2.IP) })
	eventually(t, "pod 2 to pod 1", func() error { return ping(&p2, p1.IP) })
	eventually(t, "host to pod 1", func() error { return ping(nil, p1.IP) })
	serve(t, p2, "two\n")
	eventually(t, "pod 1 to pod 2's httpd", func() error { return output(inPod(p1, "wget", "-qO-", "http://"+p2.IP+"/")) })
	eventually(t, "host to pod 2's httpd", wantBody("http://"+p2.IP+"/", "two\n"))

	// Setup again: the same sandbox.
	again, err := nw.Setup(ctx, p1.PodUID, nil)
	if err != nil || again.IP != p1.IP || again.NetNS != p1.NetNS {
		t.Fatalf("second Setup: %+v %v, first %+v", again, err, p1)
	}
	sbs, err := nw.Sandboxes()
	if err != nil || len(sbs) != 2 {
		t.Fatalf("sandboxes: %+v %v", sbs, err)
	}
	// A restarted agent finds its pods.
	nw2, err := New(Config{Bridge: nw.cfg.Bridge, PodCIDR: nw.cfg.PodCIDR, ClusterCIDR: nw.cfg.ClusterCIDR, DataDir: nw.cfg.DataDir, Logger: nw.cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := nw2.Setup(ctx, p2.PodUID, nil); err != nil || again.IP != p2.IP {
		t.Fatalf("Setup after a restart: %+v %v, first %+v", again, err, p2)
	}
	// Teardown twice.
	for range 2 {
		if err := nw.Teardown(ctx, p1.PodUID); err != nil {
			t.Fatal(err)
		}
	}
	if exists(p1.NetNS) {
		t.Fatal("namespace left after Teardown")
	}
	if sbs, _ := nw.Sandboxes(); len(sbs) != 1 || sbs[0].PodUID != p2.PodUID {
		t.Fatalf("sandboxes after a teardown: %+v", sbs)
	}
	if err := nw.Teardown(ctx, podUID(t)); err != nil {
		t.Fatalf("Teardown of a pod never set up: %v", err)
	}
}

func TestPodsOnTwoNodes(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	a, b := c.node(c.subnet(24)), c.node(c.subnet(24))
	ctx := context.Background()
	pa, pb := setup(t, a), setup(t, b)
	// Both nodes on this machine: no route is needed, none is made.
	if err := a.SetRoutes(ctx, []Route{{CIDR: b.cfg.PodCIDR, Via: "127.0.0.1"}, {CIDR: a.cfg.PodCIDR, Via: "10.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.SetRoutes(ctx, []Route{{CIDR: a.cfg.PodCIDR, Via: gateway(a)}}); err != nil {
		t.Fatal(err)
	}
	if rs := protoRoutes(t); slices.Contains(rs, a.cfg.PodCIDR) || slices.Contains(rs, b.cfg.PodCIDR) {
		t.Fatalf("routes made for local nodes: %v", rs)
	}
	eventually(t, "pod on a to pod on b", func() error { return ping(&pa, pb.IP) })
	eventually(t, "pod on b to pod on a", func() error { return ping(&pb, pa.IP) })
	serve(t, pb, "b\n")
	eventually(t, "pod on a to b's httpd", func() error { return output(inPod(pa, "wget", "-qO-", "http://"+pb.IP+"/")) })

	// A third node's subnet via an address on a's bridge (no such host:
	// the route is only looked at), then not any more.
	far := c.subnet(24).String()
	via := a.podNet.Addr().As4()
	via[3] = 250
	if err := a.SetRoutes(ctx, []Route{{CIDR: far, Via: netip.AddrFrom4(via).String()}}); err != nil {
		t.Fatal(err)
	}
	if rs := protoRoutes(t); !slices.Contains(rs, far) {
		t.Fatalf("no route to %s: %v", far, rs)
	}
	if err := a.SetRoutes(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if rs := protoRoutes(t); slices.Contains(rs, far) {
		t.Fatalf("route to %s left: %v", far, rs)
	}
	// Purge removes the routes too.
	if err := a.SetRoutes(ctx, []Route{{CIDR: far, Via: netip.AddrFrom4(via).String()}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if rs := protoRoutes(t); slices.Contains(rs, far) {
		t.Fatalf("route to %s left after Purge: %v", far, rs)
	}
}

func protoRoutes(t *testing.T) []string {
	rs, err := ourRoutes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func freePort(t *testing.T) int32 {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return int32(l.Addr().(*net.TCPAddr).Port)
}

func TestHostPort(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	nw := c.node(c.subnet(24))
	port := freePort(t)
	web := setup(t, nw, PortMapping{HostPort: port, ContainerPort: 80, Protocol: "TCP"})
	other := setup(t, nw)
	serve(t, web, "hi\n")
	for _, host := range []string{"127.0.0.1", gateway(nw)} {
		url := "http://" + net.JoinHostPort(host, strconv.Itoa(int(port))) + "/"
		eventually(t, "host to "+url, wantBody(url, "hi\n"))
	}
	eventually(t, "another pod to the host port", func() error {
		return output(inPod(other, "wget", "-qO-", fmt.Sprintf("http://%s:%d/", gateway(nw), port)))
	})
	eventually(t, "the pod to its own host port", func() error {
		return output(inPod(web, "wget", "-qO-", fmt.Sprintf("http://%s:%d/", gateway(nw), port)))
	})
	if err := nw.Teardown(context.Background(), web.PodUID); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("iptables", "-w", "-t", "nat", "-S").Output(); strings.Contains(string(out), fmt.Sprintf("--dport %d ", port)) {
		t.Fatalf("port %d still mapped after Teardown:\n%s", port, out)
	}
}

// A /30 has one address for pods: a second pod fails (and leaves nothing),
// and gets it once the first is gone.
func TestLeaseReleased(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	nw := c.node(c.subnet(30))
	ctx := context.Background()
	first := setup(t, nw, PortMapping{HostPort: freePort(t), ContainerPort: 80})
	second := podUID(t)
	if sb, err := nw.Setup(ctx, second, nil); err == nil {
		t.Fatalf("a second pod in a /30: %+v", sb)
	}
	if exists(filepath.Join(netnsDir, nw.netnsName(second))) || exists(nw.recordPath(second)) {
		t.Fatal("a failed Setup left its namespace or record")
	}
	if err := nw.Teardown(ctx, first.PodUID); err != nil {
		t.Fatal(err)
	}
	sb, err := nw.Setup(ctx, second, nil)
	if err != nil || sb.IP != first.IP {
		t.Fatalf("after the teardown: %+v %v, want %s", sb, err, first.IP)
	}
}

// Teardown and Setup when a part of the sandbox is gone.
func TestHalfGone(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	nw := c.node(c.subnet(24))
	ctx := context.Background()
	port := freePort(t)
	sb := setup(t, nw, PortMapping{HostPort: port, ContainerPort: 80, Protocol: "udp"})
	// The namespace is gone: Setup makes a new one.
	if err := exec.Command("ip", "netns", "delete", filepath.Base(sb.NetNS)).Run(); err != nil {
		t.Fatal(err)
	}
	sb2, err := nw.Setup(ctx, sb.PodUID, sb.Ports)
	if err != nil || !exists(sb2.NetNS) {
		t.Fatalf("Setup without the namespace: %+v %v", sb2, err)
	}
	eventually(t, "host to the new pod", func() error { return ping(nil, sb2.IP) })
	// The record is gone: Teardown still releases the address and ports.
	if err := os.Remove(nw.recordPath(sb.PodUID)); err != nil {
		t.Fatal(err)
	}
	if err := nw.Teardown(ctx, sb.PodUID); err != nil {
		t.Fatal(err)
	}
	if exists(sb2.NetNS) {
		t.Fatal("namespace left")
	}
	if exists(filepath.Join(nw.cfg.DataDir, "ipam", nw.netName(), sb2.IP)) {
		t.Fatal("lease left")
	}
	if out, _ := exec.Command("iptables", "-w", "-t", "nat", "-S").Output(); strings.Contains(string(out), fmt.Sprintf("--dport %d ", port)) {
		t.Fatalf("port %d still mapped:\n%s", port, out)
	}
	// Purge finds a namespace that has neither record nor lease.
	stray := nw.netnsName(podUID(t))
	if err := exec.Command("ip", "netns", "add", stray).Run(); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentSetups(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	nw := c.node(c.subnet(24))
	const n = 6
	var wg sync.WaitGroup
	sbs := make([]Sandbox, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { sbs[i], errs[i] = nw.Setup(context.Background(), podUID(t), nil) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	ips := map[string]bool{}
	for _, sb := range sbs {
		ips[sb.IP] = true
	}
	if len(ips) != n {
		t.Fatalf("addresses %v", sbs)
	}
	for i := range n {
		wg.Go(func() { errs[i] = nw.Teardown(context.Background(), sbs[i].PodUID) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// EnsureHost twice makes the rules once, at the top of FORWARD; with a new
// pod subnet it replaces the masquerade rule.
func TestEnsureHost(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	nw := c.node(c.subnet(24))
	ctx := context.Background()
	if err := nw.EnsureHost(ctx); err != nil {
		t.Fatal(err)
	}
	count := func(table, chain string) int {
		rs, err := nw.ourRules(ctx, table, chain)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	if f, p := count("filter", "FORWARD"), count("nat", "POSTROUTING"); f != 2 || p != 1 {
		t.Fatalf("%d FORWARD and %d POSTROUTING rules, want 2 and 1", f, p)
	}
	nw2, err := New(Config{Bridge: nw.cfg.Bridge, PodCIDR: c.subnet(24).String(), ClusterCIDR: nw.cfg.ClusterCIDR, DataDir: t.TempDir(), Logger: nw.cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := nw2.EnsureHost(ctx); err != nil {
		t.Fatal(err)
	}
	rs, _ := nw.ourRules(ctx, "nat", "POSTROUTING")
	if len(rs) != 1 || !slices.Contains(rs[0].spec, nw2.cfg.PodCIDR) {
		t.Fatalf("masquerade rules %v, want one for %s", rs, nw2.cfg.PodCIDR)
	}
}

func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []Config{
		{Bridge: "this-name-is-too-long", PodCIDR: "10.1.1.0/24", ClusterCIDR: "10.1.0.0/16", DataDir: dir},
		{Bridge: "", PodCIDR: "10.1.1.0/24", ClusterCIDR: "10.1.0.0/16", DataDir: dir},
		{Bridge: "b r", PodCIDR: "10.1.1.0/24", ClusterCIDR: "10.1.0.0/16", DataDir: dir},
		{Bridge: "b", PodCIDR: "nope", ClusterCIDR: "10.1.0.0/16", DataDir: dir},
		{Bridge: "b", PodCIDR: "10.1.1.0/24", ClusterCIDR: "fd00::/8", DataDir: dir},
		{Bridge: "b", PodCIDR: "10.1.1.0/24", ClusterCIDR: "10.1.0.0/16"},
	} {
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", c, err)
		}
	}
}

func TestSplitRule(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`-A FORWARD -i br0 -m comment --comment "berth:br0" -j ACCEPT`,
			[]string{"-A", "FORWARD", "-i", "br0", "-m", "comment", "--comment", "berth:br0", "-j", "ACCEPT"}},
		{`-A X -m comment --comment "two words" -j RETURN`, []string{"-A", "X", "-m", "comment", "--comment", "two words", "-j", "RETURN"}},
		{`-A X  -j  DROP `, []string{"-A", "X", "-j", "DROP"}},
		{`-A X --comment ""`, []string{"-A", "X", "--comment", ""}},
	} {
		if got := splitRule(c.in); !slices.Equal(got, c.want) {
			t.Errorf("splitRule(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
