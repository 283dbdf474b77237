//go:build linux && cgo

package gossip

import (
	"errors"
	"maps"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

func TestNVMLUtilization(t *testing.T) {
	lib, open := mockNVML(nvml.SUCCESS,
		mockGPU{uuid: "GPU-0a", name: "H100"},
		mockGPU{uuid: "GPU-1b", name: "H100", mig: nvml.DEVICE_MIG_ENABLE},
		mockGPU{uuid: "GPU-2c", name: "T4"},
	)
	rates := map[string]nvml.Return{"GPU-0a": nvml.SUCCESS, "GPU-1b": nvml.ERROR_NOT_SUPPORTED, "GPU-2c": nvml.SUCCESS}
	busy := map[string]uint32{"GPU-0a": 37, "GPU-2c": 100}
	lib.DeviceGetUtilizationRatesFunc = func(d nvml.Device) (nvml.Utilization, nvml.Return) {
		id, _ := d.GetUUID()
		return nvml.Utilization{Gpu: busy[id]}, rates[id]
	}
	got, err := (&gpuNVML{lib: lib}).GPUUtilization()
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int32{"GPU-0a": 37, "GPU-2c": 100}; !maps.Equal(got, want) {
		t.Errorf("utilization %v, want %v", got, want)
	}
	if *open != 0 {
		t.Errorf("NVML left initialised %d times", *open)
	}

	rates["GPU-2c"] = nvml.ERROR_GPU_IS_LOST
	if _, err := (&gpuNVML{lib: lib}).GPUUtilization(); !errors.Is(err, nvml.ERROR_GPU_IS_LOST) {
		t.Errorf("a lost GPU: error %v", err)
	}
	if *open != 0 {
		t.Errorf("NVML left initialised after an error")
	}

	absent, _ := mockNVML(nvml.ERROR_LIBRARY_NOT_FOUND)
	if got, err := (&gpuNVML{lib: absent}).GPUUtilization(); len(got) != 0 || err != nil {
		t.Errorf("without the library: %v, %v; want no GPUs, no error", got, err)
	}
}
