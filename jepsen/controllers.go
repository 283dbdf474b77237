package jepsen

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
)

// The sched workload also runs the workload controllers under the faults:
// a Deployment and a StatefulSet (Parallel: the servers run no containers,
// so no pod ever becomes ready) made at the start. Replaying the pod watch,
// the Deployment never has more pods than its replicas (no rollout runs,
// so a pod more would be a double), and no pod of the StatefulSet has a
// name outside its ordinals. After the heal, each has its pods again,
// bound to nodes: the pods of servers that were down longer than the
// node-down grace are made again elsewhere.

const (
	ctrlDeployment       = "jepsen-web"
	ctrlDeploymentPods   = 4
	ctrlStatefulSet      = "jepsen-db"
	ctrlStatefulSetPods  = 3
	ctrlConvergeDeadline = 45 * time.Second
	// ctrlNodeDownGrace is the servers' --node-down-grace: short, so that
	// a server killed, paused or cut off by a fault has its pods evicted
	// and made again elsewhere while the workloads run.
	ctrlNodeDownGrace = 2 * time.Second
)

// controllerObjects are the Deployment and the StatefulSet of the run.
func controllerObjects() []api.Object {
	tmpl := func(app string) api.PodTemplateSpec {
		return api.PodTemplateSpec{Metadata: api.ObjectMeta{Labels: map[string]string{"app": app}},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox",
				Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceMemory: api.MustQuantity("1Mi")}}}}}}
	}
	sel := func(app string) *api.LabelSelector {
		return &api.LabelSelector{MatchLabels: map[string]string{"app": app}}
	}
	dn, sn := int32(ctrlDeploymentPods), int32(ctrlStatefulSetPods)
	d := &api.Deployment{Metadata: api.ObjectMeta{Name: ctrlDeployment, Namespace: "default"},
		Spec: api.DeploymentSpec{Replicas: &dn, Selector: sel(ctrlDeployment), Template: tmpl(ctrlDeployment)}}
	s := &api.StatefulSet{Metadata: api.ObjectMeta{Name: ctrlStatefulSet, Namespace: "default"},
		Spec: api.StatefulSetSpec{Replicas: &sn, Selector: sel(ctrlStatefulSet), Template: tmpl(ctrlStatefulSet),
			PodManagementPolicy: api.ParallelPodManagement}}
	api.Default(d)
	api.Default(s)
	return []api.Object{d, s}
}

// checkControllerHistory replays the pod events: the Deployment's pods
// never outnumber its replicas, and the StatefulSet's pods bear its
// ordinals' names only. It also counts the controllers' pods deleted (of
// servers down past the grace) and made.
func checkControllerHistory(events []watchEvent) (out []string, deleted, made int) {
	app := map[string]string{}
	for i := 0; i < len(events); {
		rev := events[i].Revision
		for ; i < len(events) && events[i].Revision == rev; i++ {
			ev := events[i]
			if ev.Type == "DELETED" {
				if a := app[ev.Name]; a == ctrlDeployment || a == ctrlStatefulSet {
					deleted++
				}
				delete(app, ev.Name)
				continue
			}
			if _, seen := app[ev.Name]; !seen && (ev.App == ctrlDeployment || ev.App == ctrlStatefulSet) {
				made++
			}
			app[ev.Name] = ev.App
			if ev.App == ctrlStatefulSet && !slices.Contains(statefulNames(), ev.Name) {
				out = append(out, fmt.Sprintf("revision %d: pod %s of the StatefulSet is none of its ordinals", rev, ev.Name))
			}
		}
		n := 0
		for _, a := range app {
			if a == ctrlDeployment {
				n++
			}
		}
		if n > ctrlDeploymentPods {
			out = append(out, fmt.Sprintf("revision %d: %d pods of the Deployment, which wants %d", rev, n, ctrlDeploymentPods))
		}
		if len(out) > 50 {
			return out, deleted, made
		}
	}
	return out, deleted, made
}

func statefulNames() []string {
	var out []string
	for i := range ctrlStatefulSetPods {
		out = append(out, fmt.Sprintf("%s-%d", ctrlStatefulSet, i))
	}
	return out
}

// checkControllersHealed waits until the Deployment and the StatefulSet
// have all their pods, bound to nodes, and says how long that took.
func checkControllersHealed(ctx context.Context, cl *client.Client, v *Verdict) {
	start := time.Now()
	last := ""
	for time.Since(start) < ctrlConvergeDeadline && ctx.Err() == nil {
		last = controllersState(ctx, cl)
		if last == "" {
			v.Summary += fmt.Sprintf("; all %d+%d pods back and bound %v after the heal's check began",
				ctrlDeploymentPods, ctrlStatefulSetPods, time.Since(start).Round(10*time.Millisecond))
			return
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
	v.Details = append(v.Details, fmt.Sprintf("after %v: %s", ctrlConvergeDeadline, last))
}

// controllersState says what is missing, "" when nothing is.
func controllersState(ctx context.Context, cl *client.Client) string {
	objs, _, err := cl.List(ctx, "Pod", "default")
	if err != nil {
		return err.Error()
	}
	var web, db []string
	for _, o := range objs {
		p := o.(*api.Pod)
		if p.Spec.NodeName == "" {
			continue
		}
		switch p.Metadata.Labels["app"] {
		case ctrlDeployment:
			web = append(web, p.Metadata.Name)
		case ctrlStatefulSet:
			db = append(db, p.Metadata.Name)
		}
	}
	slices.Sort(db)
	var missing []string
	if len(web) != ctrlDeploymentPods {
		missing = append(missing, fmt.Sprintf("%d bound pods of the Deployment, want %d", len(web), ctrlDeploymentPods))
	}
	if !slices.Equal(db, statefulNames()) {
		missing = append(missing, fmt.Sprintf("bound StatefulSet pods %v, want %v", db, statefulNames()))
	}
	return strings.Join(missing, "; ")
}
