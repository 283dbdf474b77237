package volume

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/driver"
)

// testLog routes logs to t.Log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// newManager returns a Manager over a fresh data dir; mounts are real, so
// the test needs root. It fails the test if a mount is left behind.
func newManager(t *testing.T) (*Manager, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounts tmpfs: needs root")
	}
	dir := t.TempDir()
	m := New(Config{
		DataDir:          filepath.Join(dir, "data"),
		ContainerdSocket: filepath.Join(dir, "run", "containerd", "containerd.sock"),
		Logger:           slog.New(slog.NewTextHandler(testLog{t}, nil)),
	})
	t.Cleanup(func() {
		left, err := mountsUnder(dir)
		if err != nil || len(left) > 0 {
			t.Errorf("mounts left behind: %v (err %v)", left, err)
			unmountUnder(dir, m.log)
		}
	})
	return m, dir
}

func newPod(uid string, vols ...api.Volume) *api.Pod {
	p := &api.Pod{}
	p.Metadata.Name, p.Metadata.Namespace, p.Metadata.UID = "web", "shop", uid
	p.Spec.Volumes = vols
	return p
}

func ptr[T any](v T) *T { return &v }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustPrepare(t *testing.T, m *Manager, pod *api.Pod, data Data) map[string]string {
	t.Helper()
	paths, err := m.Prepare(pod, data)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return paths
}

func isTmpfs(t *testing.T, path string) bool {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Type == unix.TMPFS_MAGIC
}

func wantInvalid(t *testing.T, err error, contains string) {
	t.Helper()
	if !errors.Is(err, driver.ErrInvalid) || !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %v, want ErrInvalid saying %q", err, contains)
	}
}

func TestEmptyDir(t *testing.T) {
	m, _ := newManager(t)
	pod := newPod("u1",
		api.Volume{Name: "scratch", EmptyDir: &api.EmptyDirVolumeSource{}},
		api.Volume{Name: "mem", EmptyDir: &api.EmptyDirVolumeSource{Medium: "Memory", SizeLimit: ptr(api.MustQuantity("2Mi"))}},
	)
	paths := mustPrepare(t, m, pod, Data{})
	for _, name := range []string{"scratch", "mem"} {
		fi, err := os.Stat(paths[name])
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o777 {
			t.Fatalf("%s: %v, %v", name, fi, err)
		}
		os.WriteFile(filepath.Join(paths[name], "f"), []byte(name), 0o644)
	}
	if isTmpfs(t, paths["scratch"]) || !isTmpfs(t, paths["mem"]) {
		t.Fatal("only the Memory emptyDir should be a tmpfs")
	}
	var st unix.Statfs_t
	unix.Statfs(paths["mem"], &st)
	if size := int64(st.Blocks) * st.Bsize; size != 2<<20 {
		t.Errorf("tmpfs of %d bytes, want the 2 MiB sizeLimit", size)
	}

	// Prepared again (an agent restart): files stay, tmpfs not stacked.
	again := mustPrepare(t, m, pod, Data{})
	for _, name := range []string{"scratch", "mem"} {
		if got := readFile(t, filepath.Join(again[name], "f")); got != name {
			t.Errorf("%s lost its file: %q", name, got)
		}
	}
	if left, _ := mountsUnder(m.podDir("u1")); len(left) != 1 {
		t.Errorf("mounts after two Prepares: %v", left)
	}

	for range 2 {
		if err := m.Cleanup("u1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(m.podDir("u1")); !os.IsNotExist(err) {
		t.Fatalf("pod folder after Cleanup: %v", err)
	}
}

func TestSecretOnTmpfs(t *testing.T) {
	m, _ := newManager(t)
	pod := newPod("u1", api.Volume{Name: "creds", Secret: &api.SecretVolumeSource{SecretName: "db", DefaultMode: ptr[int32](0o400)}})
	data := Data{Secrets: map[string]map[string][]byte{"db": {"password": []byte("hunter2"), "user": []byte("admin")}}}
	paths := mustPrepare(t, m, pod, data)
	dir := paths["creds"]
	if !isTmpfs(t, dir) || !isTmpfs(t, filepath.Join(dir, "password")) {
		t.Fatal("secret files are not on a tmpfs")
	}
	if mounts, _ := mountsUnder(dir); len(mounts) != 1 || mounts[0] != dir {
		t.Fatalf("mountinfo shows %v at the secret volume", mounts)
	}
	if got := readFile(t, filepath.Join(dir, "password")); got != "hunter2" {
		t.Fatalf("password %q", got)
	}
	fi, _ := os.Stat(filepath.Join(dir, "user"))
	if fi.Mode().Perm() != 0o400 {
		t.Errorf("mode %v, want the default mode 0400", fi.Mode())
	}

	// Updated: rewritten in place, on the same tmpfs; a removed key goes.
	data.Secrets["db"] = map[string][]byte{"password": []byte("correct horse")}
	mustPrepare(t, m, pod, data)
	if got := readFile(t, filepath.Join(dir, "password")); got != "correct horse" {
		t.Fatalf("updated password %q", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "user")); !os.IsNotExist(err) {
		t.Errorf("a removed key's file stays: %v", err)
	}
	if mounts, _ := mountsUnder(dir); len(mounts) != 1 {
		t.Fatalf("mounts after a second Prepare: %v", mounts)
	}
	entries, _ := os.ReadDir(dir)
	var folders int
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), dataPrefix) {
			folders++
		}
	}
	if folders != 1 {
		t.Errorf("%d data folders kept, want 1: %v", folders, entries)
	}

	if err := m.Cleanup("u1"); err != nil {
		t.Fatal(err)
	}
	if mounts, _ := mountsUnder(dir); len(mounts) != 0 {
		t.Fatalf("still mounted after Cleanup: %v", mounts)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("secret folder after Cleanup: %v", err)
	}
}

