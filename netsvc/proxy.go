package netsvc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The proxy load-balances Services in the kernel, as kube-proxy's iptables
// mode does: a Service port's virtual IP (and its node port on every local
// address) jumps to a chain that picks one ready endpoint at random (rule
// i of n matches with probability 1/(n-i)) and DNATs the connection to it.
// Conntrack keeps each connection on its endpoint. No source NAT inside the
// cluster, so pods see their clients' addresses; only node-port traffic
// (whose replies must come back through the node that took it) and a pod
// reaching itself through its Service are masqueraded. A port with no
// ready endpoint is rejected at once (connection refused), not left to
// time out. ClientIP session affinity uses the recent match, as
// kube-proxy does. UDP flows to an endpoint that is no longer one are deleted
// from conntrack (vishvananda/netlink), as kube-proxy does, or a client
// that keeps its source port would go on sending to it.
//
// All chains of one proxy carry its tag: BSVC-TAG (services, from nat
// PREROUTING and OUTPUT), BNP-TAG (node ports), BPOST-TAG (masquerade),
// BFWD-TAG and BREJ-TAG (filter), BS-TAG-HASH (one per service port),
// BL-TAG-HASH (its node port's local endpoints, with externalTrafficPolicy
// Local) and BE-TAG-HASH (one per endpoint). Every sync writes them all in one
// iptables-restore transaction, so a packet sees the old rules or the new,
// never half of a change; the jumps from the built-in chains are added
// once, with the comment "berth-svc:TAG".

// ProxyConfig configures a node's service proxy.
type ProxyConfig struct {
	// Tag names this proxy's chains (at most 12 bytes: letters, digits,
	// since a chain name has at most 28); several proxies can share one
	// network namespace.
	Tag string
	// PodSubnet is this node's pod subnet: when the kernel cannot run
	// bridged traffic through iptables (no br_netfilter), traffic from it
	// to one of its own pods through a Service is masqueraded, else the
	// reply would bypass the DNAT.
	PodSubnet string
	// NodeName is this node's: a node port with externalTrafficPolicy
	// Local reaches only the endpoints on it.
	NodeName string
	Logger   *slog.Logger
}

// Proxy keeps a node's iptables rules for Services.
type Proxy struct {
	cfg ProxyConfig
	log *slog.Logger
	mu  sync.Mutex
	// prev is the ruleset in place: a sync writes only the chains that
	// differ from it (nil: every chain). Every FullSync, a sync writes
	// every chain, in case someone else changed ours.
	prev     *ruleset
	lastFull time.Time
	// bridgeNF: bridged packets pass iptables (br_netfilter loaded and on).
	bridgeNF bool
	hooked   bool
	// udp is, per UDP Service port, the endpoint IPs of the rules in
	// place.
	udp map[string]map[string]bool
}

// externalLocal is the externalTrafficPolicy that keeps node-port
// traffic on the node's own endpoints.
const externalLocal = "Local"

// masqMark marks packets to masquerade in BPOST (kube-proxy's bit).
const masqMark = "0x4000/0x4000"

