package api

// Pod is one or more containers that run together on one node, in
// Kubernetes' shape. The scheduler sets Spec.NodeName (and
// Spec.AssignedGPUs) when it places the pod.
type Pod struct {
	TypeMeta
	Metadata ObjectMeta `json:"metadata"`
	Spec     PodSpec    `json:"spec"`
	Status   PodStatus  `json:"status,omitempty"`
}

// PodSpec is the desired state of a Pod.
type PodSpec struct {
	Containers    []Container       `json:"containers"`
	RestartPolicy string            `json:"restartPolicy,omitempty"`
	NodeSelector  map[string]string `json:"nodeSelector,omitempty"`
	Affinity      *Affinity         `json:"affinity,omitempty"`
	Tolerations   []Toleration      `json:"tolerations,omitempty"`
	// NodeName is the node the pod is bound to; empty until it is
	// scheduled. Once set it does not change.
	NodeName string `json:"nodeName,omitempty"`
	// AssignedGPUs are the IDs (NodeGPU.ID) of the node's GPUs given to the
	// pod, set with NodeName when the pod asks for nvidia.com/gpu. A Berth
	// field: Kubernetes leaves the choice to the node's device plugin.
	AssignedGPUs                  []string `json:"assignedGPUs,omitempty"`
	TerminationGracePeriodSeconds *int64   `json:"terminationGracePeriodSeconds,omitempty"`
	Volumes                       []Volume `json:"volumes,omitempty"`
	// Hostname is the pod's host name (default: its name). With
	// Subdomain naming a headless Service of its namespace, the pod has
	// the DNS name HOSTNAME.SUBDOMAIN.NAMESPACE.svc.cluster.local: a
	// StatefulSet's pods get both.
	Hostname  string `json:"hostname,omitempty"`
	Subdomain string `json:"subdomain,omitempty"`
	// DNSPolicy is ClusterFirst (the default: the node's cluster DNS,
	// which forwards other names to the host's resolvers) or Default
	// (the node's own resolv.conf). ClusterFirstWithHostNet is taken as
	// ClusterFirst.
	DNSPolicy string `json:"dnsPolicy,omitempty"`
}

// DNS policies of a pod.
const (
	DNSClusterFirst            = "ClusterFirst"
	DNSClusterFirstWithHostNet = "ClusterFirstWithHostNet"
	DNSDefault                 = "Default"
)

// Container is one container of a pod.
type Container struct {
	Name            string               `json:"name"`
	Image           string               `json:"image"`
	Command         []string             `json:"command,omitempty"`
	Args            []string             `json:"args,omitempty"`
	WorkingDir      string               `json:"workingDir,omitempty"`
	Env             []EnvVar             `json:"env,omitempty"`
	Ports           []ContainerPort      `json:"ports,omitempty"`
	Resources       ResourceRequirements `json:"resources,omitempty"`
	ImagePullPolicy string               `json:"imagePullPolicy,omitempty"`
	EnvFrom         []EnvFromSource      `json:"envFrom,omitempty"`
	VolumeMounts    []VolumeMount        `json:"volumeMounts,omitempty"`
	LivenessProbe   *Probe               `json:"livenessProbe,omitempty"`
	ReadinessProbe  *Probe               `json:"readinessProbe,omitempty"`
	// TTY gives the container a terminal (berth run -t).
	TTY bool `json:"tty,omitempty"`
	// SecurityContext widens (or narrows) what the container may do; a
	// privileged container or added capabilities need an admin token.
	SecurityContext *SecurityContext `json:"securityContext,omitempty"`
}

// SecurityContext is what a container may do beyond the default set.
type SecurityContext struct {
	// Privileged gives every capability and every device of the node.
	Privileged   *bool         `json:"privileged,omitempty"`
	Capabilities *Capabilities `json:"capabilities,omitempty"`
}

// Capabilities are Linux capabilities (CAP_NET_ADMIN or NET_ADMIN) added
// to or dropped from the default set.
type Capabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}

// IsPrivileged reports whether the context asks for privileged mode.
func (s *SecurityContext) IsPrivileged() bool {
	return s != nil && s.Privileged != nil && *s.Privileged
}

// EnvVar is one environment variable of a container.
type EnvVar struct {
	Name      string        `json:"name"`
	Value     string        `json:"value,omitempty"`
	ValueFrom *EnvVarSource `json:"valueFrom,omitempty"`
}

// ContainerPort is a port a container listens on; with HostPort set, the
// node's port is forwarded to it, so two such pods cannot share a node.
type ContainerPort struct {
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	HostPort      int32  `json:"hostPort,omitempty"`
	HostIP        string `json:"hostIP,omitempty"`
	Protocol      string `json:"protocol,omitempty"` // TCP (default), UDP or SCTP
}

