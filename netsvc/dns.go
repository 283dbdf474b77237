package netsvc

// The cluster DNS server every node runs: authoritative for the cluster
// domain, answering from an index built once per Update; every other name
// is forwarded to the host's resolvers.
//
// Names (all under <domain>, default cluster.local, matched without
// regard to case, TTL 5 s):
//
//	<svc>.<ns>.svc                   A: the ClusterIP; headless: the ready pods
//	<hostname>.<svc>.<ns>.svc        A: a headless Service's pod with a hostname
//	<a-b-c-d>.<svc>.<ns>.svc         A: a headless Service's pod by address
//	_<port>._<proto>.<svc>.<ns>.svc  SRV: per named port, A in additional
//	in-addr.arpa / ip6.arpa          PTR: ClusterIPs and pods with a hostname
//
// A name that exists without the asked type is NODATA, one that does not
// exist NXDOMAIN, both with the domain's SOA in the authority section.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/berth-dev/berth/api"
)

// DefaultDNSDomain is the cluster domain when DNSConfig.Domain is empty.
const DefaultDNSDomain = "cluster.local"

const (
	dnsTTL            = 5 // seconds, of every answer of the cluster domain
	dnsForwardTimeout = 2 * time.Second
	dnsListenTries    = 5    // binds of a port-0 address whose TCP port was taken
	dnsEDNSSize       = 1232 // the UDP payload we advertise to EDNS clients
)

var (
	// ErrDNSConfig is a DNSConfig NewDNS refuses.
	ErrDNSConfig = errors.New("netsvc: invalid dns config")
	// ErrDNSStarted is a second Start, or a Start after Close.
	ErrDNSStarted = errors.New("netsvc: dns server already started")
)

// DNSConfig configures a node's DNS server.
type DNSConfig struct {
	// Addr is the "IP:port" to listen on, UDP and TCP: port 53 in
	// production, 0 for any (both get the same one). The IP need not
	// exist yet (IP_FREEBIND): it is the node's pod-bridge gateway.
	Addr string
	// Domain is the cluster domain, default cluster.local.
	Domain string
	// Upstreams are the "IP:port" resolvers of every other name, tried in
	// order. Default: HostUpstreams("/etc/resolv.conf").
	Upstreams []string
	Logger    *slog.Logger
}

// DNS is a node's DNS server. It serves the newest State given to
// Update; queries are answered concurrently.
type DNS struct {
	addr      string
	domain    string // lower case, fully qualified: "cluster.local."
	dotDomain string // "." + domain
	upstreams []string
	log       *slog.Logger
	udpClient *dns.Client
	tcpClient *dns.Client

	view atomic.Pointer[dnsView]
	done chan struct{} // closed by Close: forwards stop trying upstreams
	// answers counts the answers by response code (stats.go).
	answers dnsAnswerCounts

	mu      sync.Mutex
	started bool
	closed  bool
	bound   string
	servers []*dns.Server
	wg      sync.WaitGroup // the serving goroutines
}

// NewDNS checks cfg and returns a server that answers from an empty State
// until Update. It does not listen: see Start.
func NewDNS(cfg DNSConfig) (*DNS, error) {
	if err := dnsCheckHostPort(cfg.Addr, true); err != nil {
		return nil, fmt.Errorf("%w: addr: %w", ErrDNSConfig, err)
	}
	domain := strings.ToLower(strings.TrimSuffix(cfg.Domain, "."))
	if domain == "" {
		domain = DefaultDNSDomain
	}
	if _, ok := dns.IsDomainName(domain); !ok || strings.HasPrefix(domain, ".") || strings.Contains(domain, "\\") {
		return nil, fmt.Errorf("%w: domain %q", ErrDNSConfig, cfg.Domain)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "dns")
	ups := cfg.Upstreams
	if len(ups) == 0 {
		var err error
		if ups, err = HostUpstreams("/etc/resolv.conf"); err != nil {
			return nil, fmt.Errorf("%w: upstreams: %w", ErrDNSConfig, err)
		}
		if len(ups) == 0 {
			log.Warn("no nameserver in /etc/resolv.conf: names outside the cluster domain fail")
		}
	}
	for _, u := range ups {
		if err := dnsCheckHostPort(u, false); err != nil {
			return nil, fmt.Errorf("%w: upstream: %w", ErrDNSConfig, err)
		}
		if u == cfg.Addr {
			return nil, fmt.Errorf("%w: upstream %s is the server itself", ErrDNSConfig, u)
		}
	}
	d := &DNS{
		addr:      cfg.Addr,
		domain:    dns.Fqdn(domain),
		dotDomain: "." + dns.Fqdn(domain),
		upstreams: slices.Clone(ups),
		log:       log,
		udpClient: &dns.Client{Net: "udp", Timeout: dnsForwardTimeout},
		tcpClient: &dns.Client{Net: "tcp", Timeout: dnsForwardTimeout},
		done:      make(chan struct{}),
	}
	d.view.Store(buildDNSView(nil, d.domain))
	return d, nil
}

