package gossip

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/berth-dev/berth/api"
)

// Machine is what was measured of this machine.
type Machine struct {
	// CPUMilli is the usable CPUs × 1000: runtime.NumCPU (which honours the
	// affinity mask), or the cgroup v2 cpu.max quota when that is lower.
	CPUMilli int64
	// MemoryBytes is MemTotal of /proc/meminfo, or the cgroup v2 memory.max
	// when that is lower.
	MemoryBytes int64
	// EphemeralBytes is the total size of the file system holding the data
	// directory.
	EphemeralBytes int64
	// Kernel is the kernel's release, as uname -r prints it.
	Kernel string
}

// invHost says where MeasureMachine looks; tests point it at files of
// their own.
type invHost struct {
	numCPU    int
	meminfo   string // /proc/meminfo
	cpuMax    string // the cgroup v2 CPU quota
	memoryMax string // the cgroup v2 memory limit
	osRelease string // the kernel release
}

func invThisHost() invHost {
	return invHost{
		numCPU:    runtime.NumCPU(),
		meminfo:   "/proc/meminfo",
		cpuMax:    "/sys/fs/cgroup/cpu.max",
		memoryMax: "/sys/fs/cgroup/memory.max",
		osRelease: "/proc/sys/kernel/osrelease",
	}
}

// MeasureMachine measures this machine's CPUs, memory, kernel, and the
// file system that holds dataDir (or, while dataDir does not exist yet, its
// nearest existing parent).
func MeasureMachine(dataDir string) (Machine, error) {
	return invThisHost().measure(dataDir)
}

func (h invHost) measure(dataDir string) (Machine, error) {
	var m Machine
	var err error
	if m.CPUMilli, err = h.cpuMilli(); err != nil {
		return Machine{}, err
	}
	if m.MemoryBytes, err = h.memoryBytes(); err != nil {
		return Machine{}, err
	}
	if m.EphemeralBytes, err = invDiskBytes(dataDir); err != nil {
		return Machine{}, err
	}
	if m.Kernel, err = invReadOptional(h.osRelease); err != nil {
		return Machine{}, err
	}
	return m, nil
}

// cpuMilli is the CPU count in thousandths, lowered to the cgroup quota.
func (h invHost) cpuMilli() (int64, error) {
	milli := int64(h.numCPU) * 1000
	s, err := invReadOptional(h.cpuMax)
	if err != nil || s == "" {
		return milli, err
	}
	// "max 100000" (no quota) or "QUOTA PERIOD", both in microseconds.
	f := strings.Fields(s)
	if len(f) == 0 || len(f) > 2 {
		return 0, fmt.Errorf("gossip: %s: %q is not \"QUOTA PERIOD\"", h.cpuMax, s)
	}
	if f[0] == "max" {
		return milli, nil
	}
	period := int64(100_000)
	quota, err := strconv.ParseInt(f[0], 10, 64)
	if err == nil && len(f) == 2 {
		period, err = strconv.ParseInt(f[1], 10, 64)
	}
	if err != nil || quota <= 0 || period <= 0 {
		return 0, fmt.Errorf("gossip: %s: %q is not \"QUOTA PERIOD\"", h.cpuMax, s)
	}
	return min(milli, max(1, quota*1000/period)), nil
}

// memoryBytes is MemTotal, lowered to the cgroup limit.
func (h invHost) memoryBytes() (int64, error) {
	total, err := invMemTotal(h.meminfo)
	if err != nil {
		return 0, err
	}
	s, err := invReadOptional(h.memoryMax)
	if err != nil || s == "" || s == "max" {
		return total, err
	}
	limit, err := strconv.ParseInt(s, 10, 64)
	if err != nil || limit < 0 {
		return 0, fmt.Errorf("gossip: %s: %q is neither \"max\" nor a number of bytes", h.memoryMax, s)
	}
	return min(total, limit), nil
}

// invMemTotal reads MemTotal of a /proc/meminfo, in bytes.
func invMemTotal(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("gossip: memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		// "MemTotal:       24684092 kB", where kB means KiB.
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("gossip: %s: MemTotal %q is not \"N kB\"", path, strings.TrimSpace(rest))
		}
		kib, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kib <= 0 || kib > 1<<53 {
			return 0, fmt.Errorf("gossip: %s: MemTotal %q is not \"N kB\"", path, strings.TrimSpace(rest))
		}
		return kib << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("gossip: memory: %w", err)
	}
	return 0, fmt.Errorf("gossip: %s: no MemTotal", path)
}

