package netsvc

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/berth-dev/berth/api"
)

// dnsTestState is a ClusterIP Service with two named ports and an unnamed
// one, a headless Service with a pod with a hostname, one without and a
// not-ready one, and a headless Service that publishes its not-ready pods.
func dnsTestState() *State {
	svc := func(ns, name, ip string, publish bool, ports ...api.ServicePort) *api.Service {
		return &api.Service{
			Metadata: api.ObjectMeta{Namespace: ns, Name: name},
			Spec:     api.ServiceSpec{ClusterIP: ip, Ports: ports, PublishNotReadyAddresses: publish},
		}
	}
	eps := func(ns, name string, ss ...api.EndpointSubset) *api.Endpoints {
		return &api.Endpoints{Metadata: api.ObjectMeta{Namespace: ns, Name: name}, Subsets: ss}
	}
	s := &State{
		Revision: 7,
		Services: map[string]*api.Service{
			"default/web": svc("default", "web", "10.96.0.10", false,
				api.ServicePort{Name: "http", Port: 80},
				api.ServicePort{Name: "Metrics", Protocol: "UDP", Port: 9090}),
			"data/db": svc("data", "db", api.ClusterIPNone, false,
				api.ServicePort{Name: "pg", Port: 5432}),
			"data/peers": svc("data", "peers", api.ClusterIPNone, true,
				api.ServicePort{Name: "gossip", Port: 7946}),
		},
		Endpoints: map[string]*api.Endpoints{
			"default/web": eps("default", "web", api.EndpointSubset{
				Addresses: []api.EndpointAddress{{IP: "10.1.2.3"}},
				Ports:     []api.EndpointPort{{Name: "http", Port: 8080}},
			}),
			"data/db": eps("data", "db", api.EndpointSubset{
				Addresses:         []api.EndpointAddress{{IP: "10.1.0.5", Hostname: "db-0"}, {IP: "10.1.0.6"}},
				NotReadyAddresses: []api.EndpointAddress{{IP: "10.1.0.7", Hostname: "db-2"}},
				Ports:             []api.EndpointPort{{Name: "pg", Port: 15432}},
			}),
			"data/peers": eps("data", "peers", api.EndpointSubset{
				Addresses:         []api.EndpointAddress{{IP: "10.1.1.1", Hostname: "peers-0"}},
				NotReadyAddresses: []api.EndpointAddress{{IP: "10.1.1.2", Hostname: "peers-1"}},
				Ports:             []api.EndpointPort{{Name: "gossip", Port: 7946}},
			}),
		},
	}
	return s
}

type dnsTestWriter struct{ t testing.TB }

func (w dnsTestWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func dnsTestLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(dnsTestWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// dnsTestListen binds UDP and TCP on one port of 127.0.0.1.
func dnsTestListen(t testing.TB) (net.PacketConn, net.Listener) {
	t.Helper()
	for range 10 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln
		}
		pc.Close()
	}
	t.Fatal("no port free for both udp and tcp")
	return nil, nil
}

// dnsTestUpstream starts a resolver on 127.0.0.1 and returns its address
// and a func that stops it (also run at cleanup). It answers:
//
//	example.test      A 192.0.2.7
//	big.test          truncated over UDP; A 192.0.2.8 over TCP
//	transport.test    A 192.0.2.1 over UDP, 192.0.2.2 over TCP
//	fail.test         SERVFAIL
//	7.2.0.192.in-addr.arpa  PTR example.test.
//	anything in cluster.local  A 203.0.113.66 (a leak the tests catch)
//	else              NXDOMAIN
func dnsTestUpstream(t testing.TB) (string, func()) {
	t.Helper()
	pc, ln := dnsTestListen(t)
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		_, tcp := w.RemoteAddr().(*net.TCPAddr)
		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		q := r.Question[0]
		a := func(ip string) {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip)})
		}
		switch name := strings.ToLower(q.Name); {
		case name == "example.test.":
			a("192.0.2.7")
		case name == "big.test." && !tcp:
			m.Truncated = true
		case name == "big.test.":
			a("192.0.2.8")
		case name == "transport.test." && !tcp:
			a("192.0.2.1")
		case name == "transport.test.":
			a("192.0.2.2")
		case name == "fail.test.":
			m.Rcode = dns.RcodeServerFailure
		case name == "7.2.0.192.in-addr.arpa.":
			m.Answer = append(m.Answer, &dns.PTR{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 60}, Ptr: "example.test."})
		case strings.HasSuffix(name, "cluster.local."):
			a("203.0.113.66")
		default:
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	var servers []*dns.Server
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
		servers = append(servers, s)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			for _, s := range servers {
				s.Shutdown()
			}
		})
	}
	t.Cleanup(stop)
	return pc.LocalAddr().String(), stop
}

