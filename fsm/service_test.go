package fsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-dev/berth/api"
)

// smallNet has 14 usable addresses (10.96.0.1 to 10.96.0.14) and five node
// ports.
var smallNet = ServiceNet{CIDR: "10.96.0.0/28", NodePortMin: 30000, NodePortMax: 30004}

// testService is a defaulted ClusterIP Service of the default namespace
// with one port, changed by each of mods.
func testService(name string, mods ...func(*api.Service)) *api.Service {
	s := &api.Service{Metadata: api.ObjectMeta{Name: name, Namespace: "default"}}
	s.Spec.Selector = map[string]string{"app": name}
	s.Spec.Ports = []api.ServicePort{{Port: 80}}
	for _, m := range mods {
		m(s)
	}
	api.Default(s)
	return s
}

func withClusterIP(ip string) func(*api.Service) {
	return func(s *api.Service) { s.Spec.ClusterIP = ip }
}

// nodePortService makes a Service of type NodePort with ports 80 and 443,
// asking for the given node ports (0: any).
func nodePortService(np80, np443 int32) func(*api.Service) {
	return func(s *api.Service) {
		s.Spec.Type = api.ServiceTypeNodePort
		s.Spec.Ports = []api.ServicePort{{Name: "http", Port: 80, NodePort: np80}, {Name: "https", Port: 443, NodePort: np443}}
	}
}

// writeSvc applies ops in one command stamped with sn (nil: none).
func writeSvc(f *FSM, index uint64, sn *ServiceNet, ops ...Op) *Result {
	var stamp *ServiceNet
	if sn != nil {
		c := *sn
		stamp = &c
	}
	return f.ApplyCommand(index, &Command{Type: CmdWrite, Time: t0, Ops: ops, ServiceNet: stamp})
}

func storedService(t *testing.T, f *FSM, name string) (*api.Service, *Record) {
	t.Helper()
	r, err := f.Get("Service", "default", name)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := api.DecodeStored("Service", r.Object)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*api.Service), r
}

func mustInvalid(t *testing.T, what string, res *Result, msg string) {
	t.Helper()
	if !errors.Is(res.Err, ErrInvalid) || !strings.Contains(res.Err.Error(), msg) {
		t.Fatalf("%s: got %v, want invalid: ...%s...", what, res.Err, msg)
	}
}

// serviceHistory creates the Services s0..s(n-1) from index 2, one per
// command.
func serviceHistory(t *testing.T, n int) []*Command {
	var cmds []*Command
	for i := range n {
		sn := smallNet
		cmds = append(cmds, &Command{Type: CmdWrite, Time: t0, ServiceNet: &sn,
			Ops: []Op{objOp(t, VerbCreate, testService(fmt.Sprintf("s%d", i)))}})
	}
	return cmds
}

