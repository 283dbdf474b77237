package api

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Minimal valid manifests of the workload kinds. The tests below change
// them with addSpec, addPodSpec and strings.Replace.
const (
	baseDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: nginx}]
`
	baseReplicaSet = `apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  selector:
    matchExpressions: [{key: app, operator: In, values: [web, www]}]
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: nginx}]
`
	baseStatefulSet = `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: pg
        image: postgres
        volumeMounts: [{name: data, mountPath: /var/lib/postgresql}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      resources: {requests: {storage: 1Gi}}
`
	basePVC = `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  resources: {requests: {storage: 10Gi}}
`
	baseHPA = `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {kind: Deployment, name: web}
  maxReplicas: 5
`
)

// addSpec adds lines, indented by two spaces, at the top of spec.
func addSpec(base, lines string) string {
	return strings.Replace(base, "\nspec:\n", "\nspec:\n"+lines, 1)
}

// addPodSpec adds lines, indented by six spaces, at the top of
// spec.template.spec.
func addPodSpec(base, lines string) string {
	return strings.Replace(base, "\n    spec:\n", "\n    spec:\n"+lines, 1)
}

func decodeOne(t *testing.T, in string) Object {
	t.Helper()
	objs, err := DecodeDocuments([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 {
		t.Fatalf("got %d objects, want 1", len(objs))
	}
	return objs[0]
}

func TestAppsDefaults(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(t *testing.T, obj Object)
	}{
		{"deployment", baseDeployment, func(t *testing.T, obj Object) {
			d := obj.(*Deployment)
			s := &d.Spec
			if *s.Replicas != 1 || *s.RevisionHistoryLimit != 10 || *s.ProgressDeadlineSeconds != 600 || d.Metadata.Namespace != "default" {
				t.Errorf("spec = %+v", s)
			}
			if ru := s.Strategy.RollingUpdate; s.Strategy.Type != RollingUpdateStrategy || ru.MaxSurge.String() != "25%" || ru.MaxUnavailable.String() != "25%" {
				t.Errorf("strategy = %+v", s.Strategy)
			}
			if s.Template.Spec.RestartPolicy != "Always" || s.Template.Metadata.Namespace != "" {
				t.Errorf("template = %+v", s.Template)
			}
		}},
		{"deployment recreate", addSpec(baseDeployment, "  strategy: {type: Recreate}\n"), func(t *testing.T, obj Object) {
			if st := obj.(*Deployment).Spec.Strategy; st.Type != RecreateStrategy || st.RollingUpdate != nil {
				t.Errorf("strategy = %+v", st)
			}
		}},
		{"deployment surge only", addSpec(baseDeployment, "  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}\n"), func(t *testing.T, obj Object) {
			ru := obj.(*Deployment).Spec.Strategy.RollingUpdate
			if *ru.MaxSurge != (IntOrString{IntVal: 1}) || *ru.MaxUnavailable != (IntOrString{}) {
				t.Errorf("rollingUpdate = %+v %+v", ru.MaxSurge, ru.MaxUnavailable)
			}
		}},
		{"deployment percentages", addSpec(baseDeployment, "  strategy: {rollingUpdate: {maxSurge: 100%, maxUnavailable: '0%'}}\n  minReadySeconds: 10\n  progressDeadlineSeconds: 11\n"), nil},
		{"replicaset", addSpec(baseReplicaSet, "  replicas: 0\n"), func(t *testing.T, obj Object) {
			rs := obj.(*ReplicaSet)
			if *rs.Spec.Replicas != 0 || rs.Spec.Template.Spec.RestartPolicy != "Always" {
				t.Errorf("spec = %+v", rs.Spec)
			}
		}},
		{"statefulset", baseStatefulSet, func(t *testing.T, obj Object) {
			s := &obj.(*StatefulSet).Spec
			if *s.Replicas != 1 || s.PodManagementPolicy != OrderedReadyPodManagement || *s.RevisionHistoryLimit != 10 {
				t.Errorf("spec = %+v", s)
			}
			if u := s.UpdateStrategy; u.Type != RollingUpdateStrategy || *u.RollingUpdate.Partition != 0 {
				t.Errorf("updateStrategy = %+v", u)
			}
			if m := s.VolumeClaimTemplates[0].Spec.AccessModes; len(m) != 1 || m[0] != ReadWriteOnce {
				t.Errorf("accessModes = %v", m)
			}
			if len(s.Template.Spec.Volumes) != 0 {
				t.Errorf("claim templates leaked into the pod's volumes: %+v", s.Template.Spec.Volumes)
			}
		}},
		{"statefulset on delete", addSpec(baseStatefulSet, "  updateStrategy: {type: OnDelete}\n  podManagementPolicy: Parallel\n"), func(t *testing.T, obj Object) {
			if u := obj.(*StatefulSet).Spec.UpdateStrategy; u.RollingUpdate != nil {
				t.Errorf("updateStrategy = %+v", u)
			}
		}},
		{"statefulset with a pod volume too", addPodSpec(baseStatefulSet, "      volumes: [{name: tmp, emptyDir: {}}]\n"), nil},
		{"pvc", basePVC, func(t *testing.T, obj Object) {
			c := obj.(*PersistentVolumeClaim)
			if len(c.Spec.AccessModes) != 1 || c.Spec.AccessModes[0] != ReadWriteOnce || c.Status.Phase != ClaimPending {
				t.Errorf("claim = %+v", c)
			}
		}},
		{"pvc modes", addSpec(basePVC, "  accessModes: [ReadWriteMany, ReadOnlyMany]\n  storageClassName: local\n  volumeMode: Filesystem\n"), nil},
		{"hpa", baseHPA, func(t *testing.T, obj Object) {
			s := &obj.(*HorizontalPodAutoscaler).Spec
			if *s.MinReplicas != 1 || s.ScaleTargetRef.APIVersion != "apps/v1" || s.Behavior != nil {
				t.Errorf("spec = %+v", s)
			}
			if len(s.Metrics) != 1 || s.Metrics[0].Type != MetricResource || s.Metrics[0].Resource.Name != ResourceCPU ||
				s.Metrics[0].Resource.Target.Type != TargetUtilization || *s.Metrics[0].Resource.Target.AverageUtilization != 80 {
				t.Errorf("metrics = %+v", s.Metrics)
			}
		}},
		{"hpa gpu", addSpec(baseHPA, "  minReplicas: 2\n  metrics:\n  - type: Resource\n    resource: {name: nvidia.com/gpu, target: {type: Utilization, averageUtilization: 60}}\n"+
			"  behavior: {scaleUp: {stabilizationWindowSeconds: 0}, scaleDown: {stabilizationWindowSeconds: 3600}}\n"), func(t *testing.T, obj Object) {
			s := &obj.(*HorizontalPodAutoscaler).Spec
			if len(s.Metrics) != 1 || s.Metrics[0].Resource.Name != ResourceGPU || *s.Behavior.ScaleDown.StabilizationWindowSeconds != 3600 {
				t.Errorf("spec = %+v", s)
			}
		}},
		{"owner references", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  ownerReferences:\n" +
			"  - {apiVersion: apps/v1, kind: Deployment, name: web, uid: u1, controller: true}\n" +
			"  - {apiVersion: apps/v1, kind: ReplicaSet, name: web-1, uid: u2, controller: false}\n", func(t *testing.T, obj Object) {
			if r := ControllerOf(obj.GetObjectMeta()); r == nil || r.UID != "u1" {
				t.Errorf("controller = %+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := decodeOne(t, tt.in)
			if tt.check != nil {
				tt.check(t, obj)
			}
			b1 := checkDefaulted(t, obj)
			// A template has no status: defaulting the pod's does not leak.
			if bytes.Contains(b1, []byte(`"phase"`)) && !strings.Contains(tt.in, "PersistentVolumeClaim") {
				t.Errorf("a status phase in %s", b1)
			}
		})
	}
}

// checkDefaulted checks that Default of a decoded (so defaulted) object
// changes nothing and that it validates; it returns its encoding.
func checkDefaulted(t *testing.T, obj Object) []byte {
	t.Helper()
	b1, err := Encode(obj)
	if err != nil {
		t.Fatal(err)
	}
	Default(obj)
	if b2, _ := Encode(obj); !bytes.Equal(b1, b2) {
		t.Errorf("Default changed a defaulted object:\n%s\n%s", b1, b2)
	}
	if err := Validate(obj); err != nil {
		t.Errorf("Validate: %v", err)
	}
	return b1
}

func TestAppsValidation(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the exact message
	}{
		// Deployment
		{"deployment negative numbers", addSpec(baseDeployment, "  replicas: -1\n  minReadySeconds: -2\n  revisionHistoryLimit: -3\n"),
			`deployment "web": spec.replicas: -1 is negative; spec.minReadySeconds: -2 is negative; spec.revisionHistoryLimit: -3 is negative`},
		{"deployment no selector", strings.Replace(baseDeployment, "  selector: {matchLabels: {app: web}}\n", "", 1),
			`deployment "web": spec.selector: required: at least one matchLabels or matchExpressions entry`},
		{"deployment empty selector", strings.Replace(baseDeployment, "{matchLabels: {app: web}}", "{}", 1),
			`deployment "web": spec.selector: required: at least one matchLabels or matchExpressions entry`},
		{"deployment selector mismatch", strings.Replace(baseDeployment, "{labels: {app: web}}", "{labels: {app: api}}", 1),
			`deployment "web": spec.template.metadata.labels: does not match spec.selector`},
		{"deployment bad selector", strings.Replace(baseDeployment, "{matchLabels: {app: web}}", "{matchExpressions: [{key: app, operator: Is}]}", 1),
			`deployment "web": spec.selector.matchExpressions[0].operator: "Is" is not In, NotIn, Exists or DoesNotExist`},
		{"deployment bad template label", strings.Replace(baseDeployment, "{labels: {app: web}}", "{labels: {app: web, bad key: x}}", 1),
			`deployment "web": spec.template.metadata.labels: key "bad key": name ` + nameMsg},
		{"deployment bad template annotation", strings.Replace(baseDeployment, "{labels: {app: web}}", "{labels: {app: web}, annotations: {/x: v}}", 1),
			`deployment "web": spec.template.metadata.annotations: key "/x": prefix before '/' must not be empty`},
		{"deployment no containers", strings.Replace(baseDeployment, "[{name: c, image: nginx}]", "[]", 1),
			`deployment "web": spec.template.spec.containers: required: a pod has at least one container`},
		{"deployment no image", strings.Replace(baseDeployment, "image: nginx", "image: ''", 1),
			`deployment "web": spec.template.spec.containers[0].image: required`},
		{"pod dns policy None", addPodSpec(baseDeployment, "      dnsPolicy: None\n"),
			`deployment "web": spec.template.spec.dnsPolicy: "None" is not supported (it needs dnsConfig); use ClusterFirst or Default`},
		{"pod dns policy unknown", addPodSpec(baseDeployment, "      dnsPolicy: Cluster\n"),
			`deployment "web": spec.template.spec.dnsPolicy: "Cluster" is not a DNS policy (ClusterFirst, ClusterFirstWithHostNet, Default)`},
		{"pod hostname", addPodSpec(baseDeployment, "      hostname: Db_0\n      subdomain: db.x\n"),
			`deployment "web": spec.template.spec.hostname: ` + labelMsg + `; spec.template.spec.subdomain: ` + labelMsg},
		{"deployment restart policy", addPodSpec(baseDeployment, "      restartPolicy: OnFailure\n"),
			`deployment "web": spec.template.spec.restartPolicy: must be "Always" for a Deployment`},
		{"deployment bogus restart policy", addPodSpec(baseDeployment, "      restartPolicy: Sometimes\n"),
			`deployment "web": spec.template.spec.restartPolicy: must be "Always" for a Deployment`},
		{"deployment node name", addPodSpec(baseDeployment, "      nodeName: n1\n"),
			`deployment "web": spec.template.spec.nodeName: must be empty: the scheduler places the pods of a Deployment`},
		{"deployment template strategy annotation", strings.Replace(baseDeployment, "{labels: {app: web}}", "{labels: {app: web}, annotations: {berth.dev/scheduling-strategy: random}}", 1),
			`deployment "web": spec.template.metadata.annotations: berth.dev/scheduling-strategy: "random" is not "binpack" or "spread"`},
		{"deployment strategy type", addSpec(baseDeployment, "  strategy: {type: BlueGreen}\n"),
			`deployment "web": spec.strategy.type: "BlueGreen" is not RollingUpdate or Recreate`},
		{"deployment recreate with rolling update", addSpec(baseDeployment, "  strategy: {type: Recreate, rollingUpdate: {maxSurge: 1}}\n"),
			`deployment "web": spec.strategy.rollingUpdate: may not be set with type "Recreate"`},
		{"deployment both zero", addSpec(baseDeployment, "  strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 0%}}\n"),
			`deployment "web": spec.strategy.rollingUpdate: maxSurge and maxUnavailable may not both be 0`},
		{"deployment negative surge", addSpec(baseDeployment, "  strategy: {rollingUpdate: {maxSurge: -1, maxUnavailable: 150%}}\n"),
			`deployment "web": spec.strategy.rollingUpdate.maxSurge: -1 is negative; spec.strategy.rollingUpdate.maxUnavailable: "150%" is more than 100%`},
		{"deployment surge not a percentage", addSpec(baseDeployment, "  strategy: {rollingUpdate: {maxSurge: a lot}}\n"),
			`deployment "web": spec.strategy.rollingUpdate.maxSurge: "a lot" is not a number or a percentage such as "25%"`},
		{"deployment surge wrong type", addSpec(baseDeployment, "  strategy: {rollingUpdate: {maxSurge: [1]}}\n"),
			`deployment "web": field "spec.strategy.rollingUpdate.maxSurge": expected integer or string, got array`},
		{"deployment surge fraction", addSpec(baseDeployment, "  strategy: {rollingUpdate: {maxUnavailable: 0.5}}\n"),
			`deployment "web": field "spec.strategy.rollingUpdate.maxUnavailable": expected integer or string, got 0.5`},
		{"deployment progress deadline", addSpec(baseDeployment, "  minReadySeconds: 30\n  progressDeadlineSeconds: 30\n"),
			`deployment "web": spec.progressDeadlineSeconds: 30 must be greater than spec.minReadySeconds (30)`},
		{"deployment init containers", addPodSpec(baseDeployment, "      initContainers: [{name: i, image: busybox}]\n"),
			`deployment "web": unknown field "spec.template.spec.initContainers"`},

		// ReplicaSet
		{"replicaset mismatch", strings.Replace(baseReplicaSet, "[web, www]", "[api]", 1),
			`replicaset "web": spec.template.metadata.labels: does not match spec.selector`},
		{"replicaset restart policy", addPodSpec(baseReplicaSet, "      restartPolicy: Never\n"),
			`replicaset "web": spec.template.spec.restartPolicy: must be "Always" for a ReplicaSet`},
		{"replicaset no values", strings.Replace(baseReplicaSet, "values: [web, www]", "values: []", 1),
			`replicaset "web": spec.selector.matchExpressions[0].values: required with operator In`},

		// StatefulSet
		{"statefulset restart policy", addPodSpec(baseStatefulSet, "      restartPolicy: OnFailure\n"),
			`statefulset "db": spec.template.spec.restartPolicy: must be "Always" for a StatefulSet`},
		{"statefulset policies", addSpec(baseStatefulSet, "  podManagementPolicy: AllAtOnce\n  updateStrategy: {type: Replace}\n"),
			`statefulset "db": spec.podManagementPolicy: "AllAtOnce" is not OrderedReady or Parallel; spec.updateStrategy.type: "Replace" is not RollingUpdate or OnDelete`},
		{"statefulset partition", addSpec(baseStatefulSet, "  updateStrategy: {rollingUpdate: {partition: -1}}\n"),
			`statefulset "db": spec.updateStrategy.rollingUpdate.partition: -1 is negative`},
		{"statefulset on delete with partition", addSpec(baseStatefulSet, "  updateStrategy: {type: OnDelete, rollingUpdate: {partition: 1}}\n"),
			`statefulset "db": spec.updateStrategy.rollingUpdate: may not be set with type "OnDelete"`},
		{"statefulset service name", strings.Replace(baseStatefulSet, "serviceName: db", "serviceName: db.svc", 1),
			`statefulset "db": spec.serviceName: "db.svc" ` + labelMsg},
		{"statefulset volume named like a claim", addPodSpec(baseStatefulSet, "      volumes: [{name: tmp, emptyDir: {}}, {name: data, emptyDir: {}}]\n"),
			`statefulset "db": spec.template.spec.volumes[1].name: "data" is also a volumeClaimTemplate`},
		{"statefulset mount of nothing", strings.Replace(baseStatefulSet, "{name: data, mountPath", "{name: logs, mountPath", 1),
			`statefulset "db": spec.template.spec.containers[0].volumeMounts[0].name: "logs" is not a volume of the pod`},
		{"statefulset claim names", strings.Replace(baseStatefulSet, "  - metadata: {name: data}\n", "  - metadata: {name: Data}\n    spec: {}\n  - metadata: {}\n    spec: {}\n  - metadata: {name: data}\n", 1),
			`statefulset "db": spec.volumeClaimTemplates[0].metadata.name: "Data" ` + labelMsg +
				`; spec.volumeClaimTemplates[1].metadata.name: required`},
		{"statefulset repeated claim", strings.Replace(baseStatefulSet, "  - metadata: {name: data}\n", "  - metadata: {name: data}\n    spec: {}\n  - metadata: {name: data}\n", 1),
			`statefulset "db": spec.volumeClaimTemplates[1].metadata.name: "data" is used by another volumeClaimTemplate`},
		{"statefulset claim spec", strings.Replace(baseStatefulSet, "{requests: {storage: 1Gi}}", "{requests: {storage: lots, cpu: 1}}\n      accessModes: [ReadWriteSometimes]", 1),
			`statefulset "db": spec.volumeClaimTemplates[0].spec.accessModes[0]: "ReadWriteSometimes" is not ReadWriteOnce, ReadOnlyMany, ReadWriteMany or ReadWriteOncePod; ` +
				`spec.volumeClaimTemplates[0].spec.resources.requests.cpu: not supported (supported: [storage]); ` +
				`spec.volumeClaimTemplates[0].spec.resources.requests.storage: quantity "lots": must be a non-negative number with an optional suffix (m, k, M, G, Ki, Mi, Gi, ...)`},

		// PersistentVolumeClaim
		{"pvc access modes", addSpec(basePVC, "  accessModes: [ReadWriteOncePod, ReadWriteOnce, Shared]\n"),
			`persistentvolumeclaim "data": spec.accessModes[2]: "Shared" is not ReadWriteOnce, ReadOnlyMany, ReadWriteMany or ReadWriteOncePod; spec.accessModes: ReadWriteOncePod may not be combined with other access modes`},
		{"pvc zero storage", strings.Replace(basePVC, "10Gi", "0", 1),
			`persistentvolumeclaim "data": spec.resources.requests.storage: must be more than 0`},
		{"pvc class and mode", addSpec(basePVC, "  storageClassName: Fast\n  volumeMode: Block\n"),
			`persistentvolumeclaim "data": spec.storageClassName: "Fast" ` + subdomainMsg + `; spec.volumeMode: "Block" is not supported (supported: "Filesystem")`},
		{"pvc phase", basePVC + "status: {phase: Lost}\n",
			`persistentvolumeclaim "data": status.phase: "Lost" is not Pending or Bound`},

		// HorizontalPodAutoscaler
		{"hpa target", strings.Replace(baseHPA, "{kind: Deployment, name: web}", "{apiVersion: apps/v2, kind: Job}", 1),
			`horizontalpodautoscaler "web": spec.scaleTargetRef.kind: "Job" is not supported (supported: "Deployment", "StatefulSet", "ReplicaSet"); ` +
				`spec.scaleTargetRef.name: required; spec.scaleTargetRef.apiVersion: "apps/v2" is not "apps/v1"`},
		{"hpa no kind", strings.Replace(baseHPA, "kind: Deployment, ", "", 1),
			`horizontalpodautoscaler "web": spec.scaleTargetRef.kind: required`},
		{"hpa min replicas", addSpec(baseHPA, "  minReplicas: 0\n"),
			`horizontalpodautoscaler "web": spec.minReplicas: 0 is less than 1`},
		{"hpa max below min", addSpec(baseHPA, "  minReplicas: 6\n"),
			`horizontalpodautoscaler "web": spec.maxReplicas: 5 is less than spec.minReplicas (6)`},
		{"hpa max zero", strings.Replace(baseHPA, "maxReplicas: 5", "maxReplicas: 0", 1),
			`horizontalpodautoscaler "web": spec.maxReplicas: 0 is less than 1`},
		{"hpa metric type", addSpec(baseHPA, "  metrics: [{type: Pods}, {type: Resource}]\n"),
			`horizontalpodautoscaler "web": spec.metrics[0].type: "Pods" is not supported (supported: "Resource"); spec.metrics[1].resource: required with type "Resource"`},
		{"hpa metric resource", addSpec(baseHPA, "  metrics:\n  - {type: Resource, resource: {name: memory, target: {type: AverageValue}}}\n"),
			`horizontalpodautoscaler "web": spec.metrics[0].resource.name: "memory" is not supported (supported: "cpu", "nvidia.com/gpu"); ` +
				`spec.metrics[0].resource.target.type: "AverageValue" is not supported (supported: "Utilization")`},
		{"hpa utilization", addSpec(baseHPA, "  metrics:\n  - {type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 1001}}}\n"+
			"  - {type: Resource, resource: {name: cpu, target: {type: Utilization}}}\n"),
			`horizontalpodautoscaler "web": spec.metrics[0].resource.target.averageUtilization: 1001 is not in 1..1000; ` +
				`spec.metrics[1].resource.target.averageUtilization: required with type "Utilization"`},
		{"hpa windows", addSpec(baseHPA, "  behavior: {scaleUp: {stabilizationWindowSeconds: -1}, scaleDown: {stabilizationWindowSeconds: 3601}}\n"),
			`horizontalpodautoscaler "web": spec.behavior.scaleUp.stabilizationWindowSeconds: -1 is not in 0..3600; spec.behavior.scaleDown.stabilizationWindowSeconds: 3601 is not in 0..3600`},

		// ownerReferences, on any kind
		{"owner reference fields", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  ownerReferences: [{kind: Deployment, name: web}]\n",
			`configmap "c": metadata.ownerReferences[0].apiVersion: required; metadata.ownerReferences[0].uid: required`},
		{"two controllers", strings.Replace(basePVC, "metadata: {name: data}", "metadata:\n  name: data\n  ownerReferences:\n"+
			"  - {apiVersion: apps/v1, kind: StatefulSet, name: a, uid: u1, controller: true}\n"+
			"  - {apiVersion: apps/v1, kind: StatefulSet, name: b, uid: u2, controller: true}", 1),
			`persistentvolumeclaim "data": metadata.ownerReferences: 2 have controller true, at most one may`},

		// In a List, the paths of the template start at the item.
		{"list item template", "apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(strings.Replace(baseDeployment, "image: nginx", "image: ''", 1), "\n", "\n  "),
			`deployment "web": items[0].spec.template.spec.containers[0].image: required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeDocuments([]byte(tt.in))
			switch {
			case err == nil:
				t.Fatalf("no error, want %s", tt.want)
			case !errors.Is(err, ErrInvalid):
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			case err.Error() != tt.want:
				t.Errorf("error = %s\n want %s", err, tt.want)
			}
		})
	}
}

