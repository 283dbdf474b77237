package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/internal/testcluster"
	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/internal/testmetrics"
	"github.com/berth-dev/berth/internal/testpods"
)

// metricsManifest is a Deployment of three httpd pods, each on a node of
// its own, and a Service in front of them.
const metricsManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: web}}
            topologyKey: kubernetes.io/hostname
      containers:
      - name: web
        image: ` + testimage.Ref + `
        imagePullPolicy: Never
        command: [httpd, -f, -p, "80", -h, /]
        readinessProbe:
          tcpSocket: {port: 80}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {port: 80, targetPort: 80}
`

// Every agent of a cluster that runs a Deployment behind a Service serves
// metrics that agree with the cluster's state: its pods by phase and
// their start latency, the Service's endpoints, the API calls it served,
// the gossip pool's members, and (servers) Raft's indexes and leader.
func TestMetrics(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := testpods.Start(t, 3, 1, nil)
	cl := c.Client(t)
	out, errs, code := testcluster.CLI(t, c.Nodes[0].APIAddr(), metricsManifest, "apply", "-f", "-")
	if code != 0 {
		t.Fatalf("berth apply: exit %d\n%s%s", code, out, errs)
	}
	// Where the pods run, once all three are ready.
	perNode := map[string]int{}
	eventually(t, 60*time.Second, func() error {
		ps := testpods.Pods(t, cl, "web")
		clear(perNode)
		ready := 0
		for _, p := range ps {
			if p.Ready() && p.Status.Phase == api.PodRunning {
				ready++
				perNode[p.Spec.NodeName]++
			}
		}
		if len(ps) != 3 || ready != 3 {
			return fmt.Errorf("%d pods, %d ready and running", len(ps), ready)
		}
		return nil
	})
	t.Logf("cluster up and pods ready after %v: %v", time.Since(start).Round(time.Millisecond), perNode)

	all := c.All()
	leaders, leaderChanges := 0, 0.0
	for _, n := range all {
		var mfs testmetrics.Families
		// The node's view (its pods' phases, the Service's endpoints,
		// the gossip pool) follows the cluster's within a moment.
		eventually(t, 20*time.Second, func() error {
			var err error
			if mfs, err = testmetrics.Scrape(n.HTTPAddr()); err != nil {
				return err
			}
			var bad []string
			want := func(what string, got, want float64) {
				if got != want {
					bad = append(bad, fmt.Sprintf("%s = %v, want %v", what, got, want))
				}
			}
			running, _ := mfs.Value("berth_node_pods", "phase", "Running")
			want("pods running", running, float64(perNode[n.Name]))
			alive, _ := mfs.Value("berth_gossip_members", "state", "alive")
			want("gossip members alive", alive, float64(len(all)))
			eps, _ := mfs.Value("berth_service_endpoints", "namespace", "default", "service", "web", "state", "ready")
			want("ready endpoints of web", eps, 3)
			if len(bad) > 0 {
				return fmt.Errorf("%s: %s", n.Name, strings.Join(bad, "; "))
			}
			return nil
		})
		if perNode[n.Name] > 0 {
			if v, _ := mfs.Value("berth_node_pod_start_duration_seconds"); v < float64(perNode[n.Name]) {
				t.Errorf("%s runs %d pods but timed %v starts", n.Name, perNode[n.Name], v)
			}
		}
		if v := mfs.Sum("berth_api_requests_total"); v <= 0 {
			t.Errorf("%s counted no API request", n.Name)
		}
		if v, ok := mfs.Value("berth_api_requests_total", "code", "OK"); !ok || v <= 0 {
			t.Errorf("%s counted no API request answered OK", n.Name)
		}
		isServer := false
		for _, s := range c.Nodes {
			isServer = isServer || s == n
		}
		if !isServer {
			if _, ok := mfs["berth_raft_applied_index"]; ok {
				t.Errorf("worker %s reports Raft metrics", n.Name)
			}
			continue
		}
		for _, name := range []string{"berth_raft_last_log_index", "berth_raft_commit_index", "berth_raft_applied_index"} {
			if v, _ := mfs.Value(name); v <= 0 {
				t.Errorf("%s: %s = %v, want > 0", n.Name, name, v)
			}
		}
		l, _ := mfs.Value("berth_raft_state", "state", "leader")
		leaders += int(l)
		lc, _ := mfs.Value("berth_raft_leader_changes_total")
		leaderChanges += lc
		if l == 1 {
			for _, name := range []string{"berth_raft_commit_duration_seconds", "berth_scheduler_plan_duration_seconds"} {
				if v, _ := mfs.Value(name); v <= 0 {
					t.Errorf("leader %s: %s observed nothing", n.Name, name)
				}
			}
			if v, _ := mfs.Value("berth_scheduler_placements_total"); v < 3 {
				t.Errorf("leader %s: %v placements, want ≥ 3", n.Name, v)
			}
		}
	}
	if leaders != 1 || leaderChanges < 1 {
		t.Errorf("%d servers lead, %v leader changes counted", leaders, leaderChanges)
	}
	t.Logf("took %v", time.Since(start).Round(time.Millisecond))
}