// The 14 usable addresses of a /28 go to 14 Services, never the network's
// or the broadcast address; the 15th finds none. Two replicas of the log
// allocate the same.
func TestServiceClusterIPAllocation(t *testing.T) {
	cidr := netip.MustParsePrefix(smallNet.CIDR)
	a, b := newTestFSM(t), newTestFSM(t)
	cmds := serviceHistory(t, 15)
	for i, cmd := range cmds {
		enc, err := cmd.Encode()
		if err != nil {
			t.Fatal(err)
		}
		ra, rb := a.ApplyEntry(uint64(i+2), enc), b.ApplyEntry(uint64(i+2), enc)
		if i < 14 && (ra.Err != nil || rb.Err != nil) {
			t.Fatalf("service %d: %v, %v", i, ra.Err, rb.Err)
		}
		if i == 14 {
			mustInvalid(t, "15th service", ra, "no free address")
			mustInvalid(t, "15th service on the second replica", rb, "no free address")
		}
	}
	seen := map[netip.Addr]string{}
	for i := range 14 {
		name := fmt.Sprintf("s%d", i)
		s, ra := storedService(t, a, name)
		_, rb := storedService(t, b, name)
		if !bytes.Equal(ra.Object, rb.Object) {
			t.Fatalf("%s differs between replicas:\n%s\n%s", name, ra.Object, rb.Object)
		}
		ip, err := netip.ParseAddr(s.Spec.ClusterIP)
		if err != nil || !cidr.Contains(ip) {
			t.Fatalf("%s: clusterIP %q is not in %s", name, s.Spec.ClusterIP, cidr)
		}
		if ip == netip.MustParseAddr("10.96.0.0") || ip == netip.MustParseAddr("10.96.0.15") {
			t.Fatalf("%s: clusterIP %s is the network's or the broadcast address", name, ip)
		}
		if other, ok := seen[ip]; ok {
			t.Fatalf("%s and %s both have %s", other, name, ip)
		}
		seen[ip] = name
		if !reflect.DeepEqual(s.Spec.ClusterIPs, []string{s.Spec.ClusterIP}) {
			t.Fatalf("%s: clusterIPs %v, want [%s]", name, s.Spec.ClusterIPs, s.Spec.ClusterIP)
		}
	}
	if _, err := a.Get("Service", "default", "s14"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused service was stored: %v", err)
	}
	if !bytes.Equal(snapshotBytes(t, a), snapshotBytes(t, b)) {
		t.Fatal("two replicas of one log hold different state")
	}
}

// A clusterIP the user asks for is given when it is in the range and free.
func TestServiceChosenClusterIP(t *testing.T) {
	f := newTestFSM(t)
	if res := writeSvc(f, 2, &smallNet, objOp(t, VerbCreate, testService("a", withClusterIP("10.96.0.7")))); res.Err != nil {
		t.Fatal(res.Err)
	}
	if s, _ := storedService(t, f, "a"); s.Spec.ClusterIP != "10.96.0.7" || !reflect.DeepEqual(s.Spec.ClusterIPs, []string{"10.96.0.7"}) {
		t.Fatalf("clusterIP %q %v, want 10.96.0.7", s.Spec.ClusterIP, s.Spec.ClusterIPs)
	}
	for _, tc := range []struct{ ip, msg string }{
		{"10.96.0.7", "allocated to another service"},
		{"10.97.0.1", "not in the service range"},
		{"10.96.0.16", "not in the service range"},
		{"10.96.0.0", "the network's or the broadcast address"},
		{"10.96.0.15", "the network's or the broadcast address"},
	} {
		res := writeSvc(f, 3, &smallNet, objOp(t, VerbCreate, testService("b", withClusterIP(tc.ip))))
		mustInvalid(t, tc.ip, res, tc.msg)
	}
	if _, err := f.Get("Service", "default", "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused service was stored: %v", err)
	}
	// The allocator steps around a chosen address.
	for i := range 13 {
		if res := writeSvc(f, uint64(10+i), &smallNet, objOp(t, VerbCreate, testService(fmt.Sprintf("s%d", i)))); res.Err != nil {
			t.Fatalf("service %d: %v", i, res.Err)
		}
		if s, _ := storedService(t, f, fmt.Sprintf("s%d", i)); s.Spec.ClusterIP == "10.96.0.7" {
			t.Fatalf("s%d was given a's address", i)
		}
	}
}

