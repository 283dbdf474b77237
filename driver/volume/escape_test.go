package volume

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/api"
)

// outsideUnchanged fails the test if the folder outside holds anything but
// victim, with its first contents.
func outsideUnchanged(t *testing.T, outside string) {
	t.Helper()
	entries, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "victim" {
			t.Errorf("%s written outside the volume", e.Name())
		}
	}
	if b, err := os.ReadFile(filepath.Join(outside, "victim")); err != nil || string(b) != "keep" {
		t.Errorf("the file outside the volume is now %q (err %v)", b, err)
	}
}

func newOutside(t *testing.T) (dir, outside string) {
	t.Helper()
	top := t.TempDir()
	dir, outside = filepath.Join(top, "vol"), filepath.Join(top, "outside")
	for _, d := range []string{dir, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "victim"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, outside
}

// TestWriteTreeRefusesSymlinks: a symlink in the folder being written, as
// a folder on the way or as the file's own name, is never written through.
func TestWriteTreeRefusesSymlinks(t *testing.T) {
	dir, outside := newOutside(t)
	for name, target := range map[string]string{
		"sub":    outside,                          // absolute, to a folder
		"relsub": "../outside",                     // relative, to a folder
		"victim": filepath.Join(outside, "victim"), // to a file
		"relvic": "../outside/victim",
		"inside": "real", // inside: may be gone through, but not written over
	} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"sub/x", "sub/new/x", "relsub/x", "victim", "relvic", "inside"} {
		if err := writeTree(dir, []file{{path: p, data: []byte("evil"), mode: 0o644}}); err == nil {
			t.Errorf("writeTree wrote %q through a symlink", p)
		}
	}
	outsideUnchanged(t, outside)
	if err := writeTree(dir, []file{{path: "inside/ok", data: []byte("ok"), mode: 0o600}}); err != nil {
		t.Fatalf("a symlink inside the volume: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "real", "ok")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("inside/ok: %v %v", fi, err)
	}
}

// TestWriteFilesOverPlantedSymlinks: what a container could leave in the
// folder of its ConfigMap volume (symlinks out at the names writeFiles
// uses) is replaced, never followed.
func TestWriteFilesOverPlantedSymlinks(t *testing.T) {
	dir, outside := newOutside(t)
	files := []file{{path: "a.conf", data: []byte("a=1"), mode: 0o644}, {path: "nested/b", data: []byte("b=2"), mode: 0o644}}
	if err := writeFiles(dir, files); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.conf", "nested", "..data.tmp", "..data_evil", "stray"} {
		p := filepath.Join(dir, name)
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, p); err != nil {
			t.Fatal(err)
		}
	}
	files[0].data = []byte("a=2")
	if err := writeFiles(dir, files); err != nil {
		t.Fatal(err)
	}
	outsideUnchanged(t, outside)
	if got := readFile(t, filepath.Join(dir, "a.conf")) + readFile(t, filepath.Join(dir, "nested", "b")); got != "a=2b=2" {
		t.Errorf("after the update: %q", got)
	}
	if link, err := os.Readlink(filepath.Join(dir, "a.conf")); err != nil || link != filepath.Join(dataLink, "a.conf") {
		t.Errorf("a.conf links to %q (%v)", link, err)
	}

	// ..data itself pointing out: renamed over, not written through.
	link := filepath.Join(dir, dataLink)
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	if err := writeFiles(dir, files); err != nil {
		t.Fatal(err)
	}
	outsideUnchanged(t, outside)
	if got, err := filepath.EvalSymlinks(filepath.Join(dir, "a.conf")); err != nil || !within(dir, got) {
		t.Errorf("a.conf resolves to %s (%v)", got, err)
	}
}

