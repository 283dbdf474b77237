package controller

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/fsm"
)

// An endpoints test: the real state machine with node n1, and a Workloads
// whose rounds the test runs.
type epTest struct {
	t *testing.T
	a *applier
	w *Workloads
}

func newEPTest(t *testing.T) *epTest {
	e := &epTest{t: t, a: newApplier(t)}
	e.a.write(t, node("n1", 8, 0), &api.Namespace{Metadata: api.ObjectMeta{Name: "other"}})
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	e.w = NewWorkloads(WorkloadsConfig{FSM: e.a.f, Proposer: e.a, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	return e
}

// reconcile runs one round and returns how many commands it committed.
func (e *epTest) reconcile() int {
	e.t.Helper()
	before := e.a.f.Index()
	if err := e.w.Reconcile(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return int(e.a.f.Index() - before)
}

// writeServices applies Services, stamped with a service range as the
// leader does.
func (e *epTest) writeServices(svcs ...*api.Service) {
	e.t.Helper()
	cmd := &fsm.Command{Type: fsm.CmdWrite, Time: t0, ServiceNet: &fsm.ServiceNet{CIDR: "10.96.0.0/24", NodePortMin: 30000, NodePortMax: 30100}}
	for _, s := range svcs {
		api.Default(s)
		if err := api.Validate(s); err != nil {
			e.t.Fatal(err)
		}
		op, err := fsm.ObjectOp(fsm.VerbApply, s)
		if err != nil {
			e.t.Fatal(err)
		}
		op.UID = "uid-svc-" + op.Name
		cmd.Ops = append(cmd.Ops, op)
	}
	if _, err := e.a.Apply(context.Background(), cmd); err != nil {
		e.t.Fatal(err)
	}
}

func (e *epTest) delete(kind, ns, name string) {
	e.t.Helper()
	if _, err := e.a.Apply(context.Background(), &fsm.Command{Type: fsm.CmdWrite, Time: t0,
		Ops: []fsm.Op{{Verb: fsm.VerbDelete, Kind: kind, Namespace: ns, Name: name}}}); err != nil {
		e.t.Fatal(err)
	}
}

// endpoints returns the stored Endpoints and their revision, or nil.
func (e *epTest) endpoints(ns, name string) (*api.Endpoints, uint64) {
	e.t.Helper()
	r, err := e.a.f.Get("Endpoints", ns, name)
	if errors.Is(err, fsm.ErrNotFound) {
		return nil, 0
	}
	if err != nil {
		e.t.Fatal(err)
	}
	obj, err := api.DecodeStored("Endpoints", r.Object)
	if err != nil {
		e.t.Fatal(err)
	}
	return obj.(*api.Endpoints), r.Revision
}

func (e *epTest) mustEndpoints(ns, name string) *api.Endpoints {
	e.t.Helper()
	eps, _ := e.endpoints(ns, name)
	if eps == nil {
		e.t.Fatalf("no endpoints %s/%s", ns, name)
	}
	return eps
}

func selectorService(name string, selector map[string]string, ports ...api.ServicePort) *api.Service {
	s := &api.Service{Metadata: api.ObjectMeta{Name: name, Namespace: "default"}}
	s.Spec.Selector = selector
	s.Spec.Ports = ports
	return s
}

// epPod is a pod of app=app bound to n1 with an IP, running, ready or not.
func epPod(name, app, ip string, ready bool) *api.Pod {
	p := &api.Pod{Metadata: api.ObjectMeta{Name: name, Namespace: "default", UID: "uid-default-" + name, Labels: map[string]string{"app": app}}}
	p.Spec.Containers = []api.Container{{Name: "c", Image: "img", Ports: []api.ContainerPort{{Name: "http", ContainerPort: 8080}}}}
	p.Spec.NodeName = "n1"
	p.Status.Phase = api.PodRunning
	p.Status.PodIP = ip
	st := api.ConditionFalse
	if ready {
		st = api.ConditionTrue
	}
	p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: st}}
	return p
}

// addr is what the controller writes for an epPod.
func addr(name, ip string) api.EndpointAddress {
	return api.EndpointAddress{IP: ip, NodeName: "n1", TargetRef: &api.ObjectReference{Kind: "Pod", Namespace: "default", Name: name, UID: "uid-default-" + name}}
}

func tcp(name string, port int32) api.EndpointPort {
	return api.EndpointPort{Name: name, Port: port, Protocol: "TCP"}
}

func checkSubsets(t *testing.T, eps *api.Endpoints, want []api.EndpointSubset) {
	t.Helper()
	if !reflect.DeepEqual(eps.Subsets, want) {
		got, _ := json.Marshal(eps.Subsets)
		exp, _ := json.Marshal(want)
		t.Fatalf("subsets\n got %s\nwant %s", got, exp)
	}
}

// The pods that count: the selector's, of the Service's namespace, with an
// IP, bound, not finished, not stopped; ready ones under addresses, the
// others under notReadyAddresses, each list sorted by IP as text.
func TestEndpointsSelectPods(t *testing.T) {
	e := newEPTest(t)
	unbound := epPod("unbound", "web", "10.0.0.6", true)
	unbound.Spec.NodeName = ""
	done := epPod("done", "web", "10.0.0.7", false)
	done.Status.Phase = api.PodSucceeded
	failed := epPod("failed", "web", "10.0.0.8", false)
	failed.Status.Phase = api.PodFailed
	stopped := epPod("stopped", "web", "10.0.0.9", true)
	stopped.Metadata.Annotations = map[string]string{api.AnnotationStopped: "true"}
	elsewhere := epPod("elsewhere", "web", "10.0.0.10", true)
	elsewhere.Metadata.Namespace = "other"
	notStopped := epPod("not-stopped", "web", "10.0.0.11", true)
	notStopped.Metadata.Annotations = map[string]string{api.AnnotationStopped: "false"}
	e.a.write(t,
		epPod("ready-b", "web", "10.0.0.3", true),
		epPod("ready-a", "web", "10.0.0.2", true),
		epPod("starting", "web", "10.0.0.4", false),
		epPod("no-ip", "web", "", true),
		epPod("db", "db", "10.0.0.5", true),
		unbound, done, failed, stopped, elsewhere, notStopped)
	e.writeServices(selectorService("web", map[string]string{"app": "web"}, api.ServicePort{Port: 80, TargetPort: api.IntOrString{IntVal: 8080}}))

	if n := e.reconcile(); n != 1 {
		t.Fatalf("first round: %d commits, want 1", n)
	}
	eps := e.mustEndpoints("default", "web")
	if eps.Metadata.Labels[LabelManagedBy] != "berth-endpoints-controller" {
		t.Fatalf("labels %v", eps.Metadata.Labels)
	}
	checkSubsets(t, eps, []api.EndpointSubset{{
		Addresses:         []api.EndpointAddress{addr("not-stopped", "10.0.0.11"), addr("ready-a", "10.0.0.2"), addr("ready-b", "10.0.0.3")},
		NotReadyAddresses: []api.EndpointAddress{addr("starting", "10.0.0.4")},
		Ports:             []api.EndpointPort{tcp("", 8080)},
	}})
	if other, _ := e.endpoints("other", "web"); other != nil {
		t.Fatalf("endpoints in a namespace with no service: %+v", other)
	}
	// Nothing changed: nothing written.
	if n := e.reconcile(); n != 0 {
		t.Fatalf("second round: %d commits, want 0", n)
	}
	// The starting pod becomes ready, a ready one goes away: one write.
	e.a.write(t, epPod("starting", "web", "10.0.0.4", true))
	e.delete("Pod", "default", "ready-b")
	if n := e.reconcile(); n != 1 {
		t.Fatalf("after pod changes: %d commits, want 1", n)
	}
	checkSubsets(t, e.mustEndpoints("default", "web"), []api.EndpointSubset{{
		Addresses: []api.EndpointAddress{addr("not-stopped", "10.0.0.11"), addr("ready-a", "10.0.0.2"), addr("starting", "10.0.0.4")},
		Ports:     []api.EndpointPort{tcp("", 8080)},
	}})
	if n := e.reconcile(); n != 0 {
		t.Fatalf("settled: %d commits, want 0", n)
	}
}

// A Service that selects nothing has Endpoints without subsets.
func TestEndpointsEmpty(t *testing.T) {
	e := newEPTest(t)
	e.writeServices(selectorService("web", map[string]string{"app": "web"}, api.ServicePort{Port: 80}))
	if n := e.reconcile(); n != 1 {
		t.Fatalf("%d commits, want 1", n)
	}
	if eps := e.mustEndpoints("default", "web"); len(eps.Subsets) != 0 {
		t.Fatalf("subsets %+v", eps.Subsets)
	}
	if n := e.reconcile(); n != 0 {
		t.Fatalf("second round: %d commits, want 0", n)
	}
}

// A named target port is looked up in each pod; pods that resolve it to
// different numbers are in different subsets, a pod without it has the
// other ports only, or none.
func TestEndpointsNamedPorts(t *testing.T) {
	e := newEPTest(t)
	a := epPod("a", "web", "10.0.0.2", true)
	b := epPod("b", "web", "10.0.0.3", true)
	b.Spec.Containers[0].Ports[0].ContainerPort = 8081
	b2 := epPod("b2", "web", "10.0.0.4", false)
	b2.Spec.Containers[0].Ports[0].ContainerPort = 8081
	c := epPod("c", "web", "10.0.0.5", true)
	c.Spec.Containers[0].Ports = nil
	// The name in a second container counts; a UDP port of the name does
	// not serve a TCP Service port.
	d := epPod("d", "web", "10.0.0.6", true)
	d.Spec.Containers[0].Ports = []api.ContainerPort{{Name: "http", ContainerPort: 53, Protocol: "UDP"}}
	d.Spec.Containers = append(d.Spec.Containers, api.Container{Name: "side", Image: "img", Ports: []api.ContainerPort{{Name: "http", ContainerPort: 9000}}})
	e.a.write(t, a, b, b2, c, d)
	e.writeServices(
		selectorService("web", map[string]string{"app": "web"},
			api.ServicePort{Name: "http", Port: 80, TargetPort: api.IntOrString{StrVal: "http"}},
			api.ServicePort{Name: "metrics", Port: 9090, TargetPort: api.IntOrString{IntVal: 9100}}),
		selectorService("only-http", map[string]string{"app": "web"},
			api.ServicePort{Port: 80, TargetPort: api.IntOrString{StrVal: "http"}}),
		selectorService("plain", map[string]string{"app": "web"}, api.ServicePort{Port: 7000}))
	if n := e.reconcile(); n != 1 {
		t.Fatalf("%d commits, want 1 (all Endpoints in one command)", n)
	}
	checkSubsets(t, e.mustEndpoints("default", "web"), []api.EndpointSubset{
		{Addresses: []api.EndpointAddress{addr("a", "10.0.0.2")}, Ports: []api.EndpointPort{tcp("http", 8080), tcp("metrics", 9100)}},
		{Addresses: []api.EndpointAddress{addr("b", "10.0.0.3")}, NotReadyAddresses: []api.EndpointAddress{addr("b2", "10.0.0.4")},
			Ports: []api.EndpointPort{tcp("http", 8081), tcp("metrics", 9100)}},
		{Addresses: []api.EndpointAddress{addr("d", "10.0.0.6")}, Ports: []api.EndpointPort{tcp("http", 9000), tcp("metrics", 9100)}},
		{Addresses: []api.EndpointAddress{addr("c", "10.0.0.5")}, Ports: []api.EndpointPort{tcp("metrics", 9100)}},
	})
	// With the named port alone, c is left out.
	checkSubsets(t, e.mustEndpoints("default", "only-http"), []api.EndpointSubset{
		{Addresses: []api.EndpointAddress{addr("a", "10.0.0.2")}, Ports: []api.EndpointPort{tcp("", 8080)}},
		{Addresses: []api.EndpointAddress{addr("b", "10.0.0.3")}, NotReadyAddresses: []api.EndpointAddress{addr("b2", "10.0.0.4")}, Ports: []api.EndpointPort{tcp("", 8081)}},
		{Addresses: []api.EndpointAddress{addr("d", "10.0.0.6")}, Ports: []api.EndpointPort{tcp("", 9000)}},
	})
	// A target port left out is the port itself.
	checkSubsets(t, e.mustEndpoints("default", "plain"), []api.EndpointSubset{{
		Addresses:         []api.EndpointAddress{addr("a", "10.0.0.2"), addr("b", "10.0.0.3"), addr("c", "10.0.0.5"), addr("d", "10.0.0.6")},
		NotReadyAddresses: []api.EndpointAddress{addr("b2", "10.0.0.4")},
		Ports:             []api.EndpointPort{tcp("", 7000)},
	}})
	if n := e.reconcile(); n != 0 {
		t.Fatalf("second round: %d commits, want 0", n)
	}
}

// A pod's hostname is published when its subdomain is the Service.
func TestEndpointsHostname(t *testing.T) {
	e := newEPTest(t)
	db0 := epPod("db-0", "db", "10.0.0.2", true)
	db0.Spec.Hostname, db0.Spec.Subdomain = "db-0", "db"
	elsewhere := epPod("x", "db", "10.0.0.3", true)
	elsewhere.Spec.Hostname, elsewhere.Spec.Subdomain = "x", "other"
	noHost := epPod("y", "db", "10.0.0.4", false)
	noHost.Spec.Subdomain = "db"
	e.a.write(t, db0, elsewhere, noHost)
	headless := selectorService("db", map[string]string{"app": "db"}, api.ServicePort{Port: 5432})
	headless.Spec.ClusterIP = api.ClusterIPNone
	e.writeServices(headless)
	e.reconcile()
	named := addr("db-0", "10.0.0.2")
	named.Hostname = "db-0"
	checkSubsets(t, e.mustEndpoints("default", "db"), []api.EndpointSubset{{
		Addresses:         []api.EndpointAddress{named, addr("x", "10.0.0.3")},
		NotReadyAddresses: []api.EndpointAddress{addr("y", "10.0.0.4")},
		Ports:             []api.EndpointPort{tcp("", 5432)},
	}})
}

// Endpoints the controller made go with their Service; those users write
// for a Service without selector, or with no Service, stay as written.
func TestEndpointsOwnership(t *testing.T) {
	e := newEPTest(t)
	e.a.write(t, epPod("a", "web", "10.0.0.2", true))
	e.writeServices(
		selectorService("web", map[string]string{"app": "web"}, api.ServicePort{Port: 80}),
		selectorService("ext", nil, api.ServicePort{Port: 5432}))
	userEps := func(name string) *api.Endpoints {
		return &api.Endpoints{Metadata: api.ObjectMeta{Name: name, Namespace: "default"},
			Subsets: []api.EndpointSubset{{Addresses: []api.EndpointAddress{{IP: "192.168.1.10"}}, Ports: []api.EndpointPort{{Port: 5432}}}}}
	}
	e.a.write(t, userEps("ext"), userEps("orphan"))
	_, extRev := e.endpoints("default", "ext")
	_, orphanRev := e.endpoints("default", "orphan")
	if n := e.reconcile(); n != 1 {
		t.Fatalf("first round: %d commits, want 1", n)
	}
	e.mustEndpoints("default", "web")
	check := func() {
		t.Helper()
		for name, rev := range map[string]uint64{"ext": extRev, "orphan": orphanRev} {
			eps, now := e.endpoints("default", name)
			if eps == nil || now != rev {
				t.Fatalf("user's endpoints %s: %+v at revision %d, want revision %d", name, eps, now, rev)
			}
			if _, ok := eps.Metadata.Labels[LabelManagedBy]; ok || eps.Subsets[0].Addresses[0].IP != "192.168.1.10" {
				t.Fatalf("user's endpoints %s changed: %+v", name, eps)
			}
		}
	}
	check()
	if n := e.reconcile(); n != 0 {
		t.Fatalf("second round: %d commits, want 0", n)
	}
	// The Service goes; its Endpoints follow, the users' stay.
	e.delete("Service", "default", "web")
	e.delete("Service", "default", "ext")
	if n := e.reconcile(); n != 1 {
		t.Fatalf("after the delete: %d commits, want 1", n)
	}
	if eps, _ := e.endpoints("default", "web"); eps != nil {
		t.Fatalf("endpoints of a deleted service: %+v", eps)
	}
	check()
	if n := e.reconcile(); n != 0 {
		t.Fatalf("settled: %d commits, want 0", n)
	}
}

// Endpoints a user wrote for a Service that has a selector are the
// controller's to keep.
func TestEndpointsTakesOverSelectorService(t *testing.T) {
	e := newEPTest(t)
	e.a.write(t, epPod("a", "web", "10.0.0.2", true), &api.Endpoints{Metadata: api.ObjectMeta{Name: "web", Namespace: "default"},
		Subsets: []api.EndpointSubset{{Addresses: []api.EndpointAddress{{IP: "192.168.1.10"}}, Ports: []api.EndpointPort{{Port: 80}}}}})
	e.writeServices(selectorService("web", map[string]string{"app": "web"}, api.ServicePort{Port: 80}))
	if n := e.reconcile(); n != 1 {
		t.Fatalf("%d commits, want 1", n)
	}
	eps := e.mustEndpoints("default", "web")
	if eps.Metadata.Labels[LabelManagedBy] != "berth-endpoints-controller" {
		t.Fatalf("labels %v", eps.Metadata.Labels)
	}
	checkSubsets(t, eps, []api.EndpointSubset{{Addresses: []api.EndpointAddress{addr("a", "10.0.0.2")}, Ports: []api.EndpointPort{tcp("", 80)}}})
	if n := e.reconcile(); n != 0 {
		t.Fatalf("second round: %d commits, want 0", n)
	}
}

// A Service that loses its selector loses the Endpoints the controller
// made: they would route to pods it no longer selects.
func TestEndpointsSelectorRemoved(t *testing.T) {
	e := newEPTest(t)
	e.a.write(t, epPod("a", "web", "10.0.0.2", true))
	e.writeServices(selectorService("web", map[string]string{"app": "web"}, api.ServicePort{Port: 80}))
	e.reconcile()
	e.mustEndpoints("default", "web")
	e.writeServices(selectorService("web", nil, api.ServicePort{Port: 80}))
	if n := e.reconcile(); n != 1 {
		t.Fatalf("after the selector went: %d commits, want 1", n)
	}
	if eps, _ := e.endpoints("default", "web"); eps != nil {
		t.Fatalf("endpoints of a service without selector: %+v", eps)
	}
}