// dnsTestGone is an address nothing listens on.
func dnsTestGone(t testing.TB) string {
	pc, ln := dnsTestListen(t)
	pc.Close()
	ln.Close()
	return pc.LocalAddr().String()
}

func dnsTestServer(t testing.TB, s *State, upstreams ...string) *DNS {
	t.Helper()
	d, err := NewDNS(DNSConfig{Addr: "127.0.0.1:0", Upstreams: upstreams, Logger: dnsTestLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	d.Update(s)
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func dnsTestQuery(t testing.TB, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = 4242
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	if r.Id != 4242 {
		t.Fatalf("%s: message id %d, want 4242", name, r.Id)
	}
	return r
}

// dnsRRs is rrs as sorted one-line strings, OPT left out.
func dnsRRs(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	slices.Sort(out)
	return out
}

const dnsTestSOA = "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 7 7200 1800 86400 5"

func TestDNSRecords(t *testing.T) {
	up, _ := dnsTestUpstream(t)
	d := dnsTestServer(t, dnsTestState(), up)
	const web, db, peers = "web.default.svc.cluster.local.", "db.data.svc.cluster.local.", "peers.data.svc.cluster.local."
	a := func(name, ip string) string { return name + " 5 IN A " + ip }
	srv := func(name string, port int, target string) string {
		return fmt.Sprintf("%s 5 IN SRV 0 100 %d %s", name, port, target)
	}
	ptr := func(name, target string) string { return name + " 5 IN PTR " + target }
	tests := []struct {
		name        string
		qtype       uint16
		rcode       int
		aa          bool
		answer, ext []string
		soa         bool // the SOA in the authority section
	}{
		// ClusterIP Service.
		{name: web, qtype: dns.TypeA, aa: true, answer: []string{a(web, "10.96.0.10")}},
		{name: "_http._tcp." + web, qtype: dns.TypeSRV, aa: true,
			answer: []string{srv("_http._tcp."+web, 80, web)}, ext: []string{a(web, "10.96.0.10")}},
		{name: "_metrics._udp." + web, qtype: dns.TypeSRV, aa: true,
			answer: []string{srv("_metrics._udp."+web, 9090, web)}, ext: []string{a(web, "10.96.0.10")}},
		{name: "_http._udp." + web, qtype: dns.TypeSRV, rcode: dns.RcodeNameError, aa: true, soa: true},
		// Its endpoints have no names: it is not headless.
		{name: "10-1-2-3." + web, qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, soa: true},
		// Headless Service: ready pods only.
		{name: db, qtype: dns.TypeA, aa: true, answer: []string{a(db, "10.1.0.5"), a(db, "10.1.0.6")}},
		{name: "db-0." + db, qtype: dns.TypeA, aa: true, answer: []string{a("db-0."+db, "10.1.0.5")}},
		{name: "10-1-0-6." + db, qtype: dns.TypeA, aa: true, answer: []string{a("10-1-0-6."+db, "10.1.0.6")}},
		{name: "db-2." + db, qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, soa: true},
		{name: "10-1-0-7." + db, qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, soa: true},
		{name: "_pg._tcp." + db, qtype: dns.TypeSRV, aa: true,
			answer: []string{srv("_pg._tcp."+db, 15432, "10-1-0-6."+db), srv("_pg._tcp."+db, 15432, "db-0."+db)},
			ext:    []string{a("10-1-0-6."+db, "10.1.0.6"), a("db-0."+db, "10.1.0.5")}},
		// Headless Service with publishNotReadyAddresses.
		{name: peers, qtype: dns.TypeA, aa: true, answer: []string{a(peers, "10.1.1.1"), a(peers, "10.1.1.2")}},
		{name: "peers-1." + peers, qtype: dns.TypeA, aa: true, answer: []string{a("peers-1."+peers, "10.1.1.2")}},
		{name: "_gossip._tcp." + peers, qtype: dns.TypeSRV, aa: true,
			answer: []string{srv("_gossip._tcp."+peers, 7946, "peers-0."+peers), srv("_gossip._tcp."+peers, 7946, "peers-1."+peers)},
			ext:    []string{a("peers-0."+peers, "10.1.1.1"), a("peers-1."+peers, "10.1.1.2")}},
		// PTR of a ClusterIP and of a pod with a hostname.
		{name: "10.0.96.10.in-addr.arpa.", qtype: dns.TypePTR, aa: true, answer: []string{ptr("10.0.96.10.in-addr.arpa.", web)}},
		{name: "5.0.1.10.in-addr.arpa.", qtype: dns.TypePTR, aa: true, answer: []string{ptr("5.0.1.10.in-addr.arpa.", "db-0."+db)}},
		{name: "2.1.1.10.in-addr.arpa.", qtype: dns.TypePTR, aa: true, answer: []string{ptr("2.1.1.10.in-addr.arpa.", "peers-1."+peers)}},
		// Other reverse names go upstream: a pod without a hostname, a
		// not-ready pod, an address outside the cluster.
		{name: "6.0.1.10.in-addr.arpa.", qtype: dns.TypePTR, rcode: dns.RcodeNameError},
		{name: "7.0.1.10.in-addr.arpa.", qtype: dns.TypePTR, rcode: dns.RcodeNameError},
		{name: "7.2.0.192.in-addr.arpa.", qtype: dns.TypePTR, answer: []string{"7.2.0.192.in-addr.arpa. 60 IN PTR example.test."}},
		// The domain.
		{name: "cluster.local.", qtype: dns.TypeSOA, aa: true, answer: []string{dnsTestSOA}},
		// NODATA: names that exist without the type asked.
		{name: web, qtype: dns.TypeAAAA, aa: true, soa: true},
		{name: web, qtype: dns.TypeTXT, aa: true, soa: true},
		{name: "_http._tcp." + web, qtype: dns.TypeA, aa: true, soa: true},
		{name: "_tcp." + web, qtype: dns.TypeSRV, aa: true, soa: true},
		{name: "data.svc.cluster.local.", qtype: dns.TypeA, aa: true, soa: true},
		{name: "svc.cluster.local.", qtype: dns.TypeA, aa: true, soa: true},
		{name: "cluster.local.", qtype: dns.TypeA, aa: true, soa: true},
		// NXDOMAIN.
		{name: "nope.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, soa: true},
		{name: "example.test.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, soa: true},
		{name: "web.other.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, soa: true},
		{name: "pod.cluster.local.", qtype: dns.TypeAAAA, rcode: dns.RcodeNameError, aa: true, soa: true},
		// Case does not matter; the answer keeps the question's.
		{name: "WEB.Default.SVC.Cluster.LOCAL.", qtype: dns.TypeA, aa: true, answer: []string{a("WEB.Default.SVC.Cluster.LOCAL.", "10.96.0.10")}},
		{name: "_HTTP._Tcp.Web.default.svc.cluster.local.", qtype: dns.TypeSRV, aa: true,
			answer: []string{srv("_HTTP._Tcp.Web.default.svc.cluster.local.", 80, web)}, ext: []string{a(web, "10.96.0.10")}},
		{name: "DB-0.db.Data.svc.cluster.local.", qtype: dns.TypeA, aa: true, answer: []string{a("DB-0.db.Data.svc.cluster.local.", "10.1.0.5")}},
		{name: "Nope.cluster.LOCAL.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, soa: true},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+"/"+tt.name+"/"+dns.TypeToString[tt.qtype], func(t *testing.T) {
				r := dnsTestQuery(t, network, d.Addr(), tt.name, tt.qtype)
				if r.Rcode != tt.rcode {
					t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
				}
				if r.Authoritative != tt.aa || !r.RecursionAvailable || r.Truncated {
					t.Errorf("aa %v ra %v tc %v, want aa %v ra true tc false", r.Authoritative, r.RecursionAvailable, r.Truncated, tt.aa)
				}
				if got, want := dnsRRs(r.Answer), tt.answer; !slices.Equal(got, want) {
					t.Errorf("answer\n%q\nwant\n%q", got, want)
				}
				if got, want := dnsRRs(r.Extra), tt.ext; !slices.Equal(got, want) {
					t.Errorf("additional\n%q\nwant\n%q", got, want)
				}
				var soa []string
				if tt.soa {
					soa = []string{dnsTestSOA}
				}
				if got := dnsRRs(r.Ns); !slices.Equal(got, soa) {
					t.Errorf("authority %q, want %q", got, soa)
				}
			})
		}
	}
}

func TestDNSForward(t *testing.T) {
	up, _ := dnsTestUpstream(t)
	d := dnsTestServer(t, dnsTestState(), dnsTestGone(t), up)
	tests := []struct {
		network, name string
		rcode         int
		answer        []string
	}{
		{"udp", "example.test.", dns.RcodeSuccess, []string{"example.test. 60 IN A 192.0.2.7"}},
		{"tcp", "example.test.", dns.RcodeSuccess, []string{"example.test. 60 IN A 192.0.2.7"}},
		// Truncated over UDP upstream: asked again over TCP.
		{"udp", "big.test.", dns.RcodeSuccess, []string{"big.test. 60 IN A 192.0.2.8"}},
		// The client's transport is the upstream's.
		{"udp", "transport.test.", dns.RcodeSuccess, []string{"transport.test. 60 IN A 192.0.2.1"}},
		{"tcp", "transport.test.", dns.RcodeSuccess, []string{"transport.test. 60 IN A 192.0.2.2"}},
		{"udp", "nope.test.", dns.RcodeNameError, nil},
		// The only upstream that answers fails: its answer.
		{"udp", "fail.test.", dns.RcodeServerFailure, nil},
		// Names that only end like the domain are not in it.
		{"udp", "notcluster.local.", dns.RcodeSuccess, []string{"notcluster.local. 60 IN A 203.0.113.66"}},
	}
	for _, tt := range tests {
		t.Run(tt.network+"/"+tt.name, func(t *testing.T) {
			r := dnsTestQuery(t, tt.network, d.Addr(), tt.name, dns.TypeA)
			if r.Rcode != tt.rcode || r.Authoritative || r.Truncated || !r.RecursionAvailable {
				t.Errorf("rcode %s aa %v tc %v ra %v, want %s aa false tc false ra true",
					dns.RcodeToString[r.Rcode], r.Authoritative, r.Truncated, r.RecursionAvailable, dns.RcodeToString[tt.rcode])
			}
			if got := dnsRRs(r.Answer); !slices.Equal(got, tt.answer) {
				t.Errorf("answer %q, want %q", got, tt.answer)
			}
		})
	}
}

func TestDNSServfailWhenUpstreamGone(t *testing.T) {
	up, stop := dnsTestUpstream(t)
	d := dnsTestServer(t, dnsTestState(), up)
	if r := dnsTestQuery(t, "udp", d.Addr(), "example.test.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("before: rcode %s", dns.RcodeToString[r.Rcode])
	}
	stop()
	for _, network := range []string{"udp", "tcp"} {
		r := dnsTestQuery(t, network, d.Addr(), "example.test.", dns.TypeA)
		if r.Rcode != dns.RcodeServerFailure || len(r.Answer) != 0 {
			t.Errorf("%s: rcode %s answer %v, want SERVFAIL", network, dns.RcodeToString[r.Rcode], r.Answer)
		}
		// The cluster's names still answer.
		if r := dnsTestQuery(t, network, d.Addr(), "web.default.svc.cluster.local.", dns.TypeA); len(r.Answer) != 1 {
			t.Errorf("%s: web answer %v", network, r.Answer)
		}
	}
}

// An answer too big for UDP is truncated there and whole over TCP; EDNS
// clients get an OPT record and their larger size.
func TestDNSTruncatesUDP(t *testing.T) {
	s := dnsTestState()
	big := &api.Endpoints{Metadata: api.ObjectMeta{Namespace: "data", Name: "db"}, Subsets: []api.EndpointSubset{{}}}
	for i := range 60 {
		big.Subsets[0].Addresses = append(big.Subsets[0].Addresses, api.EndpointAddress{IP: fmt.Sprintf("10.1.0.%d", i+1)})
	}
	s.Endpoints["data/db"] = big
	up, _ := dnsTestUpstream(t)
	d := dnsTestServer(t, s, up)
	const name = "db.data.svc.cluster.local."
	if r := dnsTestQuery(t, "udp", d.Addr(), name, dns.TypeA); !r.Truncated || len(r.Answer) >= 60 {
		t.Errorf("udp: tc %v, %d answers; want truncated", r.Truncated, len(r.Answer))
	}
	if r := dnsTestQuery(t, "tcp", d.Addr(), name, dns.TypeA); r.Truncated || len(r.Answer) != 60 {
		t.Errorf("tcp: tc %v, %d answers; want 60", r.Truncated, len(r.Answer))
	}
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.SetEdns0(4096, false)
	r, _, err := (&dns.Client{Net: "udp", Timeout: 5 * time.Second}).Exchange(m, d.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if r.Truncated || len(r.Answer) != 60 || r.IsEdns0() == nil {
		t.Errorf("udp edns: tc %v, %d answers, opt %v; want 60 with an OPT", r.Truncated, len(r.Answer), r.IsEdns0())
	}
}

func TestDNSUpdate(t *testing.T) {
	up, _ := dnsTestUpstream(t)
	d := dnsTestServer(t, dnsTestState(), up)
	const web, db = "web.default.svc.cluster.local.", "db-0.db.data.svc.cluster.local."
	ask := func(name string) (int, []string) {
		r := dnsTestQuery(t, "udp", d.Addr(), name, dns.TypeA)
		return r.Rcode, dnsRRs(r.Answer)
	}
	if _, got := ask(web); !slices.Equal(got, []string{web + " 5 IN A 10.96.0.10"}) {
		t.Fatalf("before: %q", got)
	}
	s := dnsTestState()
	s.Services["default/web"].Spec.ClusterIP = "10.96.0.20"
	delete(s.Services, "data/db")
	d.Update(s)
	if _, got := ask(web); !slices.Equal(got, []string{web + " 5 IN A 10.96.0.20"}) {
		t.Errorf("after: %q", got)
	}
	if rcode, _ := ask(db); rcode != dns.RcodeNameError {
		t.Errorf("deleted service: %s", dns.RcodeToString[rcode])
	}
	d.Update(nil)
	if rcode, _ := ask(web); rcode != dns.RcodeNameError {
		t.Errorf("empty state: %s", dns.RcodeToString[rcode])
	}
}

// Queries hammer the server over UDP and TCP while Updates switch the
// ClusterIP back and forth: each answer is one whole view or the other.
func TestDNSRace(t *testing.T) {
	up, _ := dnsTestUpstream(t)
	s1, s2 := dnsTestState(), dnsTestState()
	s2.Services["default/web"].Spec.ClusterIP = "10.96.0.20"
	d := dnsTestServer(t, s1, up)
	const web = "web.default.svc.cluster.local."
	ok := map[string]bool{web + " 5 IN A 10.96.0.10": true, web + " 5 IN A 10.96.0.20": true}

	stop := make(chan struct{})
	updated := make(chan struct{})
	go func() {
		defer close(updated)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			d.Update([]*State{s1, s2}[i%2])
		}
	}()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			network := []string{"udp", "tcp"}[g%2]
			c := &dns.Client{Net: network, Timeout: 5 * time.Second}
			for range 100 {
				m := new(dns.Msg)
				m.SetQuestion(web, dns.TypeA)
				r, _, err := c.Exchange(m, d.Addr())
				if err != nil {
					t.Error(err)
					return
				}
				if got := dnsRRs(r.Answer); len(got) != 1 || !ok[got[0]] {
					t.Errorf("answer %q", got)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-updated
}

func TestDNSLifecycle(t *testing.T) {
	d, err := NewDNS(DNSConfig{Addr: "127.0.0.1:0", Upstreams: []string{"127.0.0.1:53"}, Logger: dnsTestLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Addr(); got != "127.0.0.1:0" {
		t.Errorf("Addr before Start = %q", got)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(d.Addr())
	if port == "0" || port == "" {
		t.Errorf("Addr after Start = %q", d.Addr())
	}
	if err := d.Start(); !errors.Is(err, ErrDNSStarted) {
		t.Errorf("second Start: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := d.Start(); !errors.Is(err, ErrDNSStarted) {
		t.Errorf("Start after Close: %v", err)
	}
	// The port is free again: both sockets were closed.
	pc, err := net.ListenPacket("udp", d.Addr())
	if err != nil {
		t.Fatalf("udp port still bound: %v", err)
	}
	pc.Close()
	ln, err := net.Listen("tcp", d.Addr())
	if err != nil {
		t.Fatalf("tcp port still bound: %v", err)
	}
	ln.Close()
}

// IP_FREEBIND: the node's bridge address may not exist yet when the
// server starts. Nothing is sent: only bound.
func TestDNSFreebind(t *testing.T) {
	d, err := NewDNS(DNSConfig{Addr: "192.0.2.53:0", Upstreams: []string{"127.0.0.1:53"}, Logger: dnsTestLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatalf("start on an address the host lacks: %v", err)
	}
	if host, _, _ := net.SplitHostPort(d.Addr()); host != "192.0.2.53" {
		t.Errorf("Addr = %q", d.Addr())
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNewDNSConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  DNSConfig
		ok   bool
	}{
		{"minimal", DNSConfig{Addr: "127.0.0.1:53", Upstreams: []string{"10.0.0.2:53"}}, true},
		{"domain with dot and case", DNSConfig{Addr: "127.0.0.1:53", Domain: "Berth.Internal.", Upstreams: []string{"10.0.0.2:53"}}, true},
		{"ipv6", DNSConfig{Addr: "[::1]:0", Upstreams: []string{"[2001:db8::1]:53"}}, true},
		{"no addr", DNSConfig{Upstreams: []string{"10.0.0.2:53"}}, false},
		{"no port", DNSConfig{Addr: "127.0.0.1", Upstreams: []string{"10.0.0.2:53"}}, false},
		{"host name", DNSConfig{Addr: "localhost:53", Upstreams: []string{"10.0.0.2:53"}}, false},
		{"bad port", DNSConfig{Addr: "127.0.0.1:99999", Upstreams: []string{"10.0.0.2:53"}}, false},
		{"bad domain", DNSConfig{Addr: "127.0.0.1:53", Domain: "a..b", Upstreams: []string{"10.0.0.2:53"}}, false},
		{"upstream without port", DNSConfig{Addr: "127.0.0.1:53", Upstreams: []string{"10.0.0.2"}}, false},
		{"upstream port 0", DNSConfig{Addr: "127.0.0.1:53", Upstreams: []string{"10.0.0.2:0"}}, false},
		{"upstream is itself", DNSConfig{Addr: "127.0.0.1:53", Upstreams: []string{"127.0.0.1:53"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDNS(tt.cfg)
			if tt.ok && err != nil {
				t.Errorf("NewDNS: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrDNSConfig) {
				t.Errorf("NewDNS: %v, want ErrDNSConfig", err)
			}
		})
	}
}

// Another domain than cluster.local.
func TestDNSDomain(t *testing.T) {
	up, _ := dnsTestUpstream(t)
	d, err := NewDNS(DNSConfig{Addr: "127.0.0.1:0", Domain: "Berth.Internal.", Upstreams: []string{up}, Logger: dnsTestLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	d.Update(dnsTestState())
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := dnsTestQuery(t, "udp", d.Addr(), "web.default.svc.berth.internal.", dns.TypeA)
	if got := dnsRRs(r.Answer); !slices.Equal(got, []string{"web.default.svc.berth.internal. 5 IN A 10.96.0.10"}) {
		t.Errorf("answer %q", got)
	}
	// cluster.local is now just another name: forwarded.
	r = dnsTestQuery(t, "udp", d.Addr(), "web.default.svc.cluster.local.", dns.TypeA)
	if r.Authoritative || len(r.Answer) != 1 {
		t.Errorf("cluster.local: aa %v answer %v, want forwarded", r.Authoritative, r.Answer)
	}
	r = dnsTestQuery(t, "udp", d.Addr(), "nope.berth.internal.", dns.TypeA)
	want := []string{"berth.internal. 5 IN SOA ns.dns.berth.internal. hostmaster.berth.internal. 7 7200 1800 86400 5"}
	if got := dnsRRs(r.Ns); r.Rcode != dns.RcodeNameError || !slices.Equal(got, want) {
		t.Errorf("rcode %s authority %q", dns.RcodeToString[r.Rcode], got)
	}
}

func TestDNSIPv6(t *testing.T) {
	up, _ := dnsTestUpstream(t)
	s := dnsTestState()
	s.Services["default/web"].Spec.ClusterIPs = []string{"10.96.0.10", "fd00::10"}
	s.Endpoints["data/db"].Subsets[0].Addresses[1].IP = "fd00:1::6"
	d := dnsTestServer(t, s, up)
	const web, db = "web.default.svc.cluster.local.", "db.data.svc.cluster.local."
	tests := []struct {
		name   string
		qtype  uint16
		answer []string
	}{
		{web, dns.TypeA, []string{web + " 5 IN A 10.96.0.10"}},
		{web, dns.TypeAAAA, []string{web + " 5 IN AAAA fd00::10"}},
		{web, dns.TypeANY, []string{web + " 5 IN A 10.96.0.10", web + " 5 IN AAAA fd00::10"}},
		{db, dns.TypeAAAA, []string{db + " 5 IN AAAA fd00:1::6"}},
		{"fd00-1--6." + db, dns.TypeAAAA, []string{"fd00-1--6." + db + " 5 IN AAAA fd00:1::6"}},
		{"0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", dns.TypePTR,
			[]string{"0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 5 IN PTR " + web}},
	}
	for _, tt := range tests {
		r := dnsTestQuery(t, "udp", d.Addr(), tt.name, tt.qtype)
		if got := dnsRRs(r.Answer); r.Rcode != dns.RcodeSuccess || !slices.Equal(got, tt.answer) {
			t.Errorf("%s %s: rcode %s answer %q, want %q", tt.name, dns.TypeToString[tt.qtype], dns.RcodeToString[r.Rcode], got, tt.answer)
		}
	}
}

func TestHostUpstreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	conf := `# generated by hand
search default.svc.cluster.local example.test
nameserver 10.0.0.2
nameserver 10.0.0.3 # the second
;nameserver 10.0.0.9
  nameserver	2001:db8::1
nameserver fe80::1%eth0
nameserver not-an-ip
nameserver
options ndots:5 timeout:1 attempts:2
domain example.test
`
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := HostUpstreams(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.2:53", "10.0.0.3:53", "[2001:db8::1]:53", "[fe80::1%eth0]:53"}
	if !slices.Equal(got, want) {
		t.Errorf("HostUpstreams = %q, want %q", got, want)
	}
	if _, err := HostUpstreams(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func BenchmarkDNSServiceA(b *testing.B) {
	d, err := NewDNS(DNSConfig{Addr: "127.0.0.1:0", Upstreams: []string{"127.0.0.1:53"}})
	if err != nil {
		b.Fatal(err)
	}
	d.Update(dnsTestState())
	if err := d.Start(); err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
		conn, err := c.Dial(d.Addr())
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		m := new(dns.Msg)
		m.SetQuestion("web.default.svc.cluster.local.", dns.TypeA)
		for pb.Next() {
			m.Id = dns.Id()
			r, _, err := c.ExchangeWithConn(m, conn)
			if err != nil || len(r.Answer) != 1 {
				b.Errorf("answer %v, err %v", r, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}

// BenchmarkDNSUpdate is the index build of 5000 Services, half headless
// with 3 pods each.
func BenchmarkDNSUpdate(b *testing.B) {
	s := &State{Services: map[string]*api.Service{}, Endpoints: map[string]*api.Endpoints{}}
	for i := range 5000 {
		ns, name := fmt.Sprintf("ns%d", i%50), fmt.Sprintf("svc%d", i)
		svc := &api.Service{Metadata: api.ObjectMeta{Namespace: ns, Name: name},
			Spec: api.ServiceSpec{ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250+1), Ports: []api.ServicePort{{Name: "http", Port: 80}}}}
		if i%2 == 1 {
			svc.Spec.ClusterIP = api.ClusterIPNone
			ss := api.EndpointSubset{Ports: []api.EndpointPort{{Name: "http", Port: 8080}}}
			for p := range 3 {
				ss.Addresses = append(ss.Addresses, api.EndpointAddress{IP: fmt.Sprintf("10.%d.%d.%d", 1+p, i/250, i%250+1), Hostname: fmt.Sprintf("%s-%d", name, p)})
			}
			s.Endpoints[Key(ns, name)] = &api.Endpoints{Metadata: svc.Metadata, Subsets: []api.EndpointSubset{ss}}
		}
		s.Services[Key(ns, name)] = svc
	}
	d, err := NewDNS(DNSConfig{Addr: "127.0.0.1:0", Upstreams: []string{"127.0.0.1:53"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		d.Update(s)
	}
}
