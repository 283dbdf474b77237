package jepsen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
)

// The sched workload: workers create pods that ask for half a CPU and
// delete some of their own, on servers that offer 2 CPUs each (schedCapacity),
// so the leader's scheduler keeps the nodes full while leaders change. A
// watcher follows every pod change; replaying it, no node may ever hold
// more than it can (its allocatable), at any revision. The servers run no
// containers (no containerd): placement is what is checked, not running.
//
// The controllers run beside it (controllers.go).

// schedCapacity is every server's node capacity in the run.
const schedCapacity = "cpu=2,memory=4Gi,pods=20"

var schedRequests = api.ResourceList{api.ResourceCPU: api.MustQuantity("500m"), api.ResourceMemory: api.MustQuantity("256Mi")}

func schedPod(name, cpu string) *api.Pod {
	req := schedRequests
	if cpu != "" {
		req = api.ResourceList{api.ResourceCPU: api.MustQuantity(cpu)}
	}
	p := &api.Pod{Metadata: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"jepsen": "sched"}},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox", Resources: api.ResourceRequirements{Requests: req}}}}}
	api.Default(p)
	return p
}

type schedWorkload struct {
	env *env
	w   *watcher // of every pod
}

func (w *schedWorkload) name() string { return "sched" }

func (w *schedWorkload) setup(ctx context.Context, cl *client.Client) error {
	_, rev, err := cl.List(ctx, "Pod", "default")
	if err != nil {
		return err
	}
	if w.w, err = w.env.startWatcher(0, "Pod", rev); err != nil {
		return err
	}
	_, err = cl.Apply(ctx, controllerObjects()...)
	return err
}

func (w *schedWorkload) run(ctx context.Context) {
	e := w.env
	e.workers(ctx, e.perServer*len(e.c.Servers), 3, func(ctx context.Context, id int, node string, cl *client.Client, rng *rand.Rand) {
		var mine []string
		for seq := 0; sleepCtx(ctx, time.Duration(10+rng.IntN(30))*time.Millisecond); seq++ {
			op := Op{Process: id, Workload: "sched", Node: node, Invoke: e.h.Now()}
			octx, cancel := context.WithTimeout(ctx, opTimeout)
			if len(mine) > 0 && rng.IntN(10) < 4 {
				i := rng.IntN(len(mine))
				op.F, op.Key = "delete", mine[i]
				res, err := cl.Delete(octx, client.Ref{Kind: "Pod", Namespace: "default", Name: op.Key})
				op.Outcome, op.Error = outcome(err), errText(err)
				if err == nil {
					op.Revision = res[0].Revision
				}
				if op.Outcome != Unknown {
					mine = slices.Delete(mine, i, i+1)
				}
			} else {
				op.F, op.Key = "create", fmt.Sprintf("sched-%d-%d", id, seq)
				res, err := cl.Create(octx, schedPod(op.Key, ""))
				op.Outcome, op.Error = outcome(err), errText(err)
				if err == nil {
					op.Revision = res[0].Revision
				}
				if op.Outcome != Fail {
					mine = append(mine, op.Key)
				}
			}
			cancel()
			e.h.Add(op)
		}
	})
}

func (w *schedWorkload) check(ctx context.Context, dir string) []Verdict {
	v := Verdict{Checker: "sched (no node over capacity)"}
	defer w.w.stop()
	cl, err := w.env.c.Client(w.env.c.Addrs(0), client.WithTimeout(30*time.Second))
	if err != nil {
		v.Summary = err.Error()
		return []Verdict{v}
	}
	defer cl.Close()
	// A fence pod that fits nowhere: once the watcher has seen it, it has
	// seen everything before.
	res, err := cl.Create(ctx, schedPod("sched-fence", "1000"))
	if err != nil {
		v.Summary = "the fence write failed: " + err.Error()
		return []Verdict{v}
	}
	fence := res[0].Revision
	w.w.waitFor(fence, time.Now().Add(30*time.Second))
	w.w.stop()
	nodes, _, err := cl.List(ctx, "Node", "")
	if err != nil {
		v.Summary = "listing nodes: " + err.Error()
		return []Verdict{v}
	}
	alloc := map[string]api.Resources{}
	for _, o := range nodes {
		n := o.(*api.Node)
		alloc[n.Metadata.Name] = n.Allocatable()
	}
	if w.w.err != nil {
		v.Details = append(v.Details, "the pod watch ended: "+w.w.err.Error())
	}
	if w.w.last() < fence {
		v.Details = append(v.Details, fmt.Sprintf("the pod watch stopped at revision %d, before the fence at %d", w.w.last(), fence))
	}
	v.Details = append(v.Details, checkCapacity(w.w.events, alloc)...)
	bound, peak := schedStats(w.w.events)
	v.Valid = len(v.Details) == 0 && bound > 0
	v.Summary = fmt.Sprintf("%d pod events replayed, %d bindings, the fullest node at %dm CPU of %s; %d violations",
		len(w.w.events), bound, peak, schedCapacity, len(v.Details))
	cv := Verdict{Checker: "controllers (no extra pods, all back after the heal)"}
	var deleted, made int
	cv.Details, deleted, made = checkControllerHistory(w.w.events)
	cv.Summary = fmt.Sprintf("%d pods made, %d deleted (evicted), %d violations in the pod history", made, deleted, len(cv.Details))
	checkControllersHealed(ctx, cl, &cv)
	cv.Valid = len(cv.Details) == 0
	return []Verdict{v, cv}
}

// checkCapacity replays pod events revision by revision and reports every
// revision at which a node held more than its allocatable.
func checkCapacity(events []watchEvent, alloc map[string]api.Resources) []string {
	type placed struct {
		node string
		req  api.Resources
	}
	pods := map[string]placed{}
	var out []string
	for i := 0; i < len(events); {
		rev := events[i].Revision
		for ; i < len(events) && events[i].Revision == rev; i++ {
			ev := events[i]
			if ev.Type == "DELETED" {
				delete(pods, ev.Name)
			} else {
				pods[ev.Name] = placed{node: ev.Node, req: ev.Requests}
			}
		}
		used := map[string]api.Resources{}
		for _, p := range pods {
			if p.node != "" {
				used[p.node] = used[p.node].Add(p.req)
			}
		}
		for node, u := range used {
			a, ok := alloc[node]
			if !ok {
				out = append(out, fmt.Sprintf("revision %d: pods bound to %s, which is not a node", rev, node))
				continue
			}
			if !u.Fits(a) {
				out = append(out, fmt.Sprintf("revision %d: %s holds %dm CPU, %d bytes, %d pods; it has %dm, %d, %d", rev, node, u.MilliCPU, u.Memory, u.Pods, a.MilliCPU, a.Memory, a.Pods))
			}
		}
		if len(out) > 50 {
			return out
		}
	}
	return out
}

// schedStats counts the events that bound a pod and the most CPU any node
// held at once.
func schedStats(events []watchEvent) (bound int, peak int64) {
	node := map[string]string{}
	req := map[string]int64{}
	used := map[string]int64{}
	for _, ev := range events {
		if old := node[ev.Name]; old != "" {
			used[old] -= req[ev.Name]
		}
		if ev.Type == "DELETED" {
			delete(node, ev.Name)
			continue
		}
		if ev.Node != "" && node[ev.Name] == "" {
			bound++
		}
		node[ev.Name], req[ev.Name] = ev.Node, ev.Requests.MilliCPU
		if ev.Node != "" {
			used[ev.Node] += ev.Requests.MilliCPU
			peak = max(peak, used[ev.Node])
		}
	}
	return bound, peak
}
