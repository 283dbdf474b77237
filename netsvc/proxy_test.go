package netsvc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"golang.org/x/sys/unix"
)

// inNetns runs f on a thread inside a new network namespace of the test's
// own (removed at the end): the sockets f makes and the commands it runs
// (the proxy's iptables) live there.
func inNetns(t testing.TB, f func()) {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := "bsvct-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", name).Run() })
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The thread is never given back: it dies with the goroutine,
		// since it stays in the test's namespace.
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Errorf("open netns: %v", err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			t.Errorf("setns: %v", err)
			return
		}
		f()
	}()
	<-done
}

func must(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// podsNet gives the namespace the addresses (/24) on a veth, lo up, and a
// default route through it: local "pods" to balance over.
func podsNet(t testing.TB, addrs ...string) {
	t.Helper()
	must(t, "ip", "link", "set", "lo", "up")
	must(t, "ip", "link", "add", "pods", "type", "veth", "peer", "name", "pods2")
	must(t, "ip", "link", "set", "pods2", "up")
	must(t, "ip", "link", "set", "pods", "up")
	for _, a := range addrs {
		must(t, "ip", "addr", "add", a+"/24", "dev", "pods")
	}
	must(t, "ip", "route", "add", "default", "dev", "pods")
}

// serve answers every connection with name.
func serve(t *testing.T, addr, name string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(c, name)
			c.Close()
		}
	}()
}

func fetch(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

func svcState(eps ...string) *State {
	s := &State{
		Services: map[string]*api.Service{"default/web": {Metadata: api.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: api.ServiceSpec{Type: api.ServiceTypeNodePort, ClusterIP: "10.96.0.10",
				Ports: []api.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, NodePort: 30080}}}}},
		Endpoints: map[string]*api.Endpoints{},
	}
	var addrs []api.EndpointAddress
	for _, ip := range eps {
		addrs = append(addrs, api.EndpointAddress{IP: ip})
	}
	s.Endpoints["default/web"] = &api.Endpoints{Subsets: []api.EndpointSubset{{Addresses: addrs,
		NotReadyAddresses: []api.EndpointAddress{{IP: "10.77.0.9"}},
		Ports:             []api.EndpointPort{{Name: "http", Port: 8080, Protocol: "TCP"}}}}}
	return s
}

// The proxy's rules in a real kernel: the virtual IP and the node port
// spread connections over every ready endpoint and never to a not-ready
// one, a port with no endpoint refuses at once, an update moves new
// connections, and Close leaves no chain or rule.
func TestProxyKernel(t *testing.T) {
	inNetns(t, func() {
		podsNet(t, "10.77.0.2", "10.77.0.3", "10.77.0.4", "10.77.0.9")
		for _, ip := range []string{"10.77.0.2", "10.77.0.3", "10.77.0.4", "10.77.0.9"} {
			serve(t, ip+":8080", ip)
		}
		ctx := context.Background()
		p, err := NewProxy(ProxyConfig{Tag: "t1", PodSubnet: "10.77.0.0/24"})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		closed := false
		defer func() {
			if !closed {
				p.Close(ctx)
			}
		}()
		if err := p.Update(ctx, svcState("10.77.0.2", "10.77.0.3", "10.77.0.4")); err != nil {
			t.Fatal(err)
		}
		for _, addr := range []string{"10.96.0.10:80", "10.77.0.2:30080"} {
			hits := map[string]int{}
			for range 150 {
				got, err := fetch(addr)
				if err != nil {
					t.Fatalf("%s: %v", addr, err)
				}
				hits[got]++
			}
			t.Logf("%s: %v", addr, hits)
			for _, ip := range []string{"10.77.0.2", "10.77.0.3", "10.77.0.4"} {
				if hits[ip] < 20 {
					t.Errorf("%s: endpoint %s got %d of 150", addr, ip, hits[ip])
				}
			}
			if hits["10.77.0.9"] != 0 {
				t.Errorf("%s: the not-ready endpoint got %d", addr, hits["10.77.0.9"])
			}
		}
		// ClientIP affinity: every connection of this client goes to
		// the endpoint its first one went to.
		aff := svcState("10.77.0.2", "10.77.0.3", "10.77.0.4")
		aff.Services["default/web"].Spec.SessionAffinity = api.SessionAffinityClientIP
		if err := p.Update(ctx, aff); err != nil {
			t.Fatal(err)
		}
		first, err := fetch("10.96.0.10:80")
		if err != nil {
			t.Fatal(err)
		}
		for range 30 {
			if got, err := fetch("10.96.0.10:80"); err != nil || got != first {
				t.Fatalf("with ClientIP affinity: %q (%v) after %q", got, err, first)
			}
		}
		// One endpoint left: every connection goes there.
		if err := p.Update(ctx, svcState("10.77.0.3")); err != nil {
			t.Fatal(err)
		}
		for range 20 {
			if got, err := fetch("10.96.0.10:80"); err != nil || got != "10.77.0.3" {
				t.Fatalf("after the update: %q, %v", got, err)
			}
		}
		// None: refused at once, not a timeout.
		if err := p.Update(ctx, svcState()); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = fetch("10.96.0.10:80")
		if !errors.Is(err, syscall.ECONNREFUSED) || time.Since(start) > time.Second {
			t.Errorf("no endpoint: %v after %v, want connection refused at once", err, time.Since(start))
		}
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
		closed = true
		for _, table := range []string{"nat", "filter"} {
			out, err := exec.Command("iptables-save", "-t", table).Output()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(out), p.cfg.Tag) {
				t.Errorf("after Close, %s still has:\n%s", table, out)
			}
		}
	})
}

