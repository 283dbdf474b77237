package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/signal"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
)

// runOptions are the flags of run.
type runOptions struct {
	detach    bool
	name      string
	publish   []string
	env       []string
	volumes   []string
	cpus      string
	memory    string
	gpus      string
	replicas  int
	restart   string
	namespace string
	labels    []string
	tty       bool

	// suffix returns the random part of a generated name.
	suffix func() string
	// lookupEnv reads the local environment, for -e NAME without a value.
	lookupEnv func(string) (string, bool)
}

func newRunCmd() *cobra.Command {
	o := runOptions{suffix: randomSuffix, lookupEnv: os.LookupEnv}
	cmd := &cobra.Command{
		Use:   "run [flags] IMAGE [COMMAND [ARG...]]",
		Short: "Run an image in a new pod (or several with --replicas)",
		Long: "Run an image in a new pod, as docker run does. The words after IMAGE replace the\n" +
			"image's command. Without -d, run waits for the pod to start, streams its log until\n" +
			"it ends, and exits with its exit code; Ctrl-C stops following and leaves it running.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("run needs an IMAGE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			pods, err := o.pods(args[0], args[1:])
			if err != nil {
				return err
			}
			if !o.detach && len(pods) > 1 {
				return errors.New("--replicas above 1 needs -d: only one pod's log can be followed")
			}
			return o.create(cmd, pods)
		},
	}
	o.bindFlags(cmd)
	return cmd
}

// bindFlags defines run's flags on cmd.
func (o *runOptions) bindFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	// Flags after IMAGE belong to the command.
	f.SetInterspersed(false)
	f.BoolVarP(&o.detach, "detach", "d", false, "create the pod(s), print their names and return")
	f.StringVar(&o.name, "name", "", "name of the run and its pod (default: the image's name and a random suffix)")
	f.StringArrayVarP(&o.publish, "publish", "p", nil, "publish a port, [HOSTIP:]HOSTPORT:PORT[/udp] or PORT[/udp] (repeatable)")
	f.StringArrayVarP(&o.env, "env", "e", nil, "set a variable, NAME=VALUE, or NAME to pass the local value on (repeatable)")
	f.StringArrayVarP(&o.volumes, "volume", "v", nil, "mount /HOST/PATH:PATH[:ro] or a named volume VOLUME:PATH[:ro] (repeatable)")
	f.StringVar(&o.cpus, "cpus", "", "CPUs the container may use, such as 0.5 or 2")
	f.StringVarP(&o.memory, "memory", "m", "", "memory the container may use, such as 512m or 1g (b, k, m, g: bytes, KiB, MiB, GiB)")
	f.StringVar(&o.gpus, "gpus", "", "number of NVIDIA GPUs to give the container")
	f.IntVar(&o.replicas, "replicas", 1, "number of pods, named NAME-0 to NAME-(N-1) when above 1")
	f.StringVar(&o.restart, "restart", "always", "restart policy: always, on-failure or no")
	f.StringVarP(&o.namespace, "namespace", "n", "default", "namespace of the pod(s)")
	f.StringArrayVarP(&o.labels, "label", "l", nil, "set a label, KEY=VALUE (repeatable)")
	f.BoolVarP(&o.tty, "tty", "t", false, "give the container a terminal")
}

// create writes the pods, then prints their names (-d) or follows the one
// pod to its end.
func (o *runOptions) create(cmd *cobra.Command, pods []*api.Pod) error {
	c, closeClient, err := newClient(cmd)
	if err != nil {
		return err
	}
	defer closeClient()
	ctx, cancel, err := commandContext(cmd)
	if err != nil {
		return err
	}
	objs := make([]api.Object, len(pods))
	for i, p := range pods {
		objs[i] = p
	}
	res, err := c.Create(ctx, objs...)
	cancel()
	if client.IsAlreadyExists(err) {
		msg := strings.Replace(err.Error(), ": already exists", " already exists", 1)
		return fmt.Errorf("%s: choose another --name, or remove it with berth rm %s", msg, pods[0].Metadata.Labels[api.LabelRun])
	}
	if err != nil {
		return userError(err)
	}
	if o.detach {
		for _, p := range pods {
			fmt.Fprintln(cmd.OutOrStdout(), p.Metadata.Name)
		}
		return nil
	}
	created := pods[0]
	var rev uint64
	if len(res) > 0 {
		rev = res[0].Revision
		if p, ok := res[0].Object.(*api.Pod); ok {
			created = p
		}
	}
	return attachRun(cmd, c, created, rev)
}

