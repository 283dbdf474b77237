package controller

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/fsm"
)

// A simulated cluster for the workload controllers: the real state
// machine, with this test playing the nodes (marking pods Running and
// Ready, or not) and the clock.
type wlSim struct {
	t   *testing.T
	a   *applier
	w   *Workloads
	now time.Time
	// bad lists images whose pods never become ready.
	bad map[string]bool
}

func newWLSim(t *testing.T) *wlSim {
	s := &wlSim{t: t, a: newApplier(t), now: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC), bad: map[string]bool{}}
	s.w = NewWorkloads(WorkloadsConfig{FSM: s.a.f, Proposer: s.a, Now: func() time.Time { return s.now }})
	return s
}

func (s *wlSim) reconcile() {
	s.t.Helper()
	if err := s.w.Reconcile(context.Background()); err != nil {
		s.t.Fatal(err)
	}
}

// nodesAct marks every pod Running, and Ready unless its image is bad.
func (s *wlSim) nodesAct() {
	s.t.Helper()
	recs, _ := s.a.f.View().List("Pod", "", api.Selector{})
	var reports []fsm.PodStatusReport
	for _, r := range recs {
		p := r.Pod()
		ready := !s.bad[p.Spec.Containers[0].Image]
		stopped := p.Metadata.Annotations[api.AnnotationStopped] == "true"
		if p.Status.Phase == api.PodRunning && p.Ready() == ready && !stopped {
			continue
		}
		st := api.PodStatus{Phase: api.PodRunning, Conditions: []api.PodCondition{{Type: api.PodReady, Status: api.ConditionFalse, LastTransitionTime: s.now.Format(time.RFC3339)}}}
		switch {
		case stopped:
			if len(p.Status.ContainerStatuses) > 0 {
				continue
			}
			st.ContainerStatuses = []api.ContainerStatus{{Name: "c", State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 0}}}}
		case ready:
			st.Conditions[0].Status = api.ConditionTrue
		}
		reports = append(reports, fsm.PodStatusReport{Namespace: p.Metadata.Namespace, Name: p.Metadata.Name, UID: p.Metadata.UID, Status: st})
	}
	if len(reports) > 0 {
		if _, err := s.a.Apply(context.Background(), &fsm.Command{Type: fsm.CmdPodStatus, Time: t0, PodStatuses: reports}); err != nil {
			s.t.Fatal(err)
		}
	}
}

// pods returns the pods of a label app=name, ready or all.
func (s *wlSim) pods(onlyReady bool) []*api.Pod {
	recs, _ := s.a.f.View().List("Pod", "", api.Selector{})
	var out []*api.Pod
	for _, r := range recs {
		if p := r.Pod(); !onlyReady || p.Ready() {
			out = append(out, p)
		}
	}
	return out
}

func (s *wlSim) deployment(name string) *api.Deployment {
	r, err := s.a.f.Get("Deployment", "default", name)
	if err != nil {
		s.t.Fatal(err)
	}
	obj, _ := api.DecodeStored("Deployment", r.Object)
	return obj.(*api.Deployment)
}

func deploymentOf(name, image string, replicas int32, maxSurge, maxUnavailable string) *api.Deployment {
	d := &api.Deployment{Metadata: api.ObjectMeta{Name: name, Namespace: "default"}}
	d.Spec.Replicas = &replicas
	d.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": name}}
	d.Spec.Template.Metadata.Labels = map[string]string{"app": name}
	d.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: image}}
	surge, unav := intOrPercent(maxSurge), intOrPercent(maxUnavailable)
	d.Spec.Strategy.RollingUpdate = &api.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unav}
	return d
}

func intOrPercent(s string) api.IntOrString {
	var v api.IntOrString
	if err := v.UnmarshalJSON([]byte(`"` + s + `"`)); err != nil {
		panic(err)
	}
	return v
}

func images(pods []*api.Pod) map[string]int {
	out := map[string]int{}
	for _, p := range pods {
		out[p.Spec.Containers[0].Image]++
	}
	return out
}