// A Deployment as users write it for Kubernetes decodes as it is.
const realDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: frontend
  namespace: shop
  labels:
    app.kubernetes.io/name: frontend
    app.kubernetes.io/part-of: shop
  annotations:
    kubernetes.io/change-cause: "image 1.4.2"
spec:
  replicas: 3
  revisionHistoryLimit: 5
  progressDeadlineSeconds: 300
  minReadySeconds: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: frontend
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  template:
    metadata:
      labels:
        app.kubernetes.io/name: frontend
        app.kubernetes.io/part-of: shop
    spec:
      terminationGracePeriodSeconds: 30
      containers:
      - name: frontend
        image: registry.example.com/shop/frontend:1.4.2
        imagePullPolicy: IfNotPresent
        args: ["--listen=:8080"]
        ports:
        - name: http
          containerPort: 8080
          protocol: TCP
        env:
        - name: LOG_LEVEL
          value: info
        - name: API_TOKEN
          valueFrom:
            secretKeyRef: {name: frontend-secrets, key: token}
        envFrom:
        - configMapRef: {name: frontend-config}
        resources:
          requests:
            cpu: 250m
            memory: 256Mi
          limits:
            cpu: "1"
            memory: 512Mi
        readinessProbe:
          httpGet:
            path: /healthz
            port: http
          initialDelaySeconds: 5
          periodSeconds: 10
          failureThreshold: 3
        livenessProbe:
          tcpSocket:
            port: 8080
          initialDelaySeconds: 15
          periodSeconds: 20
        volumeMounts:
        - name: cache
          mountPath: /var/cache/frontend
      volumes:
      - name: cache
        emptyDir:
          sizeLimit: 1Gi