// dnsCheckHostPort checks an "IP:port"; port 0 only where anyPort.
func dnsCheckHostPort(hp string, anyPort bool) error {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return err
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Errorf("%q: not an IP address", hp)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || (n == 0 && !anyPort) {
		return fmt.Errorf("%q: bad port", hp)
	}
	return nil
}

// HostUpstreams reads the nameserver lines of a resolv.conf file, each as
// "IP:53" ("[IPv6]:53"); lines that are not an IP address are skipped.
func HostUpstreams(resolvConf string) ([]string, error) {
	f, err := os.Open(resolvConf)
	if err != nil {
		return nil, fmt.Errorf("netsvc: host upstreams: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		fs := strings.Fields(line)
		if len(fs) < 2 || fs[0] != "nameserver" {
			continue
		}
		ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(fs[1], "["), "]"))
		if err != nil {
			continue
		}
		out = append(out, netip.AddrPortFrom(ip, 53).String())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("netsvc: host upstreams: %s: %w", resolvConf, err)
	}
	return out, nil
}

// Update switches the answers to s, atomically: a query sees the old
// State or the new one, never a mix. s is not changed, and a nil s is an
// empty State. Safe from any goroutine while serving.
func (d *DNS) Update(s *State) {
	d.view.Store(buildDNSView(s, d.domain))
}

// Start binds UDP and TCP on the configured address and serves until
// Close. With port 0 both get the same port.
func (d *DNS) Start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started || d.closed {
		return ErrDNSStarted
	}
	pc, ln, err := d.listen()
	if err != nil {
		return err
	}
	d.started = true
	d.bound = pc.LocalAddr().String()
	h := dns.HandlerFunc(d.serveDNS)
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	udpReady, tcpReady := d.serve(udp), d.serve(tcp)
	errU, errT := <-udpReady, <-tcpReady
	if errU == nil {
		d.servers = append(d.servers, udp)
	}
	if errT == nil {
		d.servers = append(d.servers, tcp)
	}
	if err := errors.Join(errU, errT); err != nil {
		pc.Close()
		ln.Close()
		d.shutdown()
		return fmt.Errorf("netsvc: dns serve %s: %w", d.bound, err)
	}
	d.log.Info("serving", "addr", d.bound, "domain", d.domain, "upstreams", d.upstreams)
	return nil
}

// serve runs srv on a goroutine of d's; the channel says when it serves,
// or why it could not.
func (d *DNS) serve(srv *dns.Server) <-chan error {
	ready := make(chan error, 1)
	notified := false // only the serving goroutine reads and writes it
	srv.NotifyStartedFunc = func() {
		notified = true
		ready <- nil
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		err := srv.ActivateAndServe()
		switch {
		case !notified:
			if err == nil {
				err = errors.New("stopped before serving")
			}
			ready <- err
		case err != nil:
			d.log.Error("server stopped", "err", err)
		}
	}()
	return ready
}

// listen binds UDP, then TCP on the port UDP got, with IP_FREEBIND.
func (d *DNS) listen() (net.PacketConn, net.Listener, error) {
	lc := net.ListenConfig{Control: dnsFreebind}
	_, port, _ := net.SplitHostPort(d.addr)
	for try := 1; ; try++ {
		pc, err := lc.ListenPacket(context.Background(), "udp", d.addr)
		if err != nil {
			return nil, nil, fmt.Errorf("netsvc: dns listen udp: %w", err)
		}
		ln, err := lc.Listen(context.Background(), "tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if port != "0" || try == dnsListenTries || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("netsvc: dns listen tcp: %w", err)
		}
	}
}

