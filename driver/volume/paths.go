package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/api"
)

// hostPath checks (and for the *OrCreate types makes) a hostPath volume's
// path and returns it with its symlinks resolved. A symlink that leads to
// "/", to the containerd socket or to a folder holding it is refused; the
// object may still name such a path itself.
func (m *Manager) hostPath(name string, src *api.HostPathVolumeSource) (string, error) {
	asked := src.Path
	if !filepath.IsAbs(asked) {
		return "", invalidf("volume %q: hostPath %q is not absolute", name, asked)
	}
	if hasDotDot(asked) {
		return "", invalidf("volume %q: hostPath %q contains \"..\"", name, asked)
	}
	clean := filepath.Clean(asked)
	switch src.Type {
	case "DirectoryOrCreate":
		if err := os.MkdirAll(clean, 0o755); err != nil {
			return "", fmt.Errorf("volume %q: hostPath: %w", name, err)
		}
	case "FileOrCreate":
		if err := os.MkdirAll(filepath.Dir(clean), 0o755); err != nil {
			return "", fmt.Errorf("volume %q: hostPath: %w", name, err)
		}
		f, err := os.OpenFile(clean, os.O_RDONLY|os.O_CREATE, 0o644)
		if err != nil {
			return "", fmt.Errorf("volume %q: hostPath: %w", name, err)
		}
		f.Close()
	}
	resolved, err := filepath.EvalSymlinks(clean)
	if errors.Is(err, fs.ErrNotExist) && src.Type == "" {
		return clean, nil // no check asked for; the runtime reports it
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "", invalidf("volume %q: hostPath %q does not exist", name, asked)
	}
	if err != nil {
		return "", fmt.Errorf("volume %q: hostPath: %w", name, err)
	}
	if resolved != clean && m.sensitive(resolved) {
		return "", invalidf("volume %q: hostPath %q resolves to %q through a symlink", name, asked, resolved)
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return "", fmt.Errorf("volume %q: hostPath: %w", name, err)
	}
	var want string
	switch src.Type {
	case "", "DirectoryOrCreate", "FileOrCreate":
	case "Directory":
		if !fi.IsDir() {
			want = "a directory"
		}
	case "File":
		if !fi.Mode().IsRegular() {
			want = "a file"
		}
	case "Socket":
		if fi.Mode().Type() != fs.ModeSocket {
			want = "a socket"
		}
	default:
		return "", invalidf("volume %q: hostPath type %q is not Directory, DirectoryOrCreate, File, FileOrCreate or Socket", name, src.Type)
	}
	if src.Type == "DirectoryOrCreate" && !fi.IsDir() {
		want = "a directory"
	}
	if src.Type == "FileOrCreate" && !fi.Mode().IsRegular() {
		want = "a file"
	}
	if want != "" {
		return "", invalidf("volume %q: hostPath %q is not %s (type %s)", name, asked, want, src.Type)
	}
	return resolved, nil
}

// sensitive reports whether p (resolved) is "/", the containerd socket or
// a folder that holds it.
func (m *Manager) sensitive(p string) bool {
	if p == "/" {
		return true
	}
	if m.cfg.ContainerdSocket == "" {
		return false
	}
	socks := []string{filepath.Clean(m.cfg.ContainerdSocket)}
	if r, err := filepath.EvalSymlinks(socks[0]); err == nil && r != socks[0] {
		socks = append(socks, r)
	}
	for _, s := range socks {
		if within(p, s) {
			return true
		}
	}
	return false
}

// subPath resolves sub inside the volume at root, making the folders that
// are missing, and returns it. No step, symlinks included, may lead out of
// the volume.
func subPath(name, root, sub string) (string, error) {
	escapes := func() error { return invalidf("subPath %q of volume %q escapes the volume", sub, name) }
	if filepath.IsAbs(sub) || hasDotDot(sub) {
		return "", escapes()
	}
	base, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("volume %q: %w", name, err)
	}
	cur := base
	for _, elem := range strings.Split(filepath.Clean(sub), "/") {
		if elem == "." {
			continue
		}
		next := filepath.Join(cur, elem)
		fi, err := os.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Mkdir does not follow a symlink put in its place.
			if err := os.Mkdir(next, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return "", fmt.Errorf("subPath %q of volume %q: %w", sub, name, err)
			}
			if fi, err := os.Lstat(next); err != nil || fi.Mode().Type() == fs.ModeSymlink {
				return "", escapes() // raced with a symlink
			}
		case err != nil:
			return "", fmt.Errorf("subPath %q of volume %q: %w", sub, name, err)
		case fi.Mode().Type() == fs.ModeSymlink:
			if next, err = filepath.EvalSymlinks(next); err != nil {
				return "", fmt.Errorf("subPath %q of volume %q: %w", sub, name, err)
			}
		}
		if !within(base, next) {
			return "", escapes()
		}
		cur = next
	}
	return cur, nil
}

func hasDotDot(p string) bool {
	for _, e := range strings.Split(p, "/") {
		if e == ".." {
			return true
		}
	}
	return false
}