// NewProxy checks the config.
func NewProxy(cfg ProxyConfig) (*Proxy, error) {
	if cfg.Tag == "" || len(cfg.Tag) > 12 || strings.ContainsFunc(cfg.Tag, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		return nil, fmt.Errorf("netsvc: proxy tag %q: want 1-12 letters and digits", cfg.Tag)
	}
	if _, err := netip.ParsePrefix(cfg.PodSubnet); err != nil {
		return nil, fmt.Errorf("netsvc: pod subnet %q: %v", cfg.PodSubnet, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Proxy{cfg: cfg, log: cfg.Logger.With("part", "proxy")}, nil
}

// hooks are the jumps from the built-in chains into ours.
func (p *Proxy) hooks() []rule {
	t := p.cfg.Tag
	c := []string{"-m", "comment", "--comment", "berth-svc:" + t}
	j := func(table, chain string, spec ...string) rule {
		return rule{table, chain, slices.Concat(spec[:len(spec)-1], c, []string{"-j", spec[len(spec)-1]})}
	}
	return []rule{
		j("nat", "PREROUTING", "BSVC-"+t),
		j("nat", "OUTPUT", "BSVC-"+t),
		j("nat", "POSTROUTING", "BPOST-"+t),
		j("filter", "FORWARD", "BFWD-"+t),
		j("filter", "OUTPUT", "-m", "conntrack", "--ctstate", "NEW", "BREJ-"+t),
		j("filter", "FORWARD", "-m", "conntrack", "--ctstate", "NEW", "BREJ-"+t),
		j("filter", "INPUT", "-m", "conntrack", "--ctstate", "NEW", "BREJ-"+t),
	}
}

type rule struct {
	table, chain string
	spec         []string
}

// Start readies the kernel (forwarding; bridged traffic through iptables
// where br_netfilter is there) and puts the hooks in place, first in their
// built-in chains (a rule of another that accepts a pod's traffic must not
// come before the rejection of a Service without endpoints). Rules of
// this tag already in place (an agent restarted) stay and serve until the
// first Update replaces them: a restart does not cut Services off. Close
// or Purge removes them.
func (p *Proxy) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bridgeNF = enableBridgeNF()
	if !p.bridgeNF {
		p.log.Warn("bridged traffic does not pass iptables (no br_netfilter): a pod reaching a pod of its own node through a Service is masqueraded")
	}
	// Take over what a proxy of this tag left (this agent before a
	// restart): its rules go on serving until the first sync, which
	// rewrites every chain and deletes those it no longer has.
	stale := &ruleset{nat: map[string][]string{}, filter: map[string][]string{}}
	for _, table := range []string{"nat", "filter"} {
		chains, err := p.ourChains(ctx, table)
		if err != nil {
			return err
		}
		m := stale.nat
		if table == "filter" {
			m = stale.filter
		}
		for _, c := range chains {
			m[c] = []string{"\x00stale"} // differs from any chain's rules
		}
	}
	base := p.render(nil)
	for table, m := range map[string]map[string][]string{"nat": base.nat, "filter": base.filter} {
		have := stale.nat
		if table == "filter" {
			have = stale.filter
		}
		for c := range m {
			if _, ok := have[c]; !ok {
				if err := iptables(ctx, table, "-N", c); err != nil {
					return err
				}
				have[c] = []string{"\x00stale"}
			}
		}
	}
	for _, h := range p.hooks() {
		if iptables(ctx, h.table, "-C", h.chain, h.spec...) == nil {
			continue
		}
		if err := iptables(ctx, h.table, "-I", h.chain, append([]string{"1"}, h.spec...)...); err != nil {
			return err
		}
	}
	p.prev, p.hooked = stale, true
	return nil
}

// enableBridgeNF turns on iptables for bridged IPv4 traffic in this
// network namespace, loading br_netfilter if need be; false when the
// kernel has none.
func enableBridgeNF() bool {
	const knob = "/proc/sys/net/bridge/bridge-nf-call-iptables"
	if _, err := os.Stat(knob); err != nil {
		_ = exec.Command("modprobe", "br_netfilter").Run()
	}
	if b, err := os.ReadFile(knob); err == nil && strings.TrimSpace(string(b)) == "1" {
		return true
	}
	return os.WriteFile(knob, []byte("1"), 0o644) == nil
}

// Update syncs the rules to s. Only a change of the rules is written.
func (p *Proxy) Update(ctx context.Context, s *State) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.hooked {
		return errors.New("netsvc: proxy not started")
	}
	if time.Since(p.lastFull) > FullSync && p.prev != nil && !p.prev.stale() {
		p.prev = nil
	}
	if err := p.apply(ctx, p.render(s)); err != nil {
		return err
	}
	// UDP has no connection to end: conntrack would keep sending a
	// client's datagrams to an endpoint that is gone. Its flows are
	// forgotten, so the next datagram passes the new rules.
	udp := udpEndpoints(s)
	var errs []error
	for key, had := range p.udp {
		for ip := range had {
			if !udp[key][ip] {
				errs = append(errs, forgetUDP(ip))
			}
		}
	}
	p.udp = udp
	return errors.Join(errs...)
}