func TestConfigMap(t *testing.T) {
	m, _ := newManager(t)
	cms := map[string]map[string][]byte{"app": {"a.conf": []byte("a=1"), "b.conf": []byte("b=2")}}
	pod := newPod("u1",
		api.Volume{Name: "all", ConfigMap: &api.ConfigMapVolumeSource{Name: "app"}},
		api.Volume{Name: "some", ConfigMap: &api.ConfigMapVolumeSource{Name: "app", DefaultMode: ptr[int32](0o600),
			Items: []api.KeyToPath{{Key: "b.conf", Path: "nested/b"}, {Key: "a.conf", Path: "x", Mode: ptr[int32](0o755)}}}},
		api.Volume{Name: "gone", ConfigMap: &api.ConfigMapVolumeSource{Name: "missing", Optional: ptr(true)}},
		api.Volume{Name: "nokey", ConfigMap: &api.ConfigMapVolumeSource{Name: "app", Optional: ptr(true), Items: []api.KeyToPath{{Key: "nope", Path: "n"}}}},
	)
	paths := mustPrepare(t, m, pod, Data{ConfigMaps: cms})
	if got := readFile(t, filepath.Join(paths["all"], "a.conf")) + readFile(t, filepath.Join(paths["all"], "b.conf")); got != "a=1b=2" {
		t.Fatalf("all keys: %q", got)
	}
	if isTmpfs(t, paths["all"]) {
		t.Error("a ConfigMap volume need not be a tmpfs")
	}
	for p, want := range map[string]os.FileMode{"all/a.conf": 0o644, "some/nested/b": 0o600, "some/x": 0o755} {
		vol, rel, _ := strings.Cut(p, "/")
		fi, err := os.Stat(filepath.Join(paths[vol], rel))
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want mode %v", p, fi, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(paths["some"], "a.conf")); !os.IsNotExist(err) {
		t.Error("a key not in Items is projected")
	}
	for _, v := range []string{"gone", "nokey"} {
		if entries, err := os.ReadDir(paths[v]); err != nil || len(entries) != 2 { // ..data and its folder
			t.Errorf("optional %s: %v %v", v, entries, err)
		}
	}

	for _, tc := range []struct {
		src  *api.ConfigMapVolumeSource
		want string
	}{
		{&api.ConfigMapVolumeSource{Name: "missing"}, `configMap "missing" not found`},
		{&api.ConfigMapVolumeSource{Name: "app", Items: []api.KeyToPath{{Key: "nope", Path: "n"}}}, `configMap "app" has no key "nope"`},
		{&api.ConfigMapVolumeSource{Name: "app", Items: []api.KeyToPath{{Key: "a.conf", Path: "../x"}}}, `path "../x"`},
		{&api.ConfigMapVolumeSource{Name: "app", Items: []api.KeyToPath{{Key: "a.conf", Path: "..data"}}}, `path "..data"`},
	} {
		_, err := m.Prepare(newPod("u2", api.Volume{Name: "cfg", ConfigMap: tc.src}), Data{ConfigMaps: cms})
		wantInvalid(t, err, tc.want)
	}
	_, err := m.Prepare(newPod("u2", api.Volume{Name: "s", Secret: &api.SecretVolumeSource{SecretName: "nosuch"}}), Data{})
	wantInvalid(t, err, `secret "nosuch" not found`)

	// Mounts of ConfigMap volumes are read-only; a subPath of one is the
	// key's file.
	c := &api.Container{Name: "app", VolumeMounts: []api.VolumeMount{
		{Name: "all", MountPath: "/etc/app"},
		{Name: "all", MountPath: "/etc/a.conf", SubPath: "a.conf"},
	}}
	mounts, err := m.Mounts(pod, c, paths)
	if err != nil {
		t.Fatal(err)
	}
	if !mounts[0].ReadOnly || !mounts[1].ReadOnly || readFile(t, mounts[1].Source) != "a=1" {
		t.Errorf("mounts %+v", mounts)
	}
	for _, uid := range []string{"u1", "u2"} {
		if err := m.Cleanup(uid); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNamedVolume(t *testing.T) {
	m, _ := newManager(t)
	vol := api.Volume{Name: "data", PersistentVolumeClaim: &api.PersistentVolumeClaimVolumeSource{ClaimName: "pgdata"}}
	paths := mustPrepare(t, m, newPod("u1", vol), Data{})
	if want := filepath.Join(m.cfg.DataDir, "volumes", "shop", "pgdata"); paths["data"] != want {
		t.Fatalf("named volume at %s, want %s", paths["data"], want)
	}
	os.WriteFile(filepath.Join(paths["data"], "db"), []byte("rows"), 0o644)
	if err := m.Cleanup("u1"); err != nil {
		t.Fatal(err)
	}

	paths = mustPrepare(t, m, newPod("u2", vol), Data{})
	if got := readFile(t, filepath.Join(paths["data"], "db")); got != "rows" {
		t.Fatalf("a second pod sees %q", got)
	}
	vols, err := m.Volumes()
	if err != nil || len(vols) != 1 || vols[0] != (LocalVolume{Namespace: "shop", Name: "pgdata", Path: paths["data"], Size: 4}) {
		t.Fatalf("Volumes: %+v %v", vols, err)
	}
	if err := m.RemoveVolume("shop", "pgdata"); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "u2") {
		t.Fatalf("removing a volume in use: %v", err)
	}
	if err := m.Cleanup("u2"); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveVolume("shop", "pgdata"); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveVolume("shop", "pgdata"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("removing it again: %v", err)
	}
	if vols, err := m.Volumes(); err != nil || len(vols) != 0 {
		t.Fatalf("Volumes after removal: %v %v", vols, err)
	}
}

func TestHostPath(t *testing.T) {
	m, dir := newManager(t)
	host := filepath.Join(dir, "host")
	os.MkdirAll(filepath.Join(host, "dir"), 0o755)
	os.WriteFile(filepath.Join(host, "file"), nil, 0o644)
	sock := m.cfg.ContainerdSocket
	os.MkdirAll(filepath.Dir(sock), 0o755)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.Symlink("/", filepath.Join(host, "to-root"))
	os.Symlink(sock, filepath.Join(host, "to-sock"))
	os.Symlink(filepath.Join(dir, "run"), filepath.Join(host, "to-run"))
	os.Symlink("dir", filepath.Join(host, "to-dir"))

	for _, tc := range []struct {
		path, typ string
		want      string // the resolved path, or ~ and the error
	}{
		{host + "/dir", "Directory", host + "/dir"},
		{host + "//dir/", "", host + "/dir"},
		{host + "/file", "File", host + "/file"},
		{host + "/to-dir", "Directory", host + "/dir"},
		{sock, "Socket", sock},
		{"/", "Directory", "/"},
		{host + "/new/dir", "DirectoryOrCreate", host + "/new/dir"},
		{host + "/new/file", "FileOrCreate", host + "/new/file"},
		{host + "/absent", "", host + "/absent"},
		{host + "/absent", "Directory", `~hostPath "` + host + `/absent" does not exist`},
		{host + "/file", "Directory", "~is not a directory"},
		{host + "/dir", "File", "~is not a file"},
		{host + "/file", "Socket", "~is not a socket"},
		{host + "/to-root", "", `~hostPath "` + host + `/to-root" resolves to "/" through a symlink`},
		{host + "/to-sock", "Socket", `~resolves to "` + sock + `" through a symlink`},
		{host + "/to-run", "Directory", `~resolves to "` + dir + `/run" through a symlink`},
		{host + "/to-run/containerd", "Directory", "~through a symlink"},
		{host + "/dir/../to-root", "", `~contains ".."`},
		{"relative", "", "~is not absolute"},
	} {
		paths, err := m.Prepare(newPod("u1", api.Volume{Name: "x", HostPath: &api.HostPathVolumeSource{Path: tc.path, Type: tc.typ}}), Data{})
		if msg, ok := strings.CutPrefix(tc.want, "~"); ok {
			if !errors.Is(err, driver.ErrInvalid) || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), `volume "x"`) {
				t.Errorf("%s (%s): %v, want ErrInvalid saying %s", tc.path, tc.typ, err, msg)
			}
			continue
		}
		if err != nil || paths["x"] != tc.want {
			t.Errorf("%s (%s): %q, %v; want %s", tc.path, tc.typ, paths["x"], err, tc.want)
		}
	}
	if err := m.Cleanup("u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(host, "file")); err != nil {
		t.Fatalf("Cleanup touched a hostPath: %v", err)
	}
}

