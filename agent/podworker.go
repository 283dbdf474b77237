package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/driver"
	"github.com/berth-dev/berth/driver/cni"
	"github.com/berth-dev/berth/driver/volume"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// podWorker drives one pod of this node: one goroutine, woken by a new
// version of the pod, a change seen in the runtime, or a timer (back-off,
// probes).
type podWorker struct {
	k   *kubelet
	uid string
	log *slog.Logger

	mu   sync.Mutex
	pod  *api.Pod // nil once deleted
	last *api.Pod // the last version seen, for the teardown
	wake chan struct{}

	// Owned by run.
	sandbox   *cni.Sandbox
	ctrs      map[string]*ctrState
	startTime string
	podErr    *api.ContainerStateWaiting // why no container can start (sandbox, volumes)
	paths     map[string]string          // prepared volumes
	data      volume.Data                // the ConfigMaps and Secrets it refers to
	prepared  string                     // the pod's resourceVersion the volumes were prepared for
	// fenced: a stateful pod whose node holds no fence lease; its
	// containers are killed and none starts (fence.go).
	fenced bool
	// twin: a stateful pod waiting for an earlier pod of its name to stop
	// on this node.
	twin bool
	// seen is when the worker began; startObserved: the pod's start
	// latency was recorded (prom.go).
	seen          time.Time
	startObserved bool
}

// ctrState is what the worker knows of one container beyond the runtime.
type ctrState struct {
	backoff  time.Duration
	retryAt  time.Time
	seenExit string // the exited container's ID the back-off was counted for
	waiting  *api.ContainerStateWaiting
	live     probeState
	ready    probeState
}

func newPodWorker(k *kubelet, p *api.Pod) *podWorker {
	return &podWorker{k: k, uid: p.Metadata.UID, pod: p, last: p, wake: make(chan struct{}, 1), seen: time.Now(),
		log: k.log.With("pod", p.Metadata.Namespace+"/"+p.Metadata.Name), ctrs: map[string]*ctrState{}}
}

// set gives the worker a new version of its pod (nil: deleted).
func (w *podWorker) set(p *api.Pod) {
	w.mu.Lock()
	w.pod = p
	if p != nil {
		w.last = p
	}
	w.mu.Unlock()
	w.poke()
}

// identity is the namespace and name of the worker's pod, also once it
// was deleted.
func (w *podWorker) identity() (ns, name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last.Metadata.Namespace, w.last.Metadata.Name
}

func (w *podWorker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *podWorker) current() *api.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod
}

