package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
)

func TestPrintAppsTables(t *testing.T) {
	d := deployment(3, 2, api.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1, ReadyReplicas: 2, AvailableReplicas: 2})
	d.Metadata = meta("default", "web", 5*time.Minute)
	rs := replicaSet(d, "1", "nginx", "")
	rs.Spec.Replicas = int32p(3)
	rs.Status = api.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1}
	ss := &api.StatefulSet{Metadata: meta("default", "db", time.Hour), Status: api.StatefulSetStatus{ReadyReplicas: 1}}
	bound := &api.PersistentVolumeClaim{Metadata: meta("default", "data-db-0", time.Hour),
		Spec:   api.PersistentVolumeClaimSpec{AccessModes: []string{"ReadWriteOnce"}, Resources: api.VolumeResourceRequirements{Requests: api.ResourceList{"storage": "1Gi"}}},
		Status: api.PersistentVolumeClaimStatus{Phase: api.ClaimBound}}
	bound.Metadata.Annotations = map[string]string{api.AnnotationSelectedNode: "n1"}
	class := "local"
	pending := &api.PersistentVolumeClaim{Metadata: meta("default", "data-db-1", time.Minute), Spec: api.PersistentVolumeClaimSpec{StorageClassName: &class}}
	hpa := &api.HorizontalPodAutoscaler{Metadata: meta("default", "web", time.Hour),
		Spec: api.HorizontalPodAutoscalerSpec{ScaleTargetRef: api.CrossVersionObjectReference{Kind: "Deployment", Name: "web"}, MaxReplicas: 10,
			Metrics: []api.MetricSpec{
				{Type: api.MetricResource, Resource: &api.ResourceMetricSource{Name: "cpu", Target: api.MetricTarget{Type: api.TargetUtilization, AverageUtilization: int32p(80)}}},
				{Type: api.MetricResource, Resource: &api.ResourceMetricSource{Name: "nvidia.com/gpu", Target: api.MetricTarget{Type: api.TargetUtilization, AverageUtilization: int32p(60)}}},
			}},
		Status: api.HorizontalPodAutoscalerStatus{CurrentReplicas: 3, CurrentMetrics: []api.MetricStatus{
			{Type: api.MetricResource, Resource: &api.ResourceMetricStatus{Name: "cpu", Current: api.MetricValueStatus{AverageUtilization: int32p(42)}}}}}}
	fresh := &api.HorizontalPodAutoscaler{Metadata: meta("default", "api", time.Minute),
		Spec: api.HorizontalPodAutoscalerSpec{ScaleTargetRef: api.CrossVersionObjectReference{Kind: "StatefulSet", Name: "db"}, MinReplicas: int32p(2), MaxReplicas: 4}}
	tests := []struct {
		kind string
		objs []api.Object
		want string
	}{
		{"deploy", []api.Object{d}, "" +
			"NAME   READY   UP-TO-DATE   AVAILABLE   AGE\n" +
			"web    2/3     1            2           5m\n"},
		{"rs", []api.Object{rs}, "" +
			"NAME     DESIRED   CURRENT   READY   AGE\n" +
			"web-h1   3         3         1       0s\n"},
		{"sts", []api.Object{ss}, "" +
			"NAME   READY   AGE\n" +
			"db     1/1     60m\n"},
		{"pvc", []api.Object{bound, pending}, "" +
			"NAME        STATUS    VOLUME      CAPACITY   ACCESS MODES   STORAGECLASS   NODE     AGE\n" +
			"data-db-0   Bound     data-db-0   1Gi        RWO            <unset>        n1       60m\n" +
			"data-db-1   Pending                                         local          <none>   60s\n"},
		{"hpa", []api.Object{hpa, fresh}, "" +
			"NAME   REFERENCE        TARGETS                                       MINPODS   MAXPODS   REPLICAS   AGE\n" +
			"web    Deployment/web   cpu: 42%/80%, nvidia.com/gpu: <unknown>/60%   1         10        3          60m\n" +
			"api    StatefulSet/db   cpu: <unknown>/80%                            2         4         0          60s\n"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			var buf bytes.Buffer
			if err := printTable(&buf, kind(t, tt.kind), tt.objs, false, now); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", buf.String(), tt.want)
			}
		})
	}
}

func TestObjectNameWithGroup(t *testing.T) {
	d := deployment(1, 1, api.DeploymentStatus{})
	d.TypeMeta = api.TypeMeta{}
	hpa := &api.HorizontalPodAutoscaler{Metadata: meta("default", "web", 0)}
	for obj, want := range map[api.Object]string{
		d:                            "deployment.apps/web",
		hpa:                          "horizontalpodautoscaler.autoscaling/web",
		configMap("default", "x", 0): "configmap/x",
		&api.PersistentVolumeClaim{Metadata: meta("default", "c", 0)}: "persistentvolumeclaim/c",
	} {
		if got := objectName(obj); got != want {
			t.Errorf("objectName = %q, want %q", got, want)
		}
	}
	for name, want := range map[string]string{"deployment.apps": "Deployment", "deploy.apps": "Deployment", "hpa.autoscaling": "HorizontalPodAutoscaler", "sts": "StatefulSet"} {
		if info, err := resolveKind(name); err != nil || info.Kind != want {
			t.Errorf("resolveKind(%q) = %q, %v; want %s", name, info.Kind, err, want)
		}
	}
	for _, name := range []string{"deployment.autoscaling", "configmap.apps", "pods.", ".apps"} {
		if _, err := resolveKind(name); err == nil {
			t.Errorf("resolveKind(%q) resolved", name)
		}
	}
}
