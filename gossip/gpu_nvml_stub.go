//go:build !linux || !cgo

package gossip

// NVML returns the GPU source backed by NVIDIA's NVML. NVML needs Linux and
// cgo; without them (this build) the source has zero GPUs.
func NVML() GPUSource { return gpuNone{} }
