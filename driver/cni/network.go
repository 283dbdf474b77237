// Package cni gives each pod its own network namespace and an IP from the
// node's pod subnet, through the CNI plugins of Debian's
// containernetworking-plugins (bridge, host-local, loopback, portmap) run
// by libcni. It also sets the host up for pod traffic (forwarding, the
// FORWARD and masquerade rules, routes to other nodes' pod subnets) and
// removes all of it again (Purge).
//
// It imports nothing of ours.
//
//	nw, err := cni.New(cni.Config{Name: "berth", Bridge: "bz0", PodCIDR: "10.244.3.0/24", ClusterCIDR: "10.244.0.0/16", DataDir: dir})
//	err = nw.EnsureHost(ctx)
//	sb, err := nw.Setup(ctx, podUID, nil) // sb.NetNS, sb.IP
//	err = nw.Teardown(ctx, podUID)
package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// Config configures a node's pod network.
type Config struct {
	Name        string   // CNI network name
	Bridge      string   // the node's bridge device (15 bytes at most)
	PodCIDR     string   // this node's pod subnet
	ClusterCIDR string   // every node's pods: not masqueraded
	PluginDirs  []string // default /usr/lib/cni, /opt/cni/bin
	// DataDir holds host-local's leases, libcni's cache, the sandbox
	// records (a restarted agent finds its pods) and the routes it added.
	DataDir string
	Logger  *slog.Logger
}

// PortMapping publishes a pod port on the node.
type PortMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"` // tcp or udp
	HostIP        string `json:"hostIP,omitempty"`
}

// Sandbox is a pod's network namespace and address.
type Sandbox struct {
	PodUID string        `json:"podUID"`
	NetNS  string        `json:"netns"`
	IP     string        `json:"ip"`
	Ports  []PortMapping `json:"ports,omitempty"`
}

// Route sends another node's pod subnet to that node.
type Route struct {
	CIDR string `json:"cidr"`
	Via  string `json:"via"`
}

// Network is a node's pod network.
type Network struct {
	cfg  Config
	log  *slog.Logger
	cni  *libcni.CNIConfig
	list *libcni.NetworkConfigList
	lo   *libcni.NetworkConfigList

	mu sync.Mutex // one Setup or Teardown at a time
}

// New checks the config and prepares the network; nothing on the host
// changes until EnsureHost or Setup.
func New(cfg Config) (*Network, error) {
	if cfg.Bridge == "" || len(cfg.Bridge) > 15 {
		return nil, fmt.Errorf("cni: bridge name %q must be 1 to 15 bytes", cfg.Bridge)
	}
	for _, c := range []struct{ name, v string }{{"pod CIDR", cfg.PodCIDR}, {"cluster CIDR", cfg.ClusterCIDR}} {
		if _, err := netip.ParsePrefix(c.v); err != nil {
			return nil, fmt.Errorf("cni: %s %q: %v", c.name, c.v, err)
		}
	}
	if cfg.DataDir == "" {
		return nil, errors.New("cni: a data dir is required")
	}
	if len(cfg.PluginDirs) == 0 {
		cfg.PluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
	}
	if cfg.Name == "" {
		cfg.Name = "berth"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for _, d := range []string{"ipam", "cache", "sandboxes"} {
		if err := os.MkdirAll(filepath.Join(cfg.DataDir, d), 0o700); err != nil {
			return nil, err
		}
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       cfg.Name + "-" + cfg.Bridge,
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": cfg.Bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": cfg.PodCIDR}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": filepath.Join(cfg.DataDir, "ipam"),
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}, "snat": true},
		},
	}
	b, err := json.Marshal(conf)
	if err != nil {
		return nil, err
	}
	list, err := libcni.ConfListFromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	lo, err := libcni.ConfListFromBytes([]byte(`{"cniVersion":"1.0.0","name":"` + cfg.Name + `-lo","plugins":[{"type":"loopback"}]}`))
	if err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	return &Network{cfg: cfg, log: cfg.Logger, list: list, lo: lo,
		cni: libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, filepath.Join(cfg.DataDir, "cache"), nil)}, nil
}

func (n *Network) String() string { return n.cfg.Bridge + " " + n.cfg.PodCIDR }

// netnsName is the pod's named network namespace (/run/netns/NAME).
func (n *Network) netnsName(uid string) string {
	id := strings.ReplaceAll(uid, "-", "")
	return n.cfg.Bridge + "-" + id[:min(12, len(id))]
}

