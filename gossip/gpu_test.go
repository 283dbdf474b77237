//go:build linux && cgo

package gossip

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"

	"github.com/berth-dev/berth/api"
)

// These tests need go-nvml, hence cgo; FakeGPUs and gpuProduct are tested
// in inventory_test.go, which builds everywhere.

// mockGPU is one device of a mock NVML.
type mockGPU struct {
	uuid, name string
	memory     uint64
	mig        int
	migRet     nvml.Return
	failUUID   nvml.Return // not SUCCESS: GetUUID fails so
}

// mockNVML is an NVML of the given devices; init is what Init returns. It
// counts the Init and Shutdown calls.
func mockNVML(init nvml.Return, gpus ...mockGPU) (*mock.Interface, *int) {
	open := new(int)
	lib := &mock.Interface{
		InitFunc: func() nvml.Return {
			if init == nvml.SUCCESS {
				*open++
			}
			return init
		},
		ShutdownFunc:       func() nvml.Return { *open--; return nvml.SUCCESS },
		DeviceGetCountFunc: func() (int, nvml.Return) { return len(gpus), nvml.SUCCESS },
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			if i < 0 || i >= len(gpus) {
				return nil, nvml.ERROR_INVALID_ARGUMENT
			}
			g := gpus[i]
			return &mock.Device{
				GetUUIDFunc: func() (string, nvml.Return) {
					if g.failUUID != nvml.SUCCESS {
						return "", g.failUUID
					}
					return g.uuid, nvml.SUCCESS
				},
				GetNameFunc:       func() (string, nvml.Return) { return g.name, nvml.SUCCESS },
				GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) { return nvml.Memory{Total: g.memory}, nvml.SUCCESS },
				GetMigModeFunc:    func() (int, int, nvml.Return) { return g.mig, g.mig, g.migRet },
			}, nvml.SUCCESS
		},
	}
	// The library's DeviceGetX(dev) are dev.GetX().
	lib.DeviceGetUUIDFunc = func(d nvml.Device) (string, nvml.Return) { return d.GetUUID() }
	lib.DeviceGetNameFunc = func(d nvml.Device) (string, nvml.Return) { return d.GetName() }
	lib.DeviceGetMemoryInfoFunc = func(d nvml.Device) (nvml.Memory, nvml.Return) { return d.GetMemoryInfo() }
	lib.DeviceGetMigModeFunc = func(d nvml.Device) (int, int, nvml.Return) { return d.GetMigMode() }
	return lib, open
}

func TestNVMLDevices(t *testing.T) {
	lib, open := mockNVML(nvml.SUCCESS,
		mockGPU{uuid: "GPU-0a", name: "NVIDIA H100 80GB HBM3", memory: 80 << 30, mig: nvml.DEVICE_MIG_ENABLE},
		mockGPU{uuid: "GPU-1b", name: "NVIDIA H100 80GB HBM3", memory: 80 << 30, mig: nvml.DEVICE_MIG_DISABLE},
		mockGPU{uuid: "GPU-2c", name: "Tesla T4", memory: 15 << 30, migRet: nvml.ERROR_NOT_SUPPORTED},
	)
	gpus, err := (&gpuNVML{lib: lib}).GPUs()
	if err != nil {
		t.Fatal(err)
	}
	want := []api.NodeGPU{
		{ID: "GPU-0a", Index: 0, Model: "NVIDIA H100 80GB HBM3", MemoryBytes: 80 << 30, MIGEnabled: true},
		{ID: "GPU-1b", Index: 1, Model: "NVIDIA H100 80GB HBM3", MemoryBytes: 80 << 30},
		{ID: "GPU-2c", Index: 2, Model: "Tesla T4", MemoryBytes: 15 << 30},
	}
	if !(&Inventory{GPUs: gpus}).Equal(&Inventory{GPUs: want}) {
		t.Errorf("GPUs %+v, want %+v", gpus, want)
	}
	if *open != 0 {
		t.Errorf("NVML left initialised %d times", *open)
	}
}

func TestNVMLAbsent(t *testing.T) {
	for _, ret := range []nvml.Return{nvml.ERROR_LIBRARY_NOT_FOUND, nvml.ERROR_DRIVER_NOT_LOADED} {
		lib, _ := mockNVML(ret)
		gpus, err := (&gpuNVML{lib: lib}).GPUs()
		if gpus != nil || err != nil {
			t.Errorf("Init %v: GPUs() = %v, %v; want nil, nil", ret, gpus, err)
		}
		if len(lib.ShutdownCalls()) != 0 {
			t.Errorf("Init %v: Shutdown called without an Init", ret)
		}
	}

	// The real go-nvml, with a library that is not there.
	src := &gpuNVML{lib: nvml.New(nvml.WithLibraryPath("/nonexistent/libnvidia-ml.so.1"))}
	if gpus, err := src.GPUs(); gpus != nil || err != nil {
		t.Errorf("without the library: GPUs() = %v, %v; want nil, nil", gpus, err)
	}
}

