package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// RouteProto marks the routes SetRoutes adds (`ip route ... proto 184`),
// a number no routing daemon of /etc/iproute2/rt_protos uses.
const RouteProto = 184

// comment marks the iptables rules of this network.
func (n *Network) comment() string { return "berth:" + n.cfg.Bridge }

// rule is one iptables rule: its table, chain and spec.
type rule struct {
	table, chain string
	spec         []string
}

// hostRules are the iptables rules pods need: forwarding in and out of the
// bridge, first in FORWARD (its policy may be DROP, as Docker sets it, and
// with bridge-nf-call-iptables even traffic between two pods of the bridge
// passes there), and masquerade of pod traffic that leaves the cluster's
// pods, except on the bridge itself.
func (n *Network) hostRules() []rule {
	c := []string{"-m", "comment", "--comment", n.comment()}
	br := n.cfg.Bridge
	return []rule{
		{"filter", "FORWARD", slices.Concat([]string{"-i", br}, c, []string{"-j", "ACCEPT"})},
		{"filter", "FORWARD", slices.Concat([]string{"-o", br}, c, []string{"-j", "ACCEPT"})},
		{"nat", "POSTROUTING", slices.Concat([]string{"-s", n.podNet.String(), "!", "-d", n.cluster.String(), "!", "-o", br}, c, []string{"-j", "MASQUERADE"})},
	}
}

// EnsureHost turns on IP forwarding and puts the host rules in place. It
// is idempotent; rules of this bridge that differ (an old pod subnet) are
// replaced.
func (n *Network) EnsureHost(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	const fwd = "/proc/sys/net/ipv4/ip_forward"
	if b, err := os.ReadFile(fwd); err != nil || strings.TrimSpace(string(b)) != "1" {
		if err := os.WriteFile(fwd, []byte("1"), 0o644); err != nil {
			return fmt.Errorf("cni: turn on IP forwarding: %w", err)
		}
	}
	want := n.hostRules()
	for _, chain := range []struct{ table, chain string }{{"filter", "FORWARD"}, {"nat", "POSTROUTING"}} {
		have, err := n.ourRules(ctx, chain.table, chain.chain)
		if err != nil {
			return err
		}
		var wanted []rule
		ok := true
		for _, r := range want {
			if r.table == chain.table && r.chain == chain.chain {
				wanted = append(wanted, r)
				ok = ok && n.iptables(ctx, r.table, "-C", r.chain, r.spec...) == nil
			}
		}
		if ok && len(have) == len(wanted) {
			continue
		}
		for _, r := range have {
			if err := n.iptables(ctx, r.table, "-D", r.chain, r.spec...); err != nil {
				return err
			}
		}
		// Inserted at the top in reverse, so they keep their order.
		for _, r := range slices.Backward(wanted) {
			if err := n.iptables(ctx, r.table, "-I", r.chain, append([]string{"1"}, r.spec...)...); err != nil {
				return err
			}
		}
		n.log.Info("host rules in place", "table", chain.table, "chain", chain.chain)
	}
	return nil
}

func (n *Network) iptables(ctx context.Context, table, op, chain string, args ...string) error {
	if err := run(ctx, "iptables", slices.Concat([]string{"-w", "-t", table, op, chain}, args)...); err != nil {
		return fmt.Errorf("cni: %w", err)
	}
	return nil
}

// ourRules lists the rules with this network's comment in a table (in one
// chain, or all where chain is "").
func (n *Network) ourRules(ctx context.Context, table, chain string) ([]rule, error) {
	args := []string{"-w", "-t", table, "-S"}
	if chain != "" {
		args = append(args, chain)
	}
	out, err := exec.CommandContext(ctx, "iptables", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("cni: iptables %s: %w", strings.Join(args, " "), err)
	}
	var rules []rule
	for line := range strings.Lines(string(out)) {
		words := splitRule(strings.TrimSpace(line))
		if len(words) < 2 || words[0] != "-A" {
			continue
		}
		for i, w := range words[:len(words)-1] {
			if w == "--comment" && words[i+1] == n.comment() {
				rules = append(rules, rule{table, words[1], words[2:]})
				break
			}
		}
	}
	return rules, nil
}

// splitRule splits an iptables -S line into words; a quoted word (a
// comment) stays whole.
func splitRule(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, have = !quoted, true
		case r == ' ' && !quoted:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// routesPath records the destinations of the routes this network added,
// so that two networks on one machine remove only their own.
func (n *Network) routesPath() string { return filepath.Join(n.cfg.DataDir, "routes.json") }

// SetRoutes routes the other nodes' pod subnets via their addresses
// (`ip route replace CIDR via IP proto RouteProto`). A node on this
// machine (its address is ours) needs no route: its bridge's connected
// route is here already; nor does our own subnet. Routes this network
// added before and not listed now are removed.
func (n *Network) SetRoutes(ctx context.Context, routes []Route) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.setRoutes(ctx, routes)
}

