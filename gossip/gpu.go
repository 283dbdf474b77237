package gossip

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/api"
)

// GPUSource lists a machine's GPUs.
type GPUSource interface {
	GPUs() ([]api.NodeGPU, error)
}

// gpuNone is a machine without GPUs.
type gpuNone struct{}

var _ GPUSource = gpuNone{}

func (gpuNone) GPUs() ([]api.NodeGPU, error) { return nil, nil }

// gpuFake is a fixed list of GPUs, for tests.
type gpuFake []api.NodeGPU

var _ GPUSource = gpuFake(nil)

// GPUs returns a copy, so that a caller may change what it gets.
func (f gpuFake) GPUs() ([]api.NodeGPU, error) { return slices.Clone(f), nil }

// gpuFakeMax bounds the count of a fake GPU spec: a typo should not make a
// million GPUs.
const gpuFakeMax = 1024

// gpuFakeMemory is the memory of a fake GPU whose spec gives none.
const gpuFakeMemory = "16Gi"

// FakeGPUs is a GPU source for tests, from a spec "COUNT:MODEL[:MEMORY]",
// e.g. "2:NVIDIA H100 80GB HBM3:80Gi" (memory as a Kubernetes quantity,
// default 16Gi). IDs are "GPU-fake-<node>-<index>" made unique per node
// name; "" gives zero GPUs. Errors name what is wrong in the spec.
func FakeGPUs(node, spec string) (GPUSource, error) {
	if spec == "" {
		return gpuNone{}, nil
	}
	fail := func(format string, args ...any) (GPUSource, error) {
		return nil, fmt.Errorf("gossip: fake GPUs %q: %s", spec, fmt.Sprintf(format, args...))
	}
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return fail("want COUNT:MODEL or COUNT:MODEL:MEMORY")
	}
	count, err := strconv.Atoi(parts[0])
	if err != nil || count < 0 || count > gpuFakeMax {
		return fail("count %q is not a whole number from 0 to %d", parts[0], gpuFakeMax)
	}
	model := strings.TrimSpace(parts[1])
	if model == "" {
		return fail("model is empty")
	}
	mem := gpuFakeMemory
	if len(parts) == 3 {
		mem = parts[2]
	}
	if _, err := api.ParseQuantity(mem); err != nil {
		return fail("memory: %v", err)
	}
	bytes := api.Quantity(mem).Value()
	if bytes <= 0 {
		return fail("memory %q is not positive", mem)
	}
	if node == "" && count > 0 {
		return fail("node name is empty")
	}
	gpus := make(gpuFake, count)
	for i := range gpus {
		gpus[i] = api.NodeGPU{
			ID:          fmt.Sprintf("GPU-fake-%s-%d", node, i),
			Index:       int32(i),
			Model:       model,
			MemoryBytes: bytes,
		}
	}
	return gpus, nil
}

// gpuProduct turns a GPU model into the value of the nvidia.com/gpu.product
// label as GPU feature discovery does, spaces to '-' ("NVIDIA H100 80GB
// HBM3" → "NVIDIA-H100-80GB-HBM3"); it also replaces whatever else a label
// value may not hold by '-', cuts the result to 63 characters and trims it
// to start and end alphanumeric. "" when nothing is left.
func gpuProduct(model string) string {
	b := []byte(model)
	for i, c := range b {
		if !gpuLabelByte(c) {
			b[i] = '-'
		}
	}
	if len(b) > 63 {
		b = b[:63]
	}
	isEdge := func(r rune) bool { return r == '-' || r == '_' || r == '.' }
	return strings.TrimFunc(string(b), isEdge)
}

// gpuLabelByte reports whether c may appear in a label value.
func gpuLabelByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}
