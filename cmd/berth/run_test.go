package main

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/spf13/cobra"
)

// parseRun builds the pods of `berth run ARGS...` without a cluster: the
// random suffix is "x7k2p", and the local environment holds HOME=/root.
func parseRun(t *testing.T, args ...string) ([]*api.Pod, error) {
	t.Helper()
	o := runOptions{
		suffix: func() string { return "x7k2p" },
		lookupEnv: func(k string) (string, bool) {
			if k == "HOME" {
				return "/root", true
			}
			return "", false
		},
	}
	cmd := &cobra.Command{}
	o.bindFlags(cmd)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	rest := cmd.Flags().Args()
	if len(rest) == 0 {
		t.Fatal("no IMAGE in the test's arguments")
	}
	return o.pods(rest[0], rest[1:])
}

func mustRun(t *testing.T, args ...string) []*api.Pod {
	t.Helper()
	pods, err := parseRun(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return pods
}

func TestRunPod(t *testing.T) {
	pods := mustRun(t, "--name", "web", "-p", "8080:80", "-p", "53/udp", "-p", "127.0.0.1:9000:9000/tcp",
		"-e", "A=1", "-e", "B=x=y", "-e", "HOME", "-e", "UNSET", "--label", "tier=front", "-t",
		"nginx:1.25", "nginx", "-g", "daemon off;")
	if len(pods) != 1 {
		t.Fatalf("%d pods, want 1", len(pods))
	}
	p := pods[0]
	if p.Kind != "Pod" || p.APIVersion != "v1" || p.Metadata.Name != "web" || p.Metadata.Namespace != "default" {
		t.Errorf("meta %+v %+v", p.TypeMeta, p.Metadata)
	}
	if want := map[string]string{api.LabelRun: "web", "tier": "front"}; !reflect.DeepEqual(p.Metadata.Labels, want) {
		t.Errorf("labels %v, want %v", p.Metadata.Labels, want)
	}
	if p.Spec.RestartPolicy != "Always" {
		t.Errorf("restartPolicy %q, want Always (the default)", p.Spec.RestartPolicy)
	}
	c := p.Spec.Containers[0]
	if c.Name != "web" || c.Image != "nginx:1.25" || !c.TTY {
		t.Errorf("container %q image %q tty %v", c.Name, c.Image, c.TTY)
	}
	// The words after IMAGE, flags among them, are the command.
	if want := []string{"nginx", "-g", "daemon off;"}; !reflect.DeepEqual(c.Command, want) || c.Args != nil {
		t.Errorf("command %q args %q, want %q", c.Command, c.Args, want)
	}
	wantPorts := []api.ContainerPort{
		{ContainerPort: 80, HostPort: 8080, Protocol: "TCP"},
		{ContainerPort: 53, Protocol: "UDP"},
		{ContainerPort: 9000, HostPort: 9000, HostIP: "127.0.0.1", Protocol: "TCP"},
	}
	if !reflect.DeepEqual(c.Ports, wantPorts) {
		t.Errorf("ports %+v, want %+v", c.Ports, wantPorts)
	}
	wantEnv := []api.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "x=y"}, {Name: "HOME", Value: "/root"}}
	if !reflect.DeepEqual(c.Env, wantEnv) {
		t.Errorf("env %+v, want %+v (UNSET is not set here, so left out)", c.Env, wantEnv)
	}
	if len(c.Resources.Limits) != 0 || len(c.Resources.Requests) != 0 {
		t.Errorf("resources %+v, want none", c.Resources)
	}
}

func TestRunVolumes(t *testing.T) {
	p := mustRun(t, "--name", "db", "-v", "/srv/data:/data", "-v", "pgdata:/var/lib/postgresql:ro",
		"-v", "/etc/hosts:/etc/hosts:ro", "-v", "pgdata:/backup:rw", "-v", "my.vol:/m", "postgres")[0]
	wantVols := []api.Volume{
		{Name: "vol-0", HostPath: &api.HostPathVolumeSource{Path: "/srv/data"}},
		{Name: "vol-1", PersistentVolumeClaim: &api.PersistentVolumeClaimVolumeSource{ClaimName: "pgdata"}},
		{Name: "vol-2", HostPath: &api.HostPathVolumeSource{Path: "/etc/hosts"}},
		{Name: "vol-3", PersistentVolumeClaim: &api.PersistentVolumeClaimVolumeSource{ClaimName: "my.vol"}},
	}
	if !reflect.DeepEqual(p.Spec.Volumes, wantVols) {
		t.Errorf("volumes %+v, want %+v", p.Spec.Volumes, wantVols)
	}
	// A named volume mounted twice is one volume of the pod.
	wantMounts := []api.VolumeMount{
		{Name: "vol-0", MountPath: "/data"},
		{Name: "vol-1", MountPath: "/var/lib/postgresql", ReadOnly: true},
		{Name: "vol-2", MountPath: "/etc/hosts", ReadOnly: true},
		{Name: "vol-1", MountPath: "/backup"},
		{Name: "vol-3", MountPath: "/m"},
	}
	if got := p.Spec.Containers[0].VolumeMounts; !reflect.DeepEqual(got, wantMounts) {
		t.Errorf("mounts %+v, want %+v", got, wantMounts)
	}
}

