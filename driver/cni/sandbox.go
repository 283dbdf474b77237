package cni

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// netnsDir is where `ip netns` keeps named namespaces.
const netnsDir = "/run/netns"

// undoTimeout bounds the clean-up after a failed Setup, which runs even
// when the caller's context is done.
const undoTimeout = 30 * time.Second

// netnsName is the pod's named network namespace: the bridge, then the
// first 12 characters of the UID without dashes.
func (n *Network) netnsName(uid string) string {
	id := strings.ReplaceAll(uid, "-", "")
	return n.cfg.Bridge + "-" + id[:min(12, len(id))]
}

// ours says whether a namespace name is one netnsName could give.
func (n *Network) ours(netns string) bool {
	rest, ok := strings.CutPrefix(netns, n.cfg.Bridge+"-")
	return ok && rest != "" && len(rest) <= 12 && !strings.Contains(rest, "-")
}

func (n *Network) recordPath(uid string) string {
	return filepath.Join(n.cfg.DataDir, "sandboxes", uid+".json")
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// checkPorts normalises the protocols and rejects what portmap would.
func checkPorts(ports []PortMapping) ([]PortMapping, error) {
	out := slices.Clone(ports)
	for i, p := range out {
		p.Protocol = strings.ToLower(cmp.Or(p.Protocol, "tcp"))
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			return nil, fmt.Errorf("cni: port %d: protocol %q is neither tcp nor udp", p.HostPort, p.Protocol)
		}
		if p.HostPort < 1 || p.HostPort > 65535 || p.ContainerPort < 1 || p.ContainerPort > 65535 {
			return nil, fmt.Errorf("cni: port mapping %d->%d out of range", p.HostPort, p.ContainerPort)
		}
		if p.HostIP != "" {
			if _, err := netip.ParseAddr(p.HostIP); err != nil {
				return nil, fmt.Errorf("cni: port %d: host IP %q: %v", p.HostPort, p.HostIP, err)
			}
		}
		out[i] = p
	}
	return out, nil
}

func runtimeConf(uid, netns, ifname string, ports []PortMapping) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: uid, NetNS: netns, IfName: ifname}
	if len(ports) > 0 {
		pm := make([]any, 0, len(ports))
		for _, p := range ports {
			m := map[string]any{"hostPort": p.HostPort, "containerPort": p.ContainerPort, "protocol": p.Protocol}
			if p.HostIP != "" {
				m["hostIP"] = p.HostIP
			}
			pm = append(pm, m)
		}
		rt.CapabilityArgs = map[string]any{"portMappings": pm}
	}
	return rt
}

// Setup makes the pod's network namespace, gives it an address from the
// pod subnet and publishes its host ports; it records the sandbox in the
// data dir. A sandbox that exists, namespace and all, is returned as it
// is. On failure whatever Setup did is undone.
func (n *Network) Setup(ctx context.Context, uid string, ports []PortMapping) (Sandbox, error) {
	if !validName.MatchString(uid) {
		return Sandbox{}, fmt.Errorf("cni: pod UID %q: only [a-zA-Z0-9_.-] allowed", uid)
	}
	ports, err := checkPorts(ports)
	if err != nil {
		return Sandbox{}, err
	}
	defer n.lockPod(uid)()
	if sb, err := n.read(uid); err == nil && sb.NetNS != "" && exists(sb.NetNS) {
		return sb, nil
	}
	path := filepath.Join(netnsDir, n.netnsName(uid))
	if other := n.holder(path); other != "" && other != uid {
		return Sandbox{}, fmt.Errorf("cni: pod %s: namespace %s is pod %s's", uid, path, other)
	}
	// Left from an earlier try (a record without a namespace, or the
	// other way round): start afresh.
	if n.leftover(uid, path) {
		if err := n.teardown(ctx, uid, ports); err != nil {
			return Sandbox{}, err
		}
	}
	for try := 1; ; try++ {
		sb, err := n.setup(ctx, uid, path, ports)
		if err == nil {
			n.bridgeUp.Store(true)
			n.log.Debug("pod network up", "pod", uid, "ip", sb.IP, "netns", sb.NetNS)
			return sb, nil
		}
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
		uerr := n.teardown(uctx, uid, ports)
		cancel()
		if uerr != nil {
			return Sandbox{}, errors.Join(err, fmt.Errorf("cni: undo: %w", uerr))
		}
		// One more try: plugins of another process may have raced ours
		// creating the shared iptables chains.
		if try == 2 || ctx.Err() != nil || strings.Contains(err.Error(), "no IP addresses available") {
			return Sandbox{}, err
		}
		n.log.Debug("pod network: trying again", "pod", uid, "err", err)
	}
}