`

func TestDecodeRealDeployment(t *testing.T) {
	d := decodeOne(t, realDeployment).(*Deployment)
	ru := d.Spec.Strategy.RollingUpdate
	if *d.Spec.Replicas != 3 || ru.MaxSurge.String() != "1" || ru.MaxUnavailable.String() != "0" || *d.Spec.ProgressDeadlineSeconds != 300 {
		t.Errorf("spec = %+v", d.Spec)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.ReadinessProbe.HTTPGet.Port.StrVal != "http" || c.Resources.Requests[ResourceCPU] != "250m" {
		t.Errorf("container = %+v", c)
	}

	// Kubernetes has initContainers; Berth does not, and says where.
	bad := strings.Replace(realDeployment, "      containers:\n", "      initContainers:\n      - name: migrate\n        image: shop/migrate\n      containers:\n", 1)
	_, err := DecodeDocuments([]byte(bad))
	if want := `deployment "frontend": unknown field "spec.template.spec.initContainers"`; err == nil || err.Error() != want {
		t.Errorf("error = %v\n want %s", err, want)
	}
}

// Validate does not rely on Default: zero objects are refused, not a panic.
func TestAppsValidateZero(t *testing.T) {
	for _, k := range []string{"Deployment", "ReplicaSet", "StatefulSet", "PersistentVolumeClaim", "HorizontalPodAutoscaler"} {
		info, _ := LookupKind(k)
		obj := info.New()
		obj.GetObjectMeta().Name = "x"
		obj.GetObjectMeta().Namespace = "default"
		if err := Validate(obj); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v", k, err)
		}
	}
}
