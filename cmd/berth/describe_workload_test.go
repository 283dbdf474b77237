package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
)

func TestDescribePendingPod(t *testing.T) {
	p := &api.Pod{Metadata: api.ObjectMeta{Name: "big", Namespace: "default"}}
	p.Spec.Containers = []api.Container{{Name: "main", Image: "busybox", Resources: api.ResourceRequirements{
		Limits: api.ResourceList{"cpu": "64"}}}}
	p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	api.Default(p)
	msg := "0/3 nodes are available: 3 Insufficient cpu."
	p.Status.Conditions = []api.PodCondition{{Type: api.PodScheduled, Status: api.ConditionFalse, Reason: api.ReasonUnschedulable, Message: msg}}
	var out bytes.Buffer
	if err := describeObject(&out, p, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Node:             <none>\n",
		"Status:           Pending (Unschedulable)\n",
		"    Requests:     cpu=64\n",
		"Node-Selectors:   disk=ssd\n",
		"  PodScheduled  False   Unschedulable  " + msg + "\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("describe lacks %q:\n%s", want, out.String())
		}
	}
}

func TestPodAndNodeTables(t *testing.T) {
	p := &api.Pod{Metadata: api.ObjectMeta{Name: "web", Namespace: "default"}, Spec: api.PodSpec{NodeName: "n1"}}
	n := &api.Node{Metadata: api.ObjectMeta{Name: "n1", Labels: map[string]string{"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/server": ""}}, Spec: api.NodeSpec{Unschedulable: true}}
	n.Status.Addresses = []api.NodeAddress{{Type: "Hostname", Address: "h1"}, {Type: "InternalIP", Address: "10.0.0.7"}}
	n.Status.Capacity = api.ResourceList{"cpu": "1500m", "memory": "8Gi", "nvidia.com/gpu": "2"}
	n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}
	api.Default(p)
	api.Default(n)
	now := time.Now()
	var out bytes.Buffer
	pods, _ := api.LookupKind("Pod")
	nodes, _ := api.LookupKind("Node")
	if err := printTable(&out, pods, []api.Object{p}, false, now); err != nil {
		t.Fatal(err)
	}
	if err := printTable(&out, nodes, []api.Object{n}, false, now); err != nil {
		t.Fatal(err)
	}
	n.Status.Capacity["memory"] = "24684092Ki"
	n.Status.Allocatable["memory"] = "24684092Ki"
	used := map[string]api.Resources{"n1": {MilliCPU: 500, Memory: 1 << 30, GPU: 1}}
	if err := printTableWith(&out, nodes, []api.Object{n}, false, now, used); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME   STATUS    NODE   AGE\n" +
		"web    Pending   n1     <unknown>\n" +
		"NAME   STATUS                     ROLES           ADDRESS    CPU     MEMORY   GPUS   AGE\n" +
		"n1     Ready,SchedulingDisabled   server,worker   10.0.0.7   1500m   8Gi      2      <unknown>\n" +
		"NAME   STATUS                     ROLES           ADDRESS    CPU          MEMORY       GPUS   AGE\n" +
		"n1     Ready,SchedulingDisabled   server,worker   10.0.0.7   500m/1500m   1Gi/23.5Gi   1/2    <unknown>\n"
	if out.String() != want {
		t.Fatalf("tables:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestDescribeDeployment(t *testing.T) {
	d := deployment(3, 2, api.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 2, AvailableReplicas: 3, UnavailableReplicas: 1,
		Conditions: []api.DeploymentCondition{
			{Type: api.DeploymentAvailable, Status: api.ConditionTrue, Reason: api.ReasonMinimumReplicasAvailable},
			{Type: api.DeploymentProgressing, Status: api.ConditionTrue, Reason: api.ReasonReplicaSetUpdated},
		}})
	d.Metadata.CreationTimestamp = ""
	d.Spec.Strategy.RollingUpdate = &api.RollingUpdateDeployment{MaxSurge: &api.IntOrString{IntVal: 1}}
	var out bytes.Buffer
	if err := describeObject(&out, d, now); err != nil {
		t.Fatal(err)
	}
	old := replicaSet(d, "1", "nginx:1.25", "")
	old.Spec.Replicas = int32p(2)
	old.Status.Replicas = 2
	older := replicaSet(d, "0", "nginx:1.24", "")
	cur := replicaSet(d, "2", "nginx:1.27", "")
	cur.Spec.Replicas = int32p(2)
	cur.Status.Replicas = 2
	if err := deploymentReplicaSets(&out, d, []*api.ReplicaSet{older, old, cur}); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"Name:                   web\n" +
		"Namespace:              default\n" +
		"Labels:                 <none>\n" +
		"Annotations:            <none>\n" +
		"UID:                    u-web\n" +
		"ResourceVersion:        7\n" +
		"Created:                \n" +
		"Selector:               app=web\n" +
		"Replicas:               3 desired | 2 updated | 4 total | 3 available | 1 unavailable\n" +
		"StrategyType:           RollingUpdate\n" +
		"MinReadySeconds:        0\n" +
		"RollingUpdateStrategy:  25% max unavailable, 1 max surge\n" +
		"Pod Template:\n" +
		"  Labels:  app=web\n" +
		"  Containers:\n" +
		"   web:\n" +
		"    Image:        nginx:1.27\n" +
		"    Port:         <none>\n" +
		"    Environment:  <none>\n" +
		"    Mounts:       <none>\n" +
		"  Volumes:        <none>\n" +
		"Conditions:\n" +
		"  Type         Status  Reason\n" +
		"  ----         ------  ------\n" +
		"  Available    True    MinimumReplicasAvailable\n" +
		"  Progressing  True    ReplicaSetUpdated\n" +
		"OldReplicaSets:  web-h1 (2/2 replicas created)\n" +
		"NewReplicaSet:   web-h2 (2/2 replicas created)\n"
	if out.String() != want {
		t.Fatalf("describe\n%s\nwant\n%s", out.String(), want)
	}
}

func TestSelectorString(t *testing.T) {
	s := &api.LabelSelector{MatchLabels: map[string]string{"tier": "front", "app": "web"}, MatchExpressions: []api.LabelSelectorRequirement{
		{Key: "env", Operator: "In", Values: []string{"a", "b"}}, {Key: "gpu", Operator: "Exists"}, {Key: "spot", Operator: "DoesNotExist"}}}
	if got, want := selectorString(s), "app=web,tier=front,env in (a,b),gpu,!spot"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if selectorString(nil) != "<none>" || selectorString(&api.LabelSelector{}) != "<none>" {
		t.Fatal("empty selectors")
	}
}
