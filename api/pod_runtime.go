package api

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// What a node needs to run a pod: its volumes, the files and variables it
// takes from ConfigMaps and Secrets, its probes, and the state the node
// reports back. Kubernetes' shapes throughout.

// Volume is a named source of files that containers mount. Exactly one
// source is set.
type Volume struct {
	Name     string                `json:"name"`
	HostPath *HostPathVolumeSource `json:"hostPath,omitempty"`
	EmptyDir *EmptyDirVolumeSource `json:"emptyDir,omitempty"`
	// PersistentVolumeClaim is a named local volume on the node: a folder
	// under the agent's data dir, made on first use and kept when the pod
	// goes (Docker's named volume).
	PersistentVolumeClaim *PersistentVolumeClaimVolumeSource `json:"persistentVolumeClaim,omitempty"`
	ConfigMap             *ConfigMapVolumeSource             `json:"configMap,omitempty"`
	Secret                *SecretVolumeSource                `json:"secret,omitempty"`
}

// HostPathVolumeSource mounts a path of the node. Type: "" (no check),
// Directory, DirectoryOrCreate, File, FileOrCreate, Socket.
type HostPathVolumeSource struct {
	Path string `json:"path"`
	Type string `json:"type,omitempty"`
}

// EmptyDirVolumeSource is a folder made empty for the pod and removed with
// it; Medium "Memory" puts it on tmpfs.
type EmptyDirVolumeSource struct {
	Medium    string    `json:"medium,omitempty"`
	SizeLimit *Quantity `json:"sizeLimit,omitempty"`
}

// PersistentVolumeClaimVolumeSource names a local volume of the node.
type PersistentVolumeClaimVolumeSource struct {
	ClaimName string `json:"claimName"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// ConfigMapVolumeSource projects a ConfigMap's keys as files.
type ConfigMapVolumeSource struct {
	Name        string      `json:"name"`
	Items       []KeyToPath `json:"items,omitempty"`
	DefaultMode *int32      `json:"defaultMode,omitempty"`
	Optional    *bool       `json:"optional,omitempty"`
}

// SecretVolumeSource projects a Secret's keys as files, on tmpfs.
type SecretVolumeSource struct {
	SecretName  string      `json:"secretName"`
	Items       []KeyToPath `json:"items,omitempty"`
	DefaultMode *int32      `json:"defaultMode,omitempty"`
	Optional    *bool       `json:"optional,omitempty"`
}

// KeyToPath puts one key at a relative path of the volume.
type KeyToPath struct {
	Key  string `json:"key"`
	Path string `json:"path"`
	Mode *int32 `json:"mode,omitempty"`
}

// VolumeMount mounts a pod volume (or SubPath of it) into a container.
type VolumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	SubPath   string `json:"subPath,omitempty"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// EnvFromSource sets a variable for each key of a ConfigMap or Secret.
type EnvFromSource struct {
	Prefix       string             `json:"prefix,omitempty"`
	ConfigMapRef *LocalObjectRefOpt `json:"configMapRef,omitempty"`
	SecretRef    *LocalObjectRefOpt `json:"secretRef,omitempty"`
}

// LocalObjectRefOpt names an object of the pod's namespace that may be
// missing when Optional.
type LocalObjectRefOpt struct {
	Name     string `json:"name"`
	Optional *bool  `json:"optional,omitempty"`
}

// EnvVarSource takes a variable's value from one key of a ConfigMap or
// Secret.
type EnvVarSource struct {
	ConfigMapKeyRef *KeySelector `json:"configMapKeyRef,omitempty"`
	SecretKeyRef    *KeySelector `json:"secretKeyRef,omitempty"`
}

// KeySelector is one key of a named object.
type KeySelector struct {
	Name     string `json:"name"`
	Key      string `json:"key"`
	Optional *bool  `json:"optional,omitempty"`
}

// Probe checks a container: liveness failures restart it, readiness
// failures take the pod out of Ready. Exactly one handler is set.
type Probe struct {
	Exec                *ExecAction      `json:"exec,omitempty"`
	HTTPGet             *HTTPGetAction   `json:"httpGet,omitempty"`
	TCPSocket           *TCPSocketAction `json:"tcpSocket,omitempty"`
	InitialDelaySeconds int32            `json:"initialDelaySeconds,omitempty"`
	TimeoutSeconds      int32            `json:"timeoutSeconds,omitempty"`
	PeriodSeconds       int32            `json:"periodSeconds,omitempty"`
	SuccessThreshold    int32            `json:"successThreshold,omitempty"`
	FailureThreshold    int32            `json:"failureThreshold,omitempty"`
}

// ExecAction runs a command in the container; exit code 0 is success.
type ExecAction struct {
	Command []string `json:"command"`
}

// HTTPGetAction GETs a path of the pod; 200-399 is success.
type HTTPGetAction struct {
	Path        string       `json:"path,omitempty"`
	Port        IntOrString  `json:"port"`
	Host        string       `json:"host,omitempty"`
	Scheme      string       `json:"scheme,omitempty"` // HTTP (default) or HTTPS
	HTTPHeaders []HTTPHeader `json:"httpHeaders,omitempty"`
}

// HTTPHeader is one header of an HTTP probe.
type HTTPHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TCPSocketAction opens a TCP connection to the pod.
type TCPSocketAction struct {
	Port IntOrString `json:"port"`
	Host string      `json:"host,omitempty"`
}

// IntOrString is a port given by number or by a container port's name.
type IntOrString struct {
	IntVal int32
	StrVal string
}

// MarshalJSON writes a number or a string.
func (v IntOrString) MarshalJSON() ([]byte, error) {
	if v.StrVal != "" {
		return json.Marshal(v.StrVal)
	}
	return json.Marshal(v.IntVal)
}

// UnmarshalJSON reads a number or a string (a string of digits is the
// number, as Kubernetes reads it).
func (v *IntOrString) UnmarshalJSON(b []byte) error {
	*v = IntOrString{}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if n, err := strconv.ParseInt(s, 10, 32); err == nil {
			v.IntVal = int32(n)
			return nil
		}
		v.StrVal = s
		return nil
	}
	var n int32
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("%s is neither a port number nor a port name", b)
	}
	v.IntVal = n
	return nil
}