// udpEndpoints is the endpoint IPs of every UDP Service port with a
// virtual IP.
func udpEndpoints(s *State) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	if s == nil {
		return out
	}
	for key, svc := range s.Services {
		if _, err := netip.ParseAddr(svc.Spec.ClusterIP); err != nil {
			continue
		}
		for _, sp := range svc.Spec.Ports {
			if protoOr(sp.Protocol) != "UDP" {
				continue
			}
			ips := map[string]bool{}
			for _, be := range ReadyAddresses(s.Endpoints[key], sp.Name, sp.Protocol) {
				ips[be.IP] = true
			}
			out[key+"/"+sp.Name] = ips
		}
	}
	return out
}

// forgetUDP deletes the UDP flows answered by ip (those DNATed to it).
func forgetUDP(ip string) error {
	a := net.ParseIP(ip)
	if a == nil {
		return nil
	}
	f := &netlink.ConntrackFilter{}
	if err := f.AddProtocol(unix.IPPROTO_UDP); err != nil {
		return err
	}
	if err := f.AddIP(netlink.ConntrackReplySrcIP, a); err != nil {
		return err
	}
	if _, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, f); err != nil {
		return fmt.Errorf("netsvc: forget the UDP flows of %s: %w", ip, err)
	}
	return nil
}

// apply writes what differs between a ruleset (render's) and the one in
// place: new and changed chains, and the deletion of those it no longer
// has, in one transaction. A change of one Service rewrites its own
// chains, and the services chain only when a port or virtual IP comes or
// goes.
func (p *Proxy) apply(ctx context.Context, rs *ruleset) error {
	text := rs.text(p.prev)
	if text == "" {
		return nil
	}
	cmd := exec.CommandContext(ctx, "iptables-restore", "-w", "--noflush")
	cmd.Stdin = strings.NewReader(text)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		p.prev = staleOf(p.prev, rs) // unknown: write everything next time
		return fmt.Errorf("netsvc: iptables-restore: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if p.prev == nil || p.prev.stale() {
		p.lastFull = time.Now()
	}
	p.prev = rs
	return nil
}

// FullSync is how often the proxy writes every chain, not only those that
// changed.
const FullSync = 10 * time.Minute

// Close removes every rule and chain of the proxy.
func (p *Proxy) Close(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hooked = false
	p.prev, p.udp = nil, nil
	return p.purge(ctx)
}

// Purge removes what a proxy of tag left in this network namespace.
func Purge(ctx context.Context, tag string) error {
	p := &Proxy{cfg: ProxyConfig{Tag: tag}, log: slog.Default()}
	return p.purge(ctx)
}

func (p *Proxy) purge(ctx context.Context) error {
	var errs []error
	for _, h := range p.hooks() {
		for iptables(ctx, h.table, "-C", h.chain, h.spec...) == nil {
			if err := iptables(ctx, h.table, "-D", h.chain, h.spec...); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	for _, table := range []string{"nat", "filter"} {
		chains, err := p.ourChains(ctx, table)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(chains) == 0 {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "*%s\n", table)
		for _, c := range chains {
			fmt.Fprintf(&b, ":%s - [0:0]\n", c)
		}
		for _, c := range chains {
			fmt.Fprintf(&b, "-X %s\n", c)
		}
		b.WriteString("COMMIT\n")
		cmd := exec.CommandContext(ctx, "iptables-restore", "-w", "--noflush")
		cmd.Stdin = strings.NewReader(b.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("netsvc: remove chains: %v: %s", err, out))
		}
	}
	return errors.Join(errs...)
}

// ourChains lists the chains of this proxy's tag in a table.
func (p *Proxy) ourChains(ctx context.Context, table string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "iptables-save", "-t", table).Output()
	if err != nil {
		return nil, fmt.Errorf("netsvc: iptables-save: %v", err)
	}
	var chains []string
	for line := range strings.Lines(string(out)) {
		name, ok := strings.CutPrefix(line, ":")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, " ")
		if p.isOurs(name) {
			chains = append(chains, name)
		}
	}
	return chains, nil
}

