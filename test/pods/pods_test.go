package pods

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/internal/testcluster"
	"github.com/berth-dev/berth/internal/testimage"
)

// TestRunServeLogsExec: berth run of an httpd with a published port
// serves on the pod's IP and on the node's port; ps shows it; logs -f and
// exec -it work through an agent that is not the pod's node; a pod on one
// node reaches a pod on the other by IP.
func TestRunServeLogsExec(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1, 1)
	cl := c.Client(t)
	s1 := c.Nodes[0].APIAddr()
	hostPort := testcluster.FreePort(t)

	mustBerth(t, s1, "run", "-d", "--name", "web", "-p", fmt.Sprintf("%d:80", hostPort), testimage.Ref, "httpd", "-f", "-p", "80", "-h", "/www")
	p := waitPod(t, cl, "web", 60*time.Second, running)
	node := p.Spec.NodeName

	eventually(t, 10*time.Second, func() error {
		body, err := httpGet(t, "http://"+p.Status.PodIP+"/")
		if err == nil && !strings.Contains(body, "berth test page") {
			err = fmt.Errorf("pod IP answered %q", body)
		}
		return err
	})
	eventually(t, 10*time.Second, func() error {
		body, err := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", hostPort))
		if err == nil && !strings.Contains(body, "berth test page") {
			err = fmt.Errorf("host port answered %q", body)
		}
		return err
	})
	ps := mustBerth(t, s1, "ps")
	if !strings.Contains(ps, "web") || !strings.Contains(ps, "Running") || !strings.Contains(ps, p.Status.PodIP) || !strings.Contains(ps, node) {
		t.Fatalf("berth ps:\n%s", ps)
	}

	// exec with a real terminal, through the other agent.
	other := otherAgent(c, node)
	out, err := exec.Command("script", "-qec", fmt.Sprintf("%s --addr %s --config %s exec -it web -- sh -c 'echo hi; tty'", testcluster.Binary(t), other.APIAddr(), testcluster.ConfigFor(other.APIAddr())), "/dev/null").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hi") || !strings.Contains(string(out), "/dev/pts/") {
		t.Fatalf("exec -it through %s: %v\n%s", other.Name, err, out)
	}
	// The terminal's size reaches the process at its start, and Ctrl-C
	// reaches the process (not the CLI).
	out, err = exec.Command("script", "-qec", fmt.Sprintf("stty cols 123 rows 45; %s --addr %s --config %s exec -it web -- stty size", testcluster.Binary(t), other.APIAddr(), testcluster.ConfigFor(other.APIAddr())), "/dev/null").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "45 123") {
		t.Fatalf("exec -it stty size: %v\n%q", err, out)
	}
	ctrlC := exec.Command("script", "-qec", fmt.Sprintf(`%s --addr %s --config %s exec -it web -- sh -c 'trap "echo got-interrupt; exit 5" INT; echo ready; while true; do sleep 0.1; done'`, testcluster.Binary(t), other.APIAddr(), testcluster.ConfigFor(other.APIAddr())), "/dev/null")
	stdin, _ := ctrlC.StdinPipe()
	var ctrlOut strings.Builder
	ctrlC.Stdout, ctrlC.Stderr = &ctrlOut, &ctrlOut
	if err := ctrlC.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if !strings.Contains(ctrlOut.String(), "ready") {
			return fmt.Errorf("no prompt yet: %q", ctrlOut.String())
		}
		return nil
	})
	_, _ = stdin.Write([]byte{3})
	done := make(chan error, 1)
	go func() { done <- ctrlC.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = ctrlC.Process.Kill()
		t.Fatalf("Ctrl-C did not end the remote process: %q", ctrlOut.String())
	}
	if !strings.Contains(ctrlOut.String(), "got-interrupt") {
		t.Fatalf("Ctrl-C did not reach the process: %q", ctrlOut.String())
	}
	// Without a terminal: the exit code comes back.
	if _, _, code := berth(t, other.APIAddr(), "exec", "web", "--", "sh", "-c", "exit 7"); code != 7 {
		t.Fatalf("exec exit code %d, want 7", code)
	}

	// logs -f through the other agent follows new lines.
	mustBerth(t, s1, "run", "-d", "--name", "talker", testimage.Ref, "sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done")
	tp := waitPod(t, cl, "talker", 60*time.Second, running)
	via := otherAgent(c, tp.Spec.NodeName)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testcluster.Binary(t), "--addr", via.APIAddr(), "--config", testcluster.ConfigFor(via.APIAddr()), "logs", "-f", "talker")
	pipe, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(seen.String(), "line 12\n") {
		n, err := pipe.Read(buf)
		if err != nil {
			t.Fatalf("logs -f ended: %v after %q", err, seen.String())
		}
		seen.Write(buf[:n])
	}
	cancel()
	_ = cmd.Wait()
	if !strings.HasPrefix(seen.String(), "line 0\nline 1\n") {
		t.Fatalf("logs -f began with %q", seen.String()[:min(40, seen.Len())])
	}

	// A pod on the other node reaches the web pod by its IP.
	client := &api.Pod{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"}, Metadata: api.ObjectMeta{Name: "client", Namespace: "default"},
		Spec: api.PodSpec{NodeName: other.Name, Containers: []api.Container{{Name: "c", Image: testimage.Ref, Command: []string{"sleep", "3600"}}}}}
	api.Default(client)
	if _, err := cl.Create(context.Background(), client); err != nil {
		t.Fatal(err)
	}
	cp := waitPod(t, cl, "client", 60*time.Second, running)
	if cp.Spec.NodeName == node {
		t.Fatalf("client on the web pod's node %s", node)
	}
	out2 := mustBerth(t, s1, "exec", "client", "--", "wget", "-qO-", "http://"+p.Status.PodIP+"/")
	if !strings.Contains(out2, "berth test page") {
		t.Fatalf("pod to pod across nodes: %q", out2)
	}
}

