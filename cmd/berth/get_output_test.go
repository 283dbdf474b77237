package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// getOutput runs get's printing of objs of a kind in one format and
// returns stdout and stderr.
func getOutput(t *testing.T, kindName, format string, objs []api.Object, single bool) (string, string) {
	t.Helper()
	info := kind(t, kindName)
	var out, errOut bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	o := getOptions{output: format}
	r := getRequest{info: info, namespace: "default"}
	if !info.Namespaced {
		r.namespace = ""
	}
	if single {
		r.name = objs[0].GetObjectMeta().Name
	}
	if err := o.print(cmd, r, objs, now, nil); err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String()
}

// TestGetEveryKindEveryFormat prints one object of every kind in every
// format: name is kind[.group]/name, json and yaml carry the kind and the
// name, and every table row has a cell under each header, wide or not.
func TestGetEveryKindEveryFormat(t *testing.T) {
	for _, info := range api.Kinds() {
		obj := info.New()
		md := obj.GetObjectMeta()
		md.Name, md.CreationTimestamp = "x1", ago(time.Minute)
		if info.Namespaced {
			md.Namespace = "default"
		}
		t.Run(info.Plural, func(t *testing.T) {
			if out, _ := getOutput(t, info.Plural, outName, []api.Object{obj}, false); out != resourceName(info.Kind)+"/x1\n" {
				t.Errorf("-o name: %q", out)
			}
			for _, format := range []string{outJSON, outYAML} {
				out, _ := getOutput(t, info.Plural, format, []api.Object{obj}, true)
				var doc struct {
					Kind     string `json:"kind"`
					Metadata struct {
						Name string `json:"name"`
					} `json:"metadata"`
				}
				if err := yaml.Unmarshal([]byte(out), &doc); err != nil || doc.Kind != info.Kind || doc.Metadata.Name != "x1" {
					t.Errorf("-o %s: %v %+v\n%s", format, err, doc, out)
				}
				if format == outJSON && !json.Valid([]byte(out)) {
					t.Errorf("-o json is not JSON:\n%s", out)
				}
			}
			for _, o := range []tableOptions{{}, {wide: true}, {wide: true, withNamespace: true}} {
				header, row := kindTable(info.Kind, o).rows[0], tableRow(obj, o)
				if len(header) != len(row) {
					t.Errorf("%+v: header %q, row %q", o, header, row)
				}
			}
			for _, format := range []string{outTable, outWide} {
				out, _ := getOutput(t, info.Plural, format, []api.Object{obj}, false)
				// An Event's table names the object it is about, not itself.
				named := strings.Contains(out, "x1") || (info.Kind == "Event" && format == outTable)
				if lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); len(lines) != 2 || !named {
					t.Errorf("-o %s:\n%s", format, out)
				}
			}
		})
	}
}

func TestGetWide(t *testing.T) {
	web := pod("default", "web-1", "n1", "ReplicaSet/web")
	web.Metadata.CreationTimestamp = ago(5 * time.Minute)
	web.Status.PodIP = "10.244.1.5"
	web.Spec.AssignedGPUs = []string{"GPU-0", "GPU-1"}
	web.Spec.Containers = []api.Container{{Name: "web", Image: "nginx:1"}, {Name: "log", Image: "busybox"}}
	web.Status.ContainerStatuses = []api.ContainerStatus{{Name: "web", RestartCount: 2}, {Name: "log", RestartCount: 1}}
	bare := pod("default", "bare", "", "")
	bare.Status.Phase = api.PodPending

	n := &api.Node{Metadata: meta("", "n1", time.Hour)}
	n.Status.Addresses = []api.NodeAddress{{Type: "InternalIP", Address: "10.0.0.7"}}
	n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}
	n.Status.Capacity = api.ResourceList{"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"}
	n.Status.NodeInfo = api.NodeInfo{OperatingSystem: "linux", Architecture: "amd64", KernelVersion: "6.1.0-18-amd64", AgentVersion: "v0.4.0"}
	n.Status.GPUs = []api.NodeGPU{{ID: "GPU-0", Model: "NVIDIA H100"}, {ID: "GPU-1", Model: "NVIDIA H100"}}
	api.Default(n)
	old := &api.Node{Metadata: meta("", "n2", time.Hour)}

	d := deployment(3, 2, api.DeploymentStatus{ReadyReplicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3})
	d.Metadata = meta("default", "web", 5*time.Minute)
	d.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "front"},
		MatchExpressions: []api.LabelSelectorRequirement{{Key: "env", Operator: "In", Values: []string{"prod", "qa"}}}}
	d.Spec.Template.Spec.Containers = []api.Container{{Name: "web", Image: "nginx:1"}, {Name: "log", Image: "busybox"}}

	svc := &api.Service{Metadata: meta("default", "web", time.Hour), Spec: api.ServiceSpec{Type: api.ServiceTypeClusterIP, ClusterIP: "10.96.0.12",
		Selector: map[string]string{"tier": "front", "app": "web"}, Ports: []api.ServicePort{{Port: 80, Protocol: "TCP"}}}}
	headless := &api.Service{Metadata: meta("default", "ext", time.Hour), Spec: api.ServiceSpec{Type: api.ServiceTypeClusterIP, ClusterIP: api.ClusterIPNone}}

	tests := []struct {
		kind string
		objs []api.Object
		want string
	}{
		{"pods", []api.Object{web, bare}, "" +
			"NAME    STATUS    NODE     AGE   IP           RESTARTS   GPUS          IMAGES\n" +
			"web-1   Running   n1       5m    10.244.1.5   3          GPU-0,GPU-1   nginx:1,busybox\n" +
			"bare    Pending   <none>   0s    <none>       0          <none>        <none>\n"},
		{"nodes", []api.Object{n, old}, "" +
			"NAME   STATUS     ROLES    ADDRESS    CPU   MEMORY   GPUS   AGE   VERSION     OS-IMAGE      KERNEL-VERSION   GPU-MODEL\n" +
			"n1     Ready      <none>   10.0.0.7   8     32Gi     2      60m   v0.4.0      linux/amd64   6.1.0-18-amd64   2x NVIDIA H100\n" +
			"n2     NotReady   <none>   <none>     0     0        0      60m   <unknown>   <unknown>     <unknown>        <none>\n"},
		{"deployments", []api.Object{d}, "" +
			"NAME   READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES            SELECTOR\n" +
			"web    3/3     3            3           5m    web,log      nginx:1,busybox   app=web,tier=front,env in (prod,qa)\n"},
		{"services", []api.Object{svc, headless}, "" +
			"NAME   TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE   SELECTOR\n" +
			"web    ClusterIP   10.96.0.12   <none>        80/TCP    60m   app=web,tier=front\n" +
			"ext    ClusterIP   None         <none>        <none>    60m   <none>\n"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			if out, _ := getOutput(t, tt.kind, outWide, tt.objs, false); out != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", out, tt.want)
			}
		})
	}
}