func (p *Proxy) isOurs(chain string) bool {
	t := p.cfg.Tag
	for _, pre := range []string{"BSVC-", "BNP-", "BPOST-", "BFWD-", "BREJ-"} {
		if chain == pre+t {
			return true
		}
	}
	return strings.HasPrefix(chain, "BS-"+t+"-") || strings.HasPrefix(chain, "BE-"+t+"-") || strings.HasPrefix(chain, "BL-"+t+"-")
}

func iptables(ctx context.Context, table, op, chain string, spec ...string) error {
	args := slices.Concat([]string{"-w", "-t", table, op, chain}, spec)
	out, err := exec.CommandContext(ctx, "iptables", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netsvc: iptables %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ruleset is the content of our chains.
type ruleset struct {
	nat, filter map[string][]string // chain → rule specs (after -A CHAIN)
}

// staleOf is a ruleset of every chain of the rulesets given (nil ones
// skipped), with rules unknown: the next sync rewrites each chain it
// keeps and deletes the others.
func staleOf(rss ...*ruleset) *ruleset {
	out := &ruleset{nat: map[string][]string{}, filter: map[string][]string{}}
	for _, rs := range rss {
		if rs == nil {
			continue
		}
		for c := range rs.nat {
			out.nat[c] = []string{"\x00stale"}
		}
		for c := range rs.filter {
			out.filter[c] = []string{"\x00stale"}
		}
	}
	return out
}

// stale says whether the ruleset's rules are not known (staleOf, or what
// Start found in place).
func (rs *ruleset) stale() bool {
	for _, r := range rs.nat {
		return len(r) == 1 && r[0] == "\x00stale"
	}
	return false
}

func (rs *ruleset) add(table, chain string, spec ...string) {
	m := rs.nat
	if table == "filter" {
		m = rs.filter
	}
	m[chain] = append(m[chain], strings.Join(spec, " "))
}

// text is the iptables-restore input that turns prev (nil: nothing
// known) into rs: each chain that is new or differs declared (which
// flushes it) and filled, and each chain of prev that rs lacks declared
// and deleted; "" when nothing differs.
func (rs *ruleset) text(prev *ruleset) string {
	var b strings.Builder
	for _, table := range []string{"nat", "filter"} {
		m, old := rs.nat, map[string][]string(nil)
		if prev != nil {
			old = prev.nat
		}
		if table == "filter" {
			m = rs.filter
			if prev != nil {
				old = prev.filter
			}
		}
		var changed, gone []string
		for _, c := range slices.Sorted(maps.Keys(m)) {
			if had, ok := old[c]; prev == nil || !ok || !slices.Equal(had, m[c]) {
				changed = append(changed, c)
			}
		}
		for _, c := range slices.Sorted(maps.Keys(old)) {
			if _, ok := m[c]; !ok {
				gone = append(gone, c)
			}
		}
		if len(changed)+len(gone) == 0 {
			continue
		}
		fmt.Fprintf(&b, "*%s\n", table)
		for _, c := range slices.Concat(changed, gone) {
			fmt.Fprintf(&b, ":%s - [0:0]\n", c)
		}
		for _, c := range changed {
			for _, r := range m[c] {
				if r == "" {
					continue
				}
				fmt.Fprintf(&b, "-A %s %s\n", c, r)
			}
		}
		for _, c := range gone {
			fmt.Fprintf(&b, "-X %s\n", c)
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

// render builds the rules for s (nil: no Service).
func (p *Proxy) render(s *State) *ruleset {
	t := p.cfg.Tag
	rs := &ruleset{nat: map[string][]string{}, filter: map[string][]string{}}
	svcChain, npChain, postChain := "BSVC-"+t, "BNP-"+t, "BPOST-"+t
	fwdChain, rejChain := "BFWD-"+t, "BREJ-"+t
	for _, c := range []string{svcChain, npChain, postChain} {
		rs.nat[c] = []string{""}
	}
	for _, c := range []string{fwdChain, rejChain} {
		rs.filter[c] = []string{""}
	}
	// Masquerade what was marked, once: the mark is cleared first so a
	// packet that goes on (forwarded again) is not masqueraded twice.
	rs.add("nat", postChain, "-m", "mark", "!", "--mark", masqMark, "-j", "RETURN")
	rs.add("nat", postChain, "-j", "MARK", "--xor-mark", "0x4000")
	rs.add("nat", postChain, "-j", "MASQUERADE")
	// Node-port traffic forwarded to another node's pod, and its replies,
	// pass a FORWARD policy of DROP.
	rs.add("filter", fwdChain, "-m", "mark", "--mark", masqMark, "-j", "ACCEPT")
	rs.add("filter", fwdChain, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")
	if s == nil {
		rs.add("nat", svcChain, "-m", "addrtype", "--dst-type", "LOCAL", "!", "-d", "127.0.0.0/8", "-j", npChain)
		return rs
	}
	podNet := netip.MustParsePrefix(p.cfg.PodSubnet).Masked()
	var nodePorts [][]string
	for _, key := range slices.Sorted(maps.Keys(s.Services)) {
		svc := s.Services[key]
		ip := svc.Spec.ClusterIP
		if _, err := netip.ParseAddr(ip); err != nil {
			continue // headless, or not allocated
		}
		eps := s.Endpoints[key]
		for _, sp := range svc.Spec.Ports {
			proto := strings.ToLower(protoOr(sp.Protocol))
			backends := ReadyAddresses(eps, sp.Name, sp.Protocol)
			slices.SortFunc(backends, func(a, b Backend) int {
				return strings.Compare(a.IP+":"+strconv.Itoa(int(a.Port)), b.IP+":"+strconv.Itoa(int(b.Port)))
			})
			backends = slices.Compact(backends)
			comment := []string{"-m", "comment", "--comment", strconv.Quote(key + ":" + sp.Name)}
			dst := []string{"-d", ip + "/32", "-p", proto, "-m", proto, "--dport", strconv.Itoa(int(sp.Port))}
			if len(backends) == 0 {
				rs.add("filter", rejChain, slices.Concat(dst, comment, []string{"-j", "REJECT", "--reject-with", "icmp-port-unreachable"})...)
				if sp.NodePort != 0 {
					rs.add("filter", rejChain, slices.Concat([]string{"-m", "addrtype", "--dst-type", "LOCAL", "-p", proto, "-m", proto, "--dport", strconv.Itoa(int(sp.NodePort))}, comment, []string{"-j", "REJECT", "--reject-with", "icmp-port-unreachable"})...)
				}
				continue
			}
			chain := "BS-" + t + "-" + short(key+"/"+sp.Name+"/"+proto)
			rs.add("nat", svcChain, slices.Concat(dst, comment, []string{"-j", chain})...)
			if np := []string{"-p", proto, "-m", proto, "--dport", strconv.Itoa(int(sp.NodePort))}; sp.NodePort != 0 && svc.Spec.ExternalTrafficPolicy == externalLocal {
				// Only this node's endpoints, and no masquerade: the pod
				// sees the client's address. None here: dropped, as
				// kube-proxy does, so a load balancer's health check
				// turns to another node.
				var local []Backend
				for _, be := range backends {
					if be.Node == p.cfg.NodeName {
						local = append(local, be)
					}
				}
				if len(local) == 0 {
					rs.add("filter", rejChain, slices.Concat([]string{"-m", "addrtype", "--dst-type", "LOCAL"}, np, comment, []string{"-j", "DROP"})...)
				} else {
					lchain := "BL-" + t + "-" + short(key+"/"+sp.Name+"/"+proto)
					nodePorts = append(nodePorts, slices.Concat(np, comment, []string{"-j", lchain}))
					for i, be := range local {
						var pick []string
						if n := len(local) - i; n > 1 {
							pick = []string{"-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(1/float64(n), 'f', 10, 64)}
						}
						rs.add("nat", lchain, slices.Concat(pick, comment, []string{"-j", "BE-" + t + "-" + short(key+"/"+sp.Name+"/"+proto+"/"+be.IP+":"+strconv.Itoa(int(be.Port)))})...)
					}
				}
			} else if sp.NodePort != 0 {
				nodePorts = append(nodePorts,
					slices.Concat(np, comment, []string{"-j", "MARK", "--set-xmark", masqMark}),
					slices.Concat(np, comment, []string{"-j", chain}))
			}
			epChainOf := func(be Backend) string {
				return "BE-" + t + "-" + short(key+"/"+sp.Name+"/"+proto+"/"+be.IP+":"+strconv.Itoa(int(be.Port)))
			}
			// ClientIP affinity, as kube-proxy: a client seen by an
			// endpoint within the timeout goes back to it.
			affinity := svc.AffinityTimeout()
			if affinity > 0 {
				for _, be := range backends {
					rs.add("nat", chain, slices.Concat([]string{"-m", "recent", "--name", epChainOf(be), "--rcheck", "--seconds", strconv.Itoa(int(affinity)), "--reap"},
						comment, []string{"-j", epChainOf(be)})...)
				}
			}
			for i, be := range backends {
				epChain := epChainOf(be)
				var pick []string
				if n := len(backends) - i; n > 1 {
					pick = []string{"-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(1/float64(n), 'f', 10, 64)}
				}
				rs.add("nat", chain, slices.Concat(pick, comment, []string{"-j", epChain})...)
				// A pod reaching itself through its Service: masquerade,
				// or the reply would not pass the DNAT.
				rs.add("nat", epChain, slices.Concat([]string{"-s", be.IP + "/32"}, comment, []string{"-j", "MARK", "--set-xmark", masqMark})...)
				if a, err := netip.ParseAddr(be.IP); err == nil && !p.bridgeNF && podNet.Contains(a) {
					rs.add("nat", epChain, slices.Concat([]string{"-s", podNet.String()}, comment, []string{"-j", "MARK", "--set-xmark", masqMark})...)
				}
				var remember []string
				if affinity > 0 {
					remember = []string{"-m", "recent", "--name", epChain, "--set"}
				}
				rs.add("nat", epChain, slices.Concat([]string{"-p", proto}, remember, comment, []string{"-j", "DNAT", "--to-destination", net4(be.IP, be.Port)})...)
			}
		}
	}
	for _, r := range nodePorts {
		rs.add("nat", npChain, r...)
	}
	// Last: node ports answer on every local address but loopback.
	rs.add("nat", svcChain, "-m", "addrtype", "--dst-type", "LOCAL", "!", "-d", "127.0.0.0/8", "-j", npChain)
	return rs
}

func net4(ip string, port int32) string { return ip + ":" + strconv.Itoa(int(port)) }

// short is a chain name's hash part: 10 hex digits.
func short(s string) string {
	h := sha256.Sum256([]byte(s))
	return strings.ToUpper(hex.EncodeToString(h[:5]))
}