// ResourceRequirements are what a container asks for (Requests, used for
// placement) and may not exceed (Limits).
type ResourceRequirements struct {
	Requests ResourceList `json:"requests,omitempty"`
	Limits   ResourceList `json:"limits,omitempty"`
}

// Affinity holds a pod's node affinity and pod anti-affinity.
type Affinity struct {
	NodeAffinity    *NodeAffinity    `json:"nodeAffinity,omitempty"`
	PodAntiAffinity *PodAntiAffinity `json:"podAntiAffinity,omitempty"`
}

// NodeAffinity constrains (Required) and steers (Preferred) a pod's node.
type NodeAffinity struct {
	Required  *NodeSelector             `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
	Preferred []PreferredSchedulingTerm `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// NodeSelector matches a node when any one of its terms does.
type NodeSelector struct {
	NodeSelectorTerms []NodeSelectorTerm `json:"nodeSelectorTerms"`
}

// NodeSelectorTerm matches a node when all of its expressions do.
type NodeSelectorTerm struct {
	MatchExpressions []NodeSelectorRequirement `json:"matchExpressions,omitempty"`
	MatchFields      []NodeSelectorRequirement `json:"matchFields,omitempty"` // only metadata.name
}

// NodeSelectorRequirement is one test of a node label (or field).
// Operators: In, NotIn, Exists, DoesNotExist, Gt, Lt.
type NodeSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// PreferredSchedulingTerm adds Weight (1-100) to the score of a node that
// matches Preference.
type PreferredSchedulingTerm struct {
	Weight     int32            `json:"weight"`
	Preference NodeSelectorTerm `json:"preference"`
}

// PodAntiAffinity keeps a pod off nodes that run pods its terms select.
// Berth supports the topology key kubernetes.io/hostname.
type PodAntiAffinity struct {
	Required []PodAffinityTerm `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// PodAffinityTerm selects pods, in the pod's own namespace or in
// Namespaces, within one topology domain.
type PodAffinityTerm struct {
	LabelSelector *LabelSelector `json:"labelSelector,omitempty"`
	Namespaces    []string       `json:"namespaces,omitempty"`
	TopologyKey   string         `json:"topologyKey"`
}

// LabelSelector is Kubernetes' structured label selector: every label of
// MatchLabels and every expression must match. A nil selector matches
// nothing, an empty one everything.
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement: operators In, NotIn, Exists, DoesNotExist.
type LabelSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// Toleration lets a pod onto a node with a matching taint.
type Toleration struct {
	Key               string `json:"key,omitempty"`
	Operator          string `json:"operator,omitempty"` // Equal (default) or Exists
	Value             string `json:"value,omitempty"`
	Effect            string `json:"effect,omitempty"` // empty: every effect
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

// PodStatus is the observed state of a Pod.
type PodStatus struct {
	Phase      string         `json:"phase,omitempty"`
	Conditions []PodCondition `json:"conditions,omitempty"`
	Message    string         `json:"message,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	HostIP     string         `json:"hostIP,omitempty"`
	PodIP      string         `json:"podIP,omitempty"`
	StartTime  string         `json:"startTime,omitempty"`
	// ContainerStatuses are reported by the pod's node.
	ContainerStatuses []ContainerStatus `json:"containerStatuses,omitempty"`
}

// PodCondition is one condition of a pod, such as PodScheduled.
type PodCondition struct {
	Type               string `json:"type"`
	Status             string `json:"status"` // True, False, Unknown
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime,omitempty"`
}

// Pod phases, condition types and reasons.
const (
	PodPending   = "Pending"
	PodRunning   = "Running"
	PodSucceeded = "Succeeded"
	PodFailed    = "Failed"
	PodUnknown   = "Unknown"

	PodScheduled = "PodScheduled"
	// ReasonUnschedulable is PodScheduled's reason when no node fits.
	ReasonUnschedulable = "Unschedulable"

	ConditionTrue    = "True"
	ConditionFalse   = "False"
	ConditionUnknown = "Unknown"
)

// Annotations Berth reads on pods.
const (
	// AnnotationStrategy picks a pod's placement strategy: "binpack" (the
	// default: fill the fullest node that fits) or "spread" (the emptiest).
	AnnotationStrategy = "berth.dev/scheduling-strategy"
	StrategyBinpack    = "binpack"
	StrategySpread     = "spread"
)

// Condition returns the pod's condition of type t, or nil.
func (p *Pod) Condition(t string) *PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// Terminated reports whether the pod has finished (Succeeded or Failed):
// it no longer holds its node's resources.
func (p *Pod) Terminated() bool {
	return p.Status.Phase == PodSucceeded || p.Status.Phase == PodFailed
}