// event is an Event about a pod, last seen ago, count times.
func event(name, typ, reason, msg string, last time.Duration, count int32) *api.Event {
	return &api.Event{
		TypeMeta:       api.TypeMeta{APIVersion: "v1", Kind: "Event"},
		Metadata:       meta("default", name, 2*time.Hour),
		InvolvedObject: api.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-1"},
		Reason:         reason, Message: msg, Type: typ, Count: count,
		Source:         api.EventSource{Component: "node", Host: "n1"},
		FirstTimestamp: ago(last + 10*time.Minute), LastTimestamp: ago(last),
	}
}

// TestGetEvents prints Events as kubectl does, the latest last whatever
// order the server listed them in.
func TestGetEvents(t *testing.T) {
	objs := []api.Object{
		event("e2", api.EventWarning, "BackOff", "Back-off restarting\nfailed container", time.Minute, 4),
		event("e1", api.EventNormal, "Pulled", "Image pulled", 30*time.Minute, 1),
		event("e3", api.EventNormal, "Started", "Started container web", 10*time.Second, 1),
	}
	out, _ := getOutput(t, "events", outTable, objs, false)
	want := "" +
		"LAST SEEN           TYPE      REASON    OBJECT      MESSAGE\n" +
		"30m                 Normal    Pulled    pod/web-1   Image pulled\n" +
		"60s (x4 over 11m)   Warning   BackOff   pod/web-1   Back-off restarting failed container\n" +
		"10s                 Normal    Started   pod/web-1   Started container web\n"
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	out, _ = getOutput(t, "ev", outWide, objs[1:2], false)
	want = "" +
		"LAST SEEN   TYPE     REASON   OBJECT      SOURCE     MESSAGE        FIRST SEEN   COUNT   NAME\n" +
		"30m         Normal   Pulled   pod/web-1   node, n1   Image pulled   40m          1       e1\n"
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	if out, _ := getOutput(t, "events", outName, objs, false); out != "event/e1\nevent/e2\nevent/e3\n" {
		t.Fatalf("-o name: %q", out)
	}
	var all bytes.Buffer
	if err := writeTable(&all, kind(t, "events"), objs[2:], tableOptions{withNamespace: true, now: now}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(all.String(), "NAMESPACE   LAST SEEN   TYPE") || !strings.Contains(all.String(), "\ndefault     10s ") {
		t.Fatalf("-A:\n%s", all.String())
	}
}

func TestGetInvalidOutput(t *testing.T) {
	for _, args := range [][]string{{"get", "pods", "-o", "tabel"}, {"get", "nodes", "-o", "wide", "-o", "xml"}, {"get", "events", "-w", "-o", "csv"}} {
		_, _, err := run(t, "", append([]string{"--addr", "127.0.0.1:1"}, args...)...)
		if want := "(want table, wide, yaml, json or name)"; err == nil || !strings.HasPrefix(err.Error(), "unknown output format") || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("%v: error %v, want the valid formats listed", args, err)
		}
	}
}