func (n *Network) recordPath(uid string) string {
	return filepath.Join(n.cfg.DataDir, "sandboxes", uid+".json")
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func runtimeConf(uid, netns, ifname string, ports []PortMapping) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: uid, NetNS: netns, IfName: ifname}
	if len(ports) > 0 {
		pm := make([]any, 0, len(ports))
		for _, p := range ports {
			proto := strings.ToLower(p.Protocol)
			if proto == "" {
				proto = "tcp"
			}
			pm = append(pm, map[string]any{"hostPort": p.HostPort, "containerPort": p.ContainerPort, "protocol": proto, "hostIP": p.HostIP})
		}
		rt.CapabilityArgs = map[string]any{"portMappings": pm}
	}
	return rt
}

// Setup makes the pod's network namespace and gives it an address (and
// its host ports). A sandbox that exists is returned as it is.
func (n *Network) Setup(ctx context.Context, uid string, ports []PortMapping) (Sandbox, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if sb, err := n.read(uid); err == nil {
		if _, err := os.Stat(sb.NetNS); err == nil {
			return sb, nil
		}
		if err := n.teardown(ctx, uid); err != nil {
			return Sandbox{}, err
		}
	}
	name := n.netnsName(uid)
	path := "/run/netns/" + name
	if _, err := os.Stat(path); err == nil {
		_ = run(ctx, "ip", "netns", "delete", name)
	}
	if err := run(ctx, "ip", "netns", "add", name); err != nil {
		return Sandbox{}, fmt.Errorf("cni: pod network namespace: %w", err)
	}
	sb := Sandbox{PodUID: uid, NetNS: path, Ports: ports}
	undo := func() {
		_ = n.cni.DelNetworkList(context.WithoutCancel(ctx), n.list, runtimeConf(uid, path, "eth0", ports))
		_ = run(context.WithoutCancel(ctx), "ip", "netns", "delete", name)
	}
	if _, err := n.cni.AddNetworkList(ctx, n.lo, runtimeConf(uid, path, "lo", nil)); err != nil {
		undo()
		return Sandbox{}, fmt.Errorf("cni: loopback: %w", err)
	}
	res, err := n.cni.AddNetworkList(ctx, n.list, runtimeConf(uid, path, "eth0", ports))
	if err != nil {
		undo()
		return Sandbox{}, fmt.Errorf("cni: pod network: %w", err)
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil || len(r.IPs) == 0 {
		undo()
		return Sandbox{}, fmt.Errorf("cni: no address in the plugins' result: %v", err)
	}
	sb.IP = r.IPs[0].Address.IP.String()
	b, _ := json.Marshal(sb)
	if err := os.WriteFile(n.recordPath(uid), b, 0o600); err != nil {
		undo()
		return Sandbox{}, err
	}
	return sb, nil
}

func (n *Network) read(uid string) (Sandbox, error) {
	var sb Sandbox
	b, err := os.ReadFile(n.recordPath(uid))
	if err != nil {
		return sb, err
	}
	return sb, json.Unmarshal(b, &sb)
}

// Teardown releases the pod's address and host ports and removes its
// network namespace. Whatever is already gone is skipped.
func (n *Network) Teardown(ctx context.Context, uid string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.teardown(ctx, uid)
}

func (n *Network) teardown(ctx context.Context, uid string) error {
	name := n.netnsName(uid)
	path := "/run/netns/" + name
	sb, err := n.read(uid)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	netns := path
	if _, err := os.Stat(path); err != nil {
		netns = "" // plugins release what they hold without the namespace
	}
	if err := n.cni.DelNetworkList(ctx, n.list, runtimeConf(uid, netns, "eth0", sb.Ports)); err != nil {
		return fmt.Errorf("cni: release the pod network: %w", err)
	}
	if netns != "" {
		if err := run(ctx, "ip", "netns", "delete", name); err != nil {
			return err
		}
	}
	if err := os.Remove(n.recordPath(uid)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Sandboxes lists the sandboxes recorded on disk.
func (n *Network) Sandboxes() ([]Sandbox, error) {
	entries, err := os.ReadDir(filepath.Join(n.cfg.DataDir, "sandboxes"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []Sandbox
	for _, e := range entries {
		uid, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		if sb, err := n.read(uid); err == nil {
			out = append(out, sb)
		}
	}
	return out, nil
}

// comment marks the iptables rules of this node's network.
func (n *Network) comment() string { return "berth:" + n.cfg.Bridge }

// hostRules are the iptables rules pods need: forwarding in and out of the
// bridge (the FORWARD policy may be DROP, as Docker sets it), and
// masquerade of pod traffic leaving the cluster's pod range.
func (n *Network) hostRules() [][]string {
	c := []string{"-m", "comment", "--comment", n.comment()}
	return [][]string{
		append([]string{"filter", "FORWARD", "-i", n.cfg.Bridge}, append(c, "-j", "ACCEPT")...),
		append([]string{"filter", "FORWARD", "-o", n.cfg.Bridge}, append(c, "-j", "ACCEPT")...),
		append([]string{"nat", "POSTROUTING", "-s", n.cfg.PodCIDR, "!", "-d", n.cfg.ClusterCIDR, "!", "-o", n.cfg.Bridge}, append(c, "-j", "MASQUERADE")...),
	}
}

// EnsureHost turns on forwarding and puts the host rules in place.
func (n *Network) EnsureHost(ctx context.Context) error {
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("cni: turn on IP forwarding: %w", err)
	}
	for _, r := range n.hostRules() {
		table, chain, spec := r[0], r[1], r[2:]
		if exec.CommandContext(ctx, "iptables", append([]string{"-w", "-t", table, "-C", chain}, spec...)...).Run() == nil {
			continue
		}
		if err := run(ctx, "iptables", append([]string{"-w", "-t", table, "-I", chain, "1"}, spec...)...); err != nil {
			return fmt.Errorf("cni: %w", err)
		}
	}
	return nil
}

// routesPath records the routes this network added.
func (n *Network) routesPath() string { return filepath.Join(n.cfg.DataDir, "routes.json") }

// SetRoutes routes the other nodes' pod subnets via their addresses. A
// node of this machine (its address is ours) needs none: its bridge's
// route is here already. Routes added before and not listed now go.
func (n *Network) SetRoutes(ctx context.Context, routes []Route) error {
	local := map[string]bool{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				local[p.Addr().String()] = true
			}
		}
	}
	var want []Route
	for _, r := range routes {
		if r.CIDR == n.cfg.PodCIDR || local[r.Via] {
			continue
		}
		want = append(want, r)
	}
	var had []Route
	if b, err := os.ReadFile(n.routesPath()); err == nil {
		_ = json.Unmarshal(b, &had)
	}
	var errs []error
	for _, r := range want {
		errs = append(errs, run(ctx, "ip", "route", "replace", r.CIDR, "via", r.Via))
	}
	for _, r := range had {
		if !slices.ContainsFunc(want, func(w Route) bool { return w.CIDR == r.CIDR }) {
			_ = run(ctx, "ip", "route", "delete", r.CIDR, "via", r.Via)
		}
	}
	b, _ := json.Marshal(want)
	errs = append(errs, os.WriteFile(n.routesPath(), b, 0o600))
	return errors.Join(errs...)
}

// Purge removes every sandbox, the routes, the host rules and the bridge.
func (n *Network) Purge(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	sbs, err := n.Sandboxes()
	errs = append(errs, err)
	for _, sb := range sbs {
		errs = append(errs, n.teardown(ctx, sb.PodUID))
	}
	// Namespaces of ours without a record (a crash between the two).
	if entries, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), n.cfg.Bridge+"-") {
				errs = append(errs, run(ctx, "ip", "netns", "delete", e.Name()))
			}
		}
	}
	errs = append(errs, n.SetRoutes(ctx, nil))
	for _, table := range []string{"filter", "nat"} {
		out, err := exec.CommandContext(ctx, "iptables", "-w", "-t", table, "-S").Output()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.HasPrefix(line, "-A ") || !strings.Contains(line, `"`+n.comment()+`"`) && !strings.Contains(line, " "+n.comment()+" ") {
				continue
			}
			args := append([]string{"-w", "-t", table, "-D"}, splitRule(strings.TrimPrefix(line, "-A "))...)
			errs = append(errs, run(ctx, "iptables", args...))
		}
	}
	if _, err := net.InterfaceByName(n.cfg.Bridge); err == nil {
		errs = append(errs, run(ctx, "ip", "link", "delete", n.cfg.Bridge))
	}
	errs = append(errs, os.RemoveAll(filepath.Join(n.cfg.DataDir, "ipam")), os.RemoveAll(filepath.Join(n.cfg.DataDir, "cache")))
	return errors.Join(errs...)
}


// splitRule splits an iptables -S line into arguments, keeping quoted
// words (comments) whole.
func splitRule(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ' ' && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}