func (n *Network) setup(ctx context.Context, uid, path string, ports []PortMapping) (Sandbox, error) {
	if err := run(ctx, "ip", "netns", "add", filepath.Base(path)); err != nil {
		return Sandbox{}, fmt.Errorf("cni: pod %s: network namespace: %w", uid, err)
	}
	if _, err := n.cni.AddNetworkList(ctx, n.lo, runtimeConf(uid, path, "lo", nil)); err != nil {
		return Sandbox{}, fmt.Errorf("cni: pod %s: loopback: %w", uid, err)
	}
	list := n.list
	if len(ports) == 0 {
		list = n.bare
	}
	res, err := n.cni.AddNetworkList(ctx, list, runtimeConf(uid, path, "eth0", ports))
	if err != nil {
		return Sandbox{}, fmt.Errorf("cni: pod %s: %w", uid, err)
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return Sandbox{}, fmt.Errorf("cni: pod %s: plugins' result: %w", uid, err)
	}
	sb := Sandbox{PodUID: uid, NetNS: path, Ports: ports}
	for _, ip := range r.IPs {
		if ip.Address.IP.To4() != nil {
			sb.IP = ip.Address.IP.String()
			break
		}
	}
	if sb.IP == "" {
		return Sandbox{}, fmt.Errorf("cni: pod %s: no IPv4 address in the plugins' result", uid)
	}
	return sb, n.write(sb)
}

// Teardown releases the pod's address and host ports, removes its network
// namespace and forgets the sandbox. Whatever is gone already is skipped,
// so it may be called again, or after a crash half-way.
func (n *Network) Teardown(ctx context.Context, uid string) error {
	if !validName.MatchString(uid) {
		return fmt.Errorf("cni: pod UID %q: only [a-zA-Z0-9_.-] allowed", uid)
	}
	defer n.lockPod(uid)()
	return n.teardown(ctx, uid, nil)
}

// teardown undoes Setup. The port mappings to remove come from the record,
// else from libcni's cache of the last ADD, else from ports.
func (n *Network) teardown(ctx context.Context, uid string, ports []PortMapping) error {
	path := filepath.Join(netnsDir, n.netnsName(uid))
	sb, err := n.read(uid)
	switch {
	case err == nil:
		ports = sb.Ports
		if sb.NetNS != "" {
			path = sb.NetNS
		}
	case !errors.Is(err, os.ErrNotExist):
		n.log.Warn("unreadable sandbox record, tearing down anyway", "pod", uid, "err", err)
	}
	netns := path
	if !exists(path) {
		netns = "" // the plugins release what they hold without it
	}
	rt := runtimeConf(uid, netns, "eth0", ports)
	list := n.list
	if raw, crt, err := n.cni.GetNetworkListCachedConfig(n.list, rt); err == nil && raw != nil {
		// What ADD ran, with the ports it published: right even when the
		// config (say, the pod subnet) has changed since.
		if l, err := libcni.ConfListFromBytes(raw); err == nil {
			list, rt.CapabilityArgs = l, crt.CapabilityArgs
		}
	}
	if err := n.cni.DelNetworkList(ctx, list, rt); err != nil {
		return fmt.Errorf("cni: pod %s: release: %w", uid, err)
	}
	if err := n.cni.DelNetworkList(ctx, n.lo, runtimeConf(uid, netns, "lo", nil)); err != nil {
		return fmt.Errorf("cni: pod %s: loopback: %w", uid, err)
	}
	if netns != "" {
		if err := run(ctx, "ip", "netns", "delete", filepath.Base(netns)); err != nil && exists(netns) {
			return fmt.Errorf("cni: pod %s: %w", uid, err)
		}
	}
	if err := os.Remove(n.recordPath(uid)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cni: %w", err)
	}
	return nil
}

// Sandboxes lists the sandboxes recorded in the data dir, by pod UID.
func (n *Network) Sandboxes() ([]Sandbox, error) {
	entries, err := os.ReadDir(filepath.Join(n.cfg.DataDir, "sandboxes"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("cni: %w", err)
	}
	var out []Sandbox
	for _, e := range entries {
		uid, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !validName.MatchString(uid) {
			continue
		}
		sb, err := n.read(uid)
		if err != nil {
			n.log.Warn("unreadable sandbox record", "pod", uid, "err", err)
			continue
		}
		out = append(out, sb)
	}
	slices.SortFunc(out, func(a, b Sandbox) int { return strings.Compare(a.PodUID, b.PodUID) })
	return out, nil
}

// leftover says whether anything of the pod's sandbox is there.
func (n *Network) leftover(uid, path string) bool {
	if exists(n.recordPath(uid)) || exists(path) {
		return true
	}
	raw, _, err := n.cni.GetNetworkListCachedConfig(n.list, runtimeConf(uid, "", "eth0", nil))
	return err != nil || raw != nil
}

// holder is the pod whose record names the namespace path, if any.
func (n *Network) holder(path string) string {
	sbs, _ := n.Sandboxes()
	for _, sb := range sbs {
		if sb.NetNS == path {
			return sb.PodUID
		}
	}
	return ""
}

func (n *Network) read(uid string) (Sandbox, error) {
	var sb Sandbox
	b, err := os.ReadFile(n.recordPath(uid))
	if err != nil {
		return sb, err
	}
	if err := json.Unmarshal(b, &sb); err != nil {
		return sb, fmt.Errorf("cni: record of pod %s: %w", uid, err)
	}
	return sb, nil
}

// write records the sandbox; a crash leaves the old record or the new.
func (n *Network) write(sb Sandbox) error {
	b, err := json.Marshal(sb)
	if err != nil {
		return err
	}
	path := n.recordPath(sb.PodUID)
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return fmt.Errorf("cni: %w", err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("cni: %w", err)
	}
	return nil
}
