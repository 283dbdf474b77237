package driver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// cpuPeriod is the CFS period of a CPU limit, in microseconds.
const cpuPeriod = 100000

// defaultPath is PATH when neither the image nor the spec sets one.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// processArgs is the command line of a container: Command replaces the
// image's entrypoint, Args its cmd (as in Kubernetes).
func processArgs(s ContainerSpec, img ocispec.ImageConfig) []string {
	switch {
	case len(s.Command) > 0:
		return append(append([]string(nil), s.Command...), s.Args...)
	case len(s.Args) > 0:
		return append(append([]string(nil), img.Entrypoint...), s.Args...)
	default:
		return append(append([]string(nil), img.Entrypoint...), img.Cmd...)
	}
}

// mergeEnv returns base with over's variables replacing or appended.
func mergeEnv(base, over []string) []string {
	out := append([]string(nil), base...)
	index := make(map[string]int, len(out))
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		index[k] = i
	}
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := index[k]; ok {
			out[i] = kv
			continue
		}
		index[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// envValue is the value of key in env (K=V), the last one winning.
func envValue(env []string, key string) (string, bool) {
	v, found := "", false
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v, found = val, true
		}
	}
	return v, found
}

// specOpts turns a ContainerSpec into OCI spec options over the image's
// configuration (applied after oci.WithImageConfig).
func specOpts(s ContainerSpec, args []string, swapLimit bool) ([]oci.SpecOpts, error) {
	opts := []oci.SpecOpts{oci.WithProcessArgs(args...)}
	env := append([]string(nil), s.Env...)
	if len(s.GPUs) > 0 {
		minors := make([]string, len(s.GPUs))
		for i, n := range s.GPUs {
			minors[i] = strconv.Itoa(n)
		}
		env = append(env, "NVIDIA_VISIBLE_DEVICES="+strings.Join(minors, ","))
	}
	if len(env) > 0 {
		opts = append(opts, oci.WithEnv(env))
	}
	if s.WorkingDir != "" {
		if !path.IsAbs(s.WorkingDir) {
			return nil, fmt.Errorf("container %q: working directory %q is not absolute: %w", s.Name, s.WorkingDir, ErrInvalid)
		}
		opts = append(opts, oci.WithProcessCwd(s.WorkingDir))
	}
	if s.TTY {
		opts = append(opts, oci.WithTTY)
	}
	if s.Hostname != "" {
		opts = append(opts, oci.WithHostname(s.Hostname))
	}
	if s.NetNS != "" {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: s.NetNS}))
	}
	// The container's own cgroups, read-only at /sys/fs/cgroup (so that
	// programs see their limits), in a cgroup namespace on v2.
	opts = append(opts, oci.WithMounts([]specs.Mount{{
		Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
		Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"},
	}}))
	if cgroupV2() {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.CgroupNamespace}))
	}
	mounts, err := specMounts(s)
	if err != nil {
		return nil, err
	}
	if len(mounts) > 0 {
		opts = append(opts, oci.WithMounts(mounts))
	}
	if s.CPUMilli > 0 {
		opts = append(opts, oci.WithCPUCFS(s.CPUMilli*cpuPeriod/1000, cpuPeriod))
	}
	if s.CPUShares > 0 {
		opts = append(opts, oci.WithCPUShares(s.CPUShares))
	}
	if s.MemoryBytes > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(s.MemoryBytes)))
		if swapLimit {
			// Memory and swap together capped at the limit: no swap, so the
			// OOM killer ends a container that goes over.
			opts = append(opts, oci.WithMemorySwap(s.MemoryBytes))
		}
	}
	if s.Privileged {
		// Every capability, every device of the node, no masked paths.
		opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices)
	}
	if len(s.CapAdd) > 0 {
		opts = append(opts, oci.WithAddedCapabilities(s.CapAdd))
	}
	if len(s.CapDrop) > 0 {
		opts = append(opts, oci.WithDroppedCapabilities(s.CapDrop))
	}
	gpus, err := gpuDevices(s)
	if err != nil {
		return nil, err
	}
	return append(opts, gpus...), nil
}