func TestRunResources(t *testing.T) {
	tests := []struct {
		args []string
		want api.ResourceList
	}{
		{[]string{"--cpus", "0.5"}, api.ResourceList{"cpu": "500m"}},
		{[]string{"--cpus", "2"}, api.ResourceList{"cpu": "2"}},
		{[]string{"--cpus", "1.25"}, api.ResourceList{"cpu": "1250m"}},
		{[]string{"--memory", "64m"}, api.ResourceList{"memory": "64Mi"}},
		{[]string{"--memory", "64Mi"}, api.ResourceList{"memory": "64Mi"}},
		{[]string{"-m", "1g"}, api.ResourceList{"memory": "1Gi"}},
		{[]string{"--memory", "1.5G"}, api.ResourceList{"memory": "1536Mi"}},
		{[]string{"--memory", "10000k"}, api.ResourceList{"memory": "10000Ki"}},
		{[]string{"--memory", "7000000"}, api.ResourceList{"memory": "7000000"}},
		{[]string{"--memory", "8mb"}, api.ResourceList{"memory": "8Mi"}},
		{[]string{"--gpus", "2"}, api.ResourceList{"nvidia.com/gpu": "2"}},
		{[]string{"--gpus", "0"}, nil},
		{[]string{"--cpus", "1", "--memory", "256m", "--gpus", "1"}, api.ResourceList{"cpu": "1", "memory": "256Mi", "nvidia.com/gpu": "1"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := mustRun(t, append(tt.args, "busybox")...)[0].Spec.Containers[0]
			if !reflect.DeepEqual(c.Resources.Limits, tt.want) {
				t.Errorf("limits %v, want %v", c.Resources.Limits, tt.want)
			}
			if !reflect.DeepEqual(c.Resources.Requests, tt.want) {
				t.Errorf("requests %v, want the limits %v", c.Resources.Requests, tt.want)
			}
		})
	}
}

func TestRunRestartPolicies(t *testing.T) {
	for flag, want := range map[string]string{"always": "Always", "unless-stopped": "Always", "on-failure": "OnFailure", "no": "Never"} {
		p := mustRun(t, "--restart", flag, "busybox")[0]
		if p.Spec.RestartPolicy != want {
			t.Errorf("--restart %s: restartPolicy %q, want %q", flag, p.Spec.RestartPolicy, want)
		}
	}
}

