package main

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
)

func TestPsStatus(t *testing.T) {
	unschedulable := testPod("web", api.PodPending)
	unschedulable.Spec.NodeName = ""
	unschedulable.Status.Conditions = []api.PodCondition{{Type: api.PodScheduled, Status: api.ConditionFalse, Reason: api.ReasonUnschedulable}}
	stopping := testPod("web", api.PodRunning, cRunning())
	stopping.Metadata.Annotations = map[string]string{api.AnnotationStopped: "true"}
	stopped := testPod("web", api.PodRunning, cTerminated(137, api.ReasonStopped))
	stopped.Metadata.Annotations = map[string]string{api.AnnotationStopped: "true"}
	stoppedDone := testPod("web", api.PodSucceeded, cTerminated(0, api.ReasonCompleted))
	stoppedDone.Metadata.Annotations = map[string]string{api.AnnotationStopped: "true"}
	notStopped := testPod("web", api.PodRunning, cRunning())
	notStopped.Metadata.Annotations = map[string]string{api.AnnotationStopped: "false"}
	second := testPod("web", api.PodPending, cRunning(), cWaiting(api.ReasonContainerCreating, ""))
	tests := []struct {
		name string
		pod  *api.Pod
		want string
	}{
		{"no status yet", testPod("web", ""), "Pending"},
		{"pending", testPod("web", api.PodPending), "Pending"},
		{"unschedulable", unschedulable, "Pending (Unschedulable)"},
		{"creating", testPod("web", api.PodPending, cWaiting(api.ReasonContainerCreating, "")), "ContainerCreating"},
		{"crash loop", testPod("web", api.PodRunning, cWaiting(api.ReasonCrashLoopBackOff, "back-off")), "CrashLoopBackOff"},
		{"pull error", testPod("web", api.PodPending, cWaiting(api.ReasonErrImagePull, "not found")), "ErrImagePull"},
		{"pull back-off", testPod("web", api.PodPending, cWaiting(api.ReasonImagePullBackOff, "")), "ImagePullBackOff"},
		{"create error", testPod("web", api.PodPending, cWaiting(api.ReasonCreateContainerErr, "")), "CreateContainerError"},
		{"waiting without reason", testPod("web", api.PodPending, cWaiting("", "")), "Pending"},
		{"running", testPod("web", api.PodRunning, cRunning()), "Running"},
		{"second container waits", second, "ContainerCreating"},
		{"oom", testPod("web", api.PodRunning, cTerminated(137, api.ReasonOOMKilled)), "OOMKilled"},
		{"error", testPod("web", api.PodFailed, cTerminated(1, api.ReasonError)), "Error"},
		{"error without reason", testPod("web", api.PodFailed, cTerminated(2, "")), "Error"},
		{"completed", testPod("web", api.PodSucceeded, cTerminated(0, api.ReasonCompleted)), "Completed"},
		{"completed without reason", testPod("web", api.PodSucceeded, cTerminated(0, "")), "Completed"},
		{"failed without container", testPod("web", api.PodFailed), "Failed"},
		{"stopping", stopping, "Stopping"},
		{"stopped", stopped, "Stopped"},
		{"stopped after it finished", stoppedDone, "Stopped"},
		{"annotation false", notStopped, "Running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := psStatus(tt.pod); got != tt.want {
				t.Errorf("status %q, want %q", got, tt.want)
			}
		})
	}
}

// psPods is a namespace's mix of running, finished and stopped pods.
func psPods() []*api.Pod {
	web := testPod("web", api.PodRunning, cRunning())
	web.Status.PodIP = "10.88.1.5"
	web.Metadata = meta("default", "web", 3*time.Hour)
	web.Spec.Containers[0].Image = "nginx:1.25"
	crash := testPod("api", api.PodRunning, cWaiting(api.ReasonCrashLoopBackOff, ""))
	crash.Status.ContainerStatuses[0].RestartCount = 4
	crash.Metadata = meta("default", "api", 90*time.Second)
	pending := testPod("gpu", api.PodPending)
	pending.Spec.NodeName = ""
	pending.Metadata = meta("ml", "gpu", 10*time.Minute)
	pending.Status.Conditions = []api.PodCondition{{Type: api.PodScheduled, Status: api.ConditionFalse, Reason: api.ReasonUnschedulable}}
	job := testPod("job", api.PodSucceeded, cTerminated(0, api.ReasonCompleted))
	job.Metadata = meta("default", "job", 48*time.Hour)
	stopped := testPod("db", api.PodRunning, cTerminated(0, api.ReasonStopped))
	stopped.Metadata = meta("default", "db", 5*time.Minute)
	stopped.Metadata.Annotations = map[string]string{api.AnnotationStopped: "true"}
	return []*api.Pod{web, crash, pending, job, stopped}
}