// specMounts checks and converts the spec's mounts.
func specMounts(s ContainerSpec) ([]specs.Mount, error) {
	var out []specs.Mount
	for _, m := range s.Mounts {
		if !path.IsAbs(m.Destination) {
			return nil, fmt.Errorf("container %q: mount destination %q is not absolute: %w", s.Name, m.Destination, ErrInvalid)
		}
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		switch m.Type {
		case "bind", "":
			if !filepath.IsAbs(m.Source) {
				return nil, fmt.Errorf("container %q: bind source %q is not absolute: %w", s.Name, m.Source, ErrInvalid)
			}
			if _, err := os.Stat(m.Source); err != nil {
				return nil, fmt.Errorf("container %q: bind source: %w: %w", s.Name, err, ErrInvalid)
			}
			out = append(out, specs.Mount{
				Type: "bind", Source: m.Source, Destination: m.Destination,
				Options: []string{"rbind", "rprivate", mode},
			})
		case "tmpfs":
			out = append(out, specs.Mount{
				Type: "tmpfs", Source: "tmpfs", Destination: m.Destination,
				Options: []string{"nosuid", "nodev", "mode=1777", mode},
			})
		default:
			return nil, fmt.Errorf("container %q: mount type %q: %w", s.Name, m.Type, ErrInvalid)
		}
	}
	return out, nil
}

// gpuDevices gives the container /dev/nvidiaN for each of its GPUs, and
// the driver's control devices that exist.
func gpuDevices(s ContainerSpec) ([]oci.SpecOpts, error) {
	if len(s.GPUs) == 0 {
		return nil, nil
	}
	var opts []oci.SpecOpts
	for _, n := range s.GPUs {
		dev := fmt.Sprintf("/dev/nvidia%d", n)
		if _, err := os.Stat(dev); err != nil {
			return nil, fmt.Errorf("container %q: GPU %d: %w: %w", s.Name, n, err, ErrInvalid)
		}
		opts = append(opts, oci.WithLinuxDevice(dev, "rwm"))
	}
	for _, dev := range []string{"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"} {
		if _, err := os.Stat(dev); err == nil {
			opts = append(opts, oci.WithLinuxDevice(dev, "rwm"))
		}
	}
	return opts, nil
}

// errNoExecutable is what findExecutable returns for a command not in
// the root file system.
var errNoExecutable = errors.New("executable not found")

// findExecutable resolves cmd as the container's process would: a name
// with a slash against cwd, any other along PATH. root is the container's
// root file system on the host; symbolic links are followed inside it.
func findExecutable(root, cmd, cwd, pathEnv string) error {
	var candidates []string
	if strings.Contains(cmd, "/") {
		candidates = []string{path.Join(cwd, cmd)}
		if path.IsAbs(cmd) {
			candidates = []string{cmd}
		}
	} else {
		for _, dir := range strings.Split(pathEnv, ":") {
			if dir == "" {
				dir = "."
			}
			if !path.IsAbs(dir) {
				dir = path.Join(cwd, dir)
			}
			candidates = append(candidates, path.Join(dir, cmd))
		}
	}
	for _, c := range candidates {
		host, err := resolveInRoot(root, c)
		if err != nil {
			continue
		}
		fi, err := os.Stat(host)
		if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return nil
		}
	}
	return errNoExecutable
}

// resolveInRoot returns the host path of name (absolute, inside root),
// following symbolic links as if root were "/".
func resolveInRoot(root, name string) (string, error) {
	const maxLinks = 40
	links := 0
	resolved := "/"
	rest := strings.Split(strings.TrimPrefix(path.Clean(name), "/"), "/")
	for len(rest) > 0 {
		part := rest[0]
		rest = rest[1:]
		if part == "" || part == "." {
			continue
		}
		if part == ".." {
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, part)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("%s: too many links", name)
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			resolved = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return filepath.Join(root, resolved), nil
}