func (v IntOrString) String() string {
	if v.StrVal != "" {
		return v.StrVal
	}
	return strconv.Itoa(int(v.IntVal))
}

// ContainerStatus is what the node reports of one container.
type ContainerStatus struct {
	Name                 string         `json:"name"`
	State                ContainerState `json:"state,omitempty"`
	LastTerminationState ContainerState `json:"lastState,omitempty"`
	Ready                bool           `json:"ready"`
	RestartCount         int32          `json:"restartCount"`
	Image                string         `json:"image"`
	ImageID              string         `json:"imageID,omitempty"`
	ContainerID          string         `json:"containerID,omitempty"`
	Started              *bool          `json:"started,omitempty"`
}

// ContainerState is one of waiting, running or terminated.
type ContainerState struct {
	Waiting    *ContainerStateWaiting    `json:"waiting,omitempty"`
	Running    *ContainerStateRunning    `json:"running,omitempty"`
	Terminated *ContainerStateTerminated `json:"terminated,omitempty"`
}

// ContainerStateWaiting: not running yet, with the reason
// (ContainerCreating, ErrImagePull, CrashLoopBackOff, ...).
type ContainerStateWaiting struct {
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// ContainerStateRunning: running since StartedAt.
type ContainerStateRunning struct {
	StartedAt string `json:"startedAt,omitempty"`
}

// ContainerStateTerminated: ended with ExitCode, for Reason (Completed,
// Error, OOMKilled, ContainerCannotRun).
type ContainerStateTerminated struct {
	ExitCode    int32  `json:"exitCode"`
	Signal      int32  `json:"signal,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Message     string `json:"message,omitempty"`
	StartedAt   string `json:"startedAt,omitempty"`
	FinishedAt  string `json:"finishedAt,omitempty"`
	ContainerID string `json:"containerID,omitempty"`
}

// Pod condition types the node sets, and container reasons.
const (
	PodReady        = "Ready"
	ContainersReady = "ContainersReady"
	PodInitialized  = "Initialized"

	ReasonContainerCreating  = "ContainerCreating"
	ReasonCrashLoopBackOff   = "CrashLoopBackOff"
	ReasonErrImagePull       = "ErrImagePull"
	ReasonImagePullBackOff   = "ImagePullBackOff"
	ReasonCreateContainerErr = "CreateContainerError"
	ReasonCreateConfigErr    = "CreateContainerConfigError"
	ReasonRunContainerError  = "RunContainerError"
	ReasonCompleted          = "Completed"
	ReasonError              = "Error"
	ReasonOOMKilled          = "OOMKilled"
	ReasonContainerCannotRun = "ContainerCannotRun"
	ReasonStopped            = "Stopped"
)

// AnnotationStopped, "true" on a pod, makes its node stop its containers
// and keep them stopped (berth stop); removing it starts them again.
const AnnotationStopped = "berth.dev/stopped"

// AnnotationRestartedAt, set by berth start (RFC 3339 time), asks the
// node to start a pod's finished containers again: a container that ended
// before this time starts again whatever the restart policy says.
const AnnotationRestartedAt = "berth.dev/restarted-at"

// LabelRun names the berth run a pod belongs to; stop, start and rm act
// on every pod of a run.
const LabelRun = "berth.dev/run"
