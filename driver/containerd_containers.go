package driver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/driver/logfile"
)

// CreateContainer creates a container from spec: its snapshot of the
// image, its OCI spec and its labels. No task (process) exists until
// StartContainer.
func (c *Containerd) CreateContainer(ctx context.Context, spec ContainerSpec) (string, error) {
	ctx = c.ns(ctx)
	if spec.Name == "" || spec.Image == "" {
		return "", fmt.Errorf("driver: a container needs a name and an image: %w", ErrInvalid)
	}
	img, err := c.image(ctx, spec.Image)
	if err != nil {
		return "", fmt.Errorf("driver: container %q: %w", spec.Name, err)
	}
	if err := c.unpack(ctx, img); err != nil {
		return "", fmt.Errorf("driver: container %q: %w", spec.Name, err)
	}
	ociImg, err := img.Spec(ctx)
	if err != nil {
		return "", fmt.Errorf("driver: container %q: image %q config: %w", spec.Name, spec.Image, err)
	}
	args := processArgs(spec, ociImg.Config)
	if len(args) == 0 {
		return "", fmt.Errorf("driver: container %q: no command, and image %q has none: %w", spec.Name, spec.Image, ErrInvalid)
	}
	opts, err := specOpts(spec, args, c.swapLimit)
	if err != nil {
		return "", fmt.Errorf("driver: %w", err)
	}
	if err := c.checkExecutable(ctx, img, spec, ociImg.Config, args[0]); err != nil {
		return "", err
	}
	if spec.LogPath != "" {
		if err := os.MkdirAll(filepath.Dir(spec.LogPath), 0o755); err != nil {
			return "", fmt.Errorf("driver: container %q: log folder: %w", spec.Name, err)
		}
	}

	labels := maps.Clone(spec.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, map[string]string{
		LabelPodUID:       spec.PodUID,
		LabelPodNamespace: spec.PodNamespace,
		LabelPodName:      spec.PodName,
		LabelContainer:    spec.Name,
		LabelAttempt:      strconv.Itoa(spec.Attempt),
		LabelLogPath:      spec.LogPath,
		LabelFenceFile:    spec.FenceFile,
		labelImageDigest:  img.Target().Digest.String(),
	})
	id := containerID(spec)
	_, err = c.client.NewContainer(ctx, id,
		client.WithContainerLabels(labels),
		client.WithImage(img),
		client.WithImageStopSignal(img, "SIGTERM"),
		client.WithSnapshotter(c.cfg.Snapshotter),
		client.WithNewSnapshot(id, img),
		client.WithNewSpec(append([]oci.SpecOpts{oci.WithImageConfig(img)}, opts...)...),
	)
	if errdefs.IsAlreadyExists(err) {
		return "", fmt.Errorf("driver: container %s already exists: %w", id, ErrInvalid)
	}
	if err != nil {
		return "", fmt.Errorf("driver: create container %q: %w", spec.Name, err)
	}
	return id, nil
}

// checkExecutable looks for the command's executable in a read-only view
// of the image, so that a missing one fails at create, not at start.
func (c *Containerd) checkExecutable(ctx context.Context, img client.Image, spec ContainerSpec, cfg ocispec.ImageConfig, cmd string) error {
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		return fmt.Errorf("driver: container %q: image %q layers: %w", spec.Name, spec.Image, err)
	}
	ctx, done, err := c.client.WithLease(ctx)
	if err != nil {
		return fmt.Errorf("driver: container %q: lease: %w", spec.Name, err)
	}
	defer done(context.WithoutCancel(ctx))
	sn := c.client.SnapshotService(c.cfg.Snapshotter)
	key := fmt.Sprintf("berth-check-%d-%s", time.Now().UnixNano(), containerID(spec))
	mounts, err := sn.View(ctx, key, identity.ChainID(diffIDs).String())
	if err != nil {
		return fmt.Errorf("driver: container %q: view of image %q: %w", spec.Name, spec.Image, err)
	}
	defer sn.Remove(context.WithoutCancel(ctx), key)

	env := mergeEnv(cfg.Env, spec.Env)
	pathEnv, ok := envValue(env, "PATH")
	if !ok {
		pathEnv = defaultPath
	}
	cwd := spec.WorkingDir
	if cwd == "" {
		cwd = cfg.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	var found error
	err = mount.WithReadonlyTempMount(ctx, mounts, func(root string) error {
		found = findExecutable(root, cmd, path.Clean(cwd), pathEnv)
		return nil
	})
	if err != nil {
		return fmt.Errorf("driver: container %q: mount image %q: %w", spec.Name, spec.Image, err)
	}
	if found != nil {
		return fmt.Errorf("driver: container %q: executable %q not found in image %q: %w", spec.Name, cmd, spec.Image, ErrInvalid)
	}
	return nil
}