func TestPsTable(t *testing.T) {
	tests := []struct {
		name string
		o    psOptions
		want string
	}{
		// Sorted by namespace, then name: ml/gpu comes last.
		{"running only", psOptions{}, "" +
			"NAME   IMAGE        NODE     IP          STATUS                    RESTARTS   AGE\n" +
			"api    busybox      n1       <none>      CrashLoopBackOff          4          90s\n" +
			"web    nginx:1.25   n1       10.88.1.5   Running                   0          3h\n" +
			"gpu    busybox      <none>   <none>      Pending (Unschedulable)   0          10m\n"},
		{"all", psOptions{all: true}, "" +
			"NAME   IMAGE        NODE     IP          STATUS                    RESTARTS   AGE\n" +
			"api    busybox      n1       <none>      CrashLoopBackOff          4          90s\n" +
			"db     busybox      n1       <none>      Stopped                   0          5m\n" +
			"job    busybox      n1       <none>      Completed                 0          2d\n" +
			"web    nginx:1.25   n1       10.88.1.5   Running                   0          3h\n" +
			"gpu    busybox      <none>   <none>      Pending (Unschedulable)   0          10m\n"},
		{"all namespaces", psOptions{allNS: true}, "" +
			"NAME          IMAGE        NODE     IP          STATUS                    RESTARTS   AGE\n" +
			"default/api   busybox      n1       <none>      CrashLoopBackOff          4          90s\n" +
			"default/web   nginx:1.25   n1       10.88.1.5   Running                   0          3h\n" +
			"ml/gpu        busybox      <none>   <none>      Pending (Unschedulable)   0          10m\n"},
		{"quiet", psOptions{quiet: true}, "api\nweb\ngpu\n"},
		{"quiet all namespaces all", psOptions{quiet: true, allNS: true, all: true}, "default/api\ndefault/db\ndefault/job\ndefault/web\nml/gpu\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.o.print(&buf, psPods(), now); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", buf.String(), tt.want)
			}
		})
	}
	var buf bytes.Buffer
	if err := (&psOptions{}).print(&buf, nil, now); err != nil || buf.String() != "NAME   IMAGE   NODE   IP   STATUS   RESTARTS   AGE\n" {
		t.Errorf("no pods: %q, %v (want the header alone)", buf.String(), err)
	}
}

func TestImageTables(t *testing.T) {
	nodes := []client.NodeImages{
		{Node: "n1", Images: []client.Image{
			{Ref: "docker.io/library/busybox:latest", Digest: "sha256:3fbc632167424a6d997e74f52b878d7cc478225cffac6bc977eedfe51c7f4e79", Size: 4_261_000},
			{Ref: "localhost/app:dev", Digest: "sha256:abc", Size: 999},
		}},
		{Node: "n2", Err: "node n2 is not ready to run pods yet"},
		{Node: "n3", Images: []client.Image{{Ref: "big:1", Digest: "sha256:0123456789abcdef", Size: 1_234_567_890}}},
	}
	var out, errOut bytes.Buffer
	err := printImages(&out, &errOut, nodes)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Errorf("error %v, want exit code 1 (a node failed)", err)
	}
	want := "" +
		"NODE   IMAGE                              DIGEST         SIZE\n" +
		"n1     docker.io/library/busybox:latest   3fbc63216742   4.26MB\n" +
		"n1     localhost/app:dev                  abc            999B\n" +
		"n3     big:1                              0123456789ab   1.23GB\n"
	if out.String() != want {
		t.Errorf("table\n%s\nwant\n%s", out.String(), want)
	}
	if errOut.String() != "n2: error: node n2 is not ready to run pods yet\n" {
		t.Errorf("stderr %q", errOut.String())
	}

	out.Reset()
	errOut.Reset()
	err = printLoaded(&out, &errOut, nodes)
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Errorf("load: error %v, want exit code 1", err)
	}
	want = "" +
		"n1: loaded docker.io/library/busybox:latest (3fbc63216742)\n" +
		"n1: loaded localhost/app:dev (abc)\n" +
		"n3: loaded big:1 (0123456789ab)\n"
	if out.String() != want || errOut.String() != "n2: error: node n2 is not ready to run pods yet\n" {
		t.Errorf("load: stdout %q stderr %q", out.String(), errOut.String())
	}
	if err := printLoaded(&out, &errOut, nodes[:1]); err != nil {
		t.Errorf("load on healthy nodes: %v", err)
	}
	if err := printLoaded(&out, &errOut, nil); err == nil {
		t.Error("load on no node: no error")
	}
}

func TestHumanSize(t *testing.T) {
	for b, want := range map[int64]string{0: "0B", 999: "999B", 1000: "1kB", 1500: "1.5kB", 999_700: "1MB", 4_261_000: "4.26MB", 123_456_789: "123MB", 5e12: "5TB"} {
		if got := humanSize(b); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", b, got, want)
		}
	}
}
