package volume

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/api"
)

// pathSeeds are paths from the tests and what a container or a manifest
// could try.
var pathSeeds = []string{
	"a.conf", "nested/b", "x", "a/b", "./real//sub/", "inner", "inner/deeper",
	"abs", "abs/etc", "rel", "rel/new", "chain/x", "../x", "/etc", "..data", "..data_x/y",
	"./..data", ".", "./", "a/./b", "a//b", "a/", "a/..", "...", "a/...", "..a", "\x00", "a\x00/b",
}

// FuzzHasDotDot: a relative path without a ".." element, joined to a root
// and cleaned, stays inside the root.
func FuzzHasDotDot(f *testing.F) {
	for _, p := range pathSeeds {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if filepath.IsAbs(p) || hasDotDot(p) {
			return
		}
		const root = "/vol/root"
		if j := filepath.Join(root, p); !within(root, j) {
			t.Fatalf("%q has no \"..\" but %s is outside %s", p, j, root)
		}
	})
}

// FuzzProjectPath: project never panics, and a path it accepts (an item's,
// or a key's when there are no items) is clean, names a file strictly
// inside the volume and not one of the ..data names; writeTree puts it
// there and nowhere else.
func FuzzProjectPath(f *testing.F) {
	for _, p := range pathSeeds {
		f.Add(p, true)
		f.Add(p, false)
	}
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, p string, asItem bool) {
		objs := map[string]map[string][]byte{"app": {p: []byte("v")}}
		var items []api.KeyToPath
		if asItem {
			objs["app"] = map[string][]byte{"k": []byte("v")}
			items = []api.KeyToPath{{Key: "k", Path: p}}
		}
		files, err := project("cfg", "configMap", "app", objs, items, nil, nil)
		if err != nil {
			return
		}
		if len(files) != 1 {
			t.Fatalf("%q: %d files", p, len(files))
		}
		got := files[0].path
		const root = "/vol/root"
		j := filepath.Join(root, got)
		switch {
		case got != filepath.Clean(got) || filepath.IsAbs(got):
			t.Fatalf("%q: accepted as %q, not clean and relative", p, got)
		case !within(root, j) || j == root:
			t.Fatalf("%q: accepted as %q, which is not strictly inside the volume", p, got)
		case strings.HasPrefix(got, ".."):
			t.Fatalf("%q: accepted as %q, a ..data name", p, got)
		}
		dir, err := os.MkdirTemp(base, "vol")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		if err := writeTree(dir, files); err != nil {
			return // a name too long for the file system, say
		}
		if b, err := os.ReadFile(filepath.Join(dir, got)); err != nil || string(b) != "v" {
			t.Fatalf("%q: not written at %s: %q %v", p, got, b, err)
		}
	})
}

// plantTree makes a volume root holding what a container could leave in
// it: symlinks to "/", out of the volume, inside it, through each other,
// and a loop. It returns the root and the folder next to it that nothing
// may reach.
func plantTree(t *testing.T, base string) (root, outside string) {
	t.Helper()
	top, err := os.MkdirTemp(base, "t")
	if err != nil {
		t.Fatal(err)
	}
	root, outside = filepath.Join(top, "vol"), filepath.Join(top, "outside")
	for _, d := range []string{filepath.Join(root, "real", "sub"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "file"), []byte("f"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"abs":           "/",
		"rel":           "../outside",
		"inner":         "real/sub",
		"chain":         "inner/../../rel",
		"loop":          "loop",
		"dangling":      "nothing/here",
		"real/sub/up":   "../../..",
		"real/sub/home": "../..",
	} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	return root, outside
}

// FuzzSubPath: subPath never panics, and what it accepts is inside the
// volume, exists, has no symlink left in it, and nothing was made outside.
func FuzzSubPath(f *testing.F) {
	for _, p := range pathSeeds {
		f.Add(p)
	}
	for _, p := range []string{"real/sub/up/outside", "real/sub/home/real", "chain", "loop/x", "dangling", "file", "file/x"} {
		f.Add(p)
	}
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, sub string) {
		root, outside := plantTree(t, base)
		defer os.RemoveAll(filepath.Dir(root))
		got, err := subPath("data", root, sub)
		if entries, _ := os.ReadDir(outside); len(entries) > 0 {
			t.Fatalf("subPath %q made %s outside the volume", sub, entries[0].Name())
		}
		if err != nil {
			return
		}
		if !within(root, got) {
			t.Fatalf("subPath %q: %s is outside %s", sub, got, root)
		}
		if r, err := filepath.EvalSymlinks(got); err != nil || r != got {
			t.Fatalf("subPath %q: %s resolves to %s (%v)", sub, got, r, err)
		}
	})
}

// FuzzHostPath: hostPath never panics, and a path it accepts is absolute,
// clean, without "..", and if a symlink led elsewhere, not to the
// containerd socket's folder. Paths are kept under a temporary folder.
func FuzzHostPath(f *testing.F) {
	for _, p := range pathSeeds {
		f.Add(p, uint8(0))
	}
	f.Add("run/containerd", uint8(1))
	f.Add("sock", uint8(1))
	f.Add("vol/real/sub", uint8(1))
	f.Add("vol/file", uint8(2))
	f.Add("new/dir", uint8(4))
	f.Add("new/file", uint8(5))
	types := []string{"", "Directory", "File", "Socket", "DirectoryOrCreate", "FileOrCreate", "Bogus"}
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, rel string, typ uint8) {
		root, _ := plantTree(t, base)
		top := filepath.Dir(root)
		defer os.RemoveAll(top)
		// No symlink to "/" here: the *OrCreate types make what they name.
		if err := os.Remove(filepath.Join(root, "abs")); err != nil {
			t.Fatal(err)
		}
		sock := filepath.Join(top, "run", "containerd", "containerd.sock")
		if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("run/containerd", filepath.Join(top, "sock")); err != nil {
			t.Fatal(err)
		}
		m := New(Config{DataDir: filepath.Join(top, "data"), ContainerdSocket: sock})
		asked := top + "/" + rel
		got, err := m.hostPath("host", &api.HostPathVolumeSource{Path: asked, Type: types[int(typ)%len(types)]})
		if err != nil {
			return
		}
		switch {
		case !filepath.IsAbs(got) || filepath.Clean(got) != got || hasDotDot(got):
			t.Fatalf("hostPath %q: %q is not absolute and clean", asked, got)
		case got != filepath.Clean(asked) && m.sensitive(got):
			t.Fatalf("hostPath %q: accepted %q, the containerd socket's, through a symlink", asked, got)
		}
	})
}
