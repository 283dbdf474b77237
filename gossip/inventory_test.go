package gossip

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/berth-dev/berth/api"
)

// wantErr checks that err is nil when want is "", else that it holds want.
func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one holding %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not hold %q", err, want)
	}
}

// procMemTotal reads MemTotal of /proc/meminfo on its own, in bytes.
func procMemTotal(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Skipf("no /proc/meminfo: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "MemTotal:" {
			kib, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kib * 1024
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestMeasureMachine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("measures Linux's /proc")
	}
	dir := t.TempDir()
	m, err := MeasureMachine(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", m)
	cpus := int64(runtime.NumCPU()) * 1000
	if m.CPUMilli <= 0 || m.CPUMilli > cpus {
		t.Errorf("CPUMilli = %d, want in (0, %d]", m.CPUMilli, cpus)
	}
	if !exists("/sys/fs/cgroup/cpu.max") && m.CPUMilli != cpus {
		t.Errorf("CPUMilli = %d without a cgroup quota, want runtime.NumCPU()×1000 = %d", m.CPUMilli, cpus)
	}
	total := procMemTotal(t)
	if m.MemoryBytes <= 0 || m.MemoryBytes > total {
		t.Errorf("MemoryBytes = %d, want in (0, %d]", m.MemoryBytes, total)
	}
	if !exists("/sys/fs/cgroup/memory.max") && m.MemoryBytes != total {
		t.Errorf("MemoryBytes = %d without a cgroup limit, want MemTotal %d", m.MemoryBytes, total)
	}
	if m.EphemeralBytes <= 0 {
		t.Errorf("EphemeralBytes = %d, want > 0", m.EphemeralBytes)
	}
	release, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Fatal(err)
	}
	if m.Kernel == "" || m.Kernel != strings.TrimSpace(string(release)) {
		t.Errorf("Kernel = %q, want %q", m.Kernel, strings.TrimSpace(string(release)))
	}

	// A data directory not made yet is measured on its nearest parent.
	later, err := MeasureMachine(filepath.Join(dir, "not", "yet"))
	if err != nil {
		t.Fatal(err)
	}
	if later.EphemeralBytes != m.EphemeralBytes {
		t.Errorf("EphemeralBytes of a missing subdirectory = %d, want its parent's %d", later.EphemeralBytes, m.EphemeralBytes)
	}

	_, err = MeasureMachine("")
	wantErr(t, err, "gossip: data directory is empty")
}

