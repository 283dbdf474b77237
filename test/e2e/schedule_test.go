package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/testcluster"
)

const scheduleManifest = `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: web
    image: busybox
    resources: {requests: {cpu: 500m, memory: 256Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: train}
spec:
  nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100}
  containers:
  - name: train
    image: busybox
    resources: {limits: {nvidia.com/gpu: 2, cpu: "1", memory: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: huge}
spec:
  containers:
  - name: huge
    image: busybox
    resources: {requests: {cpu: "16"}}
`

// Pods created through the API are placed by the leader: spec.nodeName is
// set, GPUs are given out, and a pod that fits nowhere stays Pending with
// the reason where `berth describe pod` shows it, until a node that fits
// joins. Scheduling goes on under a new leader.
func TestSchedulingThroughTheCluster(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Servers: 3, Args: []string{"--capacity", "cpu=1,memory=2Gi"}})
	c.AddWorker(t, "--capacity", "cpu=2,memory=4Gi")
	c.AddWorker(t, "--capacity", "cpu=8,memory=32Gi", "--fake-gpus", "2:NVIDIA H100:80Gi")
	addr := c.Nodes[0].APIAddr()
	waitNodes(t, c.Client(t), 5)
	f := writeFile(t, t.TempDir(), "pods.yaml", scheduleManifest)
	if out, stderr, code := berth(t, addr, "apply", "-f", f); code != 0 {
		t.Fatalf("apply: %s %s", out, stderr)
	}
	ctx := ctxT(t, time.Minute)
	cl := c.Client(t)
	waitBound(t, ctx, cl, "web", "")
	train := waitBound(t, ctx, cl, "train", "w2")
	if len(train.Spec.AssignedGPUs) != 2 || train.Spec.AssignedGPUs[0] == train.Spec.AssignedGPUs[1] {
		t.Fatalf("train got GPUs %v", train.Spec.AssignedGPUs)
	}

	want := "0/5 nodes are available: 5 Insufficient cpu."
	eventually(t, 20*time.Second, func() error {
		out, stderr, code := berth(t, addr, "describe", "pod", "huge")
		if code != 0 {
			return fmt.Errorf("describe: %s", stderr)
		}
		if !strings.Contains(out, "PodScheduled  False   Unschedulable  "+want) || !strings.Contains(out, "Node:             <none>") {
			return fmt.Errorf("describe pod huge:\n%s", out)
		}
		return nil
	})
	if out, _, _ := berth(t, addr, "get", "pods"); !strings.Contains(out, "Pending (Unschedulable)") {
		t.Fatalf("get pods:\n%s", out)
	}

	// A new leader keeps scheduling, and a node with room lets the
	// pending pod in.
	c.WaitLeader(t).Kill(t)
	c.WaitLeader(t)
	c.AddWorker(t, "--capacity", "cpu=32,memory=64Gi")
	huge := waitBound(t, ctx, cl, "huge", "w3")
	if c := huge.Condition(api.PodScheduled); c == nil || c.Status != api.ConditionTrue {
		t.Fatalf("huge's condition: %+v", huge.Status.Conditions)
	}
}

// waitBound waits until the pod is bound (to node, if not empty).
func waitBound(t *testing.T, ctx context.Context, cl *client.Client, name, node string) *api.Pod {
	t.Helper()
	var pod *api.Pod
	eventually(t, 30*time.Second, func() error {
		obj, err := cl.Get(ctx, "Pod", "default", name)
		if err != nil {
			return err
		}
		pod = obj.(*api.Pod)
		if pod.Spec.NodeName == "" || node != "" && pod.Spec.NodeName != node {
			return fmt.Errorf("pod %s is on %q, want %q; status %+v", name, pod.Spec.NodeName, node, pod.Status)
		}
		return nil
	})
	return pod
}

// cordon keeps new pods off a node, uncordon lets them back, and drain
// deletes what is bound there only when told that those pods would be
// lost.
func TestCordonAndDrain(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Servers: 1, Args: []string{"--capacity", "cpu=2,memory=4Gi"}})
	c.AddWorker(t, "--capacity", "cpu=8,memory=32Gi", "--fake-gpus", "2:NVIDIA H100:80Gi")
	addr := c.Nodes[0].APIAddr()
	ctx := ctxT(t, time.Minute)
	cl := c.Client(t)
	waitNodes(t, cl, 2)
	if out, stderr, code := berth(t, addr, "cordon", "w1"); code != 0 || out != "node/w1 cordoned\n" {
		t.Fatalf("cordon: %q %q", out, stderr)
	}
	if out, _, _ := berth(t, addr, "get", "nodes"); !regexp.MustCompile(`(?m)^w1 +Ready,SchedulingDisabled +worker `).MatchString(out) {
		t.Fatalf("get nodes:\n%s", out)
	}
	var pods []api.Object
	for i := range 3 {
		p := &api.Pod{Metadata: api.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: "default"}}
		p.Spec.Containers = []api.Container{{Name: "c", Image: "busybox", Resources: api.ResourceRequirements{Requests: api.ResourceList{"cpu": "100m"}}}}
		api.Default(p)
		pods = append(pods, p)
	}
	mustApply(t, ctx, cl, pods...)
	for i := range 3 {
		waitBound(t, ctx, cl, fmt.Sprintf("p%d", i), "s1")
	}
	if out, stderr, code := berth(t, addr, "uncordon", "w1"); code != 0 || out != "node/w1 uncordoned\n" {
		t.Fatalf("uncordon: %q %q", out, stderr)
	}
	_, stderr, code := berth(t, addr, "drain", "s1")
	if code == 0 || !strings.Contains(stderr, `cannot drain node "s1": 3 pod(s) are not managed by a controller and would be lost: default/p0, default/p1, default/p2 (use --force to delete them)`) {
		t.Fatalf("drain without --force: exit %d, %q", code, stderr)
	}
	if objs, _, err := cl.List(ctx, "Pod", "default"); err != nil || len(objs) != 3 {
		t.Fatalf("drain without --force deleted pods: %d, %v", len(objs), err)
	}
	out, stderr, code := berth(t, addr, "drain", "s1", "--force")
	if code != 0 || !strings.HasSuffix(out, "pod/default/p2 deleted\nnode/s1 drained\n") {
		t.Fatalf("drain --force: %q %q", out, stderr)
	}
	if objs, _, err := cl.List(ctx, "Pod", "default"); err != nil || len(objs) != 0 {
		t.Fatalf("after drain: %d pods, %v", len(objs), err)
	}
	if out, _, _ := berth(t, addr, "get", "node", "s1"); !strings.Contains(out, "SchedulingDisabled") {
		t.Fatalf("drained node not cordoned:\n%s", out)
	}
}

// waitNodes waits until n nodes are Ready.
func waitNodes(t testing.TB, cl *client.Client, n int) []*api.Node {
	t.Helper()
	var nodes []*api.Node
	eventually(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		objs, _, err := cl.List(ctx, "Node", "")
		if err != nil {
			return err
		}
		nodes = nodes[:0]
		var ready []string
		for _, o := range objs {
			nd := o.(*api.Node)
			nodes = append(nodes, nd)
			if nd.Ready() {
				ready = append(ready, nd.Metadata.Name)
			}
		}
		if len(ready) != n {
			return fmt.Errorf("%d nodes Ready (%v), want %d", len(ready), ready, n)
		}
		return nil
	})
	return nodes
}