// dnsFreebind lets a socket bind an address the host does not have yet.
func dnsFreebind(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_FREEBIND, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("set IP_FREEBIND: %w", serr)
	}
	return nil
}

// Addr is the address bound by Start: the configured one before.
func (d *DNS) Addr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bound != "" {
		return d.bound
	}
	return d.addr
}

// Close stops both servers and waits for the queries in flight; a
// forward in flight stops after the upstream it is trying.
func (d *DNS) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	close(d.done)
	d.shutdown()
	return nil
}

// shutdown stops the servers that run and waits for their goroutines.
func (d *DNS) shutdown() {
	for _, s := range d.servers {
		if err := s.Shutdown(); err != nil {
			d.log.Warn("shutdown", "err", err)
		}
	}
	d.servers = nil
	d.wg.Wait()
}

// serveDNS answers one query: from the index for the cluster domain and
// the PTRs of its addresses, from the upstreams for every other name.
func (d *DNS) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	resp := d.resolve(req, tcp)
	d.answers.add(resp.Rcode)
	if tcp {
		resp.Compress = true
	} else {
		resp.Truncate(dnsUDPSize(req))
	}
	if err := w.WriteMsg(resp); err != nil {
		d.log.Debug("write answer", "client", w.RemoteAddr().String(), "err", err)
	}
}

func (d *DNS) resolve(req *dns.Msg, tcp bool) *dns.Msg {
	if req.Opcode != dns.OpcodeQuery {
		return dnsReply(req, dns.RcodeNotImplemented)
	}
	if len(req.Question) != 1 {
		return dnsReply(req, dns.RcodeFormatError)
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	v := d.view.Load()
	if name == d.domain || strings.HasSuffix(name, d.dotDomain) {
		if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
			return dnsReply(req, dns.RcodeRefused)
		}
		m := dnsReply(req, dns.RcodeSuccess)
		m.Authoritative = true
		v.answer(m, q, name)
		return m
	}
	if q.Qtype == dns.TypePTR && q.Qclass == dns.ClassINET {
		if targets := v.ptrs[name]; len(targets) > 0 {
			m := dnsReply(req, dns.RcodeSuccess)
			m.Authoritative = true
			for _, t := range targets {
				m.Answer = append(m.Answer, &dns.PTR{Hdr: dnsHdr(q.Name, dns.TypePTR), Ptr: t})
			}
			return m
		}
	}
	return d.forward(req, tcp)
}

// forward asks the upstreams in order and returns the first answer that is
// neither SERVFAIL nor REFUSED, with the client's message ID; SERVFAIL
// when none answers.
func (d *DNS) forward(req *dns.Msg, tcp bool) *dns.Msg {
	up := req.Copy()
	var fallback *dns.Msg
	for _, addr := range d.upstreams {
		select {
		case <-d.done:
			return dnsReply(req, dns.RcodeServerFailure)
		default:
		}
		up.Id = dns.Id()
		r, err := d.exchange(up, addr, tcp)
		if err != nil {
			d.log.Debug("upstream failed", "upstream", addr, "name", req.Question[0].Name, "err", err)
			continue
		}
		r.Id = req.Id
		r.RecursionAvailable = true
		if r.Rcode == dns.RcodeServerFailure || r.Rcode == dns.RcodeRefused {
			fallback = r
			continue
		}
		return r
	}
	if fallback != nil {
		return fallback
	}
	return dnsReply(req, dns.RcodeServerFailure)
}

// exchange asks one upstream: over TCP when the client asked over TCP,
// else over UDP and again over TCP when that answer is truncated (the
// truncated one if TCP fails).
func (d *DNS) exchange(m *dns.Msg, addr string, tcp bool) (*dns.Msg, error) {
	var truncated *dns.Msg
	if !tcp {
		r, _, err := d.udpClient.Exchange(m, addr)
		if err != nil {
			return nil, err
		}
		if !r.Truncated {
			return r, nil
		}
		truncated = r
	}
	r, _, err := d.tcpClient.Exchange(m, addr)
	if err != nil && truncated != nil {
		d.log.Debug("upstream tcp retry failed", "upstream", addr, "err", err)
		return truncated, nil
	}
	return r, err
}

