package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/driver"
)

// ErrInUse: a named volume that a pod on the node uses cannot be removed.
var ErrInUse = errors.New("volume: in use")

// Config of a Manager.
type Config struct {
	// DataDir is the agent's data dir: pod folders under
	// DataDir/pods/<uid>/volumes/<name>, named local volumes under
	// DataDir/volumes/<namespace>/<claimName>.
	DataDir string
	// ContainerdSocket is never mounted into a container unless a hostPath
	// names exactly it.
	ContainerdSocket string
	Logger           *slog.Logger
}

// Data holds the objects of the pod's namespace that its volumes refer
// to: name → key → value.
type Data struct {
	ConfigMaps, Secrets map[string]map[string][]byte
}

// LocalVolume is a named local volume of the node.
type LocalVolume struct {
	Namespace, Name, Path string
	Size                  int64 // bytes of its files
}

// Manager prepares and removes volumes. Safe for concurrent use.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu sync.Mutex
	// users are the pods prepared since the agent started, by the named
	// volumes (namespace/name) they use.
	users map[string]map[string]bool
}

// New returns a Manager for cfg.
func New(cfg Config) *Manager {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, log: log.With("component", "volume"), users: map[string]map[string]bool{}}
}

// podDir is the pod's folder, which Cleanup removes.
func (m *Manager) podDir(uid string) string { return filepath.Join(m.cfg.DataDir, "pods", uid) }

func (m *Manager) volumeDir(uid, name string) string {
	return filepath.Join(m.podDir(uid), "volumes", name)
}

func (m *Manager) localDir(namespace, name string) string {
	return filepath.Join(m.cfg.DataDir, "volumes", namespace, name)
}

// Prepare makes every volume of the pod and returns each volume's host
// path by volume name. It is idempotent: a restarted agent calls it again
// for a running pod (emptyDirs keep their files; ConfigMap and Secret files
// are rewritten atomically).
func (m *Manager) Prepare(pod *api.Pod, data Data) (map[string]string, error) {
	uid := pod.Metadata.UID
	if !isName(uid) {
		return nil, invalidf("pod uid %q is not a file name", uid)
	}
	ns := namespaceOf(pod)
	paths := make(map[string]string, len(pod.Spec.Volumes))
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if !isName(v.Name) {
			return nil, invalidf("volume name %q is not a file name", v.Name)
		}
		var p string
		var err error
		switch {
		case v.HostPath != nil:
			p, err = m.hostPath(v.Name, v.HostPath)
		case v.EmptyDir != nil:
			p, err = m.emptyDir(uid, v.Name, v.EmptyDir)
		case v.PersistentVolumeClaim != nil:
			p, err = m.namedVolume(uid, ns, v.PersistentVolumeClaim.ClaimName)
		case v.ConfigMap != nil:
			p, err = m.configMap(uid, v, data.ConfigMaps)
		case v.Secret != nil:
			p, err = m.secret(uid, v, data.Secrets)
		default:
			err = invalidf("volume %q has no source", v.Name)
		}
		if err != nil {
			return nil, err
		}
		paths[v.Name] = p
	}
	return paths, nil
}

func namespaceOf(pod *api.Pod) string {
	if pod.Metadata.Namespace == "" {
		return "default"
	}
	return pod.Metadata.Namespace
}

func (m *Manager) emptyDir(uid, name string, src *api.EmptyDirVolumeSource) (string, error) {
	dir := m.volumeDir(uid, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("volume %q: %w", name, err)
	}
	if src.Medium == "Memory" {
		var size int64
		if src.SizeLimit != nil {
			size = src.SizeLimit.Value()
		}
		if err := mountTmpfs(dir, size); err != nil {
			return "", fmt.Errorf("volume %q: %w", name, err)
		}
	}
	// Writable for any user of the container, as Kubernetes makes it.
	if err := os.Chmod(dir, 0o777); err != nil {
		return "", fmt.Errorf("volume %q: %w", name, err)
	}
	return dir, nil
}