func (n *Network) setRoutes(ctx context.Context, routes []Route) error {
	local := localAddrs()
	var errs []error
	want := map[netip.Prefix]netip.Addr{}
	for _, r := range routes {
		dst, err := netip.ParsePrefix(r.CIDR)
		via, verr := netip.ParseAddr(r.Via)
		if err != nil || verr != nil || !dst.Addr().Is4() || !via.Is4() {
			errs = append(errs, fmt.Errorf("cni: route %s via %s: not IPv4", r.CIDR, r.Via))
			continue
		}
		dst = dst.Masked()
		if dst.Overlaps(n.podNet) || via.IsLoopback() || local[via] {
			continue
		}
		want[dst] = via
	}
	var had []string
	if b, err := os.ReadFile(n.routesPath()); err == nil {
		_ = json.Unmarshal(b, &had)
	}
	// Write the record first: a route added and then forgotten by a
	// crash would never be removed.
	var rec []string
	for dst := range want {
		rec = append(rec, dst.String())
	}
	slices.Sort(rec)
	for _, dst := range had {
		if !slices.Contains(rec, dst) {
			rec = append(rec, dst) // until it is gone
		}
	}
	if err := writeJSON(n.routesPath(), rec); err != nil {
		return err
	}
	for dst, via := range want {
		errs = append(errs, run(ctx, "ip", "route", "replace", dst.String(), "via", via.String(), "proto", strconv.Itoa(RouteProto)))
	}
	present, err := ourRoutes(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	kept := rec[:0]
	for _, dst := range rec {
		p, _ := netip.ParsePrefix(dst)
		if _, ok := want[p]; ok {
			kept = append(kept, dst)
			continue
		}
		if slices.Contains(present, dst) {
			if err := run(ctx, "ip", "route", "delete", dst, "proto", strconv.Itoa(RouteProto)); err != nil {
				errs = append(errs, err)
				kept = append(kept, dst)
			}
		}
	}
	errs = append(errs, writeJSON(n.routesPath(), kept))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cni: routes: %w", err)
	}
	return nil
}

// ourRoutes lists the destinations of the main table's routes with our
// protocol number.
func ourRoutes(ctx context.Context) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ip", "-j", "-4", "route", "show", "proto", strconv.Itoa(RouteProto)).Output()
	if err != nil {
		return nil, fmt.Errorf("ip route show: %w", err)
	}
	var rs []struct {
		Dst string `json:"dst"`
	}
	if len(strings.TrimSpace(string(out))) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(out, &rs); err != nil {
		return nil, fmt.Errorf("ip route show: %w", err)
	}
	var dsts []string
	for _, r := range rs {
		if p, err := netip.ParsePrefix(r.Dst); err == nil {
			dsts = append(dsts, p.String())
		} else if a, err := netip.ParseAddr(r.Dst); err == nil {
			dsts = append(dsts, netip.PrefixFrom(a, 32).String())
		}
	}
	return dsts, nil
}

// localAddrs are this machine's addresses.
func localAddrs() map[netip.Addr]bool {
	local := map[netip.Addr]bool{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			local[p.Addr().Unmap()] = true
		}
	}
	return local
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return fmt.Errorf("cni: %w", err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("cni: %w", err)
	}
	return nil
}

// Purge removes every sandbox of this network (recorded or half made),
// its routes, its iptables rules and its bridge, and forgets its leases.
// It goes on past errors and returns them all.
func (n *Network) Purge(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer n.bridgeUp.Store(false)
	var errs []error
	uids := map[string]bool{}
	sbs, err := n.Sandboxes()
	errs = append(errs, err)
	for _, sb := range sbs {
		uids[sb.PodUID] = true
	}
	// Pods whose ADD ran but whose record was never written.
	if entries, err := os.ReadDir(filepath.Join(n.cfg.DataDir, "cache", "results")); err == nil {
		for _, e := range entries {
			rest, ok := strings.CutPrefix(e.Name(), n.netName()+"-")
			if uid, ok2 := strings.CutSuffix(rest, "-eth0"); ok && ok2 && validName.MatchString(uid) {
				uids[uid] = true
			}
		}
	}
	for uid := range uids {
		errs = append(errs, n.teardown(ctx, uid, nil))
	}
	// Namespaces without record or cache (a crash right after making one).
	if entries, err := os.ReadDir(netnsDir); err == nil {
		for _, e := range entries {
			if n.ours(e.Name()) {
				errs = append(errs, run(ctx, "ip", "netns", "delete", e.Name()))
			}
		}
	}
	errs = append(errs, n.setRoutes(ctx, nil))
	for _, table := range []string{"filter", "nat"} {
		rules, err := n.ourRules(ctx, table, "")
		errs = append(errs, err)
		for _, r := range rules {
			errs = append(errs, n.iptables(ctx, r.table, "-D", r.chain, r.spec...))
		}
	}
	if _, err := net.InterfaceByName(n.cfg.Bridge); err == nil {
		errs = append(errs, run(ctx, "ip", "link", "delete", n.cfg.Bridge, "type", "bridge"))
	}
	errs = append(errs, os.RemoveAll(filepath.Join(n.cfg.DataDir, "ipam")),
		os.RemoveAll(filepath.Join(n.cfg.DataDir, "cache")))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cni: purge %s: %w", n.cfg.Bridge, err)
	}
	n.log.Info("network purged")
	return nil
}