func TestRunReplicasAndNames(t *testing.T) {
	pods := mustRun(t, "--name", "web", "--replicas", "3", "-n", "prod", "nginx")
	var names []string
	for _, p := range pods {
		names = append(names, p.Metadata.Name)
		if p.Metadata.Namespace != "prod" || p.Metadata.Labels[api.LabelRun] != "web" || p.Spec.Containers[0].Name != "web" {
			t.Errorf("pod %s: namespace %q labels %v container %q", p.Metadata.Name, p.Metadata.Namespace, p.Metadata.Labels, p.Spec.Containers[0].Name)
		}
	}
	if want := []string{"web-0", "web-1", "web-2"}; !reflect.DeepEqual(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
	// Each pod has its own labels: changing one leaves the others alone.
	pods[0].Metadata.Labels["x"] = "y"
	if _, ok := pods[1].Metadata.Labels["x"]; ok {
		t.Error("the pods share their labels map")
	}

	for image, want := range map[string]string{
		"nginx":                             "nginx-x7k2p",
		"docker.io/library/nginx:1.25":      "nginx-x7k2p",
		"ghcr.io/Org/My_App@sha256:abc":     "my-app-x7k2p",
		"registry:5000/team/api.server:dev": "api-server-x7k2p",
	} {
		p := mustRun(t, image)[0]
		if p.Metadata.Name != want || p.Metadata.Labels[api.LabelRun] != want || p.Spec.Containers[0].Name != want {
			t.Errorf("image %s: name %q, container %q, want %q", image, p.Metadata.Name, p.Spec.Containers[0].Name, want)
		}
	}
}

func TestRunFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--memory", "-5m"}, `--memory "-5m": want a size`},
		{[]string{"--memory", "5x"}, `--memory "5x": want a size`},
		{[]string{"--memory", "1k"}, `--memory "1k": the least is 6m`},
		{[]string{"--cpus", "0"}, `--cpus "0": must be more than 0`},
		{[]string{"--cpus", "500m"}, `--cpus "500m": want a number of CPUs`},
		{[]string{"--cpus", "-1"}, `--cpus "-1": want a number of CPUs`},
		{[]string{"--gpus", "all"}, `--gpus "all": want a number of GPUs`},
		{[]string{"--gpus", "-1"}, `--gpus "-1": want a number of GPUs`},
		{[]string{"-p", "abc"}, `-p "abc": "abc" is not a port number`},
		{[]string{"-p", "80:70000"}, `-p "80:70000": "70000" is not a port number`},
		{[]string{"-p", "80/icmp"}, `-p "80/icmp": the protocol is not tcp, udp or sctp`},
		{[]string{"-p", "1:2:3:4"}, `-p "1:2:3:4": want [HOSTIP:]HOSTPORT:PORT`},
		{[]string{"-p", ":80:80"}, `-p ":80:80": empty host IP`},
		{[]string{"-e", "=x"}, `-e "=x": want NAME=VALUE or NAME`},
		{[]string{"-v", "./data:/x"}, `-v "./data:/x": the host path "./data" is not absolute`},
		{[]string{"-v", "data/sub:/x"}, `-v "data/sub:/x": the host path "data/sub" is not absolute`},
		{[]string{"-v", "data:x"}, `-v "data:x": the container path "x" is not absolute`},
		{[]string{"-v", "/data"}, `-v "/data": want /HOST/PATH:PATH[:ro] or VOLUME:PATH[:ro]`},
		{[]string{"-v", "/a:/b:rx"}, `-v "/a:/b:rx": mode "rx" is not ro or rw`},
		{[]string{"-v", ":/b"}, `-v ":/b": empty source`},
		{[]string{"-v", "My_Vol:/b"}, `-v: spec.volumes[0].persistentVolumeClaim.claimName: "My_Vol" must be a DNS-1123 subdomain`},
		{[]string{"-v", "/a:/b", "-v", "/c:/b"}, `-v: spec.containers[0].volumeMounts[1].mountPath: "/b" is mounted twice`},
		{[]string{"--restart", "sometimes"}, `--restart "sometimes": want always, on-failure or no`},
		{[]string{"--replicas", "0"}, `--replicas 0: want 1 or more`},
		{[]string{"--name", "Web"}, `--name "Web": must be at most 63 lower-case letters`},
		{[]string{"--name", "a.b"}, `--name "a.b": must be at most 63`},
		{[]string{"--name", strings.Repeat("a", 62), "--replicas", "10"}, `--name "aaaa`},
		{[]string{"--label", "novalue"}, `--label "novalue": want KEY=VALUE`},
		{[]string{"--label", api.LabelRun + "=x"}, `--label "berth.dev/run=x": berth.dev/run is set by run`},
		{[]string{"--label", "bad key=1"}, `--label: metadata.labels: key "bad key"`},
		{[]string{"--label", "k=bad value"}, `--label: metadata.labels`},
		{[]string{"-n", "Prod"}, `-n: metadata.namespace: "Prod"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := parseRun(t, append(tt.args, "busybox")...)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to start with %q", err, tt.want)
			}
		})
	}
	if _, err := parseRun(t, ""); err == nil || err.Error() != "IMAGE: empty" {
		t.Errorf("empty image: error %v", err)
	}
}

// The errors of run, exec and the lifecycle verbs that come before any
// call (--addr points nowhere anyway).
func TestWorkloadCommandErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "run needs an IMAGE"},
		{[]string{"run", "--replicas", "2", "busybox"}, "--replicas above 1 needs -d"},
		{[]string{"run", "-p", "x", "busybox"}, `-p "x"`},
		{[]string{"exec"}, "exec needs a POD and a COMMAND"},
		{[]string{"exec", "web"}, `exec needs a COMMAND to run in pod "web"`},
		{[]string{"exec", "web", "--"}, `exec needs a COMMAND to run in pod "web"`},
		{[]string{"logs"}, "accepts 1 arg(s), received 0"},
		{[]string{"stop"}, "stop needs the name of a pod or run"},
		{[]string{"start"}, "start needs the name of a pod or run"},
		{[]string{"rm"}, "rm needs the name of a pod or run"},
		{[]string{"image", "load", "-i", "a.tar", "b.tar"}, "image load takes either -i FILE or FILE, not both"},
		{[]string{"image", "load", "/nonexistent/a.tar"}, "/nonexistent/a.tar: no such file or directory"},
		{[]string{"ps", "x"}, `unknown command "x" for "berth ps"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := run(t, "", append([]string{"--addr", "127.0.0.1:1"}, tt.args...)...)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to start with %q", err, tt.want)
			}
		})
	}
}

