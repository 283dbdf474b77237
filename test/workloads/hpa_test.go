package workloads

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/internal/testpods"
)

// burnManifest is a Deployment whose pods burn CPU while /tmp/burn exists
// (up to their limit of half a core, 5× their request), and an autoscaler
// that keeps them at 50% of their request, between 1 and 3 replicas,
// scaling down after a 10 s window.
const burnManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: burn
spec:
  replicas: 1
  selector:
    matchLabels: {app: burn}
  template:
    metadata:
      labels: {app: burn}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: burn
        image: %s
        command: [sh, -c, 'trap "exit 0" TERM; while :; do if [ -e /tmp/burn ]; then :; else sleep 1; fi; done']
        resources:
          requests: {cpu: 100m}
          limits: {cpu: 500m}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: burn
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: 50}
  behavior:
    scaleDown: {stabilizationWindowSeconds: 10}
`

// Must show: load in the one pod of a Deployment scales it up (to its
// maximum, 3) within a minute, and `berth top pods` shows that pod's CPU;
// with the load gone it goes back to 1 once the 10 s down window has
// passed; the autoscaler's status says what it saw and did.
func TestHPAScalesOnCPU(t *testing.T) {
	t.Parallel()
	c := testpods.Start(t, 1, 1, nil, testimage.Ref)
	cl := c.Client(t)
	s1 := c.Nodes[0].APIAddr()
	apply(t, s1, fmt.Sprintf(burnManifest, testimage.Ref))
	first := waitReady(t, cl, "burn", 1, 60*time.Second, nil)[0]

	mustBerth(t, s1, "exec", first.Metadata.Name, "--", "touch", "/tmp/burn")
	// top shows the burning pod (through whichever agent, wherever it runs).
	eventually(t, 30*time.Second, func() error {
		out, errs, code := berth(t, c.Workers[0].APIAddr(), "top", "pods")
		if code != 0 {
			return fmt.Errorf("top pods: exit %d: %s%s", code, out, errs)
		}
		for _, line := range strings.Split(out, "\n") {
			var name, cpu, mem string
			if n, _ := fmt.Sscan(line, &name, &cpu, &mem); n == 3 && name == first.Metadata.Name {
				var milli int
				if _, err := fmt.Sscanf(cpu, "%dm", &milli); err == nil && milli >= 200 {
					return nil
				}
			}
		}
		return fmt.Errorf("top pods does not show %s burning:\n%s", first.Metadata.Name, out)
	})

	start := time.Now()
	waitReplicas(t, cl, 3, 60*time.Second)
	t.Logf("scaled up to 3 in %v", time.Since(start).Round(time.Second))
	h := getHPA(t, cl)
	if h.Status.LastScaleTime == "" || len(h.Status.CurrentMetrics) != 1 || h.Status.CurrentMetrics[0].Resource == nil {
		t.Fatalf("status after scaling up: %+v", h.Status)
	}

	mustBerth(t, s1, "exec", first.Metadata.Name, "--", "rm", "/tmp/burn")
	start = time.Now()
	waitReplicas(t, cl, 1, 120*time.Second)
	took := time.Since(start)
	t.Logf("scaled down to 1 in %v", took.Round(time.Second))
	if took < 10*time.Second {
		t.Errorf("scaled down in %v, within the 10 s window", took)
	}
	waitReady(t, cl, "burn", 1, 60*time.Second, nil)
	h = getHPA(t, cl)
	conds := map[string]string{}
	for _, c := range h.Status.Conditions {
		conds[c.Type] = c.Status + "/" + c.Reason
	}
	if conds["AbleToScale"] == "" || conds["ScalingActive"] != "True/ValidMetricFound" {
		t.Errorf("conditions %v", conds)
	}
}

// waitReplicas waits until the autoscaler has set the Deployment to n
// replicas.
func waitReplicas(t *testing.T, cl *client.Client, n int32, d time.Duration) {
	t.Helper()
	eventually(t, d, func() error {
		obj, err := cl.Get(context.Background(), "Deployment", "default", "burn")
		if err != nil {
			return err
		}
		if r := api.Int32Value(obj.(*api.Deployment).Spec.Replicas, 1); r != n {
			h := getHPA(t, cl)
			return fmt.Errorf("replicas %d, want %d; autoscaler status %+v", r, n, h.Status)
		}
		return nil
	})
}

func getHPA(t *testing.T, cl *client.Client) *api.HorizontalPodAutoscaler {
	t.Helper()
	obj, err := cl.Get(context.Background(), "HorizontalPodAutoscaler", "default", "burn")
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*api.HorizontalPodAutoscaler)
}
