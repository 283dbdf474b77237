package driver

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors of the driver, wrapped with what failed.
var (
	ErrNotFound = errors.New("driver: not found")
	// ErrImage: an image cannot be found or pulled.
	ErrImage = errors.New("driver: image")
	// ErrInvalid: a spec the node refuses (a path escape, a command that is
	// not in the image).
	ErrInvalid = errors.New("driver: invalid")
)

// Runtime runs containers. The containerd implementation is the real one;
// drivertest is its conformance suite. Every container carries the labels
// of its pod, so that a restarted agent finds (adopts) what is running.
type Runtime interface {
	// Version names the runtime and its version ("containerd 1.6.20").
	Version(ctx context.Context) (string, error)

	// PullImage fetches an image from its registry (plain HTTP for the
	// hosts the config allows) and unpacks it.
	PullImage(ctx context.Context, ref string) (Image, error)
	// ImportImages loads an OCI or Docker archive and unpacks its images.
	ImportImages(ctx context.Context, archive io.Reader) ([]Image, error)
	// GetImage returns an image present on the node, or ErrNotFound.
	GetImage(ctx context.Context, ref string) (Image, error)
	ListImages(ctx context.Context) ([]Image, error)

	// CreateContainer creates (does not start) a container; its ID is
	// returned. An image that is not present is ErrImage; a command that is
	// not in the image is ErrInvalid.
	CreateContainer(ctx context.Context, spec ContainerSpec) (string, error)
	// StartContainer starts a created container's process.
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends SIGTERM (or the image's stop signal), then
	// SIGKILL after grace. A stopped container stays until removed.
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	// RemoveContainer removes a container (stopping it first, at once) and
	// its snapshot. Removing one that is gone is not an error.
	RemoveContainer(ctx context.Context, id string) error
	// ContainerStatus returns one container's state, or ErrNotFound.
	ContainerStatus(ctx context.Context, id string) (ContainerStatus, error)
	// ListContainers returns every container of the runtime's namespace.
	ListContainers(ctx context.Context) ([]ContainerStatus, error)
	// Exec runs a process in a running container and returns its exit code.
	Exec(ctx context.Context, id string, spec ExecSpec) (int, error)
	// Stats returns a running container's CPU and memory use.
	Stats(ctx context.Context, id string) (Stats, error)

	Close() error
}

// Image is an image present on the node.
type Image struct {
	Ref    string // the name it is known by (docker.io/library/busybox:latest)
	Digest string // the manifest's digest (sha256:...)
	Size   int64  // bytes of its content
}

// ContainerSpec is what CreateContainer needs; the agent resolves the pod's
// volumes, variables and GPUs into it.
type ContainerSpec struct {
	// Pod identity, stored in the container's labels.
	PodUID       string
	PodNamespace string
	PodName      string
	Name         string // the container's name in the pod
	// Attempt counts restarts (0 for the first start).
	Attempt int

	Image      string
	Command    []string // the entrypoint; the image's when empty
	Args       []string // the image's cmd when both are empty
	Env        []string // K=V, over the image's
	WorkingDir string
	TTY        bool
	// NetNS is the path of the pod's network namespace (Sandbox.NetNS).
	NetNS string
	// Hostname of the container (the pod's name).
	Hostname string
	Mounts   []Mount

	// CPUMilli is the CPU limit in thousandths of a core (0: none): a CFS
	// quota over a 100 ms period. CPUShares follows the request.
	CPUMilli    int64
	CPUShares   uint64
	MemoryBytes int64 // memory limit (0: none)
	// GPUs are the minor numbers of the /dev/nvidiaN devices to give.
	GPUs []int
	// Privileged gives every capability and device; CapAdd and CapDrop
	// change the default capabilities (names with the CAP_ prefix).
	Privileged      bool
	CapAdd, CapDrop []string

	// FenceFile, when set, holds the end of the node's fence lease: the
	// container's logger kills the container once it has passed
	// (FenceWatchdog).
	FenceFile string
	// LogPath is the file its stdout and stderr go to (see logs.go), kept
	// with a size cap and rotation.
	LogPath string
	Labels  map[string]string
}

// Mount is one mount of a container. Type "bind" (Source is a host path)
// or "tmpfs".
type Mount struct {
	Type        string
	Source      string
	Destination string
	ReadOnly    bool
}

// State of a container.
type State string

// The states of a container.
const (
	StateCreated State = "created"
	StateRunning State = "running"
	StateExited  State = "exited"
	StateUnknown State = "unknown"
)

// ContainerStatus is a container as the runtime sees it.
type ContainerStatus struct {
	ID           string
	PodUID       string
	PodNamespace string
	PodName      string
	Name         string
	Attempt      int
	Image        string
	ImageDigest  string
	Labels       map[string]string
	State        State
	CreatedAt    time.Time
	StartedAt    time.Time
	FinishedAt   time.Time
	ExitCode     int
	// Reason: "OOMKilled" when the memory limit ended it, "Error" for any
	// other non-zero exit, "Completed" for zero.
	Reason  string
	Message string
	LogPath string
}

// ExecSpec is a process to run in a container.
type ExecSpec struct {
	Cmd    []string
	Env    []string
	TTY    bool
	Stdin  io.Reader // nil: none
	Stdout io.Writer
	Stderr io.Writer // ignored with TTY
	// Size is the terminal's size at the start (TTY only).
	Size *TermSize
	// Resize delivers terminal sizes while the process runs (TTY only).
	Resize <-chan TermSize
}

// TermSize is a terminal's size in characters.
type TermSize struct{ Width, Height uint16 }

// Stats is a container's resource use.
type Stats struct {
	CPUNanos    uint64 // CPU time used, in total
	MemoryBytes uint64 // memory in use now
}

// Labels on every container the driver creates.
const (
	LabelPodUID       = "berth.dev/pod-uid"
	LabelPodNamespace = "berth.dev/pod-namespace"
	LabelPodName      = "berth.dev/pod-name"
	LabelContainer    = "berth.dev/container"
	LabelAttempt      = "berth.dev/attempt"
	LabelLogPath      = "berth.dev/log-path"
	LabelFenceFile    = "berth.dev/fence-file"
)