// containerID is "<pod>-<name>-<attempt>": pod is the first 8 characters
// of a UUID (or a short UID as it is, or a longer one's prefix and hash).
// It is a valid containerd ID (letters, digits and single separators, at
// most 76 characters).
func containerID(s ContainerSpec) string {
	pod := sanitizeID(s.PodUID)
	switch {
	case pod == "":
		pod = "pod"
	case isUUID(s.PodUID):
		pod = pod[:8]
	case len(pod) > 16:
		sum := sha256.Sum256([]byte(s.PodUID))
		pod = strings.Trim(pod[:8], "-._") + "-" + hex.EncodeToString(sum[:3])
	}
	name := sanitizeID(s.Name)
	if name == "" {
		name = "c"
	}
	attempt := strconv.Itoa(s.Attempt)
	if room := 76 - len(pod) - len(attempt) - 2; len(name) > room {
		name = strings.Trim(name[:room], "-._")
	}
	return pod + "-" + name + "-" + attempt
}

// sanitizeID keeps letters and digits, and turns any run of other
// characters into one dash.
func sanitizeID(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return b.String()
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F'):
			return false
		}
	}
	return true
}

// StartContainer starts the container's process. An exited task of an
// earlier start is deleted first.
func (c *Containerd) StartContainer(ctx context.Context, id string) error {
	ctx = c.ns(ctx)
	ctr, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("driver: start %s: %w", id, notFound(err))
	}
	info, err := ctr.Info(ctx, client.WithoutRefreshedMetadata)
	if err != nil {
		return fmt.Errorf("driver: start %s: %w", id, notFound(err))
	}
	if old, err := ctr.Task(ctx, nil); err == nil {
		st, err := old.Status(ctx)
		if err != nil {
			return fmt.Errorf("driver: start %s: %w", id, err)
		}
		if st.Status == client.Running || st.Status == client.Paused || st.Status == client.Pausing {
			return fmt.Errorf("driver: start %s: already running: %w", id, ErrInvalid)
		}
		if _, err := old.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("driver: start %s: delete the exited task: %w", id, err)
		}
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("driver: start %s: %w", id, err)
	}

	spec, err := ctr.Spec(ctx)
	if err != nil {
		return fmt.Errorf("driver: start %s: %w", id, err)
	}
	tty := spec.Process != nil && spec.Process.Terminal
	creator, err := c.logCreator(info.Labels[LabelLogPath], info.Labels[LabelFenceFile], tty)
	if err != nil {
		return fmt.Errorf("driver: start %s: %w", id, err)
	}
	if _, err := ctr.SetLabels(ctx, map[string]string{
		labelStartedAt: time.Now().UTC().Format(time.RFC3339Nano),
		labelOOMKilled: "",
	}); err != nil {
		return fmt.Errorf("driver: start %s: %w", id, notFound(err))
	}
	task, err := ctr.NewTask(ctx, creator)
	if err != nil {
		return fmt.Errorf("driver: start %s: %w", id, startError(err, info))
	}
	if err := task.Start(ctx); err != nil {
		if _, derr := task.Delete(context.WithoutCancel(ctx), client.WithProcessKill); derr != nil && !errdefs.IsNotFound(derr) {
			c.log.Warn("delete a task that did not start", "container", id, "err", derr)
		}
		return fmt.Errorf("driver: start %s: %w", id, startError(err, info))
	}
	return nil
}