func TestProxyRenderStable(t *testing.T) {
	p, err := NewProxy(ProxyConfig{Tag: "abc", PodSubnet: "10.77.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	a := p.render(svcState("10.77.0.2", "10.77.0.3")).text(nil)
	b := p.render(svcState("10.77.0.3", "10.77.0.2")).text(nil)
	if a != b {
		t.Errorf("the rules depend on the order of the endpoints:\n%s\n%s", a, b)
	}
	for _, want := range []string{"-A BSVC-abc -d 10.96.0.10/32 -p tcp -m tcp --dport 80", "--probability 0.5000000000", "DNAT --to-destination 10.77.0.3:8080", "--dport 30080"} {
		if !strings.Contains(a, want) {
			t.Errorf("rules lack %q:\n%s", want, a)
		}
	}
	if _, err := NewProxy(ProxyConfig{Tag: "waytoolongtag1", PodSubnet: "10.0.0.0/24"}); err == nil {
		t.Error("a 13-byte tag was taken")
	}
}

// serveUDP answers every datagram with name.
func serveUDP(t *testing.T, addr, name string) {
	t.Helper()
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 64)
		for {
			_, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo([]byte(name), from)
		}
	}()
}

// A UDP client keeps its flow (one source port): once its endpoint is no
// longer one, its next datagram goes to an endpoint that is, not to the
// old one by a stale conntrack entry.
func TestProxyUDPFlowsMove(t *testing.T) {
	inNetns(t, func() {
		podsNet(t, "10.77.0.2", "10.77.0.3", "10.77.0.9")
		serveUDP(t, "10.77.0.2:5353", "10.77.0.2")
		serveUDP(t, "10.77.0.3:5353", "10.77.0.3")
		ctx := context.Background()
		p, err := NewProxy(ProxyConfig{Tag: "u1", PodSubnet: "10.77.0.0/24"})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer p.Close(ctx)
		state := func(ips ...string) *State {
			var addrs []api.EndpointAddress
			for _, ip := range ips {
				addrs = append(addrs, api.EndpointAddress{IP: ip})
			}
			return &State{
				Services: map[string]*api.Service{"default/dns": {Metadata: api.ObjectMeta{Name: "dns", Namespace: "default"},
					Spec: api.ServiceSpec{ClusterIP: "10.96.0.53", Ports: []api.ServicePort{{Name: "dns", Protocol: "UDP", Port: 53}}}}},
				Endpoints: map[string]*api.Endpoints{"default/dns": {Subsets: []api.EndpointSubset{{Addresses: addrs,
					Ports: []api.EndpointPort{{Name: "dns", Port: 5353, Protocol: "UDP"}}}}}},
			}
		}
		if err := p.Update(ctx, state("10.77.0.2", "10.77.0.3")); err != nil {
			t.Fatal(err)
		}
		c, err := net.ListenPacket("udp4", "10.77.0.9:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		vip := &net.UDPAddr{IP: net.ParseIP("10.96.0.53"), Port: 53}
		ask := func() string {
			t.Helper()
			if _, err := c.WriteTo([]byte("?"), vip); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 64)
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			return string(buf[:n])
		}
		first := ask()
		for range 5 {
			if got := ask(); got != first {
				t.Fatalf("one flow answered by %s, then %s", first, got)
			}
		}
		other := map[string]string{"10.77.0.2": "10.77.0.3", "10.77.0.3": "10.77.0.2"}[first]
		if err := p.Update(ctx, state(other)); err != nil {
			t.Fatal(err)
		}
		if got := ask(); got != other {
			t.Errorf("after %s left the endpoints, the flow went on to %s, want %s", first, got, other)
		}
	})
}