// step runs rounds until nothing changes, checking after each round that
// at least minReady pods are ready.
func (s *wlSim) settle(minReady int) {
	s.t.Helper()
	for i := range 200 {
		before := s.a.f.Index()
		s.reconcile()
		if n := len(s.pods(true)); n < minReady {
			s.t.Fatalf("round %d: %d ready pods, want at least %d: %v", i, n, minReady, images(s.pods(false)))
		}
		s.nodesAct()
		if n := len(s.pods(true)); n < minReady {
			s.t.Fatalf("round %d: %d ready pods, want at least %d", i, n, minReady)
		}
		if s.a.f.Index() == before {
			return
		}
	}
	s.t.Fatal("no steady state after 200 rounds")
}

// A rolling update with maxUnavailable 0 never has fewer ready pods than
// replicas, ends on the new image only, and keeps the old ReplicaSet as
// history; undo goes back to it under a new revision.
func TestDeploymentRollingUpdate(t *testing.T) {
	for _, tc := range []struct{ surge, unavailable string }{{"1", "0"}, {"25%", "0"}, {"100%", "0"}} {
		t.Run(tc.surge, func(t *testing.T) {
			s := newWLSim(t)
			s.a.write(t, deploymentOf("web", "img:1", 3, tc.surge, tc.unavailable))
			s.settle(0)
			if got := images(s.pods(true)); got["img:1"] != 3 || len(got) != 1 {
				t.Fatalf("after create: %v", got)
			}
			d := s.deployment("web")
			if d.Status.AvailableReplicas != 3 || d.Status.UpdatedReplicas != 3 || d.Metadata.Annotations[api.AnnotationRevision] != "1" {
				t.Fatalf("status %+v annotations %v", d.Status, d.Metadata.Annotations)
			}
			s.a.write(t, deploymentOf("web", "img:2", 3, tc.surge, tc.unavailable))
			s.settle(3)
			if got := images(s.pods(false)); got["img:2"] != 3 || len(got) != 1 {
				t.Fatalf("after rollout: %v", got)
			}
			d = s.deployment("web")
			c := conditionOf(d.Status.Conditions, api.DeploymentProgressing)
			if d.Metadata.Annotations[api.AnnotationRevision] != "2" || c == nil || c.Reason != api.ReasonNewReplicaSetAvailable {
				t.Fatalf("after rollout: annotations %v progressing %+v", d.Metadata.Annotations, c)
			}
			// Undo: the img:1 template again.
			s.a.write(t, deploymentOf("web", "img:1", 3, tc.surge, tc.unavailable))
			s.settle(3)
			if got := images(s.pods(false)); got["img:1"] != 3 || len(got) != 1 {
				t.Fatalf("after undo: %v", got)
			}
			if rev := s.deployment("web").Metadata.Annotations[api.AnnotationRevision]; rev != "3" {
				t.Fatalf("revision after undo %s, want 3", rev)
			}
			rss, _ := s.a.f.View().List("ReplicaSet", "default", api.Selector{})
			if len(rss) != 2 {
				t.Fatalf("%d replica sets, want 2 (one per template)", len(rss))
			}
		})
	}
}

// A new image that never becomes ready: the old pods keep serving and the
// rollout stops at the progress deadline.
func TestDeploymentProgressDeadline(t *testing.T) {
	s := newWLSim(t)
	d := deploymentOf("web", "img:1", 3, "1", "0")
	deadline := int32(30)
	d.Spec.ProgressDeadlineSeconds = &deadline
	s.a.write(t, d)
	s.settle(0)
	s.bad["img:bad"] = true
	d = deploymentOf("web", "img:bad", 3, "1", "0")
	d.Spec.ProgressDeadlineSeconds = &deadline
	s.a.write(t, d)
	s.settle(3)
	if c := conditionOf(s.deployment("web").Status.Conditions, api.DeploymentProgressing); c.Status != api.ConditionTrue {
		t.Fatalf("before the deadline: %+v", c)
	}
	s.now = s.now.Add(31 * time.Second)
	s.settle(3)
	got := s.deployment("web")
	c := conditionOf(got.Status.Conditions, api.DeploymentProgressing)
	if c.Status != api.ConditionFalse || c.Reason != api.ReasonProgressDeadlineExceeded {
		t.Fatalf("after the deadline: %+v", c)
	}
	if n := images(s.pods(true))["img:1"]; n != 3 {
		t.Fatalf("%d old pods ready, want 3", n)
	}
}

