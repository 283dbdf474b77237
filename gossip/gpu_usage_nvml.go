//go:build linux && cgo

package gossip

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

var _ GPUUsage = (*gpuNVML)(nil)

// GPUUtilization initialises NVML, reads each device's utilization and
// shuts NVML down again.
func (s *gpuNVML) GPUUtilization() (map[string]int32, error) {
	gpuNVMLMu.Lock()
	defer gpuNVMLMu.Unlock()
	out := map[string]int32{}
	switch ret := s.lib.Init(); ret {
	case nvml.SUCCESS:
	case nvml.ERROR_LIBRARY_NOT_FOUND, nvml.ERROR_DRIVER_NOT_LOADED:
		return out, nil
	default:
		return nil, fmt.Errorf("gossip: nvml: init: %w", ret)
	}
	defer s.lib.Shutdown()
	n, ret := s.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("gossip: nvml: count devices: %w", ret)
	}
	for i := range n {
		dev, ret := s.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("gossip: nvml: GPU %d: handle: %w", i, ret)
		}
		uuid, ret := s.lib.DeviceGetUUID(dev)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("gossip: nvml: GPU %d: uuid: %w", i, ret)
		}
		u, ret := s.lib.DeviceGetUtilizationRates(dev)
		switch ret {
		case nvml.SUCCESS:
			out[uuid] = int32(min(u.Gpu, 100))
		case nvml.ERROR_NOT_SUPPORTED, nvml.ERROR_NO_PERMISSION:
			// A MIG-enabled GPU, or an old one: no reading.
		default:
			return nil, fmt.Errorf("gossip: nvml: GPU %d: utilization: %w", i, ret)
		}
	}
	return out, nil
}
