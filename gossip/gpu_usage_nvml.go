//go:build linux && cgo

package gossip

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

var _ GPUUsage = (*gpuNVML)(nil)

// GPUUtilization reads each device's utilization, by UUID.
func (s *gpuNVML) GPUUtilization() (map[string]int32, error) {
	out := map[string]int32{}
	err := s.session(func(n int) error {
		for i := range n {
			dev, ret := s.lib.DeviceGetHandleByIndex(i)
			if ret != nvml.SUCCESS {
				return fmt.Errorf("gossip: nvml: GPU %d: handle: %w", i, ret)
			}
			uuid, ret := s.lib.DeviceGetUUID(dev)
			if ret != nvml.SUCCESS {
				return fmt.Errorf("gossip: nvml: GPU %d: uuid: %w", i, ret)
			}
			u, ret := s.lib.DeviceGetUtilizationRates(dev)
			switch ret {
			case nvml.SUCCESS:
				out[uuid] = int32(min(u.Gpu, 100))
			case nvml.ERROR_NOT_SUPPORTED, nvml.ERROR_NO_PERMISSION:
				// A MIG-enabled GPU, or an old one: no reading.
			default:
				return fmt.Errorf("gossip: nvml: GPU %d: utilization: %w", i, ret)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
