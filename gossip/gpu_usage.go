package gossip

// GPUUsage is what a GPUSource that can measure how busy its GPUs are
// offers too; the node agent finds it by type assertion. The NVML source
// has it; fake GPUs do not (their utilization is unknown, not zero).
type GPUUsage interface {
	// GPUUtilization returns each GPU's utilization in percent (the time
	// a kernel ran over the driver's last sample period), by GPU ID. A GPU
	// that cannot say (MIG enabled, not supported) is left out; a machine
	// without GPUs gives an empty map and no error.
	GPUUtilization() (map[string]int32, error)
}