// pods builds the pods of a run from the flags, defaulted and validated.
// Every error names the flag at fault.
func (o *runOptions) pods(image string, command []string) ([]*api.Pod, error) {
	if image == "" {
		return nil, errors.New("IMAGE: empty")
	}
	name := o.name
	if name == "" {
		name = generatedName(image, o.suffix())
	} else if msg := checkDNSLabel(name); msg != "" {
		return nil, fmt.Errorf("--name %q: %s", name, msg)
	}
	if o.replicas < 1 {
		return nil, fmt.Errorf("--replicas %d: want 1 or more", o.replicas)
	}
	if o.replicas > 1 && len(name)+1+len(strconv.Itoa(o.replicas-1)) > 63 {
		return nil, fmt.Errorf("--name %q: too long for %d replicas (NAME-N must fit in 63 characters)", name, o.replicas)
	}
	policy, err := restartPolicy(o.restart)
	if err != nil {
		return nil, err
	}
	labels, err := parseLabels(o.labels)
	if err != nil {
		return nil, err
	}
	labels[api.LabelRun] = name
	ctr := api.Container{Name: name, Image: image, Command: command, TTY: o.tty}
	if ctr.Ports, err = parsePorts(o.publish); err != nil {
		return nil, err
	}
	if ctr.Env, err = parseEnv(o.env, o.lookupEnv); err != nil {
		return nil, err
	}
	var vols []api.Volume
	if vols, ctr.VolumeMounts, err = parseVolumes(o.volumes); err != nil {
		return nil, err
	}
	if ctr.Resources, err = o.resources(); err != nil {
		return nil, err
	}
	var pods []*api.Pod
	for i := range o.replicas {
		p := &api.Pod{
			Metadata: api.ObjectMeta{Name: name, Namespace: o.namespace, Labels: maps.Clone(labels)},
			Spec:     api.PodSpec{Containers: []api.Container{ctr}, RestartPolicy: policy, Volumes: vols},
		}
		if o.replicas > 1 {
			p.Metadata.Name = fmt.Sprintf("%s-%d", name, i)
		}
		api.Default(p)
		if err := api.Validate(p); err != nil {
			return nil, flagError(p, err)
		}
		pods = append(pods, p)
	}
	return pods, nil
}

// generatedName is a run's name when --name is not given: the image's
// base name, fit for a DNS label, and a random suffix ("nginx-x7k2p").
func generatedName(image, suffix string) string {
	base := image
	if i := strings.LastIndex(base, "/"); i >= 0 {
		base = base[i+1:]
	}
	if i := strings.IndexAny(base, ":@"); i >= 0 {
		base = base[:i]
	}
	base = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, base)
	if len(base) > 40 {
		base = base[:40]
	}
	base = strings.Trim(base, "-")
	if base == "" {
		base = "run"
	}
	return base + "-" + suffix
}

// randomSuffix returns five random lower-case letters and digits, without
// vowels (no words by chance), as Kubernetes' generated names have.
func randomSuffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

var dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// checkDNSLabel returns why s is not a DNS label, or "".
func checkDNSLabel(s string) string {
	if len(s) > 63 || !dnsLabelRE.MatchString(s) {
		return "must be at most 63 lower-case letters, digits or '-', starting and ending with a letter or digit"
	}
	return ""
}

// restartPolicy maps Docker's --restart words to a pod's restartPolicy.
func restartPolicy(s string) (string, error) {
	switch s {
	case "always", "unless-stopped":
		return "Always", nil
	case "on-failure":
		return "OnFailure", nil
	case "no":
		return "Never", nil
	}
	return "", fmt.Errorf("--restart %q: want always, on-failure or no", s)
}

func parseLabels(flags []string) (map[string]string, error) {
	out := map[string]string{}
	for _, l := range flags {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--label %q: want KEY=VALUE", l)
		}
		if k == api.LabelRun {
			return nil, fmt.Errorf("--label %q: %s is set by run (use --name)", l, api.LabelRun)
		}
		out[k] = v
	}
	return out, nil
}

