package workloads

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/internal/testpods"
)

const imageV2 = "berth.local/busybox:v2"

// webDeployment is a Deployment of httpd whose readiness is its page.
func webDeployment(image string, deadline int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  minReadySeconds: 1
  progressDeadlineSeconds: %d
  selector:
    matchLabels: {app: web}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: web}
      annotations: {berth.dev/scheduling-strategy: spread}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: %s
        command: [httpd, -f, -p, "80", -h, /www]
        readinessProbe:
          httpGet: {path: /, port: 80}
          periodSeconds: 1
`, deadline, image)
}

// Must show 1: a rolling update with maxUnavailable 0 never has fewer
// than 3 ready pods (sampled every 100 ms); rollout status follows it and
// exits 0; undo goes back; an image that cannot start makes rollout
// status fail at the progress deadline while the old pods keep serving.
func TestDeploymentRollout(t *testing.T) {
	t.Parallel()
	c := testpods.Start(t, 1, 2, nil, testimage.Ref, imageV2)
	cl := c.Client(t)
	s1 := c.Nodes[0].APIAddr()

	apply(t, s1, webDeployment(testimage.Ref, 600))
	out := mustBerth(t, s1, "rollout", "status", "deployment/web", "--timeout", "90s")
	if !strings.Contains(out, `deployment "web" successfully rolled out`) {
		t.Fatalf("rollout status:\n%s", out)
	}
	waitReady(t, cl, "web", 3, 30*time.Second, nil)
	// Applying the same manifest again changes nothing.
	if out := apply(t, s1, webDeployment(testimage.Ref, 600)); !strings.Contains(out, "unchanged") {
		t.Fatalf("second apply: %s", out)
	}

	var mu sync.Mutex
	minReady, samples := 99, 0
	s := sample(100*time.Millisecond, func() {
		n := len(ready(pods(t, cl, "web")))
		mu.Lock()
		minReady, samples = min(minReady, n), samples+1
		mu.Unlock()
	})
	apply(t, s1, webDeployment(imageV2, 600))
	out, errs, code := berth(t, s1, "rollout", "status", "deployment/web", "--timeout", "120s")
	s.Stop()
	t.Logf("rollout status: exit %d\n%s%s", code, out, errs)
	if code != 0 || !strings.Contains(out, "new replicas have been updated") || !strings.Contains(out, "successfully rolled out") {
		t.Fatalf("rollout status showed no progress:\n%s", out)
	}
	if minReady < 3 {
		t.Fatalf("during the rollout only %d pods were ready at one sample (of %d)", minReady, samples)
	}
	t.Logf("ready pods never below %d over %d samples", minReady, samples)
	waitReady(t, cl, "web", 3, 30*time.Second, func(p *api.Pod) bool { return p.Spec.Containers[0].Image == imageV2 })

	mustBerth(t, s1, "rollout", "undo", "deployment/web")
	mustBerth(t, s1, "rollout", "status", "deployment/web", "--timeout", "120s")
	waitReady(t, cl, "web", 3, 30*time.Second, func(p *api.Pod) bool { return p.Spec.Containers[0].Image == testimage.Ref })
	hist := mustBerth(t, s1, "rollout", "history", "deployment/web")
	if !strings.Contains(hist, "2 ") || !strings.Contains(hist, "3 ") {
		t.Fatalf("rollout history after undo:\n%s", hist)
	}

	// An image that is nowhere: the rollout stalls, rollout status fails
	// at the deadline, and the old pods serve all along.
	apply(t, s1, webDeployment("berth.local/no-such-image:1", 10))
	out, errs, code = berth(t, s1, "rollout", "status", "deployment/web", "--timeout", "120s")
	if code == 0 || !strings.Contains(errs, `deployment "web" exceeded its progress deadline`) {
		t.Fatalf("rollout status of a bad image: exit %d\n%s%s", code, out, errs)
	}
	old := ready(pods(t, cl, "web"))
	if len(old) != 3 {
		t.Fatalf("%d pods ready after the failed rollout, want 3: %s", len(old), describe(pods(t, cl, "web")))
	}
	for _, p := range old {
		if p.Spec.Containers[0].Image != testimage.Ref {
			t.Fatalf("a ready pod of the bad image: %s", describe(old))
		}
		resp, err := (&http.Client{Timeout: 3 * time.Second}).Get("http://" + p.Status.PodIP + "/")
		if err != nil {
			t.Fatalf("old pod %s does not serve: %v", p.Metadata.Name, err)
		}
		resp.Body.Close()
	}
	// Scale, and the pods follow.
	mustBerth(t, s1, "scale", "deployment/web", "--replicas", "2")
	mustBerth(t, s1, "rollout", "undo", "deployment/web")
	waitReady(t, cl, "web", 2, 60*time.Second, func(p *api.Pod) bool { return p.Spec.Containers[0].Image == testimage.Ref })
}
