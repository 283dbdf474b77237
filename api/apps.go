package api

// The workload kinds of apps/v1 (Deployment, ReplicaSet, StatefulSet), the
// PersistentVolumeClaim a StatefulSet's volumeClaimTemplates make, and
// autoscaling/v2's HorizontalPodAutoscaler, in Kubernetes' shapes. The
// leader's controllers (package controller) keep their pods.

// OwnerReference names the object that owns this one: a ReplicaSet's pods
// are owned by it, a Deployment's ReplicaSets by the Deployment. An owned
// object is deleted with its owner.
type OwnerReference struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
	Controller *bool  `json:"controller,omitempty"`
}

// PodTemplateSpec is the pod a workload makes copies of.
type PodTemplateSpec struct {
	Metadata ObjectMeta `json:"metadata,omitempty"`
	Spec     PodSpec    `json:"spec"`
}

// Deployment keeps Replicas copies of a pod template running and rolls
// changes of the template out gradually. Each template it has run is kept
// as a ReplicaSet, whose revision annotation numbers it.
type Deployment struct {
	TypeMeta
	Metadata ObjectMeta       `json:"metadata"`
	Spec     DeploymentSpec   `json:"spec"`
	Status   DeploymentStatus `json:"status,omitempty"`
}

// DeploymentSpec is the desired state of a Deployment.
type DeploymentSpec struct {
	Replicas *int32             `json:"replicas,omitempty"` // default 1
	Selector *LabelSelector     `json:"selector"`
	Template PodTemplateSpec    `json:"template"`
	Strategy DeploymentStrategy `json:"strategy,omitempty"`
	// MinReadySeconds is how long a new pod must be ready, with no
	// container crashing, to count as available (default 0).
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
	// RevisionHistoryLimit is how many old ReplicaSets are kept for
	// rollback (default 10).
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`
	// ProgressDeadlineSeconds is how long a rollout may go without progress
	// before the Progressing condition turns False with reason
	// ProgressDeadlineExceeded (default 600).
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
	Paused                  bool   `json:"paused,omitempty"`
}

// DeploymentStrategy says how old pods are replaced by new ones.
type DeploymentStrategy struct {
	Type          string                   `json:"type,omitempty"` // RollingUpdate (default) or Recreate
	RollingUpdate *RollingUpdateDeployment `json:"rollingUpdate,omitempty"`
}

// RollingUpdateDeployment bounds a rolling update. Each is a number or a
// percentage of the replicas ("25%", the default of both); MaxSurge is
// rounded up, MaxUnavailable down; both may not be 0.
type RollingUpdateDeployment struct {
	MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
	MaxSurge       *IntOrString `json:"maxSurge,omitempty"`
}

// Deployment strategy types.
const (
	RollingUpdateStrategy = "RollingUpdate"
	RecreateStrategy      = "Recreate"
)

// DeploymentStatus is the observed state of a Deployment.
type DeploymentStatus struct {
	ObservedGeneration  int64                 `json:"observedGeneration,omitempty"`
	Replicas            int32                 `json:"replicas,omitempty"`
	UpdatedReplicas     int32                 `json:"updatedReplicas,omitempty"`
	ReadyReplicas       int32                 `json:"readyReplicas,omitempty"`
	AvailableReplicas   int32                 `json:"availableReplicas,omitempty"`
	UnavailableReplicas int32                 `json:"unavailableReplicas,omitempty"`
	Conditions          []DeploymentCondition `json:"conditions,omitempty"`
}

// DeploymentCondition is one condition of a Deployment or a StatefulSet:
// Available or Progressing.
type DeploymentCondition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
	LastUpdateTime     string `json:"lastUpdateTime,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime,omitempty"`
}

// Deployment condition types and reasons, Kubernetes' own.
const (
	DeploymentAvailable   = "Available"
	DeploymentProgressing = "Progressing"

	ReasonMinimumReplicasAvailable   = "MinimumReplicasAvailable"
	ReasonMinimumReplicasUnavailable = "MinimumReplicasUnavailable"
	ReasonNewReplicaSetCreated       = "NewReplicaSetCreated"
	ReasonReplicaSetUpdated          = "ReplicaSetUpdated"
	ReasonNewReplicaSetAvailable     = "NewReplicaSetAvailable"
	ReasonProgressDeadlineExceeded   = "ProgressDeadlineExceeded"
	ReasonDeploymentPaused           = "DeploymentPaused"
)

// Annotations and labels of the workload controllers, Kubernetes' own.
const (
	// AnnotationRevision numbers a Deployment's ReplicaSets, and on the
	// Deployment names the current one.
	AnnotationRevision = "deployment.kubernetes.io/revision"
	// AnnotationChangeCause is copied from a Deployment to the ReplicaSet
	// of its template and shown by `berth rollout history`.
	AnnotationChangeCause = "kubernetes.io/change-cause"
	// LabelPodTemplateHash tells apart the ReplicaSets (and their pods) of
	// one Deployment.
	LabelPodTemplateHash = "pod-template-hash"
	// LabelStatefulSetPodName is the name of a StatefulSet's pod, on the pod.
	LabelStatefulSetPodName = "statefulset.kubernetes.io/pod-name"
	// LabelControllerRevisionHash is the template revision of a
	// StatefulSet's pod.
	LabelControllerRevisionHash = "controller-revision-hash"
	// AnnotationDraining marks a node that `berth drain` empties: the
	// controllers move its pods elsewhere, a replacement first.
	AnnotationDraining = "berth.dev/draining"
	// LabelFenceLease is a node's fence lease (a duration), which its agent
	// announces: how long it runs its StatefulSet pods without word from
	// the leader that it is Ready.
	LabelFenceLease = "berth.dev/fence-lease"
	// AnnotationSelectedNode pins a PersistentVolumeClaim, and so its
	// local volume, to the node that holds it.
	AnnotationSelectedNode = "volume.kubernetes.io/selected-node"
)

// ReplicaSet keeps Replicas copies of its template running. A Deployment
// makes one per template; users rarely write them.
type ReplicaSet struct {
	TypeMeta
	Metadata ObjectMeta       `json:"metadata"`
	Spec     ReplicaSetSpec   `json:"spec"`
	Status   ReplicaSetStatus `json:"status,omitempty"`
}

// ReplicaSetSpec is the desired state of a ReplicaSet.
type ReplicaSetSpec struct {
	Replicas        *int32          `json:"replicas,omitempty"` // default 1
	Selector        *LabelSelector  `json:"selector"`
	Template        PodTemplateSpec `json:"template"`
	MinReadySeconds int32           `json:"minReadySeconds,omitempty"`
}

// ReplicaSetStatus is the observed state of a ReplicaSet.
type ReplicaSetStatus struct {
	ObservedGeneration   int64 `json:"observedGeneration,omitempty"`
	Replicas             int32 `json:"replicas"`
	FullyLabeledReplicas int32 `json:"fullyLabeledReplicas,omitempty"`
	ReadyReplicas        int32 `json:"readyReplicas,omitempty"`
	AvailableReplicas    int32 `json:"availableReplicas,omitempty"`
}

// StatefulSet runs pods with stable identities: NAME-0 … NAME-(N-1), each
// with its own volumes, started in order and never two at once.
type StatefulSet struct {
	TypeMeta
	Metadata ObjectMeta        `json:"metadata"`
	Spec     StatefulSetSpec   `json:"spec"`
	Status   StatefulSetStatus `json:"status,omitempty"`
}

// StatefulSetSpec is the desired state of a StatefulSet.
type StatefulSetSpec struct {
	Replicas    *int32          `json:"replicas,omitempty"` // default 1
	Selector    *LabelSelector  `json:"selector"`
	Template    PodTemplateSpec `json:"template"`
	ServiceName string          `json:"serviceName,omitempty"`
	// PodManagementPolicy: OrderedReady (default: one at a time, each
	// ready before the next starts, stopped in reverse) or Parallel.
	PodManagementPolicy  string                    `json:"podManagementPolicy,omitempty"`
	UpdateStrategy       StatefulSetUpdateStrategy `json:"updateStrategy,omitempty"`
	VolumeClaimTemplates []PersistentVolumeClaim   `json:"volumeClaimTemplates,omitempty"`
	MinReadySeconds      int32                     `json:"minReadySeconds,omitempty"`
	RevisionHistoryLimit *int32                    `json:"revisionHistoryLimit,omitempty"`
}

// StatefulSetUpdateStrategy: RollingUpdate (default; pods replaced from the
// highest ordinal down, those below Partition left as they are) or OnDelete.
type StatefulSetUpdateStrategy struct {
	Type          string                            `json:"type,omitempty"`
	RollingUpdate *RollingUpdateStatefulSetStrategy `json:"rollingUpdate,omitempty"`
}

// RollingUpdateStatefulSetStrategy holds the partition of a rolling update.
type RollingUpdateStatefulSetStrategy struct {
	Partition *int32 `json:"partition,omitempty"`
}

// StatefulSet policies.
const (
	OrderedReadyPodManagement = "OrderedReady"
	ParallelPodManagement     = "Parallel"
	OnDeleteStrategy          = "OnDelete"
)

// StatefulSetStatus is the observed state of a StatefulSet.
type StatefulSetStatus struct {
	ObservedGeneration int64                 `json:"observedGeneration,omitempty"`
	Replicas           int32                 `json:"replicas"`
	ReadyReplicas      int32                 `json:"readyReplicas,omitempty"`
	CurrentReplicas    int32                 `json:"currentReplicas,omitempty"`
	UpdatedReplicas    int32                 `json:"updatedReplicas,omitempty"`
	AvailableReplicas  int32                 `json:"availableReplicas,omitempty"`
	CurrentRevision    string                `json:"currentRevision,omitempty"`
	UpdateRevision     string                `json:"updateRevision,omitempty"`
	Conditions         []DeploymentCondition `json:"conditions,omitempty"`
}

// PersistentVolumeClaim asks for a volume. Berth's volumes are named local
// volumes on one node: the claim is pinned to its node by the
// AnnotationSelectedNode annotation once a pod using it is placed.
type PersistentVolumeClaim struct {
	TypeMeta
	Metadata ObjectMeta                  `json:"metadata"`
	Spec     PersistentVolumeClaimSpec   `json:"spec,omitempty"`
	Status   PersistentVolumeClaimStatus `json:"status,omitempty"`
}

// PersistentVolumeClaimSpec is what a claim asks for.
type PersistentVolumeClaimSpec struct {
	AccessModes      []string                   `json:"accessModes,omitempty"`
	Resources        VolumeResourceRequirements `json:"resources,omitempty"`
	StorageClassName *string                    `json:"storageClassName,omitempty"`
	VolumeMode       string                     `json:"volumeMode,omitempty"`
}

// VolumeResourceRequirements is the size a claim asks for.
type VolumeResourceRequirements struct {
	Requests ResourceList `json:"requests,omitempty"`
	Limits   ResourceList `json:"limits,omitempty"`
}

// PersistentVolumeClaimStatus is the observed state of a claim.
type PersistentVolumeClaimStatus struct {
	Phase       string   `json:"phase,omitempty"` // Pending or Bound
	AccessModes []string `json:"accessModes,omitempty"`
}

// Claim phases.
const (
	ClaimPending = "Pending"
	ClaimBound   = "Bound"
)

// HorizontalPodAutoscaler scales a Deployment (or a StatefulSet) between
// MinReplicas and MaxReplicas to hold the average utilization of its pods
// near a target.
type HorizontalPodAutoscaler struct {
	TypeMeta
	Metadata ObjectMeta                    `json:"metadata"`
	Spec     HorizontalPodAutoscalerSpec   `json:"spec"`
	Status   HorizontalPodAutoscalerStatus `json:"status,omitempty"`
}

// HorizontalPodAutoscalerSpec is the desired behaviour of an autoscaler.
type HorizontalPodAutoscalerSpec struct {
	ScaleTargetRef CrossVersionObjectReference      `json:"scaleTargetRef"`
	MinReplicas    *int32                           `json:"minReplicas,omitempty"` // default 1
	MaxReplicas    int32                            `json:"maxReplicas"`
	Metrics        []MetricSpec                     `json:"metrics,omitempty"` // default: cpu at 80%
	Behavior       *HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
}

// CrossVersionObjectReference names the scaled object.
type CrossVersionObjectReference struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
}

// MetricSpec is one metric the autoscaler follows. Berth supports type
// Resource, for cpu and nvidia.com/gpu, with a Utilization target.
type MetricSpec struct {
	Type     string                `json:"type"`
	Resource *ResourceMetricSource `json:"resource,omitempty"`
}

// ResourceMetricSource names a resource and its target.
type ResourceMetricSource struct {
	Name   string       `json:"name"`
	Target MetricTarget `json:"target"`
}

// MetricTarget is the target value of a metric: for Utilization, the
// average percentage of the pods' requests.
type MetricTarget struct {
	Type               string `json:"type"`
	AverageUtilization *int32 `json:"averageUtilization,omitempty"`
}

// HorizontalPodAutoscalerBehavior tunes scaling up and down.
type HorizontalPodAutoscalerBehavior struct {
	ScaleUp   *HPAScalingRules `json:"scaleUp,omitempty"`
	ScaleDown *HPAScalingRules `json:"scaleDown,omitempty"`
}

// HPAScalingRules holds the stabilization window: the autoscaler acts on
// the highest (scaling down) or lowest (scaling up) recommendation of the
// window, so a brief change of load does not make it flap. Defaults: 0 s
// up, 300 s down.
type HPAScalingRules struct {
	StabilizationWindowSeconds *int32 `json:"stabilizationWindowSeconds,omitempty"`
}

// Metric and target types.
const (
	MetricResource    = "Resource"
	TargetUtilization = "Utilization"
)

// HorizontalPodAutoscalerStatus is what the autoscaler last saw and did.
type HorizontalPodAutoscalerStatus struct {
	ObservedGeneration int64                 `json:"observedGeneration,omitempty"`
	LastScaleTime      string                `json:"lastScaleTime,omitempty"`
	CurrentReplicas    int32                 `json:"currentReplicas"`
	DesiredReplicas    int32                 `json:"desiredReplicas"`
	CurrentMetrics     []MetricStatus        `json:"currentMetrics,omitempty"`
	Conditions         []DeploymentCondition `json:"conditions,omitempty"`
}

// MetricStatus is the current value of one metric.
type MetricStatus struct {
	Type     string                `json:"type"`
	Resource *ResourceMetricStatus `json:"resource,omitempty"`
}

// ResourceMetricStatus is a resource's current average utilization.
type ResourceMetricStatus struct {
	Name    string            `json:"name"`
	Current MetricValueStatus `json:"current"`
}

// MetricValueStatus is a measured value.
type MetricValueStatus struct {
	AverageUtilization *int32 `json:"averageUtilization,omitempty"`
}

// GetTypeMeta returns the object's TypeMeta.
func (o *Deployment) GetTypeMeta() *TypeMeta { return &o.TypeMeta }

// GetObjectMeta returns the object's metadata.
func (o *Deployment) GetObjectMeta() *ObjectMeta { return &o.Metadata }

// GetTypeMeta returns the object's TypeMeta.
func (o *ReplicaSet) GetTypeMeta() *TypeMeta { return &o.TypeMeta }

// GetObjectMeta returns the object's metadata.
func (o *ReplicaSet) GetObjectMeta() *ObjectMeta { return &o.Metadata }

// GetTypeMeta returns the object's TypeMeta.
func (o *StatefulSet) GetTypeMeta() *TypeMeta { return &o.TypeMeta }

// GetObjectMeta returns the object's metadata.
func (o *StatefulSet) GetObjectMeta() *ObjectMeta { return &o.Metadata }

// GetTypeMeta returns the object's TypeMeta.
func (o *PersistentVolumeClaim) GetTypeMeta() *TypeMeta { return &o.TypeMeta }

// GetObjectMeta returns the object's metadata.
func (o *PersistentVolumeClaim) GetObjectMeta() *ObjectMeta { return &o.Metadata }

// GetTypeMeta returns the object's TypeMeta.
func (o *HorizontalPodAutoscaler) GetTypeMeta() *TypeMeta { return &o.TypeMeta }

// GetObjectMeta returns the object's metadata.
func (o *HorizontalPodAutoscaler) GetObjectMeta() *ObjectMeta { return &o.Metadata }

var (
	_ Object = (*Deployment)(nil)
	_ Object = (*ReplicaSet)(nil)
	_ Object = (*StatefulSet)(nil)
	_ Object = (*PersistentVolumeClaim)(nil)
	_ Object = (*HorizontalPodAutoscaler)(nil)
)

// ControllerOf returns the owner reference marked controller, or nil.
func ControllerOf(m *ObjectMeta) *OwnerReference {
	for i := range m.OwnerReferences {
		if r := &m.OwnerReferences[i]; r.Controller != nil && *r.Controller {
			return r
		}
	}
	return nil
}

// Int32Value returns *p, or def when p is nil.
func Int32Value(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// Ready reports whether the pod's Ready condition is True.
func (p *Pod) Ready() bool {
	c := p.Condition(PodReady)
	return c != nil && c.Status == ConditionTrue
}
