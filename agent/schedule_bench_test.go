package agent

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	pb "github.com/berth-dev/berth/proto/berthpb"
)

// BenchmarkScheduleEndToEnd measures placements committed through three
// in-process servers on loopback: 5,000 nodes registered through the API,
// then 10,000 pods created through it in batches of 100 (8 writers), timed
// until the leader's scheduling loop has bound every one. No container
// starts. It reports placements/s and the share of placements the state
// machine rejected.
func BenchmarkScheduleEndToEnd(b *testing.B) {
	const nodes, pods, batch, writers = 5000, 10000, 100, 8
	servers := startThree(b)
	var leader *testServer
	for _, s := range servers {
		if s.a.node.IsLeader() {
			leader = s
		}
	}
	rc, _ := dial(b, leader.addr())
	ctx := context.Background()
	for i := 0; i < nodes; i += 500 {
		req := &pb.WriteRequest{RequestId: fmt.Sprint("nodes-", i)}
		for j := i; j < i+500; j++ {
			req.Objects = append(req.Objects, encode(b, benchNode(j)))
		}
		if _, err := rc.Apply(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for iter := range b.N {
		before := leader.a.SchedulerStats()
		start := time.Now()
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w * batch; i < pods; i += writers * batch {
					req := &pb.WriteRequest{RequestId: fmt.Sprintf("pods-%d-%d", iter, i)}
					for j := i; j < i+batch; j++ {
						req.Objects = append(req.Objects, encode(b, benchPod(fmt.Sprintf("p%d-%d", iter, j), j)))
					}
					if _, err := rc.Create(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		deadline := time.Now().Add(2 * time.Minute)
		for leader.a.SchedulerStats().Bound-before.Bound < pods {
			if time.Now().After(deadline) {
				b.Fatalf("bound %d of %d pods in 2 minutes", leader.a.SchedulerStats().Bound-before.Bound, pods)
			}
			time.Sleep(time.Millisecond)
		}
		elapsed := time.Since(start)
		after := leader.a.SchedulerStats()
		b.ReportMetric(float64(pods)/elapsed.Seconds(), "placements/s")
		b.ReportMetric(100*float64(after.Rejected-before.Rejected)/float64(after.Bound-before.Bound+after.Rejected-before.Rejected), "%rejected")
		b.ReportMetric(float64(after.Plans-before.Plans), "plans")
	}
	if n := len(leader.a.fsm.View().PendingPods()); n != 0 {
		b.Fatalf("%d pods still pending", n)
	}
}

// benchNode is one of a fleet of unequal nodes: 8 to 64 CPUs, one in
// twenty with 8 GPUs.
func benchNode(i int) *api.Node {
	name := fmt.Sprintf("node-%04d", i)
	n := &api.Node{Metadata: api.ObjectMeta{Name: name, Labels: map[string]string{api.LabelHostname: name}}}
	cpu := []int{8, 16, 32, 64}[i%4]
	n.Status.Capacity = api.ResourceList{
		api.ResourceCPU: api.Quantity(fmt.Sprint(cpu)), api.ResourceMemory: api.Quantity(fmt.Sprintf("%dGi", 4*cpu)),
	}
	if i%20 == 0 {
		n.Status.Capacity[api.ResourceGPU] = "8"
		n.Metadata.Labels[api.LabelGPUProduct] = "NVIDIA-H100"
	}
	n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}
	api.Default(n)
	return n
}

// benchPod is one of a mix of web, batch and GPU pods.
func benchPod(name string, i int) *api.Pod {
	p := &api.Pod{Metadata: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": fmt.Sprint("app", i%50)}}}
	req := api.ResourceList{}
	switch {
	case i%25 == 0:
		req = api.ResourceList{api.ResourceGPU: "2", api.ResourceCPU: "4", api.ResourceMemory: "16Gi"}
	case i%3 == 0:
		req[api.ResourceCPU], req[api.ResourceMemory] = "2", "4Gi"
	default:
		req[api.ResourceCPU], req[api.ResourceMemory] = "500m", "512Mi"
	}
	c := api.Container{Name: "main", Image: "busybox", Resources: api.ResourceRequirements{Requests: req}}
	if _, ok := req[api.ResourceGPU]; ok {
		c.Resources.Limits = api.ResourceList{api.ResourceGPU: req[api.ResourceGPU]}
	}
	p.Spec.Containers = []api.Container{c}
	api.Default(p)
	return p
}

func encode(tb testing.TB, obj api.Object) []byte {
	b, err := api.Encode(obj)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