// Recreate: every old pod goes before a new one is made.
func TestDeploymentRecreate(t *testing.T) {
	s := newWLSim(t)
	d := deploymentOf("web", "img:1", 2, "", "")
	d.Spec.Strategy = api.DeploymentStrategy{Type: api.RecreateStrategy}
	s.a.write(t, d)
	s.settle(0)
	d = deploymentOf("web", "img:2", 2, "", "")
	d.Spec.Strategy = api.DeploymentStrategy{Type: api.RecreateStrategy}
	s.a.write(t, d)
	for range 50 {
		s.reconcile()
		if got := images(s.pods(false)); got["img:1"] > 0 && got["img:2"] > 0 {
			t.Fatalf("old and new pods together: %v", got)
		}
		s.nodesAct()
	}
	if got := images(s.pods(true)); got["img:2"] != 2 {
		t.Fatalf("after recreate: %v", got)
	}
}

// Scaling and self-healing: a deleted pod is made again; scaling down
// deletes the unready first.
func TestReplicaSetHeals(t *testing.T) {
	s := newWLSim(t)
	s.a.write(t, deploymentOf("web", "img:1", 3, "1", "0"))
	s.settle(0)
	victim := s.pods(false)[0]
	if _, err := s.a.Apply(context.Background(), &fsm.Command{Type: fsm.CmdWrite, Time: t0, Ops: []fsm.Op{deleteOp("Pod", &victim.Metadata)}}); err != nil {
		t.Fatal(err)
	}
	s.settle(0)
	pods := s.pods(true)
	if len(pods) != 3 || slices.ContainsFunc(pods, func(p *api.Pod) bool { return p.Metadata.Name == victim.Metadata.Name }) {
		t.Fatalf("after deleting %s: %d pods", victim.Metadata.Name, len(pods))
	}
	d := s.deployment("web")
	n := int32(1)
	d.Spec.Replicas = &n
	d.Metadata.ResourceVersion = ""
	s.a.write(t, d)
	s.settle(0)
	if got := len(s.pods(false)); got != 1 {
		t.Fatalf("after scaling to 1: %d pods", got)
	}
}

// Pods of a node NotReady past the grace are deleted; those of a
// StatefulSet only past the fence.
func TestEvictNodeDown(t *testing.T) {
	s := newWLSim(t)
	n := node("n1", 8, 0)
	s.a.write(t, n)
	ctrl := true
	for i, kind := range []string{"ReplicaSet", "StatefulSet", ""} {
		p := pod(fmt.Sprintf("p%d", i), 100, 0, 0)
		p.Spec.NodeName = "n1"
		if kind != "" {
			p.Metadata.OwnerReferences = []api.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: "x", UID: "u-" + kind, Controller: &ctrl}}
		}
		s.a.write(t, p)
	}
	n = node("n1", 8, 0)
	n.Status.Conditions[0] = api.NodeCondition{Type: api.NodeReady, Status: api.ConditionUnknown, LastTransitionTime: s.now.Format(time.RFC3339)}
	s.a.write(t, n)
	names := func() []string {
		var out []string
		for _, p := range s.pods(false) {
			out = append(out, p.Metadata.Name)
		}
		return out
	}
	s.now = s.now.Add(DefaultNodeDownGrace - time.Second)
	s.reconcile()
	if got := names(); len(got) != 3 {
		t.Fatalf("before the grace: %v", got)
	}
	s.now = s.now.Add(2 * time.Second)
	s.reconcile()
	if got := names(); !slices.Equal(got, []string{"p1", "p2"}) {
		t.Fatalf("after the grace: %v", got)
	}
	s.now = s.now.Add(DefaultFenceLease + DefaultFenceMargin - DefaultNodeDownGrace)
	s.reconcile()
	if got := names(); !slices.Equal(got, []string{"p2"}) {
		t.Fatalf("after the fence: %v", got)
	}
}