func TestNVMLErrors(t *testing.T) {
	lib, _ := mockNVML(nvml.ERROR_NO_PERMISSION)
	_, err := (&gpuNVML{lib: lib}).GPUs()
	if err == nil || !strings.HasPrefix(err.Error(), "gossip: nvml: init: ") || !errors.Is(err, nvml.ERROR_NO_PERMISSION) {
		t.Errorf("Init failing: error %v", err)
	}

	lib, open := mockNVML(nvml.SUCCESS,
		mockGPU{uuid: "GPU-0a", name: "L4", memory: 24 << 30},
		mockGPU{name: "L4", memory: 24 << 30, failUUID: nvml.ERROR_GPU_IS_LOST},
	)
	gpus, err := (&gpuNVML{lib: lib}).GPUs()
	if gpus != nil || err == nil || !strings.HasPrefix(err.Error(), "gossip: nvml: GPU 1: uuid: ") || !errors.Is(err, nvml.ERROR_GPU_IS_LOST) {
		t.Errorf("a lost GPU: GPUs() = %v, %v", gpus, err)
	}
	if *open != 0 {
		t.Errorf("NVML left initialised after an error")
	}

	lib, _ = mockNVML(nvml.SUCCESS, mockGPU{uuid: "GPU-0a", name: "L4", memory: 24 << 30, migRet: nvml.ERROR_UNKNOWN})
	if _, err := (&gpuNVML{lib: lib}).GPUs(); !errors.Is(err, nvml.ERROR_UNKNOWN) || !strings.Contains(err.Error(), "GPU 0: MIG mode: ") {
		t.Errorf("MIG mode failing: error %v", err)
	}
}

// TestNVML runs the real NVML of this machine. On a machine without an
// NVIDIA driver it finds no GPUs and no error.
func TestNVML(t *testing.T) {
	gpus, err := NVML().GPUs()
	if err != nil {
		t.Fatalf("NVML: %v", err)
	}
	t.Logf("%d GPUs", len(gpus))
	_, driver := os.Stat("/proc/driver/nvidia/version")
	if os.Getenv("BERTH_EXPECT_GPUS") == "" && driver != nil && len(gpus) != 0 {
		t.Errorf("no NVIDIA driver here, yet NVML found %+v", gpus)
	}
}

// TestNVMLReal checks NVML on a machine with GPUs: BERTH_EXPECT_GPUS=N says
// how many it must find.
func TestNVMLReal(t *testing.T) {
	env := os.Getenv("BERTH_EXPECT_GPUS")
	if env == "" {
		t.Skip("BERTH_EXPECT_GPUS is not set")
	}
	want, err := strconv.Atoi(env)
	if err != nil || want < 0 {
		t.Fatalf("BERTH_EXPECT_GPUS=%q is not a count", env)
	}
	gpus, err := NVML().GPUs()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gpus {
		t.Logf("GPU %d: %s %q, %d bytes, MIG %v", g.Index, g.ID, g.Model, g.MemoryBytes, g.MIGEnabled)
	}
	if len(gpus) != want {
		t.Fatalf("NVML found %d GPUs, want %d", len(gpus), want)
	}
	seen := map[string]bool{}
	for i, g := range gpus {
		if g.ID == "" || g.Model == "" || g.MemoryBytes <= 0 || int(g.Index) != i {
			t.Errorf("GPU %d incomplete: %+v", i, g)
		}
		if seen[g.ID] {
			t.Errorf("GPU %d repeats ID %s", i, g.ID)
		}
		seen[g.ID] = true
	}
	if want > 0 {
		if p := gpuProduct(gpus[0].Model); api.ValidateLabel(api.LabelGPUProduct, p) != nil || p == "" {
			t.Errorf("product label %q of model %q", p, gpus[0].Model)
		}
	}
	// A second walk finds the same: Init and Shutdown pair up.
	again, err := NVML().GPUs()
	if err != nil || !(&Inventory{GPUs: again}).Equal(&Inventory{GPUs: gpus}) {
		t.Errorf("second walk: %+v, %v", again, err)
	}
}