// The virtual IP stays for the life of the Service: a manifest without
// one keeps it, a manifest with another one is refused.
func TestServiceClusterIPKept(t *testing.T) {
	f := newTestFSM(t)
	if res := writeSvc(f, 2, &smallNet, objOp(t, VerbApply, testService("web"))); res.Err != nil || res.Results[0].Action != ActionCreated {
		t.Fatalf("create: %+v %v", res, res.Err)
	}
	first, r := storedService(t, f, "web")
	res := writeSvc(f, 3, &smallNet, objOp(t, VerbApply, testService("web")))
	if res.Err != nil || res.Results[0].Action != ActionUnchanged {
		t.Fatalf("re-apply: %+v %v", res, res.Err)
	}
	if now, r2 := storedService(t, f, "web"); now.Spec.ClusterIP != first.Spec.ClusterIP || r2.Revision != r.Revision {
		t.Fatalf("re-apply: clusterIP %s at revision %d, was %s at %d", now.Spec.ClusterIP, r2.Revision, first.Spec.ClusterIP, r.Revision)
	}
	// An update without clusterIP that changes something else.
	res = writeSvc(f, 4, &smallNet, objOp(t, VerbUpdate, testService("web", func(s *api.Service) { s.Spec.Ports[0].Port = 8080 })))
	if res.Err != nil || res.Results[0].Action != ActionConfigured {
		t.Fatalf("update: %+v %v", res, res.Err)
	}
	if now, _ := storedService(t, f, "web"); now.Spec.ClusterIP != first.Spec.ClusterIP || now.Spec.Ports[0].Port != 8080 {
		t.Fatalf("update: clusterIP %s port %d, want %s and 8080", now.Spec.ClusterIP, now.Spec.Ports[0].Port, first.Spec.ClusterIP)
	}
	// The same address, given, is no change.
	if res := writeSvc(f, 5, &smallNet, objOp(t, VerbApply, testService("web", withClusterIP(first.Spec.ClusterIP),
		func(s *api.Service) { s.Spec.Ports[0].Port = 8080 }))); res.Err != nil || res.Results[0].Action != ActionUnchanged {
		t.Fatalf("re-apply with its own clusterIP: %+v %v", res, res.Err)
	}
	other := "10.96.0.1"
	if first.Spec.ClusterIP == other {
		other = "10.96.0.2"
	}
	mustInvalid(t, "another clusterIP", writeSvc(f, 6, &smallNet, objOp(t, VerbApply, testService("web", withClusterIP(other)))), "may not change")
	mustInvalid(t, "headless", writeSvc(f, 7, &smallNet, objOp(t, VerbApply, testService("web", withClusterIP(api.ClusterIPNone)))), "may not change")
	if now, _ := storedService(t, f, "web"); now.Spec.ClusterIP != first.Spec.ClusterIP {
		t.Fatalf("a refused change moved the clusterIP to %s", now.Spec.ClusterIP)
	}
}

// A headless Service keeps "None" and takes no address.
func TestServiceHeadless(t *testing.T) {
	f := newTestFSM(t)
	if res := writeSvc(f, 2, &smallNet, objOp(t, VerbApply, testService("db", withClusterIP(api.ClusterIPNone)))); res.Err != nil {
		t.Fatal(res.Err)
	}
	s, _ := storedService(t, f, "db")
	if s.Spec.ClusterIP != api.ClusterIPNone || !reflect.DeepEqual(s.Spec.ClusterIPs, []string{api.ClusterIPNone}) {
		t.Fatalf("headless: clusterIP %q %v", s.Spec.ClusterIP, s.Spec.ClusterIPs)
	}
	if res := writeSvc(f, 3, &smallNet, objOp(t, VerbApply, testService("db"))); res.Err != nil || res.Results[0].Action != ActionUnchanged {
		t.Fatalf("re-apply without clusterIP: %+v %v", res, res.Err)
	}
	for i, cmd := range serviceHistory(t, 14) {
		if res := f.ApplyCommand(uint64(10+i), cmd); res.Err != nil {
			t.Fatalf("service %d beside a headless one: %v", i, res.Err)
		}
	}
}