// parsePorts reads -p: [HOSTIP:]HOSTPORT:PORT[/PROTO] or PORT[/PROTO].
func parsePorts(flags []string) ([]api.ContainerPort, error) {
	var out []api.ContainerPort
	for _, s := range flags {
		bad := func(why string) error { return fmt.Errorf("-p %q: %s", s, why) }
		spec, proto, hasProto := strings.Cut(s, "/")
		p := api.ContainerPort{Protocol: "TCP"}
		if hasProto {
			switch strings.ToLower(proto) {
			case "tcp":
			case "udp":
				p.Protocol = "UDP"
			case "sctp":
				p.Protocol = "SCTP"
			default:
				return nil, bad("the protocol is not tcp, udp or sctp")
			}
		}
		parts := strings.Split(spec, ":")
		var err error
		switch len(parts) {
		case 1:
			p.ContainerPort, err = portNumber(parts[0])
		case 2, 3:
			if len(parts) == 3 {
				p.HostIP = parts[0]
				if p.HostIP == "" {
					return nil, bad("empty host IP")
				}
			}
			if p.HostPort, err = portNumber(parts[len(parts)-2]); err == nil {
				p.ContainerPort, err = portNumber(parts[len(parts)-1])
			}
		default:
			return nil, bad("want [HOSTIP:]HOSTPORT:PORT[/udp] or PORT[/udp]")
		}
		if err != nil {
			return nil, bad(err.Error())
		}
		out = append(out, p)
	}
	return out, nil
}

func portNumber(s string) (int32, error) {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port number (1 to 65535)", s)
	}
	return int32(n), nil
}

// parseEnv reads -e NAME=VALUE, and -e NAME, which passes the local value
// on (nothing when NAME is not set here), as Docker does.
func parseEnv(flags []string, lookup func(string) (string, bool)) ([]api.EnvVar, error) {
	var out []api.EnvVar
	for _, s := range flags {
		k, v, ok := strings.Cut(s, "=")
		if k == "" || strings.ContainsAny(k, " \t\n") {
			return nil, fmt.Errorf("-e %q: want NAME=VALUE or NAME", s)
		}
		if !ok {
			if v, ok = lookup(k); !ok {
				continue
			}
		}
		out = append(out, api.EnvVar{Name: k, Value: v})
	}
	return out, nil
}

// parseVolumes reads -v SOURCE:PATH[:ro|:rw]. A SOURCE that starts with /
// is a path of the node (hostPath); a plain name is a named local volume
// (persistentVolumeClaim), made on first use and kept when the pod goes.
func parseVolumes(flags []string) ([]api.Volume, []api.VolumeMount, error) {
	var vols []api.Volume
	var mounts []api.VolumeMount
	named := map[string]string{} // volume name by source
	for _, s := range flags {
		bad := func(why string) error { return fmt.Errorf("-v %q: %s", s, why) }
		parts := strings.Split(s, ":")
		if len(parts) < 2 || len(parts) > 3 {
			return nil, nil, bad("want /HOST/PATH:PATH[:ro] or VOLUME:PATH[:ro]")
		}
		src, dst := parts[0], parts[1]
		m := api.VolumeMount{MountPath: dst}
		if len(parts) == 3 {
			switch parts[2] {
			case "ro":
				m.ReadOnly = true
			case "rw":
			default:
				return nil, nil, bad(fmt.Sprintf("mode %q is not ro or rw", parts[2]))
			}
		}
		switch {
		case src == "":
			return nil, nil, bad("empty source")
		case !path.IsAbs(dst):
			return nil, nil, bad(fmt.Sprintf("the container path %q is not absolute", dst))
		case !path.IsAbs(src) && (strings.Contains(src, "/") || strings.HasPrefix(src, ".") || strings.HasPrefix(src, "~")):
			return nil, nil, bad(fmt.Sprintf("the host path %q is not absolute (a volume's name has no '/')", src))
		}
		name, ok := named[src]
		if !ok {
			name = fmt.Sprintf("vol-%d", len(vols))
			v := api.Volume{Name: name}
			if path.IsAbs(src) {
				v.HostPath = &api.HostPathVolumeSource{Path: src}
			} else {
				v.PersistentVolumeClaim = &api.PersistentVolumeClaimVolumeSource{ClaimName: src}
			}
			vols = append(vols, v)
			named[src] = name
		}
		m.Name = name
		mounts = append(mounts, m)
	}
	return vols, mounts, nil
}