func (s *wlSim) podNames() []string {
	var out []string
	for _, p := range s.pods(false) {
		out = append(out, p.Metadata.Name)
	}
	slices.Sort(out)
	return out
}

// A StatefulSet starts its pods in order, one at a time, each with its own
// claim; a deleted pod comes back under its name with its claim.
func TestStatefulSetOrdered(t *testing.T) {
	s := newWLSim(t)
	ss := &api.StatefulSet{Metadata: api.ObjectMeta{Name: "db", Namespace: "default"}}
	three := int32(3)
	ss.Spec.Replicas = &three
	ss.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
	ss.Spec.Template.Metadata.Labels = map[string]string{"app": "db"}
	ss.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: "img:1",
		VolumeMounts: []api.VolumeMount{{Name: "data", MountPath: "/data"}}}}
	ss.Spec.VolumeClaimTemplates = []api.PersistentVolumeClaim{{Metadata: api.ObjectMeta{Name: "data"}}}
	s.a.write(t, ss)
	var seen [][]string
	for range 20 {
		s.reconcile()
		if names := s.podNames(); len(seen) == 0 || !slices.Equal(seen[len(seen)-1], names) {
			seen = append(seen, names)
		}
		s.nodesAct()
	}
	want := [][]string{{"db-0"}, {"db-0", "db-1"}, {"db-0", "db-1", "db-2"}}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("pods over time %v, want %v", seen, want)
	}
	for i := range 3 {
		c, err := s.a.f.Get("PersistentVolumeClaim", "default", fmt.Sprintf("data-db-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		p, _ := s.a.f.Get("Pod", "default", fmt.Sprintf("db-%d", i))
		vols := p.Pod().Spec.Volumes
		if len(vols) != 1 || vols[0].PersistentVolumeClaim.ClaimName != c.Name {
			t.Fatalf("pod db-%d volumes %+v", i, vols)
		}
	}
	old, _ := s.a.f.Get("Pod", "default", "db-1")
	if _, err := s.a.Apply(context.Background(), &fsm.Command{Type: fsm.CmdWrite, Time: t0, Ops: []fsm.Op{deleteOp("Pod", &old.Meta)}}); err != nil {
		t.Fatal(err)
	}
	s.settle(0)
	again, err := s.a.f.Get("Pod", "default", "db-1")
	if err != nil || again.Meta.UID == old.Meta.UID {
		t.Fatalf("db-1 after its deletion: %v", err)
	}
	// Scale down: the highest ordinal goes first.
	s.settle(0)
	cur, _ := s.a.f.Get("StatefulSet", "default", "db")
	obj, _ := api.DecodeStored("StatefulSet", cur.Object)
	ss = obj.(*api.StatefulSet)
	one := int32(1)
	ss.Spec.Replicas = &one
	ss.Metadata.ResourceVersion = ""
	s.a.write(t, ss)
	s.reconcile() // db-2 is asked to stop
	if got := s.podNames(); !slices.Equal(got, []string{"db-0", "db-1", "db-2"}) {
		t.Fatalf("db-2 deleted before it stopped: %v", got)
	}
	s.nodesAct()  // and stops
	s.reconcile() // then goes
	if got := s.podNames(); !slices.Equal(got, []string{"db-0", "db-1"}) {
		t.Fatalf("first step of scaling down: %v", got)
	}
	s.settle(0)
	if got := s.podNames(); !slices.Equal(got, []string{"db-0"}) {
		t.Fatalf("scaled down: %v", got)
	}
}

// A pod whose container cannot start on its node is replaced after the
// grace, and its replacement prefers another node.
func TestReplicaSetReplacesPodThatCannotStart(t *testing.T) {
	s := newWLSim(t)
	s.a.write(t, node("n1", 8, 0), node("n2", 8, 0))
	s.a.write(t, deploymentOf("web", "img:1", 1, "1", "0"))
	for range 5 {
		s.reconcile()
	}
	ps := s.pods(false)
	if len(ps) != 1 {
		t.Fatalf("%d pods", len(ps))
	}
	p := ps[0]
	// Bind it to n1 and report an image pull error.
	bound := clone(p)
	bound.Spec.NodeName = "n1"
	op, _ := objectOp(fsm.VerbUpdate, bound)
	if _, err := s.a.Apply(context.Background(), &fsm.Command{Type: fsm.CmdWrite, Time: t0, Ops: []fsm.Op{op}}); err != nil {
		t.Fatal(err)
	}
	st := api.PodStatus{Phase: api.PodPending, ContainerStatuses: []api.ContainerStatus{{Name: "c",
		State: api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: api.ReasonErrImagePull}}}}}
	if _, err := s.a.Apply(context.Background(), &fsm.Command{Type: fsm.CmdPodStatus, Time: t0, PodStatuses: []fsm.PodStatusReport{
		{Namespace: "default", Name: p.Metadata.Name, UID: p.Metadata.UID, Node: "n1", Status: st}}}); err != nil {
		t.Fatal(err)
	}
	s.now = s.now.Add(10 * time.Second)
	s.reconcile()
	if got := s.pods(false); len(got) != 1 || got[0].Metadata.UID != p.Metadata.UID {
		t.Fatal("replaced before the grace")
	}
	s.now = s.now.Add(30 * time.Second)
	s.reconcile()
	s.reconcile()
	got := s.pods(false)
	if len(got) != 1 || got[0].Metadata.UID == p.Metadata.UID {
		t.Fatalf("not replaced after the grace: %d pods", len(got))
	}
	a := got[0].Spec.Affinity
	if a == nil || a.NodeAffinity == nil || len(a.NodeAffinity.Preferred) != 1 || a.NodeAffinity.Preferred[0].Preference.MatchFields[0].Values[0] != "n1" {
		t.Fatalf("the replacement does not avoid n1: %+v", a)
	}
}

