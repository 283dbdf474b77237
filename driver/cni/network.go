package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/containernetworking/cni/libcni"
)

// ErrConfig is wrapped by every error New returns for a bad Config.
var ErrConfig = errors.New("cni: bad config")

// Config configures a node's pod network.
type Config struct {
	Name        string   // CNI network name; default "berth"
	Bridge      string   // the node's bridge device (15 bytes at most)
	PodCIDR     string   // this node's pod subnet, e.g. 10.244.3.0/24
	ClusterCIDR string   // every node's pods, e.g. 10.244.0.0/16: not masqueraded
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
	Protocol      string `json:"protocol"` // tcp (default) or udp
	HostIP        string `json:"hostIP,omitempty"`
}

// Sandbox is a pod's network namespace and address.
type Sandbox struct {
	PodUID string        `json:"podUID"`
	NetNS  string        `json:"netns"` // path, /run/netns/NAME
	IP     string        `json:"ip"`
	Ports  []PortMapping `json:"ports,omitempty"`
}

// Route sends another node's pod subnet to that node.
type Route struct {
	CIDR string `json:"cidr"`
	Via  string `json:"via"`
}

// Network is a node's pod network. Its methods may be called from several
// goroutines; sandboxes are set up and torn down one at a time.
type Network struct {
	cfg     Config
	podNet  netip.Prefix
	cluster netip.Prefix
	log     *slog.Logger
	cni     *libcni.CNIConfig
	list    *libcni.NetworkConfigList // bridge + host-local, portmap
	bare    *libcni.NetworkConfigList // the same without portmap: pods with no host port
	lo      *libcni.NetworkConfigList // loopback

	// mu: Setup and Teardown of different pods run at once (read lock,
	// plus the pod's own lock); EnsureHost, SetRoutes and Purge run alone.
	// Until the bridge exists, Setups run one at a time: the bridge plugin
	// races itself creating it.
	mu       sync.RWMutex
	podMu    sync.Mutex
	pods     map[string]*podLock
	bridgeUp atomic.Bool
}

// podLock serializes the calls for one pod.
type podLock struct {
	sync.Mutex
	users int
}

// lockPod takes what a Setup or Teardown of uid needs and returns its
// release.
func (n *Network) lockPod(uid string) func() {
	exclusive := !n.bridgeUp.Load()
	if exclusive {
		n.mu.Lock()
	} else {
		n.mu.RLock()
	}
	n.podMu.Lock()
	if n.pods == nil {
		n.pods = map[string]*podLock{}
	}
	l := n.pods[uid]
	if l == nil {
		l = &podLock{}
		n.pods[uid] = l
	}
	l.users++
	n.podMu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		n.podMu.Lock()
		if l.users--; l.users == 0 {
			delete(n.pods, uid)
		}
		n.podMu.Unlock()
		if exclusive {
			n.mu.Unlock()
		} else {
			n.mu.RUnlock()
		}
	}
}

// names allowed for bridges and pod UIDs: what CNI allows for container
// IDs, which also keeps them safe in file names and iptables comments.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)

// New checks the config and makes the data directories; nothing else on
// the host changes until EnsureHost or Setup.
func New(cfg Config) (*Network, error) {
	if len(cfg.Bridge) > 15 || !validName.MatchString(cfg.Bridge) {
		return nil, fmt.Errorf("%w: bridge name %q: 1 to 15 of [a-zA-Z0-9_.-]", ErrConfig, cfg.Bridge)
	}
	podNet, err := parseCIDR("pod CIDR", cfg.PodCIDR)
	if err != nil {
		return nil, err
	}
	cluster, err := parseCIDR("cluster CIDR", cfg.ClusterCIDR)
	if err != nil {
		return nil, err
	}
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("%w: a data dir is required", ErrConfig)
	}
	if cfg.Name == "" {
		cfg.Name = "berth"
	}
	if !validName.MatchString(cfg.Name) {
		return nil, fmt.Errorf("%w: network name %q", ErrConfig, cfg.Name)
	}
	if len(cfg.PluginDirs) == 0 {
		cfg.PluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for _, d := range []string{"ipam", "cache", "sandboxes"} {
		if err := os.MkdirAll(filepath.Join(cfg.DataDir, d), 0o700); err != nil {
			return nil, fmt.Errorf("cni: %w", err)
		}
	}
	n := &Network{cfg: cfg, podNet: podNet, cluster: cluster,
		log: cfg.Logger.With("bridge", cfg.Bridge),
		cni: libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, filepath.Join(cfg.DataDir, "cache"), nil)}
	if n.list, err = libcni.ConfListFromBytes(n.conflist(true)); err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	if n.bare, err = libcni.ConfListFromBytes(n.conflist(false)); err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	lo, _ := json.Marshal(map[string]any{"cniVersion": "1.0.0", "name": n.netName() + "-lo",
		"plugins": []any{map[string]string{"type": "loopback"}}})
	if n.lo, err = libcni.ConfListFromBytes(lo); err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	return n, nil
}

func parseCIDR(what, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%w: %s %q: an IPv4 prefix is required", ErrConfig, what, s)
	}
	return p.Masked(), nil
}

// netName is the CNI network's name. It carries the bridge, so that two
// networks on one machine never share portmap's chains (named after the
// network and the pod) even for the same pod UID.
func (n *Network) netName() string { return n.cfg.Name + "-" + n.cfg.Bridge }

// conflist is the pod network: a veth into the bridge (the host side is
// the pods' gateway), an address from the pod subnet with a default
// route, and host ports (snat, so 127.0.0.1:port works too). A pod with
// no host port skips portmap: one plugin run less per pod. Both lists have
// one name, so the cached list of a pod is what its teardown runs.
func (n *Network) conflist(ports bool) []byte {
	plugins := []any{
		map[string]any{
			"type": "bridge", "bridge": n.cfg.Bridge,
			"isGateway": true, "hairpinMode": true, "ipMasq": false,
			"ipam": map[string]any{
				"type":    "host-local",
				"ranges":  [][]map[string]string{{{"subnet": n.podNet.String()}}},
				"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
				"dataDir": filepath.Join(n.cfg.DataDir, "ipam"),
			},
		},
	}
	if ports {
		plugins = append(plugins, map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}, "snat": true})
	}
	b, _ := json.Marshal(map[string]any{"cniVersion": "1.0.0", "name": n.netName(), "plugins": plugins})
	return b
}

// Bridge is the network's bridge device.
func (n *Network) Bridge() string { return n.cfg.Bridge }

func (n *Network) String() string { return n.cfg.Bridge + " " + n.cfg.PodCIDR }

// run runs a command, its output in the error.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