// startError marks runc's "executable file not found" as ErrInvalid.
func startError(err error, info containers.Container) error {
	if isExecNotFound(err) {
		return fmt.Errorf("executable not found in image %q: %w: %w", info.Image, err, ErrInvalid)
	}
	return err
}

// isExecNotFound reports whether runc failed to find the process's
// executable.
func isExecNotFound(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "executable file not found") ||
		strings.Contains(msg, `exec: "`) && strings.Contains(msg, "no such file or directory")
}

// logCreator sends the task's stdout and stderr to the log at path
// (through the logger binary when the config names one).
func (c *Containerd) logCreator(logPath, fenceFile string, tty bool) (cio.Creator, error) {
	if logPath == "" {
		return cio.NullIO, nil
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("log folder: %w", err)
	}
	if c.cfg.LoggerBinary != "" {
		uri := logfile.URI(c.cfg.LoggerBinary, logfile.Options{Path: logPath, MaxSize: c.cfg.LogMaxSize, MaxFiles: c.cfg.LogMaxFiles,
			FenceFile: fenceFile, Socket: c.cfg.Socket})
		if tty {
			return cio.TerminalLogURI(uri), nil
		}
		return cio.LogURI(uri), nil
	}
	uri, err := cio.LogURIGenerator("file", logPath, nil)
	if err != nil {
		return nil, fmt.Errorf("log path: %w", err)
	}
	if tty {
		return cio.TerminalLogURI(uri), nil
	}
	return cio.LogURI(uri), nil
}

// StopContainer signals the container's process (the image's stop signal
// or SIGTERM), then kills it after grace, and waits for it to end.
func (c *Containerd) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	ctx = c.ns(ctx)
	ctr, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("driver: stop %s: %w", id, notFound(err))
	}
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("driver: stop %s: %w", id, err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return fmt.Errorf("driver: stop %s: %w", id, err)
	}
	if st.Status == client.Stopped {
		return nil
	}
	sig, err := client.GetStopSignal(ctx, ctr, syscall.SIGTERM)
	if err != nil {
		sig = syscall.SIGTERM
	}
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited, err := task.Wait(waitCtx)
	if err != nil {
		return fmt.Errorf("driver: stop %s: %w", id, err)
	}
	if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("driver: stop %s: %w", id, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("driver: stop %s: %w", id, ctx.Err())
	case <-timer.C:
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("driver: stop %s: kill: %w", id, err)
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("driver: stop %s: %w", id, ctx.Err())
	}
}

// RemoveContainer kills the container's process, deletes its task, the
// container and its snapshot.
func (c *Containerd) RemoveContainer(ctx context.Context, id string) error {
	ctx = c.ns(ctx)
	ctr, err := c.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("driver: remove %s: %w", id, err)
	}
	if task, err := ctr.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("driver: remove %s: delete task: %w", id, err)
		}
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("driver: remove %s: %w", id, err)
	}
	if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("driver: remove %s: %w", id, err)
	}
	return nil
}

// ContainerStatus returns the container's state from its labels and task.
func (c *Containerd) ContainerStatus(ctx context.Context, id string) (ContainerStatus, error) {
	ctx = c.ns(ctx)
	ctr, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		return ContainerStatus{}, fmt.Errorf("driver: container %s: %w", id, notFound(err))
	}
	st, err := c.status(ctx, ctr)
	if err != nil {
		return ContainerStatus{}, fmt.Errorf("driver: container %s: %w", id, notFound(err))
	}
	return st, nil
}

// ListContainers returns every container of the namespace.
func (c *Containerd) ListContainers(ctx context.Context) ([]ContainerStatus, error) {
	ctx = c.ns(ctx)
	ctrs, err := c.client.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("driver: list containers: %w", err)
	}
	out := make([]ContainerStatus, 0, len(ctrs))
	for _, ctr := range ctrs {
		st, err := c.status(ctx, ctr)
		if errdefs.IsNotFound(err) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("driver: container %s: %w", ctr.ID(), err)
		}
		out = append(out, st)
	}
	return out, nil
}