// TestConfigMapUpdateOverPlantedSymlink: the same through the Manager: a
// ConfigMap volume's file replaced by a symlink out, then the pod's
// volumes prepared again.
func TestConfigMapUpdateOverPlantedSymlink(t *testing.T) {
	m, dir := newManager(t)
	outside := filepath.Join(dir, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "victim"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	cms := map[string]map[string][]byte{"app": {"a.conf": []byte("a=1")}}
	pod := newPod("u1", api.Volume{Name: "cfg", ConfigMap: &api.ConfigMapVolumeSource{Name: "app",
		Items: []api.KeyToPath{{Key: "a.conf", Path: "a.conf"}, {Key: "a.conf", Path: "victim"}}}})
	paths := mustPrepare(t, m, pod, Data{ConfigMaps: cms})
	vol := paths["cfg"]
	for _, name := range []string{"a.conf", "victim"} {
		os.Remove(filepath.Join(vol, name))
		if err := os.Symlink(filepath.Join(outside, "victim"), filepath.Join(vol, name)); err != nil {
			t.Fatal(err)
		}
	}
	cms["app"]["a.conf"] = []byte("evil")
	mustPrepare(t, m, pod, Data{ConfigMaps: cms})
	outsideUnchanged(t, outside)
	if got := readFile(t, filepath.Join(vol, "victim")); got != "evil" {
		t.Errorf("victim in the volume: %q", got)
	}
	if err := m.Cleanup("u1"); err != nil {
		t.Fatal(err)
	}
	outsideUnchanged(t, outside)
}

// TestProjectPaths: item paths (and keys used as paths) that are absolute,
// hold "..", empty elements or name the volume itself are refused.
func TestProjectPaths(t *testing.T) {
	objs := map[string]map[string][]byte{"app": {"k": []byte("v")}}
	for p, want := range map[string]string{
		"a.conf": "a.conf", "nested/b": "nested/b", "a/./b": "a/b", "./a": "a", "a/...": "a/...", "a/..b": "a/..b", "...": "",
		"": "", "/etc/passwd": "", "../x": "", "a/../../x": "", "a/..": "", "..": "", "..data": "", "./..data": "",
		"..data_1/x": "", ".": "", "./": "", "a/": "", "a//b": "", "//a": "", "a\x00b": "",
	} {
		files, err := project("cfg", "configMap", "app", objs, []api.KeyToPath{{Key: "k", Path: p}}, nil, nil)
		switch {
		case want == "" && err == nil:
			t.Errorf("path %q accepted as %q", p, files[0].path)
		case want == "" && !strings.Contains(err.Error(), "must be relative"):
			t.Errorf("path %q: %v", p, err)
		case want != "" && (err != nil || files[0].path != want):
			t.Errorf("path %q: %+v %v, want %q", p, files, err, want)
		}
		// A key is checked the same way when it is its own path.
		keyObjs := map[string]map[string][]byte{"app": {p: []byte("v")}}
		if _, err := project("cfg", "configMap", "app", keyObjs, nil, nil, nil); (err == nil) != (want != "") {
			t.Errorf("key %q as a path: %v", p, err)
		}
	}
}

// TestSubPathSymlinksOut: a subPath through a symlink that leads out of the
// volume, directly, by a chain of symlinks or from a folder deep inside, is
// refused, and nothing is made outside.
func TestSubPathSymlinksOut(t *testing.T) {
	root, outside := plantTree(t, t.TempDir())
	if err := os.Symlink(filepath.Join(outside, "file"), filepath.Join(root, "outfile")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"abs", "abs/etc", "rel", "rel/new", "chain", "chain/new", "real/sub/up", "real/sub/up/outside",
		"inner/up/outside/new", "outfile", "../outside", "/etc"} {
		_, err := subPath("data", root, sub)
		wantInvalid(t, err, `subPath "`+sub+`" of volume "data" escapes the volume`)
	}
	for _, sub := range []string{"loop", "dangling"} {
		if got, err := subPath("data", root, sub); err == nil {
			t.Errorf("subPath %q accepted as %s", sub, got)
		}
	}
	for sub, want := range map[string]string{
		"real/sub/home/real": "real", "inner": "real/sub", "inner/new": "real/sub/new", "file": "file",
	} {
		if got, err := subPath("data", root, sub); err != nil || got != filepath.Join(root, want) {
			t.Errorf("subPath %q: %s %v, want %s", sub, got, err, want)
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Errorf("made outside the volume: %v", entries)
	}
}