// fakeHost writes the files of an invHost with 4 CPUs into a temporary
// directory; "" leaves a file out.
func fakeHost(t *testing.T, meminfo, cpuMax, memoryMax string) invHost {
	dir := t.TempDir()
	h := invHost{
		numCPU:    4,
		meminfo:   filepath.Join(dir, "meminfo"),
		cpuMax:    filepath.Join(dir, "cpu.max"),
		memoryMax: filepath.Join(dir, "memory.max"),
		osRelease: filepath.Join(dir, "osrelease"),
	}
	for path, s := range map[string]string{h.meminfo: meminfo, h.cpuMax: cpuMax, h.memoryMax: memoryMax, h.osRelease: "6.8.0-test\n"} {
		if s != "" {
			if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return h
}

const testMeminfo = "MemTotal:        4096 kB\nMemFree:         1024 kB\n"

func TestMeasureCgroup(t *testing.T) {
	tests := []struct {
		name              string
		meminfo           string
		cpuMax, memoryMax string
		wantCPU, wantMem  int64
		err               string
	}{
		{name: "no cgroup files", meminfo: testMeminfo, wantCPU: 4000, wantMem: 4 << 20},
		{name: "no limits", meminfo: testMeminfo, cpuMax: "max 100000\n", memoryMax: "max\n", wantCPU: 4000, wantMem: 4 << 20},
		{name: "lower limits", meminfo: testMeminfo, cpuMax: "150000 100000\n", memoryMax: "1048576\n", wantCPU: 1500, wantMem: 1 << 20},
		{name: "higher limits", meminfo: testMeminfo, cpuMax: "800000 100000\n", memoryMax: "8589934592\n", wantCPU: 4000, wantMem: 4 << 20},
		{name: "tiny quota", meminfo: testMeminfo, cpuMax: "50 100000\n", wantCPU: 1, wantMem: 4 << 20},
		{name: "quota without period", meminfo: testMeminfo, cpuMax: "250000\n", wantCPU: 2500, wantMem: 4 << 20},
		{name: "bad cpu.max", meminfo: testMeminfo, cpuMax: "lots 100000\n", err: `cpu.max: "lots 100000" is not "QUOTA PERIOD"`},
		{name: "zero period", meminfo: testMeminfo, cpuMax: "1000 0\n", err: `cpu.max: "1000 0" is not "QUOTA PERIOD"`},
		{name: "bad memory.max", meminfo: testMeminfo, memoryMax: "1G\n", err: `memory.max: "1G" is neither "max" nor a number of bytes`},
		{name: "no MemTotal", meminfo: "MemFree: 1 kB\n", err: "meminfo: no MemTotal"},
		{name: "MemTotal not in kB", meminfo: "MemTotal: 1 MB\n", err: `meminfo: MemTotal "1 MB" is not "N kB"`},
		{name: "no meminfo", err: "gossip: memory: open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fakeHost(t, tt.meminfo, tt.cpuMax, tt.memoryMax)
			m, err := h.measure(t.TempDir())
			wantErr(t, err, tt.err)
			if tt.err != "" {
				return
			}
			if m.CPUMilli != tt.wantCPU || m.MemoryBytes != tt.wantMem || m.Kernel != "6.8.0-test" {
				t.Errorf("measured %+v, want CPUMilli %d, MemoryBytes %d, Kernel 6.8.0-test", m, tt.wantCPU, tt.wantMem)
			}
		})
	}
}

func TestQuantityForms(t *testing.T) {
	bytes := []struct {
		n    int64
		want api.Quantity
	}{
		{0, "0"},
		{1, "1"},
		{1000, "1k"},
		{1024, "1Ki"},
		{1536, "1536"},
		{1 << 30, "1Gi"},
		{31 << 30, "31Gi"},
		{32_000_000_000, "32G"},
		{24684092 << 10, "24684092Ki"},
		{1234567, "1234567"},
		{1 << 50, "1Pi"},
	}
	for _, tt := range bytes {
		if got := invBytes(tt.n); got != tt.want {
			t.Errorf("invBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	cpus := []struct {
		milli int64
		want  api.Quantity
	}{{0, "0"}, {8000, "8"}, {7500, "7500m"}, {1, "1m"}}
	for _, tt := range cpus {
		if got := invCPU(tt.milli); got != tt.want {
			t.Errorf("invCPU(%d) = %q, want %q", tt.milli, got, tt.want)
		}
	}
}

// The written forms read back as the amounts they were written from.
func TestQuantityFormsRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.OneOf(
			rapid.Int64Range(0, invMaxBytes),
			rapid.Map(rapid.Int64Range(0, invMaxBytes>>30), func(k int64) int64 { return k << 30 }),
			rapid.Map(rapid.Int64Range(0, invMaxBytes/1e9), func(k int64) int64 { return k * 1e9 }),
		).Draw(t, "n")
		b := invBytes(n)
		if _, err := api.ParseQuantity(string(b)); err != nil || b.Value() != n {
			t.Fatalf("invBytes(%d) = %q reads back as %d (%v)", n, b, b.Value(), err)
		}
		if c := invCPU(n); c.Milli() != n {
			t.Fatalf("invCPU(%d) = %q reads back as %dm", n, c, c.Milli())
		}
	})
}

// testMachine is a machine of 16 CPUs, 64 GiB and a 1 TB disk.
var testMachine = Machine{CPUMilli: 16000, MemoryBytes: 64 << 30, EphemeralBytes: 1e12, Kernel: "6.8.0-test"}

func mustFakeGPUs(t *testing.T, node, spec string) []api.NodeGPU {
	t.Helper()
	src, err := FakeGPUs(node, spec)
	if err != nil {
		t.Fatal(err)
	}
	gpus, err := src.GPUs()
	if err != nil {
		t.Fatal(err)
	}
	return gpus
}