func (w *podWorker) run(ctx context.Context) {
	for {
		p := w.current()
		if p == nil {
			w.teardown(ctx)
			return
		}
		next := w.sync(ctx, p)
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return // the agent stops: containers go on and are adopted later
		case <-w.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// grace is the pod's termination grace period (30 s by default).
func grace(p *api.Pod) time.Duration {
	if g := p.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// teardown stops and removes everything of a deleted pod, trying again
// until it is done or the agent stops.
func (w *podWorker) teardown(ctx context.Context) {
	p := w.last
	// A ready pod behind a Service keeps serving while every node takes
	// it out of the Service's endpoints (the leader updates them on the
	// same commit that deleted the pod): connections sent to it meanwhile
	// are answered, not refused.
	if d := w.k.endpointDrain(p); d > 0 {
		w.log.Debug("pod deleted: serving on while the Service forgets it", "for", d)
		sleepCtx(ctx, d)
	}
	for ctx.Err() == nil {
		err := w.removeAll(ctx, p)
		if err == nil {
			w.log.Info("pod removed")
			return
		}
		w.log.Warn("remove pod; trying again", "err", err)
		sleepCtx(ctx, 2*time.Second)
	}
}

func (w *podWorker) removeAll(ctx context.Context, p *api.Pod) error {
	k := w.k
	cs, err := k.rt.ListContainers(ctx)
	if err != nil {
		return err
	}
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, c := range cs {
		if c.PodUID != w.uid {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.State == driver.StateRunning {
				w.event(p, api.EventNormal, "Killing", "Stopping container %s", c.Name)
			}
			err := k.rt.StopContainer(ctx, c.ID, grace(p))
			if err == nil {
				err = k.rt.RemoveContainer(ctx, c.ID)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := k.net.Teardown(ctx, w.uid); err != nil {
		return err
	}
	if err := k.vols.Cleanup(w.uid); err != nil {
		return err
	}
	k.removeLogs(p)
	return nil
}

// sync brings the pod one step closer to its spec and reports its status;
// it returns when it wants to run again at the latest.
func (w *podWorker) sync(ctx context.Context, p *api.Pod) time.Duration {
	next := 2 * time.Second
	w.fenced = isStateful(p) && !w.k.fence.held()
	w.twin = isStateful(p) && w.k.twinStopping(w)
	stopped := p.Metadata.Annotations[api.AnnotationStopped] == "true" || w.fenced || w.twin
	if w.startTime == "" {
		w.startTime = p.Status.StartTime
		if w.startTime == "" {
			w.startTime = time.Now().UTC().Format(time.RFC3339)
		}
	}
	w.podErr = nil
	if !stopped && !w.finished(p) {
		if err := w.prepare(ctx, p); err != nil {
			if ctx.Err() != nil {
				return next
			}
			w.log.Warn("prepare pod", "err", err)
		}
	}
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		st := w.ctrs[c.Name]
		if st == nil {
			st = &ctrState{backoff: w.k.cfg.BackoffBase}
			w.ctrs[c.Name] = st
		}
		if d := w.syncContainer(ctx, p, c, st, stopped); d < next {
			next = d
		}
	}
	w.reportStatus(p, stopped)
	return max(next, 50*time.Millisecond)
}

// finished reports whether a pod's containers have ended for good: the
// pod is Succeeded or Failed and nothing asks for a restart.
func (w *podWorker) finished(p *api.Pod) bool {
	if !p.Terminated() {
		return false
	}
	for i := range p.Spec.Containers {
		if cs := w.latest(p.Spec.Containers[i].Name); cs != nil && w.wantsRestart(p, cs) {
			return false
		}
	}
	return true
}

// prepare makes the pod's sandbox and volumes.
func (w *podWorker) prepare(ctx context.Context, p *api.Pod) error {
	k := w.k
	if w.sandbox == nil {
		t0 := time.Now()
		sb, err := k.net.Setup(ctx, w.uid, hostPorts(p))
		w.log.Debug("pod sandbox", "took", time.Since(t0), "err", err)
		if err != nil {
			w.podErr = &api.ContainerStateWaiting{Reason: api.ReasonContainerCreating, Message: "pod network: " + err.Error()}
			return err
		}
		w.sandbox = &sb
	}
	if w.paths == nil || w.prepared != p.Metadata.ResourceVersion {
		data, err := w.objects(ctx, p)
		if err == nil {
			w.data = data
			w.paths, err = k.vols.Prepare(p, data)
		}
		if err != nil {
			w.paths = nil
			w.podErr = &api.ContainerStateWaiting{Reason: api.ReasonCreateConfigErr, Message: err.Error()}
			return err
		}
		w.prepared = p.Metadata.ResourceVersion
	}
	return nil
}

func hostPorts(p *api.Pod) []cni.PortMapping {
	var out []cni.PortMapping
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			if port.HostPort != 0 {
				out = append(out, cni.PortMapping{HostPort: port.HostPort, ContainerPort: port.ContainerPort,
					Protocol: strings.ToLower(port.Protocol), HostIP: port.HostIP})
			}
		}
	}
	return out
}

// objects reads the ConfigMaps and Secrets the pod refers to; one that is
// missing is left out (the volume manager and env resolution say whether
// that is allowed).
func (w *podWorker) objects(ctx context.Context, p *api.Pod) (volume.Data, error) {
	data := volume.Data{ConfigMaps: map[string]map[string][]byte{}, Secrets: map[string]map[string][]byte{}}
	cms, secs := map[string]bool{}, map[string]bool{}
	for _, v := range p.Spec.Volumes {
		if v.ConfigMap != nil {
			cms[v.ConfigMap.Name] = true
		}
		if v.Secret != nil {
			secs[v.Secret.SecretName] = true
		}
	}
	for _, c := range p.Spec.Containers {
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil {
				cms[e.ConfigMapRef.Name] = true
			}
			if e.SecretRef != nil {
				secs[e.SecretRef.Name] = true
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				cms[e.ValueFrom.ConfigMapKeyRef.Name] = true
			}
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				secs[e.ValueFrom.SecretKeyRef.Name] = true
			}
		}
	}
	get := func(kind, name string) (map[string][]byte, error) {
		resp, err := w.k.res.Get(ctx, &pb.GetRequest{Ref: &pb.ObjectRef{Kind: kind, Namespace: p.Metadata.Namespace, Name: name}})
		if status.Code(err) == codes.NotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return objectData(kind, resp.Object)
	}
	for name := range cms {
		d, err := get("ConfigMap", name)
		if err != nil {
			return data, err
		}
		if d != nil {
			data.ConfigMaps[name] = d
		}
	}
	for name := range secs {
		d, err := get("Secret", name)
		if err != nil {
			return data, err
		}
		if d != nil {
			data.Secrets[name] = d
		}
	}
	return data, nil
}

// objectData returns a ConfigMap's or Secret's keys and values.
func objectData(kind string, raw []byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	switch kind {
	case "ConfigMap":
		var cm api.ConfigMap
		if err := json.Unmarshal(raw, &cm); err != nil {
			return nil, err
		}
		for k, v := range cm.Data {
			out[k] = []byte(v)
		}
		for k, v := range cm.BinaryData {
			out[k] = v
		}
	case "Secret":
		var s api.Secret
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		for k, v := range s.Data {
			out[k] = v
		}
		for k, v := range s.StringData {
			out[k] = []byte(v)
		}
	}
	return out, nil
}

// latest is the newest runtime container of a pod's container name.
func (w *podWorker) latest(name string) *driver.ContainerStatus {
	var best *driver.ContainerStatus
	for _, c := range w.k.containersOf(w.uid) {
		if c.Name == name && (best == nil || c.Attempt > best.Attempt) {
			best = &c
		}
	}
	return best
}

// wantsRestart says whether an exited container is to run again.
func (w *podWorker) wantsRestart(p *api.Pod, cs *driver.ContainerStatus) bool {
	if cs.State != driver.StateExited {
		return false
	}
	if at, err := time.Parse(time.RFC3339Nano, p.Metadata.Annotations[api.AnnotationRestartedAt]); err == nil && at.After(cs.StartedAt) {
		return true
	}
	switch p.Spec.RestartPolicy {
	case "Never":
		return false
	case "OnFailure":
		return cs.ExitCode != 0
	}
	return true
}

// syncContainer moves one container a step; it returns when it wants to
// look again.
func (w *podWorker) syncContainer(ctx context.Context, p *api.Pod, c *api.Container, st *ctrState, stopped bool) time.Duration {
	k := w.k
	cs := w.latest(c.Name)
	if stopped {
		st.waiting = nil
		if cs != nil && cs.State == driver.StateRunning {
			g := grace(p)
			if w.fenced {
				g = 0
			}
			w.event(p, api.EventNormal, "Killing", "Stopping container %s", c.Name)
			if err := k.rt.StopContainer(ctx, cs.ID, g); err != nil {
				w.log.Warn("stop container", "container", c.Name, "err", err)
			}
			k.refresh(ctx, w.uid, cs.ID)
		}
		if w.fenced || w.twin {
			return 500 * time.Millisecond // look at the lease, or the twin, again
		}
		return time.Hour
	}
	switch {
	case cs == nil:
		if w.podErr != nil || w.finished(p) {
			return 2 * time.Second
		}
		if time.Now().Before(st.retryAt) {
			return time.Until(st.retryAt)
		}
		return w.startContainer(ctx, p, c, st, 0)
	case cs.State == driver.StateCreated:
		if err := k.rt.StartContainer(ctx, cs.ID); err != nil {
			st.waiting = &api.ContainerStateWaiting{Reason: api.ReasonRunContainerError, Message: err.Error()}
			_ = k.rt.RemoveContainer(ctx, cs.ID)
		}
		k.refresh(ctx, w.uid, cs.ID)
		return time.Second
	case cs.State == driver.StateRunning:
		st.waiting = nil
		return w.probe(ctx, p, c, cs, st)
	case cs.State == driver.StateExited:
		st.live, st.ready = probeState{}, probeState{}
		if !w.wantsRestart(p, cs) {
			return time.Hour
		}
		if st.seenExit != cs.ID {
			// A new exit: wait the back-off, then double it. A container
			// that ran for a while starts the count again.
			st.seenExit = cs.ID
			if cs.Reason == api.ReasonOOMKilled {
				w.event(p, api.EventWarning, "OOMKilled", "Container %s was killed: out of memory (exit code %d)", c.Name, cs.ExitCode)
			}
			if !cs.StartedAt.IsZero() && cs.FinishedAt.Sub(cs.StartedAt) > 2*k.cfg.BackoffMax {
				st.backoff = k.cfg.BackoffBase
			}
			st.retryAt = time.Now().Add(st.backoff)
			st.backoff = min(2*st.backoff, k.cfg.BackoffMax)
			if at, err := time.Parse(time.RFC3339Nano, p.Metadata.Annotations[api.AnnotationRestartedAt]); err == nil && at.After(cs.StartedAt) {
				st.retryAt, st.backoff = time.Now(), k.cfg.BackoffBase // berth start: at once
			} else if cs.Attempt > 0 {
				w.event(p, api.EventWarning, "BackOff", "Back-off restarting failed container %s in pod %s", c.Name, p.Metadata.Name)
			}
		}
		if d := time.Until(st.retryAt); d > 0 {
			st.waiting = &api.ContainerStateWaiting{Reason: api.ReasonCrashLoopBackOff,
				Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", st.backoff/2, c.Name, p.Metadata.Name)}
			return d
		}
		if w.podErr != nil {
			return 2 * time.Second
		}
		// Keep the exited container (its end is the lastState) and drop
		// older ones.
		for _, old := range k.containersOf(w.uid) {
			if old.Name == c.Name && old.Attempt < cs.Attempt {
				_ = k.rt.RemoveContainer(ctx, old.ID)
				k.refresh(ctx, w.uid, old.ID)
			}
		}
		return w.startContainer(ctx, p, c, st, cs.Attempt+1)
	}
	return 2 * time.Second
}

// startContainer creates and starts one attempt of a container.
func (w *podWorker) startContainer(ctx context.Context, p *api.Pod, c *api.Container, st *ctrState, attempt int) time.Duration {
	k := w.k
	fail := func(reason string, err error) time.Duration {
		if ctx.Err() != nil {
			return time.Second
		}
		st.waiting = &api.ContainerStateWaiting{Reason: reason, Message: err.Error()}
		st.retryAt = time.Now().Add(st.backoff)
		st.backoff = min(2*st.backoff, k.cfg.BackoffMax)
		w.log.Warn("start container", "container", c.Name, "reason", reason, "err", err)
		w.event(p, api.EventWarning, "Failed", "Error: %s: %v", reason, err)
		return time.Until(st.retryAt)
	}
	if err := w.ensureImage(ctx, p, c, st); err != nil {
		reason := api.ReasonErrImagePull
		if st.waiting != nil && (st.waiting.Reason == api.ReasonErrImagePull || st.waiting.Reason == api.ReasonImagePullBackOff) {
			reason = api.ReasonImagePullBackOff
		}
		return fail(reason, err)
	}
	spec, err := w.containerSpec(p, c, attempt)
	if err != nil {
		return fail(api.ReasonCreateConfigErr, err)
	}
	t0 := time.Now()
	id, err := k.rt.CreateContainer(ctx, spec)
	if err != nil {
		return fail(api.ReasonCreateContainerErr, err)
	}
	t1 := time.Now()
	err = k.rt.StartContainer(ctx, id)
	w.log.Debug("container create and start", "create", t1.Sub(t0), "start", time.Since(t1), "err", err)
	if err != nil {
		_ = k.rt.RemoveContainer(ctx, id)
		k.refresh(ctx, w.uid, id)
		return fail(api.ReasonRunContainerError, err)
	}
	st.waiting = nil
	k.refresh(ctx, w.uid, id)
	w.log.Info("container started", "container", c.Name, "attempt", attempt, "id", id)
	w.observeStart(p)
	w.event(p, api.EventNormal, "Started", "Started container %s", c.Name)
	return 200 * time.Millisecond
}

// ensureImage makes the image present, pulling it when the policy says so.
func (w *podWorker) ensureImage(ctx context.Context, p *api.Pod, c *api.Container, st *ctrState) error {
	k := w.k
	policy := c.ImagePullPolicy
	if policy == "" {
		policy = "IfNotPresent"
		if strings.HasSuffix(c.Image, ":latest") {
			policy = "Always"
		}
	}
	_, err := k.rt.GetImage(ctx, c.Image)
	switch {
	case err == nil && policy != "Always":
		w.event(p, api.EventNormal, "Pulled", "Container image %q already present on machine", c.Image)
		return nil
	case err != nil && !errors.Is(err, driver.ErrNotFound):
		return err
	case err != nil && policy == "Never":
		return fmt.Errorf("image %q is not on node %s and imagePullPolicy is Never", c.Image, k.name)
	}
	st.waiting = &api.ContainerStateWaiting{Reason: api.ReasonContainerCreating, Message: "pulling image " + c.Image}
	w.event(p, api.EventNormal, "Pulling", "Pulling image %q", c.Image)
	t0 := time.Now()
	if _, perr := k.rt.PullImage(ctx, c.Image); perr != nil {
		if err == nil {
			return nil // Always, but the registry is not reachable: use what is here
		}
		w.event(p, api.EventWarning, "Failed", "Failed to pull image %q: %v", c.Image, perr)
		return perr
	}
	w.event(p, api.EventNormal, "Pulled", "Successfully pulled image %q in %s", c.Image, time.Since(t0).Round(time.Millisecond))
	return nil
}

// containerSpec turns a pod's container into the driver's spec.
func (w *podWorker) containerSpec(p *api.Pod, c *api.Container, attempt int) (driver.ContainerSpec, error) {
	k := w.k
	env, err := w.env(p, c)
	if err != nil {
		return driver.ContainerSpec{}, err
	}
	mounts, err := k.vols.Mounts(p, c, w.paths)
	if err != nil {
		return driver.ContainerSpec{}, err
	}
	etc, err := k.podEtc(p, w.sandbox.IP)
	if err != nil {
		return driver.ContainerSpec{}, err
	}
	// A volume the pod mounts at /etc/hosts or /etc/resolv.conf wins.
	for _, m := range etc {
		if !slices.ContainsFunc(mounts, func(o driver.Mount) bool { return o.Destination == m.Destination }) {
			mounts = append(mounts, m)
		}
	}
	spec := driver.ContainerSpec{
		PodUID: w.uid, PodNamespace: p.Metadata.Namespace, PodName: p.Metadata.Name, Name: c.Name, Attempt: attempt,
		Image: c.Image, Command: c.Command, Args: c.Args, Env: env, WorkingDir: c.WorkingDir, TTY: c.TTY,
		NetNS: w.sandbox.NetNS, Hostname: podHostname(p), Mounts: mounts, LogPath: k.logPath(p, c.Name),
	}
	if sc := c.SecurityContext; sc != nil {
		spec.Privileged = sc.IsPrivileged()
		if sc.Capabilities != nil {
			spec.CapAdd, spec.CapDrop = capNames(sc.Capabilities.Add), capNames(sc.Capabilities.Drop)
		}
	}
	if isStateful(p) {
		spec.FenceFile = fenceFile(k.dir)
	}
	if q, ok := c.Resources.Limits[api.ResourceCPU]; ok {
		spec.CPUMilli = q.Milli()
	}
	req := c.Resources.Requests[api.ResourceCPU]
	if m := req.Milli(); m > 0 {
		spec.CPUShares = uint64(max(2, m*1024/1000))
	}
	if q, ok := c.Resources.Limits[api.ResourceMemory]; ok {
		spec.MemoryBytes = q.Value()
	}
	if _, ok := c.Resources.Limits[api.ResourceGPU]; ok {
		idx, err := k.gpuIndexes(p.Spec.AssignedGPUs)
		if err != nil {
			return spec, err
		}
		spec.GPUs = idx
	}
	return spec, nil
}

// env resolves a container's variables: envFrom first, then env, each
// later one winning, as in Kubernetes.
func (w *podWorker) env(p *api.Pod, c *api.Container) ([]string, error) {
	data := w.data
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, e := range c.EnvFrom {
		src, name, optional, kind := data.ConfigMaps, "", false, "configmap"
		if e.ConfigMapRef != nil {
			name, optional = e.ConfigMapRef.Name, e.ConfigMapRef.Optional != nil && *e.ConfigMapRef.Optional
		} else {
			src, kind = data.Secrets, "secret"
			name, optional = e.SecretRef.Name, e.SecretRef.Optional != nil && *e.SecretRef.Optional
		}
		m, ok := src[name]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("%s %q not found (envFrom of container %q)", kind, name, c.Name)
		}
		keys := make([]string, 0, len(m))
		for key := range m {
			keys = append(keys, key)
		}
		slices.Sort(keys)
		for _, key := range keys {
			set(e.Prefix+key, string(m[key]))
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, e.Value)
			continue
		}
		src, ref, kind := data.ConfigMaps, e.ValueFrom.ConfigMapKeyRef, "configmap"
		if ref == nil {
			src, ref, kind = data.Secrets, e.ValueFrom.SecretKeyRef, "secret"
		}
		v, ok := src[ref.Name][ref.Key]
		if !ok {
			if ref.Optional != nil && *ref.Optional {
				continue
			}
			return nil, fmt.Errorf("env %s: key %q of %s %q not found", e.Name, ref.Key, kind, ref.Name)
		}
		set(e.Name, string(v))
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vars[k])
	}
	return out, nil
}

// gpuIndexes maps assigned GPU IDs to the device minors of this node.
func (k *kubelet) gpuIndexes(ids []string) ([]int, error) {
	n, err := k.getNode(context.Background(), k.name)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, id := range ids {
		i := slices.IndexFunc(n.Status.GPUs, func(g api.NodeGPU) bool { return g.ID == id })
		if i < 0 {
			return nil, fmt.Errorf("GPU %q is not a GPU of node %s", id, k.name)
		}
		out = append(out, int(n.Status.GPUs[i].Index))
	}
	return out, nil
}

// capNames gives capabilities the CAP_ prefix the OCI spec wants.
func capNames(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "CAP_" + strings.TrimPrefix(n, "CAP_")
	}
	return out
}
