package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/testcluster"
)

const scheduleManifest = `apiVersion: v1
kind: Node
metadata:
  name: small
  labels: {kubernetes.io/hostname: small}
status:
  capacity: {cpu: "2", memory: 4Gi}
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: v1
kind: Node
metadata:
  name: gpu
  labels: {kubernetes.io/hostname: gpu, nvidia.com/gpu.product: NVIDIA-H100}
status:
  capacity: {cpu: "8", memory: 32Gi, nvidia.com/gpu: "2"}
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: v1
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
	c := testcluster.Start(t, testcluster.Options{Servers: 3})
	addr := c.Nodes[0].APIAddr()
	f := writeFile(t, t.TempDir(), "pods.yaml", scheduleManifest)
	if out, stderr, code := berth(t, addr, "apply", "-f", f); code != 0 {
		t.Fatalf("apply: %s %s", out, stderr)
	}
	ctx := ctxT(t, time.Minute)
	cl := c.Client(t)
	waitBound(t, ctx, cl, "web", "")
	train := waitBound(t, ctx, cl, "train", "gpu")
	if len(train.Spec.AssignedGPUs) != 2 || train.Spec.AssignedGPUs[0] == train.Spec.AssignedGPUs[1] {
		t.Fatalf("train got GPUs %v", train.Spec.AssignedGPUs)
	}

	want := "0/2 nodes are available: 2 Insufficient cpu."
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
	big := &api.Node{Metadata: api.ObjectMeta{Name: "big", Labels: map[string]string{api.LabelHostname: "big"}}}
	big.Status.Capacity = api.ResourceList{api.ResourceCPU: "32", api.ResourceMemory: "64Gi"}
	big.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}
	api.Default(big)
	mustApply(t, ctx, cl, big)
	huge := waitBound(t, ctx, cl, "huge", "big")
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
	c := testcluster.Start(t, testcluster.Options{Servers: 1})
	addr := c.Nodes[0].APIAddr()
	nodes := strings.Join(strings.Split(scheduleManifest, "---\n")[:2], "---\n")
	if out, stderr, code := berth(t, addr, "apply", "-f", writeFile(t, t.TempDir(), "nodes.yaml", nodes)); code != 0 {
		t.Fatalf("apply: %s %s", out, stderr)
	}
	ctx := ctxT(t, time.Minute)
	cl := c.Client(t)
	if out, stderr, code := berth(t, addr, "cordon", "gpu"); code != 0 || out != "node/gpu cordoned\n" {
		t.Fatalf("cordon: %q %q", out, stderr)
	}
	if out, _, _ := berth(t, addr, "get", "nodes"); !strings.Contains(out, "gpu     Ready,SchedulingDisabled") {
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
		waitBound(t, ctx, cl, fmt.Sprintf("p%d", i), "small")
	}
	if out, stderr, code := berth(t, addr, "uncordon", "gpu"); code != 0 || out != "node/gpu uncordoned\n" {
		t.Fatalf("uncordon: %q %q", out, stderr)
	}
	_, stderr, code := berth(t, addr, "drain", "small")
	if code == 0 || !strings.Contains(stderr, `cannot drain node "small": 3 pod(s) are not managed by a controller and would be lost: default/p0, default/p1, default/p2 (use --force to delete them)`) {
		t.Fatalf("drain without --force: exit %d, %q", code, stderr)
	}
	if objs, _, err := cl.List(ctx, "Pod", "default"); err != nil || len(objs) != 3 {
		t.Fatalf("drain without --force deleted pods: %d, %v", len(objs), err)
	}
	out, stderr, code := berth(t, addr, "drain", "small", "--force")
	if code != 0 || !strings.HasSuffix(out, "pod/default/p2 deleted\nnode/small drained\n") {
		t.Fatalf("drain --force: %q %q", out, stderr)
	}
	if objs, _, err := cl.List(ctx, "Pod", "default"); err != nil || len(objs) != 0 {
		t.Fatalf("after drain: %d pods, %v", len(objs), err)
	}
	if out, _, _ := berth(t, addr, "get", "node", "small"); !strings.Contains(out, "SchedulingDisabled") {
		t.Fatalf("drained node not cordoned:\n%s", out)
	}
}
