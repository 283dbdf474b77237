package netsvc

import (
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/berth-dev/berth/api"
)

// The DNS server counts its answers by response code.
func TestDNSStats(t *testing.T) {
	d := dnsTestServer(t, dnsTestState())
	if s := d.Stats(); len(s.Answers) != 0 {
		t.Fatalf("a new server: %v", s.Answers)
	}
	for range 3 {
		dnsTestQuery(t, "udp", d.Addr(), "web.default.svc.cluster.local.", dns.TypeA)
	}
	dnsTestQuery(t, "tcp", d.Addr(), "nope.default.svc.cluster.local.", dns.TypeA)
	s := d.Stats()
	if s.Answers["NOERROR"] != 3 || s.Answers["NXDOMAIN"] != 1 || len(s.Answers) != 2 {
		t.Fatalf("answers: %v, want 3 NOERROR and 1 NXDOMAIN", s.Answers)
	}
}

// The ingress counts requests by what became of them, and its open
// connections.
func TestIngressStats(t *testing.T) {
	a := ingStartBackend(t, "a", nil)
	s := ingState(
		ingSvc("ns1", "a"), ingEndpoints("ns1", "a", "http", ingPorts(a)),
		ingSvc("ns1", "down"), ingEndpoints("ns1", "down", "http", nil, 1),
		ingObj("ns1", "web", 1, api.IngressSpec{Rules: []api.IngressRule{
			ingRule("a.test", ingPath("/", api.PathTypePrefix, "a", 80)),
			ingRule("down.test", ingPath("/", api.PathTypePrefix, "down", 80)),
		}}),
	)
	g := ingStart(t, s)
	c := ingClient(t, nil)
	base := "http://" + g.HTTPAddr()
	for _, tc := range []struct {
		host string
		code int
	}{{"a.test", 200}, {"a.test", 200}, {"down.test", 503}, {"other.test", 404}} {
		if r := ingGet(t, c, base, tc.host, "/"); r.code != tc.code {
			t.Fatalf("GET %s: %d, want %d", tc.host, r.code, tc.code)
		}
	}
	st := g.Stats()
	if st.Routed != 2 || st.BadGateway != 0 || st.Unavailable != 1 || st.NotFound != 1 {
		t.Fatalf("stats: %+v", st)
	}
	// The client keeps its connection open; closed, it is counted out.
	if st.Connections != 1 {
		t.Fatalf("open connections: %d, want 1", st.Connections)
	}
	c.Transport.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for g.Stats().Connections != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("open connections after the client closed its own: %d", g.Stats().Connections)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