// TestCrashOOMAndBadInput: a memory hog is OOMKilled and restarted with
// back-off; a crashing command shows CrashLoopBackOff; bad input gives a
// clear status or error and leaves the rest of the node alone.
func TestCrashOOMAndBadInput(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1, 0)
	cl := c.Client(t)
	s1 := c.Nodes[0].APIAddr()

	mustBerth(t, s1, "run", "-d", "--name", "steady", testimage.Ref, "sleep", "3600")
	steady := waitPod(t, cl, "steady", 60*time.Second, running)
	steadyID := steady.Status.ContainerStatuses[0].ContainerID

	mustBerth(t, s1, "run", "-d", "--name", "hog", "--memory", "16m", testimage.Ref, "sh", "-c", "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done")
	waitPod(t, cl, "hog", 60*time.Second, func(p *api.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount >= 1 && cs[0].LastTerminationState.Terminated != nil &&
			cs[0].LastTerminationState.Terminated.Reason == api.ReasonOOMKilled
	})
	mustBerth(t, s1, "run", "-d", "--name", "crash", testimage.Ref, "sh", "-c", "echo dying; exit 3")
	waitPod(t, cl, "crash", 60*time.Second, func(p *api.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount >= 2 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == api.ReasonCrashLoopBackOff &&
			cs[0].LastTerminationState.Terminated != nil && cs[0].LastTerminationState.Terminated.ExitCode == 3
	})
	if ps := mustBerth(t, s1, "ps"); !strings.Contains(ps, "CrashLoopBackOff") {
		t.Fatalf("ps:\n%s", ps)
	}
	// The log holds every run's lines.
	if logs := mustBerth(t, s1, "logs", "crash"); strings.Count(logs, "dying") < 3 {
		t.Fatalf("logs of a container that ran 3 times:\n%s", logs)
	}

	// Bad input.
	// A registry on loopback that is not there: the pull fails without
	// leaving the machine.
	mustBerth(t, s1, "run", "-d", "--name", "noimage", "127.0.0.1:1/nonexistent:1", "sh")
	waitPod(t, cl, "noimage", 60*time.Second, func(p *api.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil && (cs[0].State.Waiting.Reason == api.ReasonErrImagePull || cs[0].State.Waiting.Reason == api.ReasonImagePullBackOff) &&
			strings.Contains(cs[0].State.Waiting.Message, "nonexistent")
	})
	mustBerth(t, s1, "run", "-d", "--name", "nocmd", testimage.Ref, "no-such-command")
	waitPod(t, cl, "nocmd", 60*time.Second, func(p *api.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil && strings.Contains(cs[0].State.Waiting.Message, "no-such-command")
	})
	if _, errs, code := berth(t, s1, "run", "-d", "--name", "negmem", "--memory", "-5m", testimage.Ref); code == 0 || !strings.Contains(errs, "memory") {
		t.Fatalf("negative memory: exit %d, %s", code, errs)
	}
	dotdot := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"dotdot"},"spec":{"containers":[{"name":"c","image":"` + testimage.Ref +
		`","volumeMounts":[{"name":"h","mountPath":"/h"}]}],"volumes":[{"name":"h","hostPath":{"path":"/tmp/../etc"}}]}}`
	if _, errs, code := berthStdin(t, s1, dotdot, "apply", "-f", "-"); code == 0 || !strings.Contains(errs, "spec.volumes[0].hostPath.path") {
		t.Fatalf("hostPath with ..: exit %d, %s", code, errs)
	}
	// The steady pod went on undisturbed: same container, no restart.
	p := getPod(t, cl, "steady")
	if !running(p) || p.Status.ContainerStatuses[0].ContainerID != steadyID || p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Fatalf("steady pod disturbed: %+v", p.Status.ContainerStatuses)
	}
}

func berthStdin(t testing.TB, addr, stdin string, args ...string) (string, string, int) {
	t.Helper()
	return testcluster.CLI(t, addr, stdin, args...)
}

// TestVolumesSecretsAndRestart: a named volume outlives its pod; a
// Secret is readable in the container and only on tmpfs on the node; a
// kill -9 of the agent neither starts a container twice nor loses a pod.
func TestVolumesSecretsAndRestart(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1, 0)
	cl := c.Client(t)
	s1 := c.Nodes[0]
	const secret = "s3cr3t-b3rth-v4lu3-" + "x9"
	manifest := `apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: ` + secret + `}
---
apiVersion: v1
kind: Pod
metadata: {name: keeper}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: c
    image: ` + testimage.Ref + `
    command: [sh, -c, "echo kept > /data/file; sleep 3600"]
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: creds, mountPath: /creds, readOnly: true}
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: store}}
  - {name: creds, secret: {secretName: creds}}
`
	if out, errs, code := berthStdin(t, s1.APIAddr(), manifest, "apply", "-f", "-"); code != 0 {
		t.Fatalf("apply: %s%s", out, errs)
	}
	waitPod(t, cl, "keeper", 60*time.Second, running)
	if out := mustBerth(t, s1.APIAddr(), "exec", "keeper", "--", "cat", "/creds/password"); out != secret {
		t.Fatalf("secret in the container: %q", out)
	}
	// The secret's bytes are on no disk file of the node's data dir.
	if out, err := exec.Command("grep", "-rl", "--exclude-dir=pods", secret, s1.DataDir).CombinedOutput(); err == nil {
		t.Fatalf("secret found on disk:\n%s", out)
	}
	mounts, _ := exec.Command("sh", "-c", "grep "+s1.DataDir+" /proc/mounts").Output()
	if !strings.Contains(string(mounts), "tmpfs") {
		t.Fatalf("no tmpfs for the secret volume:\n%s", mounts)
	}
	if out, err := exec.Command("sh", "-c", "grep -rl "+secret+" "+s1.DataDir+"/pods | xargs -r stat -f -c %T").CombinedOutput(); err != nil || strings.Contains(string(out), "ext") {
		t.Fatalf("secret file system: %v %s", err, out)
	}

	// kill -9 and restart of the agent: the containers are adopted.
	before := runningTasks(t, s1)
	p := getPod(t, cl, "keeper")
	id := p.Status.ContainerStatuses[0].ContainerID
	s1.Kill(t)
	s1.Start(t)
	c.WaitReady(t)
	time.Sleep(3 * time.Second) // the node agent's first rounds
	p = waitPod(t, cl, "keeper", 30*time.Second, running)
	if p.Status.ContainerStatuses[0].ContainerID != id || p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Fatalf("after the agent's restart: %+v (was %s)", p.Status.ContainerStatuses, id)
	}
	if after := runningTasks(t, s1); after != before {
		t.Fatalf("running tasks %d before the restart, %d after", before, after)
	}

	// A container that vanished while the agent was down is started again
	// (restart policy Always).
	s1.Kill(t)
	cid := strings.TrimPrefix(id, "containerd://")
	for _, args := range [][]string{{"tasks", "kill", "-s", "SIGKILL", cid}, {"tasks", "delete", "-f", cid}, {"containers", "delete", cid}} {
		_ = exec.Command("ctr", append([]string{"-a", containerd, "-n", s1.Namespace()}, args...)...).Run()
	}
	if n := runningTasks(t, s1); n != 0 {
		t.Fatalf("%d tasks still running after the container was removed", n)
	}
	s1.Start(t)
	c.WaitReady(t)
	eventually(t, 30*time.Second, func() error {
		if n := runningTasks(t, s1); n != 1 {
			return fmt.Errorf("%d tasks running", n)
		}
		return nil
	})
	waitPod(t, cl, "keeper", 30*time.Second, running)

	// The named volume survives the pod.
	mustBerth(t, s1.APIAddr(), "delete", "pod", "keeper")
	eventually(t, 60*time.Second, func() error {
		if n := runningTasks(t, s1); n != 0 {
			return fmt.Errorf("%d tasks still running", n)
		}
		return nil
	})
	reader := strings.Replace(manifest[strings.Index(manifest, "---"):], `command: [sh, -c, "echo kept > /data/file; sleep 3600"]`, `command: [sh, -c, "sleep 3600"]`, 1)
	if out, errs, code := berthStdin(t, s1.APIAddr(), reader, "apply", "-f", "-"); code != 0 {
		t.Fatalf("apply: %s%s", out, errs)
	}
	waitPod(t, cl, "keeper", 60*time.Second, running)
	if out := mustBerth(t, s1.APIAddr(), "exec", "keeper", "--", "cat", "/data/file"); out != "kept\n" {
		t.Fatalf("named volume after re-creation: %q", out)
	}
}