func TestExecArgs(t *testing.T) {
	tests := []struct {
		args    []string
		pod     string
		command []string
	}{
		{[]string{"web", "ls", "-l"}, "web", []string{"ls", "-l"}},
		{[]string{"web", "--", "ls", "-l"}, "web", []string{"ls", "-l"}},
		{[]string{"web", "--", "--", "x"}, "web", []string{"--", "x"}},
	}
	for _, tt := range tests {
		pod, command, err := execArgs(tt.args)
		if err != nil || pod != tt.pod || !reflect.DeepEqual(command, tt.command) {
			t.Errorf("execArgs(%q) = %q, %q, %v", tt.args, pod, command, err)
		}
	}
}

func testPod(name string, phase string, statuses ...api.ContainerStatus) *api.Pod {
	return &api.Pod{
		TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		Metadata: meta("default", name, 0),
		Spec:     api.PodSpec{Containers: []api.Container{{Name: name, Image: "busybox"}}, NodeName: "n1"},
		Status:   api.PodStatus{Phase: phase, ContainerStatuses: statuses},
	}
}

func cWaiting(reason, msg string) api.ContainerStatus {
	return api.ContainerStatus{Name: "c", State: api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: reason, Message: msg}}}
}

func cRunning() api.ContainerStatus {
	return api.ContainerStatus{Name: "c", State: api.ContainerState{Running: &api.ContainerStateRunning{}}}
}

func cTerminated(code int32, reason string) api.ContainerStatus {
	return api.ContainerStatus{Name: "c", State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: code, Reason: reason}}}
}

func TestRunStage(t *testing.T) {
	unschedulable := testPod("web", api.PodPending)
	unschedulable.Spec.NodeName = ""
	unschedulable.Status.Conditions = []api.PodCondition{{Type: api.PodScheduled, Status: api.ConditionFalse, Reason: api.ReasonUnschedulable, Message: "0/3 nodes have enough memory"}}
	stopped := testPod("web", api.PodRunning, cTerminated(137, ""))
	stopped.Metadata.Annotations = map[string]string{api.AnnotationStopped: "true"}
	crashLoop := cWaiting(api.ReasonCrashLoopBackOff, "back-off 10s")
	crashLoop.RestartCount = 2
	tests := []struct {
		name  string
		pod   *api.Pod
		stage runStage
		why   string
	}{
		{"new", testPod("web", api.PodPending), runWaiting, "Pending"},
		{"unschedulable", unschedulable, runWaiting, "Pending (Unschedulable): 0/3 nodes have enough memory"},
		{"creating", testPod("web", api.PodPending, cWaiting(api.ReasonContainerCreating, "")), runWaiting, "ContainerCreating"},
		{"pull failed", testPod("web", api.PodPending, cWaiting(api.ReasonErrImagePull, "busybox:nope: not found")), runFailed, "ErrImagePull: busybox:nope: not found"},
		{"pull back-off", testPod("web", api.PodPending, cWaiting(api.ReasonImagePullBackOff, "")), runFailed, "ImagePullBackOff"},
		{"create failed", testPod("web", api.PodPending, cWaiting(api.ReasonCreateContainerErr, "exec: no such file")), runFailed, "CreateContainerError: exec: no such file"},
		{"running", testPod("web", api.PodRunning, cRunning()), runStarted, "Running"},
		{"restarting", testPod("web", api.PodRunning, crashLoop), runStarted, "CrashLoopBackOff"},
		{"succeeded", testPod("web", api.PodSucceeded, cTerminated(0, api.ReasonCompleted)), runEnded, "Completed"},
		{"failed", testPod("web", api.PodFailed, cTerminated(2, api.ReasonError)), runEnded, "Error"},
		{"stopped", stopped, runEnded, "Stopped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stage, why := runStageOf(tt.pod)
			if stage != tt.stage || why != tt.why {
				t.Errorf("stage %d %q, want %d %q", stage, why, tt.stage, tt.why)
			}
		})
	}
}