// resources reads --cpus, --memory and --gpus into limits, with requests
// the same.
func (o *runOptions) resources() (api.ResourceRequirements, error) {
	rl := api.ResourceList{}
	if o.cpus != "" {
		m, err := parseCPUs(o.cpus)
		if err != nil {
			return api.ResourceRequirements{}, err
		}
		rl[api.ResourceCPU] = api.Quantity(milliString(m))
	}
	if o.memory != "" {
		b, err := parseMemory(o.memory)
		if err != nil {
			return api.ResourceRequirements{}, err
		}
		rl[api.ResourceMemory] = api.Quantity(bytesQuantity(b))
	}
	if o.gpus != "" {
		n, err := strconv.Atoi(o.gpus)
		if err != nil || n < 0 {
			return api.ResourceRequirements{}, fmt.Errorf("--gpus %q: want a number of GPUs, such as 1", o.gpus)
		}
		if n > 0 {
			rl[api.ResourceGPU] = api.Quantity(strconv.Itoa(n))
		}
	}
	if len(rl) == 0 {
		return api.ResourceRequirements{}, nil
	}
	return api.ResourceRequirements{Limits: rl, Requests: maps.Clone(rl)}, nil
}

var cpusRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// parseCPUs reads --cpus, a decimal number of CPUs, as millicores.
func parseCPUs(s string) (int64, error) {
	if !cpusRE.MatchString(s) {
		return 0, fmt.Errorf("--cpus %q: want a number of CPUs, such as 0.5 or 2", s)
	}
	m := api.Quantity(s).Milli()
	if m <= 0 {
		return 0, fmt.Errorf("--cpus %q: must be more than 0", s)
	}
	return m, nil
}

var memoryRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)$`)

// minMemory is the least --memory accepted, as in Docker: below it a
// container cannot even start.
const minMemory = 6 << 20

// parseMemory reads --memory as Docker does: a number and b, k, m, g or t
// (bytes, KiB, MiB, GiB, TiB; "kb", "mib" and Kubernetes' "Mi" read the
// same).
func parseMemory(s string) (int64, error) {
	bad := fmt.Errorf("--memory %q: want a size such as 512m or 1g (b, k, m, g: bytes, KiB, MiB, GiB)", s)
	m := memoryRE.FindStringSubmatch(s)
	if m == nil {
		return 0, bad
	}
	var unit float64
	switch strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(m[2]), "b"), "i") {
	case "":
		unit = 1
	case "k":
		unit = 1 << 10
	case "m":
		unit = 1 << 20
	case "g":
		unit = 1 << 30
	case "t":
		unit = 1 << 40
	default:
		return 0, bad
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil || n*unit >= 1<<62 {
		return 0, bad
	}
	b := int64(n * unit)
	if b < minMemory {
		return 0, fmt.Errorf("--memory %q: the least is 6m", s)
	}
	return b, nil
}

// bytesQuantity writes bytes exactly, in the largest binary unit that
// divides them.
func bytesQuantity(b int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if b%u.size == 0 {
			return fmt.Sprintf("%d%s", b/u.size, u.suffix)
		}
	}
	return strconv.FormatInt(b, 10)
}

// flagError rewords api.Validate's error of a run's pod so that each
// problem names the flag that caused it.
func flagError(p *api.Pod, err error) error {
	msg := strings.TrimPrefix(err.Error(), api.Describe(p)+": ")
	var out []string
	for _, part := range strings.Split(msg, "; ") {
		field, _, _ := strings.Cut(part, ": ")
		if f := flagOfField(field); f != "" {
			part = f + ": " + part
		}
		out = append(out, part)
	}
	return errors.New(strings.Join(out, "; "))
}

// flagOfField names the run flag that sets a field of its pod.
func flagOfField(field string) string {
	c := "spec.containers[0]."
	switch {
	case field == "metadata.name", field == c+"name":
		return "--name"
	case strings.HasPrefix(field, "metadata.labels"):
		return "--label"
	case strings.HasPrefix(field, c+"image"):
		return "IMAGE"
	case strings.HasPrefix(field, c+"env"):
		return "-e"
	case strings.HasPrefix(field, c+"ports"):
		return "-p"
	case strings.HasPrefix(field, c+"volumeMounts"), strings.HasPrefix(field, "spec.volumes"):
		return "-v"
	case strings.HasPrefix(field, c+"resources"):
		switch {
		case strings.HasSuffix(field, "."+api.ResourceCPU):
			return "--cpus"
		case strings.HasSuffix(field, "."+api.ResourceMemory):
			return "--memory"
		case strings.HasSuffix(field, "."+api.ResourceGPU):
			return "--gpus"
		}
	case strings.HasPrefix(field, "spec.restartPolicy"):
		return "--restart"
	case field == "metadata.namespace":
		return "-n"
	}
	return ""
}

// runStage is how far a run's pod has come, as attachRun sees it.
type runStage int

const (
	runWaiting runStage = iota // not started yet
	runStarted                 // a container ran: its log can be followed
	runEnded                   // finished (Succeeded, Failed) or stopped
	runFailed                  // cannot start: a bad image, a bad spec
)

// startFailures are the waiting reasons that mean a container will not
// start without a change: run gives up on them.
var startFailures = []string{
	api.ReasonErrImagePull, api.ReasonImagePullBackOff, "InvalidImageName",
	api.ReasonCreateContainerErr, api.ReasonCreateConfigErr, api.ReasonRunContainerError,
}

// runStageOf classifies a run's pod; why is what to show while it waits,
// or why it failed.
func runStageOf(p *api.Pod) (stage runStage, why string) {
	if p.Terminated() || podStopped(p) {
		return runEnded, psStatus(p)
	}
	for _, cs := range p.Status.ContainerStatuses {
		st := cs.State
		switch {
		case st.Running != nil, st.Terminated != nil, cs.RestartCount > 0:
			return runStarted, psStatus(p)
		case st.Waiting != nil && slices.Contains(startFailures, st.Waiting.Reason):
			why = st.Waiting.Reason
			if st.Waiting.Message != "" {
				why += ": " + st.Waiting.Message
			}
			return runFailed, why
		}
	}
	why = psStatus(p)
	if c := p.Condition(api.PodScheduled); c != nil && c.Status == api.ConditionFalse && c.Message != "" {
		why += ": " + c.Message
	}
	return runWaiting, why
}

// runExit is how run ends once its pod has: with the container's exit
// code, or the pod's failure when no container ran.
func runExit(w io.Writer, p *api.Pod) error {
	var t *api.ContainerStateTerminated
	if len(p.Status.ContainerStatuses) > 0 {
		cs := p.Status.ContainerStatuses[0]
		if t = cs.State.Terminated; t == nil {
			t = cs.LastTerminationState.Terminated
		}
	}
	if t == nil {
		if p.Status.Phase != api.PodFailed {
			return nil
		}
		var why []string
		for _, s := range []string{p.Status.Reason, p.Status.Message} {
			if s != "" {
				why = append(why, s)
			}
		}
		return fmt.Errorf("pod %q failed: %s", p.Metadata.Name, orNone(strings.Join(why, ": ")))
	}
	if t.Reason == api.ReasonOOMKilled {
		fmt.Fprintf(w, "pod %s: the container ran out of memory (OOMKilled)\n", p.Metadata.Name)
	}
	if t.ExitCode != 0 {
		return exitError{int(t.ExitCode)}
	}
	return nil
}

// attachRun follows a run's one pod: it waits for the pod to start
// (bounded by --timeout), streams its log until it ends, and exits with
// its container's exit code. Ctrl-C stops following; the pod goes on.
func attachRun(cmd *cobra.Command, c *client.Client, pod *api.Pod, rev uint64) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	timeout, err := commandTimeout(cmd)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	a := &runAttach{c: c, pod: pod, stdout: cmd.OutOrStdout(), stderr: stderr}
	wctx, cancelWatch := context.WithCancel(ctx)
	defer cancelWatch()
	a.events = c.Watch(wctx, "Pod", pod.Metadata.Namespace, rev, client.LabelSelector(api.LabelRun+"="+pod.Metadata.Labels[api.LabelRun]))
	err = a.waitStarted(ctx, timeout)
	if err == nil {
		err = a.follow(ctx)
	}
	if ctx.Err() != nil && cmd.Context().Err() == nil {
		name := pod.Metadata.Name
		fmt.Fprintf(stderr, "\npod %s goes on: berth logs -f %s follows it, berth rm -f %s removes it\n", name, name, name)
		return nil
	}
	return err
}

// runAttach is one attachRun: the pod as last seen and its watch.
type runAttach struct {
	c              *client.Client
	pod            *api.Pod
	events         <-chan client.Event
	stdout, stderr io.Writer
}

// update takes in one watch event: the pod's new state, its deletion, or
// the end of the watch.
func (a *runAttach) update(ev client.Event, ok bool) error {
	name := a.pod.Metadata.Name
	switch {
	case !ok:
		return fmt.Errorf("pod %q: the watch ended", name)
	case ev.Err != nil:
		return userError(ev.Err)
	}
	p, isPod := ev.Object.(*api.Pod)
	if !isPod || p.Metadata.Name != name {
		return nil
	}
	if ev.Type == "DELETED" {
		return fmt.Errorf("pod %q was deleted", name)
	}
	a.pod = p
	return nil
}

// progressDelay is how long run waits quietly before it says what the pod
// waits for.
const progressDelay = 2 * time.Second

// waitStarted waits until the pod's container has run (or the pod ended),
// showing why it waits once that takes over progressDelay.
func (a *runAttach) waitStarted(ctx context.Context, timeout time.Duration) error {
	name := a.pod.Metadata.Name
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	show := time.NewTimer(progressDelay)
	defer show.Stop()
	showing, last := false, ""
	for {
		stage, why := runStageOf(a.pod)
		switch stage {
		case runStarted, runEnded:
			return nil
		case runFailed:
			return fmt.Errorf("pod %q cannot start: %s", name, why)
		}
		if showing && why != last {
			fmt.Fprintf(a.stderr, "waiting for pod %s: %s\n", name, why)
			last = why
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-show.C:
			showing = true
		case <-deadline.C:
			return fmt.Errorf("pod %q has not started within %s (%s); it goes on: see berth ps, berth logs -f %s", name, timeout, why, name)
		case ev, ok := <-a.events:
			if err := a.update(ev, ok); err != nil {
				return err
			}
		}
	}
}

// follow streams the pod's log until the pod ends, then lets the log catch
// up and returns how run exits.
func (a *runAttach) follow(ctx context.Context) error {
	out := &activityWriter{w: a.stdout}
	errw := &activityWriter{w: a.stderr, last: &out.lastWrite}
	ns, name := a.pod.Metadata.Namespace, a.pod.Metadata.Name
	if stage, _ := runStageOf(a.pod); stage == runEnded {
		if err := a.c.Logs(ctx, ns, name, client.LogsOptions{Tail: -1}, out, errw); err != nil && !client.IsNotFound(err) {
			return userError(err)
		}
		return runExit(a.stderr, a.pod)
	}
	lctx, cancelLogs := context.WithCancel(ctx)
	logsDone := make(chan error, 1)
	go func() { logsDone <- followLogs(lctx, a.c, ns, name, out, errw) }()
	defer func() {
		cancelLogs()
		if logsDone != nil {
			<-logsDone
		}
	}()
	for {
		if stage, _ := runStageOf(a.pod); stage == runEnded {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-a.events:
			if err := a.update(ev, ok); err != nil {
				return err
			}
		case err := <-logsDone:
			logsDone = nil
			if err != nil && lctx.Err() == nil {
				fmt.Fprintf(a.stderr, "warning: the log of pod %s ended: %v\n", name, userError(err))
			}
		}
	}
	if logsDone != nil {
		waitQuiet(ctx, &out.lastWrite, logsDone)
	}
	return runExit(a.stderr, a.pod)
}

// followLogs follows a pod's log from its start. A log not there yet (the
// container has only just started) is asked for again a few times.
func followLogs(ctx context.Context, c *client.Client, ns, name string, out, errw *activityWriter) error {
	for try := 0; ; try++ {
		err := c.Logs(ctx, ns, name, client.LogsOptions{Follow: true, Tail: -1}, out, errw)
		if !client.IsNotFound(err) || out.lastWrite.Load() != 0 || try >= 20 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// The log of an ended pod may still be on its way: run waits until it has
// been quiet for logQuiet, logCatchUp at most.
const (
	logQuiet   = 500 * time.Millisecond
	logCatchUp = 5 * time.Second
)

// waitQuiet returns once nothing was written for logQuiet (lastWrite is
// in Unix nanoseconds), the log stream ended, or logCatchUp passed.
func waitQuiet(ctx context.Context, lastWrite *atomic.Int64, logsDone <-chan error) {
	start := time.Now()
	tick := time.NewTicker(logQuiet / 5)
	defer tick.Stop()
	for {
		since := start
		if t := time.Unix(0, lastWrite.Load()); t.After(since) {
			since = t
		}
		if time.Since(since) >= logQuiet || time.Since(start) >= logCatchUp {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-logsDone:
			return
		case <-tick.C:
		}
	}
}

// activityWriter passes writes on and records when the last one was.
type activityWriter struct {
	w         io.Writer
	lastWrite atomic.Int64  // Unix nanoseconds; 0: never
	last      *atomic.Int64 // where to record instead, when shared
}

func (a *activityWriter) Write(b []byte) (int, error) {
	rec := &a.lastWrite
	if a.last != nil {
		rec = a.last
	}
	rec.Store(time.Now().UnixNano())
	return a.w.Write(b)
}