// dnsReply is the header of an answer to req: RA set, and an OPT record
// when req has one.
func dnsReply(req *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	m.RecursionAvailable = true
	if req.IsEdns0() != nil {
		m.SetEdns0(dnsEDNSSize, false)
	}
	return m
}

// dnsUDPSize is the largest UDP answer the client of req takes.
func dnsUDPSize(req *dns.Msg) int {
	if opt := req.IsEdns0(); opt != nil && opt.UDPSize() > dns.MinMsgSize {
		return int(opt.UDPSize())
	}
	return dns.MinMsgSize
}

func dnsHdr(name string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: dnsTTL}
}

// dnsView is the index of one State: every name of the cluster domain
// that exists, with its records, and the PTRs of the addresses. It is
// never changed once built.
type dnsView struct {
	domain string
	names  map[string]*dnsEntry // lower-case FQDN
	ptrs   map[string][]string  // reverse FQDN → targets
	soa    *dns.SOA
}

// dnsEntry is one name: its addresses and SRV records; none for a name
// that only has names below it.
type dnsEntry struct {
	ips  []net.IP // 4 bytes for IPv4
	srvs []dnsSRV
}

type dnsSRV struct {
	port   uint16
	target string
}

func (e *dnsEntry) addIP(ip net.IP) {
	for _, x := range e.ips {
		if x.Equal(ip) {
			return
		}
	}
	e.ips = append(e.ips, ip)
}

func (e *dnsEntry) addSRV(s dnsSRV) {
	if !slices.Contains(e.srvs, s) {
		e.srvs = append(e.srvs, s)
	}
}

// buildDNSView indexes the Services of s, in the order of their keys so
// that answers are the same for the same State.
func buildDNSView(s *State, domain string) *dnsView {
	v := &dnsView{
		domain: domain,
		names:  map[string]*dnsEntry{domain: {}},
		ptrs:   map[string][]string{},
	}
	var rev uint64
	if s != nil {
		rev = s.Revision
		keys := make([]string, 0, len(s.Services))
		for k := range s.Services {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			svc := s.Services[k]
			if svc == nil {
				continue
			}
			ns, name := svc.Metadata.Namespace, svc.Metadata.Name
			if !dnsLabel(ns) || !dnsLabel(name) {
				continue
			}
			base := strings.ToLower(name + "." + ns + ".svc." + domain)
			if svc.Headless() {
				v.addHeadless(base, svc, s.Endpoints[Key(ns, name)])
			} else {
				v.addClusterIP(base, svc)
			}
		}
	}
	v.soa = &dns.SOA{
		Hdr:     dnsHdr(domain, dns.TypeSOA),
		Ns:      "ns.dns." + domain,
		Mbox:    "hostmaster." + domain,
		Serial:  uint32(rev),
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  dnsTTL,
	}
	return v
}

// entry returns the entry of name, made if new along with the names
// between it and the domain (empty non-terminals exist: NODATA).
func (v *dnsView) entry(name string) *dnsEntry {
	if e := v.names[name]; e != nil {
		return e
	}
	e := &dnsEntry{}
	v.names[name] = e
	for n := name; n != v.domain; {
		n = n[strings.IndexByte(n, '.')+1:]
		if v.names[n] != nil {
			break
		}
		v.names[n] = &dnsEntry{}
	}
	return e
}

func (v *dnsView) addPTR(ip net.IP, target string) {
	rev, err := dns.ReverseAddr(ip.String())
	if err != nil || slices.Contains(v.ptrs[rev], target) {
		return
	}
	v.ptrs[rev] = append(v.ptrs[rev], target)
}

// addClusterIP indexes a Service with a virtual IP: its name, the PTR of
// the IP, and one SRV per named port pointing at the name.
func (v *dnsView) addClusterIP(base string, svc *api.Service) {
	e := v.entry(base)
	for _, s := range append([]string{svc.Spec.ClusterIP}, svc.Spec.ClusterIPs...) {
		if ip := dnsParseIP(s); ip != nil {
			e.addIP(ip)
			v.addPTR(ip, base)
		}
	}
	for _, p := range svc.Spec.Ports {
		if n := dnsSRVName(p, base); n != "" {
			v.entry(n).addSRV(dnsSRV{port: uint16(p.Port), target: base})
		}
	}
}

