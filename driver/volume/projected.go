package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berth-dev/berth/api"
)

// A ConfigMap or Secret volume holds its files in a folder named
// ..data_<random>; ..data is a symlink to it, and each top-level name of
// the files a symlink into ..data. New contents go into a new folder and
// ..data is renamed over in one step, so a container never sees half of an
// update.
const (
	dataLink   = "..data"
	dataPrefix = "..data_"
)

// file is one file of a projected volume.
type file struct {
	path string // relative, clean
	data []byte
	mode os.FileMode
}

func (m *Manager) configMap(uid string, v *api.Volume, objs map[string]map[string][]byte) (string, error) {
	src := v.ConfigMap
	files, err := project(v.Name, "configMap", src.Name, objs, src.Items, src.DefaultMode, src.Optional)
	if err != nil {
		return "", err
	}
	dir := m.volumeDir(uid, v.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("volume %q: %w", v.Name, err)
	}
	if err := writeFiles(dir, files); err != nil {
		return "", fmt.Errorf("volume %q: %w", v.Name, err)
	}
	return dir, nil
}

// secret writes the files on a tmpfs mounted at the volume's folder, so the
// bytes never reach the node's disk.
func (m *Manager) secret(uid string, v *api.Volume, objs map[string]map[string][]byte) (string, error) {
	src := v.Secret
	files, err := project(v.Name, "secret", src.SecretName, objs, src.Items, src.DefaultMode, src.Optional)
	if err != nil {
		return "", err
	}
	dir := m.volumeDir(uid, v.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("volume %q: %w", v.Name, err)
	}
	var total int64
	for _, f := range files {
		total += int64(len(f.data)) + 4096 // a page at least per file
	}
	// Room for the old and the new copy while an update swaps them.
	const mib = 1 << 20
	size := max(mib, (2*total+64<<10+mib-1)/mib*mib)
	if err := mountTmpfs(dir, size); err != nil {
		return "", fmt.Errorf("volume %q: %w", v.Name, err)
	}
	if mounted, err := isMountPoint(dir); err != nil || !mounted {
		// Never write secret bytes onto the disk below.
		return "", fmt.Errorf("volume %q: no tmpfs at %s (err %v)", v.Name, dir, err)
	}
	if err := writeFiles(dir, files); err != nil {
		return "", fmt.Errorf("volume %q: %w", v.Name, err)
	}
	return dir, nil
}

// project lists the files of a ConfigMap or Secret volume: every key, or
// only items at their paths. A missing object or key is an error unless
// optional.
func project(volume, kind, name string, objs map[string]map[string][]byte, items []api.KeyToPath, defaultMode *int32, optional *bool) ([]file, error) {
	opt := optional != nil && *optional
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode) & os.ModePerm
	}
	obj, ok := objs[name]
	if !ok {
		if opt {
			return nil, nil
		}
		return nil, invalidf("volume %q: %s %q not found", volume, kind, name)
	}
	var files []file
	if len(items) == 0 {
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			items = append(items, api.KeyToPath{Key: k, Path: k})
		}
	}
	for _, it := range items {
		data, ok := obj[it.Key]
		if !ok {
			if opt {
				continue
			}
			return nil, invalidf("volume %q: %s %q has no key %q", volume, kind, name, it.Key)
		}
		p, ok := itemPath(it.Path)
		if !ok {
			return nil, invalidf("volume %q: path %q of key %q must be relative, without \"..\" or empty elements and not start with \"..\"", volume, it.Path, it.Key)
		}
		m := mode
		if it.Mode != nil {
			m = os.FileMode(*it.Mode) & os.ModePerm
		}
		files = append(files, file{path: p, data: data, mode: m})
	}
	return files, nil
}

// itemPath checks the path of a projected file (an item's path, or a key
// when there are no items) and returns it clean. It must be relative, have
// no "..", empty or NUL-holding element, name a file below the volume (not
// the volume itself) and not start with ".." (the names of ..data and its
// folders). Cleaned and joined to the volume's folder, it stays inside.
func itemPath(p string) (string, bool) {
	if p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "..") || strings.IndexByte(p, 0) >= 0 {
		return "", false
	}
	for _, e := range strings.Split(p, "/") {
		if e == "" || e == ".." {
			return "", false
		}
	}
	clean := filepath.Clean(p)
	if clean == "." || strings.HasPrefix(clean, "..") {
		return "", false // "." or "./..data"
	}
	return clean, true
}

// writeFiles puts files into dir atomically: a new ..data_<random> folder,
// then ..data renamed over to point to it, then the top-level symlinks
// added or removed, then the old folders removed.
func writeFiles(dir string, files []file) error {
	tmp, err := os.MkdirTemp(dir, dataPrefix)
	if err != nil {
		return err
	}
	if err := writeTree(tmp, files); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	link := filepath.Join(dir, dataLink)
	next := filepath.Join(dir, "..data.tmp")
	_ = os.Remove(next)
	if err := os.Symlink(filepath.Base(tmp), next); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(next, link); err != nil {
		os.RemoveAll(tmp)
		return err
	}

	top := map[string]bool{}
	for _, f := range files {
		top[strings.SplitN(f.path, "/", 2)[0]] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		switch {
		case strings.HasPrefix(n, dataPrefix) && n != filepath.Base(tmp):
			if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
				return err
			}
		case !strings.HasPrefix(n, "..") && !top[n]:
			if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
				return err
			}
		}
	}
	for n := range top {
		p := filepath.Join(dir, n)
		want := filepath.Join(dataLink, n)
		if got, err := os.Readlink(p); err == nil && got == want {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return err
		}
		if err := os.Symlink(want, p); err != nil {
			return err
		}
	}
	return nil
}

// writeTree writes files under dir, folders 0755. It works through an
// os.Root: no path it writes or makes, nor any folder on the way, may be a
// symlink that leads out of dir, and a file is created anew (O_EXCL), never
// written through whatever already holds its name.
func writeTree(dir string, files []file) error {
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, f := range files {
		if d := filepath.Dir(f.path); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		w, err := root.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("two keys at path %q", f.path)
		}
		if err != nil {
			return err
		}
		_, err = w.Write(f.data)
		// The mode given to OpenFile is masked by the umask; Chmod on
		// the open file looks up no path.
		if err == nil {
			err = w.Chmod(f.mode)
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