// A rolling update replaces the pods from the highest ordinal down to the
// partition, each stopped before it is made again.
func TestStatefulSetPartitionedUpdate(t *testing.T) {
	s := newWLSim(t)
	mk := func(image string) *api.StatefulSet {
		ss := &api.StatefulSet{Metadata: api.ObjectMeta{Name: "db", Namespace: "default"}}
		three, one := int32(3), int32(1)
		ss.Spec.Replicas = &three
		ss.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
		ss.Spec.Template.Metadata.Labels = map[string]string{"app": "db"}
		ss.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: image}}
		ss.Spec.UpdateStrategy.RollingUpdate = &api.RollingUpdateStatefulSetStrategy{Partition: &one}
		return ss
	}
	s.a.write(t, mk("img:1"))
	s.settle(0)
	s.a.write(t, mk("img:2"))
	var order []string
	for range 40 {
		before := map[string]string{}
		for _, p := range s.pods(false) {
			before[p.Metadata.Name] = p.Spec.Containers[0].Image
		}
		s.reconcile()
		s.nodesAct()
		for _, p := range s.pods(false) {
			if img := p.Spec.Containers[0].Image; img == "img:2" && before[p.Metadata.Name] != img {
				order = append(order, p.Metadata.Name)
			}
		}
	}
	if fmt.Sprint(order) != "[db-2 db-1]" {
		t.Fatalf("pods updated in the order %v, want [db-2 db-1] (db-0 below the partition)", order)
	}
}

// Parallel makes every pod at once, and removes the extra ones at once.
func TestStatefulSetParallel(t *testing.T) {
	s := newWLSim(t)
	mk := func(n int32) *api.StatefulSet {
		ss := &api.StatefulSet{Metadata: api.ObjectMeta{Name: "db", Namespace: "default"}}
		ss.Spec.Replicas = &n
		ss.Spec.PodManagementPolicy = api.ParallelPodManagement
		ss.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
		ss.Spec.Template.Metadata.Labels = map[string]string{"app": "db"}
		ss.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: "img:1"}}
		return ss
	}
	s.a.write(t, mk(3))
	s.reconcile()
	if got := s.podNames(); !slices.Equal(got, []string{"db-0", "db-1", "db-2"}) {
		t.Fatalf("after one round: %v", got)
	}
	s.settle(0)
	s.a.write(t, mk(1))
	s.reconcile()
	if got := s.podNames(); !slices.Equal(got, []string{"db-0"}) {
		t.Fatalf("after scaling down: %v", got)
	}
}