// invReadOptional returns a file's trimmed content, or "" when it does
// not exist.
func invReadOptional(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("gossip: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// invDiskBytes is the total size of the file system holding dir, or its
// nearest existing parent.
func invDiskBytes(dir string) (int64, error) {
	if dir == "" {
		return 0, errors.New("gossip: data directory is empty")
	}
	p, err := filepath.Abs(dir)
	if err != nil {
		return 0, fmt.Errorf("gossip: data directory: %w", err)
	}
	for {
		var st syscall.Statfs_t
		err := syscall.Statfs(p, &st)
		if err == nil {
			return int64(st.Blocks) * int64(st.Bsize), nil
		}
		if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(p) == p {
			return 0, fmt.Errorf("gossip: data directory %s: statfs %s: %w", dir, p, err)
		}
		p = filepath.Dir(p)
	}
}

// InventoryConfig says how to build a node's inventory.
type InventoryConfig struct {
	// Name is the node's name, also its kubernetes.io/hostname label.
	Name string
	// DataDir is the agent's data directory: its file system is the
	// node's ephemeral-storage.
	DataDir string
	// Capacity overrides what is measured, per resource: cpu, memory,
	// ephemeral-storage, pods (which wins over MaxPods). nvidia.com/gpu is
	// counted from GPUs and may not be set.
	Capacity api.ResourceList
	// Reserved is kept for the system: allocatable is capacity less
	// reserved. It may not exceed the capacity.
	Reserved api.ResourceList
	// Labels are added to the automatic ones. They may not set
	// kubernetes.io/hostname, kubernetes.io/os or kubernetes.io/arch; they
	// may set nvidia.com/gpu.product.
	Labels map[string]string
	// GPUs lists the node's GPUs; nil: none.
	GPUs GPUSource
	// MaxPods is the pods capacity; 0: 110.
	MaxPods int
	// Version is the agent's version.
	Version string
}

// invDefaultMaxPods is the pods capacity unless configured, as the kubelet's.
const invDefaultMaxPods = 110

// Inventory is a node's capacity, labels and GPUs, as gossiped. Quantities
// are canonical, so that equal amounts are equal strings: cpu whole
// ("8") or in millicores ("7500m"); bytes in the shortest exact form
// ("32Gi", "500M", "24684092Ki", "1234567"); counts as integers.
type Inventory struct {
	// Capacity is what the node has: cpu, memory, ephemeral-storage, pods,
	// and nvidia.com/gpu when it has GPUs.
	Capacity api.ResourceList `json:"capacity"`
	// Allocatable is what pods may use: capacity less what is reserved.
	Allocatable api.ResourceList `json:"allocatable"`
	// Labels are kubernetes.io/hostname, kubernetes.io/os,
	// kubernetes.io/arch, nvidia.com/gpu.product (the model of GPU 0 with
	// spaces as '-', when there are GPUs), and the configured labels.
	Labels   map[string]string `json:"labels,omitempty"`
	GPUs     []api.NodeGPU     `json:"gpus,omitempty"`
	NodeInfo api.NodeInfo      `json:"nodeInfo"`
}

// invResource says how one resource's amount is read and written.
type invResource struct {
	name   string
	amount func(api.Quantity) int64 // in the unit of format
	format func(int64) api.Quantity
	whole  bool // a count: no fractions
}

// invResources are the resources an inventory holds, in the order in
// which errors name them.
var invResources = []invResource{
	{name: api.ResourceCPU, amount: api.Quantity.Milli, format: invCPU},
	{name: api.ResourceMemory, amount: api.Quantity.Value, format: invBytes},
	{name: api.ResourceEphemeralStorage, amount: api.Quantity.Value, format: invBytes},
	{name: api.ResourcePods, amount: api.Quantity.Value, format: invCount, whole: true},
	{name: api.ResourceGPU, amount: api.Quantity.Value, format: invCount, whole: true},
}

func invLookup(name string) (invResource, bool) {
	i := slices.IndexFunc(invResources, func(r invResource) bool { return r.name == name })
	if i < 0 {
		return invResource{}, false
	}
	return invResources[i], true
}

// invResourceNames lists the names for an error message.
func invResourceNames() string {
	names := make([]string, len(invResources))
	for i, r := range invResources {
		names[i] = r.name
	}
	return strings.Join(names, ", ")
}

// invCPU writes millicores: whole cores as "8", else "7500m".
func invCPU(milli int64) api.Quantity {
	if milli%1000 == 0 {
		return api.Quantity(strconv.FormatInt(milli/1000, 10))
	}
	return api.Quantity(strconv.FormatInt(milli, 10) + "m")
}

// invCount writes a count as an integer.
func invCount(n int64) api.Quantity { return api.Quantity(strconv.FormatInt(n, 10)) }

// invMaxBytes is the most bytes an inventory says a machine has: the
// largest quantity that api.ParseQuantity accepts, so that a larger disk
// still makes a valid node.
const invMaxBytes = 9_000_000_000_000_000

// invBinary and invDecimal are the byte suffixes, largest first.
var (
	invBinary  = []string{"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"}
	invDecimal = []string{"E", "P", "T", "G", "M", "k"}
)

// invBytes writes bytes in the shortest exact form of: the largest binary
// suffix that divides them, the largest decimal one, none. A tie goes to
// that order, so the form is a function of the amount alone.
func invBytes(n int64) api.Quantity {
	best := strconv.FormatInt(n, 10)
	if n == 0 {
		return api.Quantity(best)
	}
	pick := func(suffixes []string, base int64) string {
		for i, s := range suffixes {
			unit := int64(1)
			for range len(suffixes) - i {
				unit *= base
			}
			if n%unit == 0 {
				return strconv.FormatInt(n/unit, 10) + s
			}
		}
		return ""
	}
	bin, dec := pick(invBinary, 1024), pick(invDecimal, 1000)
	if dec != "" && len(dec) <= len(best) {
		best = dec
	}
	if bin != "" && len(bin) <= len(best) {
		best = bin
	}
	return api.Quantity(best)
}

// MeasureInventory measures this machine and its GPUs and builds the
// inventory that cfg describes.
func MeasureInventory(cfg InventoryConfig) (*Inventory, error) {
	if cfg.Name == "" {
		return nil, errors.New("gossip: inventory: node name is empty")
	}
	if err := api.ValidateLabel(api.LabelHostname, cfg.Name); err != nil {
		return nil, fmt.Errorf("gossip: inventory: node name: %w", err)
	}
	if cfg.MaxPods < 0 {
		return nil, fmt.Errorf("gossip: inventory: max pods %d is negative", cfg.MaxPods)
	}
	if err := invCheckList("capacity", cfg.Capacity); err != nil {
		return nil, err
	}
	if _, ok := cfg.Capacity[api.ResourceGPU]; ok {
		return nil, fmt.Errorf("gossip: inventory: capacity of %s is the number of GPUs found and may not be set", api.ResourceGPU)
	}
	if err := invCheckList("reserved", cfg.Reserved); err != nil {
		return nil, err
	}
	m, err := MeasureMachine(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	var gpus []api.NodeGPU
	if cfg.GPUs != nil {
		if gpus, err = cfg.GPUs.GPUs(); err != nil {
			return nil, fmt.Errorf("gossip: inventory: list GPUs: %w", err)
		}
		slices.SortFunc(gpus, func(a, b api.NodeGPU) int { return cmp.Compare(a.Index, b.Index) })
	}
	if len(gpus) == 0 {
		gpus = nil
	}
	return invBuild(cfg, m, gpus)
}

// invBuild is MeasureInventory once the machine and its GPUs are measured.
func invBuild(cfg InventoryConfig, m Machine, gpus []api.NodeGPU) (*Inventory, error) {
	pods := int64(cfg.MaxPods)
	if pods == 0 {
		pods = invDefaultMaxPods
	}
	capacity := map[string]int64{
		api.ResourceCPU:              m.CPUMilli,
		api.ResourceMemory:           min(m.MemoryBytes, invMaxBytes),
		api.ResourceEphemeralStorage: min(m.EphemeralBytes, invMaxBytes),
		api.ResourcePods:             pods,
	}
	if len(gpus) > 0 {
		capacity[api.ResourceGPU] = int64(len(gpus))
	}
	for name, q := range cfg.Capacity {
		r, _ := invLookup(name)
		capacity[name] = r.amount(q)
	}
	inv := &Inventory{
		Capacity:    api.ResourceList{},
		Allocatable: api.ResourceList{},
		GPUs:        gpus,
		NodeInfo: api.NodeInfo{
			OperatingSystem: runtime.GOOS,
			Architecture:    runtime.GOARCH,
			KernelVersion:   m.Kernel,
			AgentVersion:    cfg.Version,
		},
	}
	for _, r := range invResources {
		c, ok := capacity[r.name]
		q := cfg.Reserved[r.name]
		res := r.amount(q)
		if res > c {
			return nil, fmt.Errorf("gossip: inventory: reserved %s %s is more than the capacity %s", r.name, q, r.format(c))
		}
		if !ok {
			continue
		}
		inv.Capacity[r.name] = r.format(c)
		inv.Allocatable[r.name] = r.format(c - res)
	}
	labels, err := invLabels(cfg, gpus)
	if err != nil {
		return nil, err
	}
	inv.Labels = labels
	return inv, nil
}

// invCheckList checks the names and quantities of a configured resource
// list.
func invCheckList(what string, l api.ResourceList) error {
	for _, name := range slices.Sorted(maps.Keys(l)) {
		r, ok := invLookup(name)
		if !ok {
			return fmt.Errorf("gossip: inventory: %s: unknown resource %q (want %s)", what, name, invResourceNames())
		}
		if err := invCheckQuantity(r, l[name]); err != nil {
			return fmt.Errorf("gossip: inventory: %s: %w", what, err)
		}
	}
	return nil
}

// invCheckQuantity checks one amount of resource r.
func invCheckQuantity(r invResource, q api.Quantity) error {
	v, err := api.ParseQuantity(string(q))
	if err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	if r.whole && !v.IsInt() {
		return fmt.Errorf("%s: %q is not a whole number", r.name, q)
	}
	return nil
}

// invReservedLabels are the labels that only the inventory sets.
var invReservedLabels = []string{api.LabelHostname, api.LabelOS, api.LabelArch}

// invLabels are the automatic labels and the configured ones.
func invLabels(cfg InventoryConfig, gpus []api.NodeGPU) (map[string]string, error) {
	labels := map[string]string{
		api.LabelHostname: cfg.Name,
		api.LabelOS:       runtime.GOOS,
		api.LabelArch:     runtime.GOARCH,
	}
	if len(gpus) > 0 {
		if p := gpuProduct(gpus[0].Model); p != "" {
			labels[api.LabelGPUProduct] = p
		}
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Labels)) {
		if slices.Contains(invReservedLabels, k) {
			return nil, fmt.Errorf("gossip: inventory: label %q is set by the agent and may not be configured", k)
		}
		if err := api.ValidateLabel(k, cfg.Labels[k]); err != nil {
			return nil, fmt.Errorf("gossip: inventory: %w", err)
		}
		labels[k] = cfg.Labels[k]
	}
	return labels, nil
}

// Equal reports whether two inventories say the same; nil and empty maps
// and slices are equal.
func (i *Inventory) Equal(o *Inventory) bool {
	if i == nil || o == nil {
		return i == o
	}
	return maps.Equal(i.Capacity, o.Capacity) &&
		maps.Equal(i.Allocatable, o.Allocatable) &&
		maps.Equal(i.Labels, o.Labels) &&
		slices.Equal(i.GPUs, o.GPUs) &&
		i.NodeInfo == o.NodeInfo
}

// ParseResources parses a flag value "cpu=500m,memory=1Gi" into a
// ResourceList. Names are cpu, memory, ephemeral-storage, pods and
// nvidia.com/gpu, each at most once; quantities are non-negative, whole
// for pods and GPUs. The error names the part that is wrong. "" gives an
// empty list.
func ParseResources(s string) (api.ResourceList, error) {
	l := api.ResourceList{}
	if strings.TrimSpace(s) == "" {
		return l, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		name, q, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("gossip: resource %q: want NAME=QUANTITY", part)
		}
		r, ok := invLookup(name)
		if !ok {
			return nil, fmt.Errorf("gossip: resource %q: unknown name %q (want %s)", part, name, invResourceNames())
		}
		if _, dup := l[name]; dup {
			return nil, fmt.Errorf("gossip: resource %q: %s is given twice", part, name)
		}
		if err := invCheckQuantity(r, api.Quantity(q)); err != nil {
			return nil, fmt.Errorf("gossip: resource %q: %w", part, err)
		}
		l[name] = api.Quantity(q)
	}
	return l, nil
}

// ParseLabels parses repeated --label values "k=v", each of which may
// also hold several comma-separated pairs, and checks keys and values as
// Kubernetes label keys and values. A key may appear once.
func ParseLabels(flags []string) (map[string]string, error) {
	labels := map[string]string{}
	for _, flag := range flags {
		for pair := range strings.SplitSeq(flag, ",") {
			pair = strings.TrimSpace(pair)
			k, v, ok := strings.Cut(pair, "=")
			if !ok {
				return nil, fmt.Errorf("gossip: label %q: want KEY=VALUE", pair)
			}
			if _, dup := labels[k]; dup {
				return nil, fmt.Errorf("gossip: label %q: %s is given twice", pair, k)
			}
			if err := api.ValidateLabel(k, v); err != nil {
				return nil, fmt.Errorf("gossip: label %q: %w", pair, err)
			}
			labels[k] = v
		}
	}
	return labels, nil
}