func TestInventory(t *testing.T) {
	gpus := mustFakeGPUs(t, "gpu-1", "2:NVIDIA H100 80GB HBM3:80Gi")
	cfg := InventoryConfig{
		Name:     "gpu-1",
		Capacity: api.ResourceList{"cpu": "8", "memory": "32Gi"},
		Reserved: api.ResourceList{"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "10G"},
		Labels:   map[string]string{"zone": "a", "example.com/tier": "gold"},
		Version:  "v0.1.0",
	}
	inv, err := invBuild(cfg, testMachine, gpus)
	if err != nil {
		t.Fatal(err)
	}
	want := &Inventory{
		Capacity: api.ResourceList{
			"cpu": "8", "memory": "32Gi", "ephemeral-storage": "1T", "pods": "110", "nvidia.com/gpu": "2",
		},
		Allocatable: api.ResourceList{
			"cpu": "7500m", "memory": "31Gi", "ephemeral-storage": "990G", "pods": "110", "nvidia.com/gpu": "2",
		},
		Labels: map[string]string{
			api.LabelHostname:   "gpu-1",
			api.LabelOS:         runtime.GOOS,
			api.LabelArch:       runtime.GOARCH,
			api.LabelGPUProduct: "NVIDIA-H100-80GB-HBM3",
			"zone":              "a",
			"example.com/tier":  "gold",
		},
		GPUs: []api.NodeGPU{
			{ID: "GPU-fake-gpu-1-0", Index: 0, Model: "NVIDIA H100 80GB HBM3", MemoryBytes: 80 << 30},
			{ID: "GPU-fake-gpu-1-1", Index: 1, Model: "NVIDIA H100 80GB HBM3", MemoryBytes: 80 << 30},
		},
		NodeInfo: api.NodeInfo{OperatingSystem: runtime.GOOS, Architecture: runtime.GOARCH, KernelVersion: "6.8.0-test", AgentVersion: "v0.1.0"},
	}
	if !inv.Equal(want) {
		got, _ := json.Marshal(inv)
		exp, _ := json.Marshal(want)
		t.Fatalf("inventory\n got %s\nwant %s", got, exp)
	}
}

// A disk or memory larger than a quantity may say is written as the
// largest that parses.
func TestInventoryHugeMachine(t *testing.T) {
	huge := Machine{CPUMilli: 256000, MemoryBytes: 1 << 62, EphemeralBytes: 2e16}
	inv, err := invBuild(InventoryConfig{Name: "big", Reserved: api.ResourceList{"memory": "1Ti"}}, huge, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []api.ResourceList{inv.Capacity, inv.Allocatable} {
		for name, q := range l {
			if _, err := api.ParseQuantity(string(q)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	if inv.Capacity["ephemeral-storage"] != "9P" || inv.Capacity["memory"] != "9P" || inv.Allocatable["memory"].Value() != 9e15-1<<40 {
		t.Errorf("capacity %v, allocatable %v", inv.Capacity, inv.Allocatable)
	}
}

func TestInventoryDefaults(t *testing.T) {
	inv, err := invBuild(InventoryConfig{Name: "n1", MaxPods: 30}, testMachine, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := api.ResourceList{"cpu": "16", "memory": "64Gi", "ephemeral-storage": "1T", "pods": "30"}
	if !inv.Equal(&Inventory{
		Capacity: want, Allocatable: want,
		Labels:   map[string]string{api.LabelHostname: "n1", api.LabelOS: runtime.GOOS, api.LabelArch: runtime.GOARCH},
		NodeInfo: api.NodeInfo{OperatingSystem: runtime.GOOS, Architecture: runtime.GOARCH, KernelVersion: "6.8.0-test"},
	}) {
		t.Fatalf("inventory %+v", inv)
	}

	// Capacity's pods win over MaxPods; a label may name the GPU product.
	gpus := mustFakeGPUs(t, "n1", "1:Tesla T4")
	inv, err = invBuild(InventoryConfig{
		Name: "n1", MaxPods: 30, Capacity: api.ResourceList{"pods": "200"},
		Labels: map[string]string{api.LabelGPUProduct: "t4"},
	}, testMachine, gpus)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Capacity["pods"] != "200" || inv.Capacity["nvidia.com/gpu"] != "1" || inv.Labels[api.LabelGPUProduct] != "t4" {
		t.Errorf("capacity %v, labels %v", inv.Capacity, inv.Labels)
	}
	if inv.GPUs[0].MemoryBytes != 16<<30 {
		t.Errorf("fake GPU memory %d, want the default 16Gi", inv.GPUs[0].MemoryBytes)
	}
}

func TestMeasureInventory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("measures Linux's /proc")
	}
	dir := t.TempDir()
	src, err := FakeGPUs("n1", "4:NVIDIA A100-SXM4-40GB:40Gi")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := MeasureInventory(InventoryConfig{
		Name: "n1", DataDir: dir, GPUs: src, Version: "dev",
		Capacity: api.ResourceList{"cpu": "8", "memory": "32Gi"},
		Reserved: api.ResourceList{"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := MeasureMachine(dir)
	if err != nil {
		t.Fatal(err)
	}
	disk := invBytes(m.EphemeralBytes)
	wantCap := api.ResourceList{"cpu": "8", "memory": "32Gi", "ephemeral-storage": disk, "pods": "110", "nvidia.com/gpu": "4"}
	wantAlloc := api.ResourceList{"cpu": "7500m", "memory": "31Gi", "ephemeral-storage": disk, "pods": "110", "nvidia.com/gpu": "3"}
	if !(&Inventory{Capacity: inv.Capacity, Allocatable: inv.Allocatable}).Equal(&Inventory{Capacity: wantCap, Allocatable: wantAlloc}) {
		t.Errorf("capacity %v allocatable %v, want %v and %v", inv.Capacity, inv.Allocatable, wantCap, wantAlloc)
	}
	if inv.Labels[api.LabelGPUProduct] != "NVIDIA-A100-SXM4-40GB" || len(inv.GPUs) != 4 {
		t.Errorf("labels %v, %d GPUs", inv.Labels, len(inv.GPUs))
	}
	if inv.NodeInfo.KernelVersion != m.Kernel || inv.NodeInfo.AgentVersion != "dev" {
		t.Errorf("node info %+v", inv.NodeInfo)
	}

	// Measured, not overridden: what MeasureMachine finds.
	inv, err = MeasureInventory(InventoryConfig{Name: "n1", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Capacity["cpu"] != invCPU(m.CPUMilli) || inv.Capacity["memory"] != invBytes(m.MemoryBytes) {
		t.Errorf("capacity %v, measured %+v", inv.Capacity, m)
	}
	if _, ok := inv.Capacity["nvidia.com/gpu"]; ok || len(inv.GPUs) != 0 || inv.Labels[api.LabelGPUProduct] != "" {
		t.Errorf("a node without GPUs has %v, %v", inv.Capacity, inv.Labels)
	}
}

// failingGPUs is a GPU source whose library broke.
type failingGPUs struct{}

func (failingGPUs) GPUs() ([]api.NodeGPU, error) { return nil, errors.New("GPU is lost") }

func TestMeasureInventoryErrors(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("measures Linux's /proc")
	}
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  InventoryConfig
		err  string
	}{
		{"no name", InventoryConfig{DataDir: dir}, "gossip: inventory: node name is empty"},
		{"bad name", InventoryConfig{Name: "a b", DataDir: dir}, `node name: label "kubernetes.io/hostname": value "a b" must be empty or`},
		{"negative max pods", InventoryConfig{Name: "n1", DataDir: dir, MaxPods: -1}, "max pods -1 is negative"},
		{"gpu capacity", InventoryConfig{Name: "n1", DataDir: dir, Capacity: api.ResourceList{"nvidia.com/gpu": "2"}},
			"capacity of nvidia.com/gpu is the number of GPUs found and may not be set"},
		{"unknown capacity", InventoryConfig{Name: "n1", DataDir: dir, Capacity: api.ResourceList{"disk": "1G"}},
			`capacity: unknown resource "disk" (want cpu, memory, ephemeral-storage, pods, nvidia.com/gpu)`},
		{"bad reserved", InventoryConfig{Name: "n1", DataDir: dir, Reserved: api.ResourceList{"memory": "lots"}},
			`reserved: memory: quantity "lots"`},
		{"cpu over", InventoryConfig{Name: "n1", DataDir: dir, Capacity: api.ResourceList{"cpu": "8"}, Reserved: api.ResourceList{"cpu": "8500m"}},
			"gossip: inventory: reserved cpu 8500m is more than the capacity 8"},
		{"memory over", InventoryConfig{Name: "n1", DataDir: dir, Capacity: api.ResourceList{"memory": "1Gi"}, Reserved: api.ResourceList{"memory": "2Gi"}},
			"reserved memory 2Gi is more than the capacity 1Gi"},
		{"gpu over", InventoryConfig{Name: "n1", DataDir: dir, Reserved: api.ResourceList{"nvidia.com/gpu": "1"}},
			"reserved nvidia.com/gpu 1 is more than the capacity 0"},
		{"hostname label", InventoryConfig{Name: "n1", DataDir: dir, Labels: map[string]string{api.LabelHostname: "other"}},
			`label "kubernetes.io/hostname" is set by the agent and may not be configured`},
		{"arch label", InventoryConfig{Name: "n1", DataDir: dir, Labels: map[string]string{api.LabelArch: "arm64"}},
			`label "kubernetes.io/arch" is set by the agent`},
		{"bad label", InventoryConfig{Name: "n1", DataDir: dir, Labels: map[string]string{"-zone": "a"}},
			`label key "-zone": name must be`},
		{"gpu failure", InventoryConfig{Name: "n1", DataDir: dir, GPUs: failingGPUs{}}, "gossip: inventory: list GPUs: GPU is lost"},
		{"no data dir", InventoryConfig{Name: "n1"}, "gossip: data directory is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := MeasureInventory(tt.cfg)
			wantErr(t, err, tt.err)
			if inv != nil {
				t.Errorf("inventory %+v with an error", inv)
			}
		})
	}
}

func TestInventoryEqual(t *testing.T) {
	gpus := mustFakeGPUs(t, "n1", "1:L4")
	inv, err := invBuild(InventoryConfig{Name: "n1", Labels: map[string]string{"zone": "a"}}, testMachine, gpus)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	var back Inventory
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !inv.Equal(&back) || !back.Equal(inv) {
		t.Errorf("JSON round trip changed %s", b)
	}

	changes := map[string]func(i *Inventory){
		"capacity":    func(i *Inventory) { i.Capacity["cpu"] = "15" },
		"allocatable": func(i *Inventory) { delete(i.Allocatable, "pods") },
		"label":       func(i *Inventory) { i.Labels["zone"] = "b" },
		"gpu":         func(i *Inventory) { i.GPUs[0].MIGEnabled = true },
		"no gpus":     func(i *Inventory) { i.GPUs = nil },
		"node info":   func(i *Inventory) { i.NodeInfo.AgentVersion = "v2" },
	}
	for name, change := range changes {
		var other Inventory
		if err := json.Unmarshal(b, &other); err != nil {
			t.Fatal(err)
		}
		change(&other)
		if inv.Equal(&other) {
			t.Errorf("%s changed, still equal", name)
		}
	}

	empty := &Inventory{Capacity: api.ResourceList{}, Labels: map[string]string{}, GPUs: []api.NodeGPU{}}
	if !empty.Equal(&Inventory{}) || !(&Inventory{}).Equal(empty) {
		t.Error("empty and nil maps and slices differ")
	}
	var none *Inventory
	if !none.Equal(nil) || none.Equal(empty) || empty.Equal(nil) {
		t.Error("nil inventories compare wrong")
	}
}

func TestParseResources(t *testing.T) {
	tests := []struct {
		in   string
		want api.ResourceList
		err  string
	}{
		{in: "", want: api.ResourceList{}},
		{in: "cpu=500m,memory=1Gi", want: api.ResourceList{"cpu": "500m", "memory": "1Gi"}},
		{in: " cpu=2 , ephemeral-storage=100G,pods=50,nvidia.com/gpu=1", want: api.ResourceList{
			"cpu": "2", "ephemeral-storage": "100G", "pods": "50", "nvidia.com/gpu": "1"}},
		{in: "memory=0", want: api.ResourceList{"memory": "0"}},
		{in: "disk=1G", err: `gossip: resource "disk=1G": unknown name "disk" (want cpu, memory, ephemeral-storage, pods, nvidia.com/gpu)`},
		{in: "cpu=1,cpu=2", err: `gossip: resource "cpu=2": cpu is given twice`},
		{in: "cpu=-1", err: `gossip: resource "cpu=-1": cpu: quantity "-1": must be a non-negative number`},
		{in: "memory=1Gb", err: `gossip: resource "memory=1Gb": memory: quantity "1Gb"`},
		{in: "memory=", err: `gossip: resource "memory=": memory: quantity ""`},
		{in: "cpu", err: `gossip: resource "cpu": want NAME=QUANTITY`},
		{in: "cpu=1,", err: `gossip: resource "": want NAME=QUANTITY`},
		{in: "pods=1.5", err: `gossip: resource "pods=1.5": pods: "1.5" is not a whole number`},
		{in: "nvidia.com/gpu=500m", err: `gossip: resource "nvidia.com/gpu=500m": nvidia.com/gpu: "500m" is not a whole number`},
	}
	for _, tt := range tests {
		got, err := ParseResources(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseResources(%q) = %v, %v; want error holding %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got == nil || !(&Inventory{Capacity: got}).Equal(&Inventory{Capacity: tt.want}) {
			t.Errorf("ParseResources(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := ParseResources("cpu=x"); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("a bad quantity's error %v does not wrap api.ErrInvalid", err)
	}
}

func TestParseLabels(t *testing.T) {
	tests := []struct {
		in   []string
		want map[string]string
		err  string
	}{
		{in: nil, want: map[string]string{}},
		{in: []string{"zone=a"}, want: map[string]string{"zone": "a"}},
		{in: []string{"zone=a,rack=r1", "example.com/tier=gold", "empty="},
			want: map[string]string{"zone": "a", "rack": "r1", "example.com/tier": "gold", "empty": ""}},
		{in: []string{"zone"}, err: `gossip: label "zone": want KEY=VALUE`},
		{in: []string{"zone=a", "zone=b"}, err: `gossip: label "zone=b": zone is given twice`},
		{in: []string{"Bad Key=a"}, err: `gossip: label "Bad Key=a": label key "Bad Key": name must be`},
		{in: []string{"zone=a b"}, err: `gossip: label "zone=a b": label "zone": value "a b" must be empty or at most 63`},
		{in: []string{"zone=" + strings.Repeat("v", 64)}, err: `label "zone": value "vvvv`},
		{in: []string{"Example.com/x=1"}, err: `label key "Example.com/x": prefix must be a DNS-1123 subdomain`},
		{in: []string{"=a"}, err: `label key "": name must not be empty`},
	}
	for _, tt := range tests {
		got, err := ParseLabels(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseLabels(%q) = %v, %v; want error holding %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got == nil || !(&Inventory{Labels: got}).Equal(&Inventory{Labels: tt.want}) {
			t.Errorf("ParseLabels(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// FakeGPUs is tested here rather than in gpu_test.go, which needs cgo.
func TestFakeGPUs(t *testing.T) {
	gpus := mustFakeGPUs(t, "node-a", "2:NVIDIA H100 80GB HBM3:80Gi")
	want := []api.NodeGPU{
		{ID: "GPU-fake-node-a-0", Index: 0, Model: "NVIDIA H100 80GB HBM3", MemoryBytes: 80 << 30},
		{ID: "GPU-fake-node-a-1", Index: 1, Model: "NVIDIA H100 80GB HBM3", MemoryBytes: 80 << 30},
	}
	if !(&Inventory{GPUs: gpus}).Equal(&Inventory{GPUs: want}) {
		t.Errorf("GPUs %+v, want %+v", gpus, want)
	}
	other := mustFakeGPUs(t, "node-b", "2:NVIDIA H100 80GB HBM3:80Gi")
	if other[0].ID == gpus[0].ID || other[1].ID == gpus[1].ID {
		t.Errorf("two nodes share GPU IDs: %+v, %+v", gpus, other)
	}
	if g := mustFakeGPUs(t, "node-a", "1:Tesla T4"); g[0].MemoryBytes != 16<<30 {
		t.Errorf("default memory %d, want 16Gi", g[0].MemoryBytes)
	}
	if g := mustFakeGPUs(t, "node-a", ""); len(g) != 0 {
		t.Errorf("empty spec gives %d GPUs", len(g))
	}
	if g := mustFakeGPUs(t, "", "0:L4"); len(g) != 0 {
		t.Errorf("zero count gives %d GPUs", len(g))
	}

	// A caller's changes stay its own.
	src, _ := FakeGPUs("node-a", "1:L4")
	g, _ := src.GPUs()
	g[0].ID = "changed"
	if g, _ := src.GPUs(); g[0].ID != "GPU-fake-node-a-0" {
		t.Errorf("source changed through a returned slice: %+v", g)
	}

	bad := []struct{ node, spec, err string }{
		{"n", "2", `gossip: fake GPUs "2": want COUNT:MODEL or COUNT:MODEL:MEMORY`},
		{"n", "2:A:1Gi:x", `want COUNT:MODEL or COUNT:MODEL:MEMORY`},
		{"n", "two:A100", `gossip: fake GPUs "two:A100": count "two" is not a whole number from 0 to 1024`},
		{"n", "-1:A100", `count "-1" is not a whole number`},
		{"n", "5000:A100", `count "5000" is not a whole number from 0 to 1024`},
		{"n", "2: ", `gossip: fake GPUs "2: ": model is empty`},
		{"n", "2:A100:lots", `gossip: fake GPUs "2:A100:lots": memory: quantity "lots"`},
		{"n", "2:A100:0", `memory "0" is not positive`},
		{"", "2:A100", `gossip: fake GPUs "2:A100": node name is empty`},
	}
	for _, tt := range bad {
		_, err := FakeGPUs(tt.node, tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("FakeGPUs(%q, %q) error %v, want one holding %q", tt.node, tt.spec, err, tt.err)
		}
	}
}

func TestGPUProduct(t *testing.T) {
	tests := []struct{ model, want string }{
		{"NVIDIA H100 80GB HBM3", "NVIDIA-H100-80GB-HBM3"},
		{"NVIDIA A100-SXM4-40GB", "NVIDIA-A100-SXM4-40GB"},
		{"Tesla T4", "Tesla-T4"},
		{"NVIDIA GeForce RTX 4090 (Laptop)", "NVIDIA-GeForce-RTX-4090--Laptop"},
		{" NVIDIA L4 ", "NVIDIA-L4"},
		{strings.Repeat("A", 70), strings.Repeat("A", 63)},
		{"   ", ""},
	}
	for _, tt := range tests {
		got := gpuProduct(tt.model)
		if got != tt.want {
			t.Errorf("gpuProduct(%q) = %q, want %q", tt.model, got, tt.want)
		}
		if got != "" {
			if err := api.ValidateLabel(api.LabelGPUProduct, got); err != nil {
				t.Errorf("gpuProduct(%q) = %q: %v", tt.model, got, err)
			}
		}
	}
}

// Whatever the model, the product label is a valid label value.
func TestGPUProductValid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		model := rapid.String().Draw(t, "model")
		if p := gpuProduct(model); p != "" {
			if err := api.ValidateLabel(api.LabelGPUProduct, p); err != nil {
				t.Fatalf("gpuProduct(%q) = %q: %v", model, p, err)
			}
		}
	})
}
