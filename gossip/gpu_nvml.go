//go:build linux && cgo

package gossip

import (
	"fmt"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/berth-dev/berth/api"
)

// gpuNVMLMu makes one NVML walk at a time: go-nvml sets package state when
// it loads the library, and each walk pairs its own Init and Shutdown.
var gpuNVMLMu sync.Mutex

// gpuNVML lists GPUs through NVML.
type gpuNVML struct {
	lib nvml.Interface
}

var _ GPUSource = (*gpuNVML)(nil)

// NVML returns the GPU source backed by NVIDIA's NVML, which go-nvml loads
// (libnvidia-ml.so.1) at each call. A machine without the library or the
// driver has zero GPUs: GPUs returns (nil, nil) then. It errors only when
// the library loads but fails mid-way.
func NVML() GPUSource { return &gpuNVML{lib: nvml.New()} }

// GPUs initialises NVML, reads each device and shuts NVML down again.
func (s *gpuNVML) GPUs() ([]api.NodeGPU, error) {
	var gpus []api.NodeGPU
	err := s.session(func(n int) error {
		for i := range n {
			g, err := gpuNVMLDevice(s.lib, i)
			if err != nil {
				return err
			}
			gpus = append(gpus, g)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return gpus, nil
}

// session initialises NVML, calls f with the number of devices and shuts
// NVML down again, one session at a time. Without the library or the
// driver f is not called and there is no error: no GPUs.
func (s *gpuNVML) session(f func(devices int) error) error {
	gpuNVMLMu.Lock()
	defer gpuNVMLMu.Unlock()
	switch ret := s.lib.Init(); ret {
	case nvml.SUCCESS:
	case nvml.ERROR_LIBRARY_NOT_FOUND, nvml.ERROR_DRIVER_NOT_LOADED:
		return nil
	default:
		return fmt.Errorf("gossip: nvml: init: %w", ret)
	}
	// A failed shutdown changes nothing of what was read.
	defer s.lib.Shutdown()
	n, ret := s.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return fmt.Errorf("gossip: nvml: count devices: %w", ret)
	}
	return f(n)
}

// gpuNVMLDevice reads the GPU at index i of an initialised NVML.
func gpuNVMLDevice(lib nvml.Interface, i int) (api.NodeGPU, error) {
	fail := func(what string, ret nvml.Return) (api.NodeGPU, error) {
		return api.NodeGPU{}, fmt.Errorf("gossip: nvml: GPU %d: %s: %w", i, what, ret)
	}
	dev, ret := lib.DeviceGetHandleByIndex(i)
	if ret != nvml.SUCCESS {
		return fail("handle", ret)
	}
	uuid, ret := lib.DeviceGetUUID(dev)
	if ret != nvml.SUCCESS {
		return fail("uuid", ret)
	}
	name, ret := lib.DeviceGetName(dev)
	if ret != nvml.SUCCESS {
		return fail("name", ret)
	}
	mem, ret := lib.DeviceGetMemoryInfo(dev)
	if ret != nvml.SUCCESS {
		return fail("memory", ret)
	}
	mig := false
	switch current, _, ret := lib.DeviceGetMigMode(dev); ret {
	case nvml.SUCCESS:
		mig = current == nvml.DEVICE_MIG_ENABLE
	case nvml.ERROR_NOT_SUPPORTED:
	default:
		return fail("MIG mode", ret)
	}
	return api.NodeGPU{
		ID:          uuid,
		Index:       int32(i),
		Model:       name,
		MemoryBytes: int64(min(mem.Total, 1<<63-1)),
		MIGEnabled:  mig,
	}, nil
}
