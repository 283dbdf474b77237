package netsvc

import (
	"net"
	"net/http"
	"sync/atomic"

	"github.com/miekg/dns"
)

// DNSStats are what a DNS server answered since it started.
type DNSStats struct {
	// Answers counts the answers by response code, by its name
	// ("NOERROR", "NXDOMAIN", "SERVFAIL", ...; "OTHER" past BADCOOKIE).
	Answers map[string]uint64
}

// Stats returns what the server answered so far.
func (d *DNS) Stats() DNSStats {
	s := DNSStats{Answers: map[string]uint64{}}
	for rc := range d.answers.byCode {
		if n := d.answers.byCode[rc].Load(); n > 0 {
			s.Answers[dns.RcodeToString[rc]] = n
		}
	}
	if n := d.answers.other.Load(); n > 0 {
		s.Answers["OTHER"] = n
	}
	return s
}

// dnsAnswerCounts counts answers by response code, without a lock.
type dnsAnswerCounts struct {
	byCode [dns.RcodeBadCookie + 1]atomic.Uint64
	other  atomic.Uint64
}

func (c *dnsAnswerCounts) add(rcode int) {
	if rcode >= 0 && rcode < len(c.byCode) {
		c.byCode[rcode].Add(1)
		return
	}
	c.other.Add(1)
}

// IngressStats are what an ingress served since it started.
type IngressStats struct {
	// Routed counts the requests handed to a Service's endpoints;
	// BadGateway those of them no endpoint answered (502).
	Routed, BadGateway uint64
	// NotFound counts the requests no rule matched (404); Unavailable
	// those whose backend had no ready endpoint (503).
	NotFound, Unavailable uint64
	// Connections is how many client connections are open now.
	Connections int64
}

// Stats returns what the ingress served so far.
func (g *Ingress) Stats() IngressStats {
	c := &g.counts
	return IngressStats{Routed: c.routed.Load(), BadGateway: c.badGateway.Load(),
		NotFound: c.notFound.Load(), Unavailable: c.unavailable.Load(), Connections: c.open.Load()}
}

// ingressCounts are an Ingress's counters.
type ingressCounts struct {
	routed, badGateway, notFound, unavailable atomic.Uint64
	open                                      atomic.Int64
}

// connState follows the client connections (http.Server's ConnState).
func (c *ingressCounts) connState(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		c.open.Add(1)
	case http.StateHijacked, http.StateClosed:
		c.open.Add(-1)
	}
}