// addHeadless indexes a Service without a virtual IP: its name and the
// names of its pods answer with the pods' addresses, one SRV per pod and
// named port.
func (v *dnsView) addHeadless(base string, svc *api.Service, eps *api.Endpoints) {
	e := v.entry(base)
	for _, p := range svc.Spec.Ports {
		if n := dnsSRVName(p, base); n != "" {
			v.entry(n)
		}
	}
	if eps == nil {
		return
	}
	for _, ss := range eps.Subsets {
		addrs := ss.Addresses
		if svc.Spec.PublishNotReadyAddresses {
			addrs = append(slices.Clip(addrs), ss.NotReadyAddresses...)
		}
		for _, a := range addrs {
			ip := dnsParseIP(a.IP)
			if ip == nil {
				continue
			}
			e.addIP(ip)
			target := dnsDashed(ip) + "." + base
			v.entry(target).addIP(ip)
			if dnsLabel(a.Hostname) {
				target = strings.ToLower(a.Hostname) + "." + base
				v.entry(target).addIP(ip)
				v.addPTR(ip, target)
			}
			for _, p := range svc.Spec.Ports {
				n := dnsSRVName(p, base)
				if n == "" {
					continue
				}
				for _, ep := range ss.Ports {
					if ep.Name == p.Name && protoOr(ep.Protocol) == protoOr(p.Protocol) {
						v.entry(n).addSRV(dnsSRV{port: uint16(ep.Port), target: target})
					}
				}
			}
		}
	}
}

// answer fills m with the records of name (lower case) for q.
func (v *dnsView) answer(m *dns.Msg, q dns.Question, name string) {
	e := v.names[name]
	if e == nil {
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{v.soa}
		return
	}
	var extra []dns.RR
	if q.Qtype == dns.TypeA || q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY {
		m.Answer = dnsAddrs(m.Answer, q.Name, e.ips, q.Qtype)
	}
	if q.Qtype == dns.TypeSRV || q.Qtype == dns.TypeANY {
		for _, s := range e.srvs {
			m.Answer = append(m.Answer, &dns.SRV{
				Hdr: dnsHdr(q.Name, dns.TypeSRV), Priority: 0, Weight: 100, Port: s.port, Target: s.target,
			})
			if t := v.names[s.target]; t != nil {
				extra = dnsAddrs(extra, s.target, t.ips, dns.TypeANY)
			}
		}
	}
	if (q.Qtype == dns.TypeSOA || q.Qtype == dns.TypeANY) && name == v.domain {
		soa := *v.soa
		soa.Hdr.Name = q.Name
		m.Answer = append(m.Answer, &soa)
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{v.soa}
		return
	}
	// Keep the OPT record dnsReply put last.
	m.Extra = append(extra, m.Extra...)
}

// dnsAddrs appends the A (and for ANY, AAAA) records of ips named name.
func dnsAddrs(rrs []dns.RR, name string, ips []net.IP, qtype uint16) []dns.RR {
	for _, ip := range ips {
		v4 := len(ip) == net.IPv4len
		switch {
		case v4 && qtype != dns.TypeAAAA:
			rrs = append(rrs, &dns.A{Hdr: dnsHdr(name, dns.TypeA), A: ip})
		case !v4 && qtype != dns.TypeA:
			rrs = append(rrs, &dns.AAAA{Hdr: dnsHdr(name, dns.TypeAAAA), AAAA: ip})
		}
	}
	return rrs
}

// dnsSRVName is "_<port>._<proto>.<base>" for a named port, "" else.
func dnsSRVName(p api.ServicePort, base string) string {
	if !dnsLabel(p.Name) {
		return ""
	}
	return strings.ToLower("_" + p.Name + "._" + protoOr(p.Protocol) + "." + base)
}

// dnsParseIP is s as a 4- or 16-byte IP, nil when not an address.
func dnsParseIP(s string) net.IP {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return nil
	}
	return net.IP(a.Unmap().AsSlice())
}

// dnsDashed is an address as one label: 10-1-0-5, fd00--5.
func dnsDashed(ip net.IP) string {
	return dnsDasher.Replace(ip.String())
}

var dnsDasher = strings.NewReplacer(".", "-", ":", "-")

// dnsLabel says whether s can be one label of a name.
func dnsLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