// Node ports are allocated in range and apart, kept across re-applies,
// checked when chosen, and dropped with type ClusterIP.
func TestServiceNodePorts(t *testing.T) {
	f := newTestFSM(t)
	inRange := func(p int32) bool { return p >= smallNet.NodePortMin && p <= smallNet.NodePortMax }
	if res := writeSvc(f, 2, &smallNet, objOp(t, VerbApply, testService("a", nodePortService(0, 0)))); res.Err != nil {
		t.Fatal(res.Err)
	}
	a, ra := storedService(t, f, "a")
	a80, a443 := a.Spec.Ports[0].NodePort, a.Spec.Ports[1].NodePort
	if !inRange(a80) || !inRange(a443) || a80 == a443 {
		t.Fatalf("a's node ports %d and %d", a80, a443)
	}
	if res := writeSvc(f, 3, &smallNet, objOp(t, VerbApply, testService("b", func(s *api.Service) { s.Spec.Type = api.ServiceTypeNodePort }))); res.Err != nil {
		t.Fatal(res.Err)
	}
	b, _ := storedService(t, f, "b")
	if b80 := b.Spec.Ports[0].NodePort; !inRange(b80) || b80 == a80 || b80 == a443 {
		t.Fatalf("b's node port %d beside a's %d and %d", b80, a80, a443)
	}
	// Re-applied without node ports: the same ones, no change.
	if res := writeSvc(f, 4, &smallNet, objOp(t, VerbApply, testService("a", nodePortService(0, 0)))); res.Err != nil || res.Results[0].Action != ActionUnchanged {
		t.Fatalf("re-apply: %+v %v", res, res.Err)
	}
	// Reordered ports keep theirs by (port, protocol).
	swap := func(s *api.Service) { s.Spec.Ports[0], s.Spec.Ports[1] = s.Spec.Ports[1], s.Spec.Ports[0] }
	if res := writeSvc(f, 5, &smallNet, objOp(t, VerbApply, testService("a", nodePortService(0, 0), swap))); res.Err != nil {
		t.Fatal(res.Err)
	}
	if now, _ := storedService(t, f, "a"); now.Spec.Ports[0].Port != 443 || now.Spec.Ports[0].NodePort != a443 || now.Spec.Ports[1].NodePort != a80 {
		t.Fatalf("reordered ports: %+v, want 443→%d and 80→%d", now.Spec.Ports, a443, a80)
	}
	if _, r := storedService(t, f, "a"); r.Revision == ra.Revision {
		t.Fatal("reordering the ports changed nothing")
	}
	// A port of a is not given to c; one out of range is refused.
	mustInvalid(t, "a's port", writeSvc(f, 6, &smallNet, objOp(t, VerbApply, testService("c", nodePortService(a80, 0)))), "allocated to another service")
	mustInvalid(t, "out of range", writeSvc(f, 6, &smallNet, objOp(t, VerbApply, testService("c", nodePortService(31000, 0)))), "not in the node port range")
	// The two left go to c; then there are none.
	if res := writeSvc(f, 7, &smallNet, objOp(t, VerbApply, testService("c", nodePortService(0, 0)))); res.Err != nil {
		t.Fatal(res.Err)
	}
	mustInvalid(t, "range exhausted", writeSvc(f, 8, &smallNet, objOp(t, VerbApply, testService("d", func(s *api.Service) { s.Spec.Type = api.ServiceTypeNodePort }))), "no free port")
	// Type ClusterIP drops a's node ports, and c may then have one.
	if res := writeSvc(f, 9, &smallNet, objOp(t, VerbApply, testService("a", func(s *api.Service) {
		s.Spec.Ports = []api.ServicePort{{Name: "http", Port: 80}, {Name: "https", Port: 443}}
	}))); res.Err != nil {
		t.Fatal(res.Err)
	}
	if now, _ := storedService(t, f, "a"); now.Spec.Type != api.ServiceTypeClusterIP || now.Spec.Ports[0].NodePort != 0 || now.Spec.Ports[1].NodePort != 0 {
		t.Fatalf("type ClusterIP: %s %+v", now.Spec.Type, now.Spec.Ports)
	}
	if res := writeSvc(f, 10, &smallNet, objOp(t, VerbApply, testService("d", nodePortService(a80, a443)))); res.Err != nil {
		t.Fatalf("a's freed ports: %v", res.Err)
	}
	d, _ := storedService(t, f, "d")
	if d.Spec.Ports[0].NodePort != a80 || d.Spec.Ports[1].NodePort != a443 {
		t.Fatalf("d's node ports %+v, want %d and %d", d.Spec.Ports, a80, a443)
	}
}

