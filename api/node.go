package api

// Node is a machine that runs pods, in Kubernetes' shape. The leader keeps
// it from the agents' gossip (name, labels, capacity, conditions); users
// change only Spec (cordon, taints) and labels.
type Node struct {
	TypeMeta
	Metadata ObjectMeta `json:"metadata"`
	Spec     NodeSpec   `json:"spec,omitempty"`
	Status   NodeStatus `json:"status,omitempty"`
}

// NodeSpec is the desired state of a Node.
type NodeSpec struct {
	// Unschedulable (set by cordon and drain) keeps new pods off the node.
	Unschedulable bool    `json:"unschedulable,omitempty"`
	Taints        []Taint `json:"taints,omitempty"`
	PodCIDR       string  `json:"podCIDR,omitempty"`
}

// Taint repels pods that do not tolerate it. Effects: NoSchedule,
// PreferNoSchedule, NoExecute.
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// Taint effects.
const (
	TaintNoSchedule       = "NoSchedule"
	TaintPreferNoSchedule = "PreferNoSchedule"
	TaintNoExecute        = "NoExecute"
)

// NodeStatus is the observed state of a Node.
type NodeStatus struct {
	// Capacity is what the machine has; Allocatable what pods may use
	// (capacity less what is reserved for the system). Names: cpu, memory,
	// ephemeral-storage, nvidia.com/gpu, pods.
	Capacity    ResourceList    `json:"capacity,omitempty"`
	Allocatable ResourceList    `json:"allocatable,omitempty"`
	Conditions  []NodeCondition `json:"conditions,omitempty"`
	Addresses   []NodeAddress   `json:"addresses,omitempty"`
	// GPUs are the node's GPUs, one entry each; their number is the
	// nvidia.com/gpu capacity. A Berth field.
	GPUs     []NodeGPU `json:"gpus,omitempty"`
	NodeInfo NodeInfo  `json:"nodeInfo,omitempty"`
}

// NodeCondition is one condition of a node, such as Ready.
type NodeCondition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
	LastHeartbeatTime  string `json:"lastHeartbeatTime,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime,omitempty"`
}

// NodeReady is the condition type that says the node can run pods.
const NodeReady = "Ready"

// NodeAddress is one address of a node: InternalIP or Hostname.
type NodeAddress struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

// NodeGPU is one GPU of a node.
type NodeGPU struct {
	ID          string `json:"id"` // NVML's UUID, or the index as a string
	Index       int32  `json:"index"`
	Model       string `json:"model,omitempty"`
	MemoryBytes int64  `json:"memoryBytes,omitempty"`
	// MIGEnabled: the GPU is in MIG mode (partitioned into instances).
	MIGEnabled bool `json:"migEnabled,omitempty"`
}

// NodeInfo is what a node says of its software.
type NodeInfo struct {
	OperatingSystem string `json:"operatingSystem,omitempty"`
	Architecture    string `json:"architecture,omitempty"`
	KernelVersion   string `json:"kernelVersion,omitempty"`
	AgentVersion    string `json:"agentVersion,omitempty"`
}

// Well-known node labels.
const (
	LabelHostname = "kubernetes.io/hostname"
	LabelOS       = "kubernetes.io/os"
	LabelArch     = "kubernetes.io/arch"
	// LabelGPUProduct names the model of a node's GPUs, as NVIDIA's GPU
	// feature discovery labels it; pods pick a model with a nodeSelector
	// or node affinity on it.
	LabelGPUProduct = "nvidia.com/gpu.product"
)

// Ready reports whether the node's Ready condition is True.
func (n *Node) Ready() bool {
	for _, c := range n.Status.Conditions {
		if c.Type == NodeReady {
			return c.Status == ConditionTrue
		}
	}
	return false
}