func (c *Containerd) status(ctx context.Context, ctr client.Container) (ContainerStatus, error) {
	info, err := ctr.Info(ctx, client.WithoutRefreshedMetadata)
	if err != nil {
		return ContainerStatus{}, err
	}
	l := info.Labels
	st := ContainerStatus{
		ID:           info.ID,
		PodUID:       l[LabelPodUID],
		PodNamespace: l[LabelPodNamespace],
		PodName:      l[LabelPodName],
		Name:         l[LabelContainer],
		Image:        info.Image,
		ImageDigest:  l[labelImageDigest],
		Labels:       map[string]string{},
		State:        StateCreated,
		CreatedAt:    info.CreatedAt,
		LogPath:      l[LabelLogPath],
	}
	st.Attempt, _ = strconv.Atoi(l[LabelAttempt])
	for k, v := range l {
		switch {
		case k == labelImageDigest || k == labelStartedAt || k == labelOOMKilled:
		case strings.HasPrefix(k, labelPrivatePrefix):
		default:
			st.Labels[k] = v
		}
	}
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return st, nil
	}
	if err != nil {
		return ContainerStatus{}, err
	}
	if t, err := time.Parse(time.RFC3339Nano, l[labelStartedAt]); err == nil {
		st.StartedAt = t
	}
	ts, err := task.Status(ctx)
	if errdefs.IsNotFound(err) {
		return st, nil // deleted meanwhile (a restart)
	}
	if err != nil {
		return ContainerStatus{}, err
	}
	switch ts.Status {
	case client.Created:
		st.StartedAt = time.Time{}
	case client.Running, client.Paused, client.Pausing:
		st.State = StateRunning
	case client.Stopped:
		st.State = StateExited
		st.ExitCode = int(ts.ExitStatus)
		st.FinishedAt = ts.ExitTime
		st.Reason = c.exitReason(ctx, ctr, l, st.ExitCode)
	default:
		st.State = StateUnknown
	}
	return st, nil
}

// exitReason is OOMKilled when the event watcher or the cgroup saw the
// memory limit kill a process, else Completed or Error.
func (c *Containerd) exitReason(ctx context.Context, ctr client.Container, labels map[string]string, code int) string {
	if code == 0 {
		return "Completed"
	}
	if labels[labelOOMKilled] == "true" {
		return "OOMKilled"
	}
	spec, err := ctr.Spec(ctx)
	if err == nil && spec.Linux != nil && spec.Linux.Resources != nil && spec.Linux.Resources.Memory != nil &&
		cgroupOOMKilled(spec.Linux.CgroupsPath) {
		if _, err := ctr.SetLabels(ctx, map[string]string{labelOOMKilled: "true"}); err != nil {
			c.log.Warn("record OOM kill", "container", ctr.ID(), "err", err)
		}
		return "OOMKilled"
	}
	return "Error"
}

// image finds ref as it is named, or in its normalized form
// (busybox: docker.io/library/busybox:latest).
func (c *Containerd) image(ctx context.Context, ref string) (client.Image, error) {
	img, err := c.client.GetImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		if named, nerr := normalizeRef(ref); nerr == nil && named != ref {
			img, err = c.client.GetImage(ctx, named)
		}
	}
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("image %q is not on the node: %w", ref, ErrImage)
	}
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", ref, err)
	}
	return img, nil
}

// unpack unpacks img into the snapshotter unless it is already.
func (c *Containerd) unpack(ctx context.Context, img client.Image) error {
	ok, err := img.IsUnpacked(ctx, c.cfg.Snapshotter)
	if err == nil && ok {
		return nil
	}
	if err := img.Unpack(ctx, c.cfg.Snapshotter); err != nil {
		return fmt.Errorf("unpack image %q: %w: %w", img.Name(), err, ErrImage)
	}
	return nil
}

var errNotRunning = errors.New("not running")