// Deleting a Service frees its address for another.
func TestServiceDeleteFreesClusterIP(t *testing.T) {
	f := newTestFSM(t)
	for i, cmd := range serviceHistory(t, 14) {
		if res := f.ApplyCommand(uint64(2+i), cmd); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	gone, _ := storedService(t, f, "s5")
	mustInvalid(t, "full range", writeSvc(f, 20, &smallNet, objOp(t, VerbCreate, testService("late"))), "no free address")
	// A delete needs no service range.
	if res := write(f, 21, Op{Verb: VerbDelete, Kind: "Service", Namespace: "default", Name: "s5"}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := writeSvc(f, 22, &smallNet, objOp(t, VerbCreate, testService("late"))); res.Err != nil {
		t.Fatal(res.Err)
	}
	if late, _ := storedService(t, f, "late"); late.Spec.ClusterIP != gone.Spec.ClusterIP {
		t.Fatalf("late got %s, want the freed %s", late.Spec.ClusterIP, gone.Spec.ClusterIP)
	}
}

// A command writing a Service must carry a good service range.
func TestServiceWithoutServiceNet(t *testing.T) {
	f := newTestFSM(t)
	mustInvalid(t, "no range", writeSvc(f, 2, nil, objOp(t, VerbCreate, testService("web"))), "no service range")
	bad := ServiceNet{CIDR: "10.96.0.0/30", NodePortMin: 30000, NodePortMax: 30004}
	mustInvalid(t, "bad range", writeSvc(f, 3, &bad, objOp(t, VerbCreate, testService("web"))), "too small")
	if _, err := f.Get("Service", "default", "web"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused service was stored: %v", err)
	}
	// Other kinds need none.
	if res := write(f, 4, opCM(VerbCreate, "cfg", nil)); res.Err != nil {
		t.Fatal(res.Err)
	}
	// The whole command fails: the ConfigMap beside the Service is not written.
	mustInvalid(t, "no range, two ops", writeSvc(f, 5, nil, opCM(VerbCreate, "cfg2", nil), objOp(t, VerbCreate, testService("web"))), "no service range")
	if _, err := f.Get("ConfigMap", "default", "cfg2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("part of a refused command was stored: %v", err)
	}
}

func TestServiceNetCodecRoundTrip(t *testing.T) {
	sn := smallNet
	svcOp := objOp(t, VerbApply, testService("web"))
	status := []PodStatusReport{{Namespace: "default", Name: "p", UID: "u", Node: "n1", Status: api.PodStatus{Phase: api.PodRunning, PodIP: "10.0.0.2"}}}
	for name, c := range map[string]*Command{
		"service net":                 {Type: CmdWrite, Time: t0, RequestID: "r1", Ops: []Op{svcOp}, ServiceNet: &sn},
		"no service net":              {Type: CmdWrite, Time: t0, Ops: []Op{svcOp}},
		"statuses, no service net":    {Type: CmdPodStatus, Time: t0, PodStatuses: status},
		"statuses and service net":    {Type: CmdPodStatus, Time: t0, PodStatuses: status, ServiceNet: &sn},
		"plan and service net":        {Type: CmdPlan, Time: t0, Plan: &Plan{Binds: []Bind{{Namespace: "default", Name: "p", UID: "u", Node: "n1"}}}, ServiceNet: &sn},
		"service net, nothing else":   {Type: CmdWrite, ServiceNet: &sn},
		"plan, statuses, service net": {Type: CmdWrite, Plan: &Plan{}, PodStatuses: status, ServiceNet: &sn},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := c.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeCommand(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(c)) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, c)
			}
			// The JSON form too.
			js, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if got, err = DecodeCommand(js); err != nil || !reflect.DeepEqual(normalize(got), normalize(c)) {
				t.Fatalf("JSON round trip: %v\n got %+v\nwant %+v", err, got, c)
			}
		})
	}
}