// BenchmarkProxySync measures one change (an endpoint of one Service
// replaced) in a namespace with 1,000 Services of 3 endpoints each: the
// whole ruleset is rendered and written in one iptables-restore.
func BenchmarkProxySync(b *testing.B) {
	inNetns(b, func() {
		ctx := context.Background()
		p, err := NewProxy(ProxyConfig{Tag: "b1", PodSubnet: "10.77.0.0/24"})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Start(ctx); err != nil {
			b.Fatal(err)
		}
		defer p.Close(ctx)
		s := &State{Services: map[string]*api.Service{}, Endpoints: map[string]*api.Endpoints{}}
		for i := range 1000 {
			key := fmt.Sprintf("default/s%d", i)
			s.Services[key] = &api.Service{Spec: api.ServiceSpec{ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250+1),
				Ports: []api.ServicePort{{Protocol: "TCP", Port: 80}}}}
			s.Endpoints[key] = &api.Endpoints{Subsets: []api.EndpointSubset{{Addresses: []api.EndpointAddress{
				{IP: fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)}, {IP: fmt.Sprintf("10.2.%d.%d", i/250, i%250+1)}, {IP: fmt.Sprintf("10.3.%d.%d", i/250, i%250+1)}},
				Ports: []api.EndpointPort{{Port: 8080, Protocol: "TCP"}}}}}
		}
		start := time.Now()
		if err := p.Update(ctx, s); err != nil {
			b.Fatal(err)
		}
		b.Logf("first sync of 1,000 services: %v", time.Since(start))
		b.ResetTimer()
		for i := range b.N {
			eps := *s.Endpoints["default/s0"]
			eps.Subsets = []api.EndpointSubset{{Addresses: []api.EndpointAddress{{IP: fmt.Sprintf("10.4.0.%d", i%250+1)}},
				Ports: []api.EndpointPort{{Port: 8080, Protocol: "TCP"}}}}
			next := &State{Services: s.Services, Endpoints: maps.Clone(s.Endpoints)}
			next.Endpoints["default/s0"] = &eps
			if err := p.Update(ctx, next); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A node port with externalTrafficPolicy Local reaches only this node's
// endpoints, and keeps the client's address (no masquerade); with none
// on the node, it answers nothing. The virtual IP still reaches all.
func TestProxyExternalLocal(t *testing.T) {
	inNetns(t, func() {
		podsNet(t, "10.77.0.2", "10.77.0.3", "10.77.0.4")
		for _, ip := range []string{"10.77.0.2", "10.77.0.3", "10.77.0.4"} {
			serve(t, ip+":8080", ip)
		}
		ctx := context.Background()
		p, err := NewProxy(ProxyConfig{Tag: "l1", PodSubnet: "10.77.0.0/24", NodeName: "n1"})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer p.Close(ctx)
		state := func(nodes ...string) *State {
			s := svcState("10.77.0.2", "10.77.0.3", "10.77.0.4")
			s.Services["default/web"].Spec.ExternalTrafficPolicy = "Local"
			for i := range s.Endpoints["default/web"].Subsets[0].Addresses {
				s.Endpoints["default/web"].Subsets[0].Addresses[i].NodeName = nodes[i]
			}
			return s
		}
		if err := p.Update(ctx, state("n1", "n2", "n1")); err != nil {
			t.Fatal(err)
		}
		hits := map[string]int{}
		for range 60 {
			got, err := fetch("10.77.0.2:30080")
			if err != nil {
				t.Fatal(err)
			}
			hits[got]++
		}
		if hits["10.77.0.3"] != 0 || hits["10.77.0.2"] == 0 || hits["10.77.0.4"] == 0 {
			t.Errorf("node port, Local: %v, want only n1's 10.77.0.2 and 10.77.0.4", hits)
		}
		vip := map[string]int{}
		for range 60 {
			got, err := fetch("10.96.0.10:80")
			if err != nil {
				t.Fatal(err)
			}
			vip[got]++
		}
		if len(vip) != 3 {
			t.Errorf("virtual IP with Local node ports: %v, want all 3", vip)
		}
		out, _ := exec.Command("iptables-save", "-t", "nat").Output()
		for line := range strings.Lines(string(out)) {
			if strings.Contains(line, "BNP-l1") && strings.Contains(line, "MARK") {
				t.Errorf("a Local node port is masqueraded: %s", line)
			}
		}
		if err := p.Update(ctx, state("n2", "n2", "n3")); err != nil {
			t.Fatal(err)
		}
		c, err := net.DialTimeout("tcp", "10.77.0.2:30080", 300*time.Millisecond)
		if err == nil {
			c.Close()
			t.Error("node port, Local, no endpoint on this node: connected")
		}
	})
}

// An agent that restarts finds its rules in place: they serve until its
// first sync, which deletes the chains it no longer has.
func TestProxyRestartKeepsRules(t *testing.T) {
	inNetns(t, func() {
		podsNet(t, "10.77.0.2", "10.77.0.3")
		serve(t, "10.77.0.2:8080", "10.77.0.2")
		serve(t, "10.77.0.3:8080", "10.77.0.3")
		ctx := context.Background()
		newProxy := func() *Proxy {
			p, err := NewProxy(ProxyConfig{Tag: "r1", PodSubnet: "10.77.0.0/24"})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Start(ctx); err != nil {
				t.Fatal(err)
			}
			return p
		}
		p := newProxy()
		if err := p.Update(ctx, svcState("10.77.0.2")); err != nil {
			t.Fatal(err)
		}
		// The agent goes away without Close, and comes back.
		p = newProxy()
		defer p.Close(ctx)
		if got, err := fetch("10.96.0.10:80"); err != nil || got != "10.77.0.2" {
			t.Fatalf("after the restart, before a sync: %q, %v", got, err)
		}
		hooks := func() int {
			out, _ := exec.Command("iptables-save").Output()
			return strings.Count(string(out), "berth-svc:r1")
		}
		if n := hooks(); n != len(p.hooks()) {
			t.Errorf("%d hooks after the restart, want %d", n, len(p.hooks()))
		}
		old, _ := exec.Command("iptables-save", "-t", "nat").Output()
		if err := p.Update(ctx, svcState("10.77.0.3")); err != nil {
			t.Fatal(err)
		}
		if got, err := fetch("10.96.0.10:80"); err != nil || got != "10.77.0.3" {
			t.Fatalf("after the sync: %q, %v", got, err)
		}
		now, _ := exec.Command("iptables-save", "-t", "nat").Output()
		for line := range strings.Lines(string(old)) {
			if strings.HasPrefix(line, ":BE-r1-") && !strings.Contains(string(now), strings.Fields(line)[0]+" ") {
				continue // gone, as it should be
			}
			if strings.HasPrefix(line, ":BE-r1-") {
				t.Errorf("the old endpoint's chain %s is still there", strings.Fields(line)[0])
			}
		}
	})
}