func TestSubPathAndReadOnly(t *testing.T) {
	m, dir := newManager(t)
	outside := filepath.Join(dir, "outside")
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "secret"), []byte("keep"), 0o644)
	pod := newPod("u1",
		api.Volume{Name: "data", EmptyDir: &api.EmptyDirVolumeSource{}},
		api.Volume{Name: "named", PersistentVolumeClaim: &api.PersistentVolumeClaimVolumeSource{ClaimName: "n", ReadOnly: true}},
		api.Volume{Name: "host", HostPath: &api.HostPathVolumeSource{Path: outside}},
	)
	paths := mustPrepare(t, m, pod, Data{})
	// What a container could leave in its volume.
	data := paths["data"]
	os.Symlink("/", filepath.Join(data, "abs"))
	os.Symlink("../../../../../outside", filepath.Join(data, "rel"))
	os.MkdirAll(filepath.Join(data, "real", "sub"), 0o755)
	os.Symlink("real/sub", filepath.Join(data, "inner"))

	mount := func(vm api.VolumeMount) ([]driver.Mount, error) {
		return m.Mounts(pod, &api.Container{Name: "c", VolumeMounts: []api.VolumeMount{vm}}, paths)
	}
	for _, tc := range []struct {
		sub, want string
	}{
		{"a/b", data + "/a/b"},
		{"./real//sub/", data + "/real/sub"},
		{"inner", data + "/real/sub"},
		{"inner/deeper", data + "/real/sub/deeper"},
		{"abs", "~escapes the volume"},
		{"abs/etc", "~escapes the volume"},
		{"rel", "~escapes the volume"},
		{"rel/new", "~escapes the volume"},
		{"../x", "~escapes the volume"},
		{"/etc", "~escapes the volume"},
	} {
		mounts, err := mount(api.VolumeMount{Name: "data", MountPath: "/d", SubPath: tc.sub})
		if msg, ok := strings.CutPrefix(tc.want, "~"); ok {
			wantInvalid(t, err, `subPath "`+tc.sub+`" of volume "data" `+msg)
			continue
		}
		if err != nil || mounts[0].Source != tc.want {
			t.Errorf("subPath %q: %+v %v, want %s", tc.sub, mounts, err, tc.want)
			continue
		}
		if fi, err := os.Stat(tc.want); err != nil || !fi.IsDir() {
			t.Errorf("subPath %q not made: %v", tc.sub, err)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); !os.IsNotExist(err) {
		t.Error("a subPath through a symlink made a folder outside the volume")
	}

	for _, tc := range []struct {
		vm api.VolumeMount
		ro bool
	}{
		{api.VolumeMount{Name: "data", MountPath: "/d"}, false},
		{api.VolumeMount{Name: "data", MountPath: "/d", ReadOnly: true}, true},
		{api.VolumeMount{Name: "named", MountPath: "/n"}, true},
		{api.VolumeMount{Name: "host", MountPath: "/h/"}, false},
	} {
		mounts, err := mount(tc.vm)
		if err != nil || len(mounts) != 1 || mounts[0].ReadOnly != tc.ro || mounts[0].Type != "bind" ||
			mounts[0].Source != paths[tc.vm.Name] || mounts[0].Destination != filepath.Clean(tc.vm.MountPath) {
			t.Errorf("%+v: %+v %v, want read-only %v", tc.vm, mounts, err, tc.ro)
		}
	}
	_, err := mount(api.VolumeMount{Name: "nope", MountPath: "/x"})
	wantInvalid(t, err, `volume "nope"`)
	_, err = mount(api.VolumeMount{Name: "data", MountPath: "rel"})
	wantInvalid(t, err, "not absolute")

	// Cleanup removes the symlinks, never what they point to.
	if err := m.Cleanup("u1"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(outside, "secret")); got != "keep" {
		t.Fatalf("outside file after Cleanup: %q", got)
	}
}

func TestCleanupUnmountsForeignMounts(t *testing.T) {
	m, dir := newManager(t)
	paths := mustPrepare(t, m, newPod("u1", api.Volume{Name: "d", EmptyDir: &api.EmptyDirVolumeSource{}}), Data{})
	// Something the package did not mount: a bind of a host folder.
	host := filepath.Join(dir, "host")
	os.MkdirAll(host, 0o755)
	os.WriteFile(filepath.Join(host, "f"), []byte("keep"), 0o644)
	if err := unix.Mount(host, paths["d"], "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	// Unmounted, busy or not, then removed; the host folder's file stays.
	f, err := os.Open(filepath.Join(paths["d"], "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := m.Cleanup("u1"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(host, "f")); got != "keep" {
		t.Fatalf("host file after Cleanup: %q", got)
	}
	if err := m.Cleanup("../etc"); !errors.Is(err, driver.ErrInvalid) {
		t.Fatalf("Cleanup of a bad uid: %v", err)
	}
}

func TestUnescapeMountPath(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/a\134b`: `/a\b`, `/plain`: "/plain", `/end\04`: `/end\04`} {
		if got := unescapeMountPath(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