func TestServiceNetCheck(t *testing.T) {
	for _, tc := range []struct {
		cidr     string
		min, max int32
		msg      string // "" when good
	}{
		{"10.96.0.0/12", 30000, 32767, ""},
		{"10.96.0.0/28", 30000, 30000, ""},
		{"192.168.0.0/16", 1, 65535, ""},
		{"", 30000, 32767, "not an IPv4 prefix"},
		{"10.96.0.0", 30000, 32767, "not an IPv4 prefix"},
		{"fd00::/108", 30000, 32767, "not an IPv4 prefix"},
		{"::ffff:10.96.0.0/124", 30000, 32767, "not an IPv4 prefix"},
		{"10.96.0.0/29", 30000, 32767, "too small"},
		{"10.96.0.0/32", 30000, 32767, "too small"},
		{"10.96.0.1/28", 30000, 32767, "host bits set"},
		{"10.96.1.0/12", 30000, 32767, "host bits set"},
		{"10.96.0.0/12", 0, 32767, "not a range of ports"},
		{"10.96.0.0/12", -1, 32767, "not a range of ports"},
		{"10.96.0.0/12", 30000, 65536, "not a range of ports"},
		{"10.96.0.0/12", 32767, 30000, "not a range of ports"},
	} {
		sn := ServiceNet{CIDR: tc.cidr, NodePortMin: tc.min, NodePortMax: tc.max}
		err := sn.Check()
		switch {
		case tc.msg == "" && err != nil:
			t.Errorf("%+v: %v", sn, err)
		case tc.msg != "" && (err == nil || !strings.Contains(err.Error(), tc.msg)):
			t.Errorf("%+v: got %v, want ...%s...", sn, err, tc.msg)
		}
	}
}

// Within one Service a TCP and a UDP port may share a node port; a port
// the Service kept stays when the leader's range shrinks.
func TestServiceNodePortProtocolsAndRange(t *testing.T) {
	f := newTestFSM(t)
	dns := func(s *api.Service) {
		s.Spec.Type = api.ServiceTypeNodePort
		s.Spec.Ports = []api.ServicePort{{Name: "tcp", Port: 53, Protocol: "TCP", NodePort: smallNet.NodePortMin},
			{Name: "udp", Port: 53, Protocol: "UDP", NodePort: smallNet.NodePortMin}}
	}
	if res := writeSvc(f, 2, &smallNet, objOp(t, VerbApply, testService("dns", dns))); res.Err != nil {
		t.Fatalf("TCP and UDP on one node port: %v", res.Err)
	}
	if res := writeSvc(f, 4, &smallNet, objOp(t, VerbApply, testService("a", nodePortService(0, 0)))); res.Err != nil {
		t.Fatal(res.Err)
	}
	a, _ := storedService(t, f, "a")
	narrow := smallNet
	narrow.NodePortMax = narrow.NodePortMin + 1
	relabel := func(s *api.Service) { s.Metadata.Labels = map[string]string{"v": "2"} }
	if res := writeSvc(f, 5, &narrow, objOp(t, VerbApply, testService("a", nodePortService(0, 0), relabel))); res.Err != nil {
		t.Fatalf("a re-applied under a narrower range: %v", res.Err)
	}
	if b, _ := storedService(t, f, "a"); b.Spec.Ports[0].NodePort != a.Spec.Ports[0].NodePort || b.Spec.Ports[1].NodePort != a.Spec.Ports[1].NodePort {
		t.Errorf("node ports moved: %v, then %v", a.Spec.Ports, b.Spec.Ports)
	}
}