func TestRunExit(t *testing.T) {
	lastState := testPod("web", api.PodFailed, api.ContainerStatus{Name: "c", LastTerminationState: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 4}}})
	rejected := testPod("web", api.PodFailed)
	rejected.Status.Reason, rejected.Status.Message = "NodeLost", "node n1 is gone"
	tests := []struct {
		name string
		pod  *api.Pod
		code int // -1: an error other than exitError
		msg  string
		out  string
	}{
		{"success", testPod("web", api.PodSucceeded, cTerminated(0, api.ReasonCompleted)), 0, "", ""},
		{"failure", testPod("web", api.PodFailed, cTerminated(3, api.ReasonError)), 3, "", ""},
		{"oom", testPod("web", api.PodFailed, cTerminated(137, api.ReasonOOMKilled)), 137, "", "pod web: the container ran out of memory (OOMKilled)\n"},
		{"last state", lastState, 4, "", ""},
		{"no container ran", rejected, -1, `pod "web" failed: NodeLost: node n1 is gone`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runExit(&out, tt.pod)
			var ee exitError
			switch {
			case tt.code == 0 && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.code > 0 && (!errors.As(err, &ee) || ee.code != tt.code):
				t.Errorf("error %v, want exit code %d", err, tt.code)
			case tt.code < 0 && (err == nil || err.Error() != tt.msg):
				t.Errorf("error %v, want %q", err, tt.msg)
			}
			if out.String() != tt.out {
				t.Errorf("printed %q, want %q", out.String(), tt.out)
			}
		})
	}
}

func TestStopStartPod(t *testing.T) {
	p := testPod("web", api.PodRunning, cRunning())
	if changed, msg := stopPod(p); !changed || msg != "stopped" || p.Metadata.Annotations[api.AnnotationStopped] != "true" {
		t.Fatalf("stop: %v %q %v", changed, msg, p.Metadata.Annotations)
	}
	if changed, msg := stopPod(p); changed || msg != "already stopped" {
		t.Fatalf("stop again: %v %q", changed, msg)
	}
	if changed, msg := startPod(p); !changed || msg != "started" || podStopped(p) || p.Status.Phase != api.PodRunning {
		t.Fatalf("start: %v %q %v phase %s", changed, msg, p.Metadata.Annotations, p.Status.Phase)
	}
	if changed, msg := startPod(p); changed || msg != "already started" {
		t.Fatalf("start again: %v %q", changed, msg)
	}
	// A finished pod goes back to Pending with no container status, and
	// keeps its conditions (its PodScheduled).
	done := testPod("job", api.PodSucceeded, cTerminated(0, api.ReasonCompleted))
	done.Status.Conditions = []api.PodCondition{{Type: api.PodScheduled, Status: api.ConditionTrue}}
	done.Metadata.Annotations = map[string]string{api.AnnotationStopped: "true", "keep": "me"}
	// It also says when it was started, so the node starts containers that
	// ended before, whatever the restart policy.
	if changed, _ := startPod(done); !changed || done.Status.Phase != api.PodPending || done.Status.ContainerStatuses != nil ||
		len(done.Status.Conditions) != 1 || done.Metadata.Annotations["keep"] != "me" || len(done.Metadata.Annotations) != 2 {
		t.Fatalf("start of a finished pod: %+v %+v", done.Metadata, done.Status)
	}
	if at, err := time.Parse(time.RFC3339Nano, done.Metadata.Annotations[api.AnnotationRestartedAt]); err != nil || time.Since(at) > time.Minute {
		t.Fatalf("restarted-at: %q %v", done.Metadata.Annotations[api.AnnotationRestartedAt], err)
	}
}

func TestCheckRemovable(t *testing.T) {
	stopped := testPod("web", api.PodRunning, cTerminated(0, ""))
	stopped.Metadata.Annotations = map[string]string{api.AnnotationStopped: "true"}
	for _, p := range []*api.Pod{stopped, testPod("web", api.PodSucceeded), testPod("web", api.PodFailed)} {
		if err := checkRemovable(p, false); err != nil {
			t.Errorf("phase %s: %v", p.Status.Phase, err)
		}
	}
	for _, p := range []*api.Pod{testPod("web", api.PodRunning, cRunning()), testPod("web", api.PodPending)} {
		err := checkRemovable(p, false)
		if want := `pod "web" is running: stop it first or use rm -f`; err == nil || err.Error() != want {
			t.Errorf("phase %s: error %v, want %q", p.Status.Phase, err, want)
		}
		if err := checkRemovable(p, true); err != nil {
			t.Errorf("phase %s with force: %v", p.Status.Phase, err)
		}
	}
}