// runningTasks counts the running containers of a node's namespace.
func runningTasks(t testing.TB, n *testcluster.Node) int {
	t.Helper()
	out, err := exec.Command("ctr", "-a", containerd, "-n", n.Namespace(), "tasks", "ls").Output()
	if err != nil {
		t.Fatalf("ctr tasks ls: %v", err)
	}
	count := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "RUNNING") {
			count++
		}
	}
	return count
}

// TestProbes: a liveness probe that starts failing restarts the
// container; readiness probes (HTTP, TCP) set the Ready condition.
func TestProbes(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1, 0)
	cl := c.Client(t)
	manifest := `apiVersion: v1
kind: Pod
metadata: {name: sick}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: ` + testimage.Ref + `
    command: [sh, -c, "touch /tmp/ok; sleep 2; rm /tmp/ok; sleep 3600"]
    livenessProbe:
      exec: {command: [test, -f, /tmp/ok]}
      periodSeconds: 1
      failureThreshold: 2
---
apiVersion: v1
kind: Pod
metadata: {name: served}
spec:
  containers:
  - name: c
    image: ` + testimage.Ref + `
    command: [httpd, -f, -p, "80", -h, /www]
    ports: [{name: http, containerPort: 80}]
    readinessProbe:
      httpGet: {path: /, port: http}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata: {name: deaf}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: ` + testimage.Ref + `
    command: [sleep, "3600"]
    readinessProbe:
      tcpSocket: {port: 81}
      periodSeconds: 1
`
	if out, errs, code := berthStdin(t, c.Nodes[0].APIAddr(), manifest, "apply", "-f", "-"); code != 0 {
		t.Fatalf("apply: %s%s", out, errs)
	}
	ready := func(p *api.Pod) bool {
		cond := p.Condition(api.PodReady)
		return cond != nil && cond.Status == api.ConditionTrue
	}
	waitPod(t, cl, "sick", 60*time.Second, func(p *api.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	waitPod(t, cl, "served", 60*time.Second, func(p *api.Pod) bool { return running(p) && ready(p) })
	waitPod(t, cl, "deaf", 60*time.Second, running)
	time.Sleep(3 * time.Second) // a few probe periods
	p := getPod(t, cl, "deaf")
	if ready(p) || p.Status.ContainerStatuses[0].Ready || p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Fatalf("a pod whose readiness probe fails: %+v", p.Status)
	}
}