func (m *Manager) namedVolume(uid, namespace, claim string) (string, error) {
	if !isName(namespace) || !isName(claim) {
		return "", invalidf("named volume %q of namespace %q is not a file name", claim, namespace)
	}
	dir := m.localDir(namespace, claim)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("volume %q: %w", claim, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := namespace + "/" + claim
	if m.users[key] == nil {
		m.users[key] = map[string]bool{}
	}
	m.users[key][uid] = true
	return dir, nil
}

// Mounts returns a container's mounts: bind mounts of the prepared paths,
// read-only when the mount or its source says so (ConfigMap and Secret
// volumes always are), with SubPath resolved inside the volume (and made
// when missing).
func (m *Manager) Mounts(pod *api.Pod, c *api.Container, paths map[string]string) ([]driver.Mount, error) {
	var mounts []driver.Mount
	for _, vm := range c.VolumeMounts {
		i := slices.IndexFunc(pod.Spec.Volumes, func(v api.Volume) bool { return v.Name == vm.Name })
		if i < 0 {
			return nil, invalidf("container %q mounts volume %q, which the pod does not have", c.Name, vm.Name)
		}
		v := &pod.Spec.Volumes[i]
		src, ok := paths[vm.Name]
		if !ok {
			return nil, invalidf("volume %q is not prepared", vm.Name)
		}
		if !filepath.IsAbs(vm.MountPath) {
			return nil, invalidf("mountPath %q of volume %q is not absolute", vm.MountPath, vm.Name)
		}
		if vm.SubPath != "" {
			var err error
			if src, err = subPath(vm.Name, src, vm.SubPath); err != nil {
				return nil, err
			}
		}
		ro := vm.ReadOnly || v.ConfigMap != nil || v.Secret != nil ||
			(v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ReadOnly)
		mounts = append(mounts, driver.Mount{Type: "bind", Source: src, Destination: filepath.Clean(vm.MountPath), ReadOnly: ro})
	}
	return mounts, nil
}

// Cleanup unmounts what Prepare mounted for the pod and removes the pod's
// folder; named local volumes stay. It never follows a symlink out of the
// folder, and removes nothing while something is still mounted in it.
// Idempotent.
func (m *Manager) Cleanup(podUID string) error {
	if !isName(podUID) {
		return invalidf("pod uid %q is not a file name", podUID)
	}
	m.mu.Lock()
	for key, pods := range m.users {
		delete(pods, podUID)
		if len(pods) == 0 {
			delete(m.users, key)
		}
	}
	m.mu.Unlock()

	dir := m.podDir(podUID)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := unmountUnder(dir, m.log); err != nil {
		return fmt.Errorf("volume: clean up pod %s: %w", podUID, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("volume: clean up pod %s: %w", podUID, err)
	}
	return nil
}

// Volumes lists the named local volumes of the node.
func (m *Manager) Volumes() ([]LocalVolume, error) {
	root := filepath.Join(m.cfg.DataDir, "volumes")
	nss, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("volume: %w", err)
	}
	var out []LocalVolume
	for _, ns := range nss {
		if !ns.IsDir() {
			continue
		}
		vols, err := os.ReadDir(filepath.Join(root, ns.Name()))
		if err != nil {
			return nil, fmt.Errorf("volume: %w", err)
		}
		for _, v := range vols {
			if !v.IsDir() {
				continue
			}
			p := m.localDir(ns.Name(), v.Name())
			out = append(out, LocalVolume{Namespace: ns.Name(), Name: v.Name(), Path: p, Size: diskUsage(p)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// RemoveVolume removes a named local volume and its files: ErrInUse while
// a pod prepared since the agent started uses it, driver.ErrNotFound when
// there is none.
func (m *Manager) RemoveVolume(namespace, name string) error {
	if !isName(namespace) || !isName(name) {
		return invalidf("named volume %q of namespace %q is not a file name", name, namespace)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if pods := m.users[namespace+"/"+name]; len(pods) > 0 {
		uids := make([]string, 0, len(pods))
		for uid := range pods {
			uids = append(uids, uid)
		}
		sort.Strings(uids)
		return fmt.Errorf("volume %q of namespace %q: pods %s: %w", name, namespace, strings.Join(uids, ", "), ErrInUse)
	}
	dir := m.localDir(namespace, name)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("volume %q of namespace %q: %w", name, namespace, driver.ErrNotFound)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("volume: %w", err)
	}
	_ = os.Remove(filepath.Dir(dir)) // the namespace's folder, once empty
	return nil
}

// diskUsage sums the sizes of the regular files under dir, following no
// symlink.
func diskUsage(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// isName reports whether s is one element of a path.
func isName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00")
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), driver.ErrInvalid)
}

// within reports whether p is root or under it (both clean).
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
