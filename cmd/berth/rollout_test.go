package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"google.golang.org/grpc/codes"
)

func int32p(n int32) *int32 { return &n }

func boolp(b bool) *bool { return &b }

// deployment is a Deployment "web" of replicas, at generation gen.
func deployment(replicas int32, gen int64, s api.DeploymentStatus) *api.Deployment {
	d := &api.Deployment{
		TypeMeta: api.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		Metadata: meta("default", "web", 0),
		Spec: api.DeploymentSpec{
			Replicas: int32p(replicas),
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: api.PodTemplateSpec{
				Metadata: api.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:     api.PodSpec{Containers: []api.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
		Status: s,
	}
	d.Metadata.Generation = gen
	return d
}

// replicaSet is a ReplicaSet of the Deployment d at revision rev, running
// image.
func replicaSet(d *api.Deployment, rev, image, cause string) *api.ReplicaSet {
	hash := "h" + rev
	rs := &api.ReplicaSet{
		TypeMeta: api.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		Metadata: meta("default", "web-"+hash, 0),
		Spec: api.ReplicaSetSpec{
			Replicas: int32p(0),
			Template: api.PodTemplateSpec{
				Metadata: api.ObjectMeta{Labels: map[string]string{"app": "web", api.LabelPodTemplateHash: hash}},
				Spec:     api.PodSpec{Containers: []api.Container{{Name: "web", Image: image}}},
			},
		},
	}
	rs.Metadata.Annotations = map[string]string{api.AnnotationRevision: rev}
	if cause != "" {
		rs.Metadata.Annotations[api.AnnotationChangeCause] = cause
	}
	rs.Metadata.OwnerReferences = []api.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Metadata.Name, UID: d.Metadata.UID, Controller: boolp(true)}}
	return rs
}

func TestParseResourceArg(t *testing.T) {
	kinds := []string{"Deployment", "StatefulSet"}
	tests := []struct {
		args     []string
		kind     string
		name     string
		wantErr  string
		onlyKind []string
	}{
		{args: []string{"deployment/web"}, kind: "Deployment", name: "web"},
		{args: []string{"deploy/web"}, kind: "Deployment", name: "web"},
		{args: []string{"deployments/web"}, kind: "Deployment", name: "web"},
		{args: []string{"deployment.apps/web"}, kind: "Deployment", name: "web"},
		{args: []string{"deployment", "web"}, kind: "Deployment", name: "web"},
		{args: []string{"sts", "db"}, kind: "StatefulSet", name: "db"},
		{args: []string{"statefulset/db"}, kind: "StatefulSet", name: "db"},
		{args: nil, wantErr: "rollout status needs a TYPE/NAME or TYPE NAME argument, such as deployment/web"},
		{args: []string{"deployment"}, wantErr: "rollout status needs the name of the deployment after its type"},
		{args: []string{"deployment/"}, wantErr: `rollout status: the name of the deployment cannot be empty or hold a slash, got ""`},
		{args: []string{"deployment/a/b"}, wantErr: `rollout status: the name of the deployment cannot be empty or hold a slash, got "a/b"`},
		{args: []string{"deployment/web", "x"}, wantErr: "rollout status takes one TYPE/NAME or TYPE NAME, got 2 arguments"},
		{args: []string{"foo/web"}, wantErr: `rollout status: unknown resource type "foo" (one of: deployments, statefulsets)`},
		{args: []string{"deployment.batch/web"}, wantErr: `rollout status: unknown resource type "deployment.batch"`},
		{args: []string{"pods", "web"}, wantErr: "rollout status is only for deployments and statefulsets, not pods"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			info, name, err := parseResourceArg("rollout status", tt.args, kinds...)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want it to start with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || info.Kind != tt.kind || name != tt.name {
				t.Fatalf("got %s %q %v, want %s %q", info.Kind, name, err, tt.kind, tt.name)
			}
		})
	}
	_, _, err := parseResourceArg("rollout undo", []string{"sts/db"}, "Deployment")
	if want := "rollout undo is only for deployments, not statefulsets"; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

func TestDeploymentStatus(t *testing.T) {
	progressing := func(reason string) []api.DeploymentCondition {
		return []api.DeploymentCondition{{Type: api.DeploymentProgressing, Status: api.ConditionFalse, Reason: reason}}
	}
	tests := []struct {
		name    string
		d       *api.Deployment
		want    string
		done    bool
		wantErr string
	}{
		{"spec not observed", deployment(3, 2, api.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}),
			"Waiting for deployment spec update to be observed...", false, ""},
		{"deadline exceeded", deployment(3, 2, api.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 1, Conditions: progressing(api.ReasonProgressDeadlineExceeded)}),
			"", false, `deployment "web" exceeded its progress deadline`},
		{"new replicas", deployment(3, 2, api.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 1, Conditions: progressing(api.ReasonReplicaSetUpdated)}),
			`Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...`, false, ""},
		{"old replicas", deployment(3, 2, api.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 3, AvailableReplicas: 3}),
			`Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...`, false, ""},
		{"available", deployment(3, 2, api.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 2}),
			`Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...`, false, ""},
		{"done", deployment(3, 2, api.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}),
			`deployment "web" successfully rolled out`, true, ""},
		{"scaled to zero", deployment(0, 1, api.DeploymentStatus{ObservedGeneration: 1}),
			`deployment "web" successfully rolled out`, true, ""},
		{"replicas default to 1", func() *api.Deployment {
			d := deployment(0, 1, api.DeploymentStatus{ObservedGeneration: 1})
			d.Spec.Replicas = nil
			return d
		}(), `Waiting for deployment "web" rollout to finish: 0 out of 1 new replicas have been updated...`, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, done, err := rolloutStatus(tt.d)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || msg != tt.want || done != tt.done {
				t.Fatalf("got %q done=%v err=%v, want %q done=%v", msg, done, err, tt.want, tt.done)
			}
		})
	}
}

func TestStatefulSetStatus(t *testing.T) {
	sts := func(replicas int32, partition *int32, s api.StatefulSetStatus) *api.StatefulSet {
		ss := &api.StatefulSet{Metadata: meta("default", "db", 0), Spec: api.StatefulSetSpec{Replicas: int32p(replicas)}, Status: s}
		ss.Metadata.Generation = 2
		if partition != nil {
			ss.Spec.UpdateStrategy.RollingUpdate = &api.RollingUpdateStatefulSetStrategy{Partition: partition}
		}
		return ss
	}
	onDelete := sts(3, nil, api.StatefulSetStatus{ObservedGeneration: 2})
	onDelete.Spec.UpdateStrategy.Type = api.OnDeleteStrategy
	tests := []struct {
		name    string
		ss      *api.StatefulSet
		want    string
		done    bool
		wantErr string
	}{
		{"on delete", onDelete, "", false, "rollout status is only available for RollingUpdate strategy type"},
		{"never observed", sts(3, nil, api.StatefulSetStatus{}), "Waiting for statefulset spec update to be observed...", false, ""},
		{"not observed", sts(3, nil, api.StatefulSetStatus{ObservedGeneration: 1}), "Waiting for statefulset spec update to be observed...", false, ""},
		{"pods not ready", sts(3, nil, api.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 2}), "Waiting for 1 pods to be ready...", false, ""},
		{"partition pending", sts(3, int32p(1), api.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 3, UpdatedReplicas: 1}),
			"Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...", false, ""},
		{"partition complete", sts(3, int32p(1), api.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 3, UpdatedReplicas: 2}),
			"partitioned roll out complete: 2 new pods have been updated...", true, ""},
		{"revision pending", sts(3, nil, api.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "db-1", UpdateRevision: "db-2"}),
			"waiting for statefulset rolling update to complete 1 pods at revision db-2...", false, ""},
		{"complete", sts(3, nil, api.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 3, CurrentReplicas: 3, UpdatedReplicas: 3, CurrentRevision: "db-2", UpdateRevision: "db-2"}),
			"statefulset rolling update complete 3 pods at revision db-2...", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, done, err := rolloutStatus(tt.ss)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || msg != tt.want || done != tt.done {
				t.Fatalf("got %q done=%v err=%v, want %q done=%v", msg, done, err, tt.want, tt.done)
			}
		})
	}
}

// TestFollowRollout feeds a watch's events: each message is printed once,
// other objects are ignored, and the rollout's end ends the watch.
func TestFollowRollout(t *testing.T) {
	ev := func(typ string, d *api.Deployment) client.Event { return client.Event{Type: typ, Object: d} }
	other := deployment(1, 1, api.DeploymentStatus{})
	other.Metadata.Name = "api"
	tests := []struct {
		name    string
		events  []client.Event
		want    string
		wantErr error
		errText string
	}{
		{"rolls out", []client.Event{
			ev("MODIFIED", deployment(3, 2, api.DeploymentStatus{ObservedGeneration: 1})),
			ev("MODIFIED", other),
			ev("MODIFIED", deployment(3, 2, api.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 1})),
			ev("MODIFIED", deployment(3, 2, api.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 1, ReadyReplicas: 1})),
			ev("MODIFIED", deployment(3, 2, api.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3})),
			ev("MODIFIED", deployment(3, 2, api.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3})),
		}, "" +
			"Waiting for deployment spec update to be observed...\n" +
			`Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...` + "\n" +
			`deployment "web" successfully rolled out` + "\n", nil, ""},
		{"deleted", []client.Event{ev("DELETED", deployment(3, 2, api.DeploymentStatus{}))}, "", nil, `deployment.apps "web" was deleted`},
		{"compacted", []client.Event{{Err: &client.Error{Code: codes.OutOfRange, Message: "compacted"}}}, "", errRelist, ""},
		{"channel closed", nil, "", context.Canceled, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := make(chan client.Event, len(tt.events))
			for _, e := range tt.events {
				ch <- e
			}
			close(ch)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			var out bytes.Buffer
			err := followRollout(ctx, ch, "web", &rolloutPrinter{w: &out})
			switch {
			case tt.errText != "":
				if err == nil || err.Error() != tt.errText {
					t.Fatalf("error %v, want %q", err, tt.errText)
				}
			case !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if out.String() != tt.want {
				t.Fatalf("printed\n%s\nwant\n%s", out.String(), tt.want)
			}
		})
	}
}

func TestCtxError(t *testing.T) {
	deadline, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-deadline.Done()
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	other := errors.New("boom")
	if err := ctxError(deadline, other); err != errTimedOut {
		t.Errorf("deadline: %v", err)
	}
	if err := ctxError(canceled, other); err == nil || err.Error() != "interrupted" {
		t.Errorf("canceled: %v", err)
	}
	if err := ctxError(context.Background(), other); err != other {
		t.Errorf("live: %v", err)
	}
	if err := ctxError(deadline, nil); err != nil {
		t.Errorf("nil: %v", err)
	}
}

func TestOwnedReplicaSets(t *testing.T) {
	d := deployment(1, 1, api.DeploymentStatus{})
	rs3, rs1, rs2 := replicaSet(d, "3", "c", ""), replicaSet(d, "1", "a", ""), replicaSet(d, "2", "b", "")
	stranger := replicaSet(d, "4", "d", "")
	stranger.Metadata.OwnerReferences[0].UID = "u-other"
	orphan := replicaSet(d, "5", "e", "")
	orphan.Metadata.OwnerReferences = nil
	got := ownedReplicaSets(d, []api.Object{rs3, stranger, rs1, orphan, rs2, configMap("default", "x", 0)})
	if len(got) != 3 || got[0] != rs1 || got[1] != rs2 || got[2] != rs3 {
		t.Fatalf("got %d replica sets, want revisions 1, 2, 3 of web", len(got))
	}
}

func TestUndoTarget(t *testing.T) {
	d := deployment(1, 1, api.DeploymentStatus{})
	rss := []*api.ReplicaSet{replicaSet(d, "1", "a", ""), replicaSet(d, "2", "b", ""), replicaSet(d, "4", "d", "")}
	tests := []struct {
		name    string
		current string // the Deployment's revision annotation
		rss     []*api.ReplicaSet
		to      int64
		want    string // the target's revision
		wantErr string
	}{
		{"previous", "4", rss, 0, "2", ""},
		{"previous of an older current", "2", rss, 0, "1", ""},
		{"current from the replica sets", "", rss, 0, "2", ""},
		{"to a revision", "4", rss, 1, "1", ""},
		{"to the current", "4", rss, 4, "4", ""},
		{"to a missing revision", "4", rss, 3, "", "unable to find specified revision 3 in history"},
		{"no previous", "1", rss[:1], 0, "", `no rollout history found for deployment "web"`},
		{"no history", "", nil, 0, "", `no rollout history found for deployment "web"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d.Metadata.Annotations = map[string]string{}
			if tt.current != "" {
				d.Metadata.Annotations[api.AnnotationRevision] = tt.current
			}
			rs, err := undoTarget(d, tt.rss, tt.to)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || rs.Metadata.Annotations[api.AnnotationRevision] != tt.want {
				t.Fatalf("got %v, %v; want revision %s", rs, err, tt.want)
			}
		})
	}
}

func TestRollBack(t *testing.T) {
	d := deployment(3, 1, api.DeploymentStatus{})
	d.Metadata.Annotations = map[string]string{api.AnnotationChangeCause: "set image c"}
	old := replicaSet(d, "1", "nginx:1.25", "first")
	current := replicaSet(d, "2", "nginx:1.27", "")
	if rollBack(d, current) {
		t.Fatal("rolled back to the template it has")
	}
	if !rollBack(d, old) {
		t.Fatal("did not roll back")
	}
	tpl := d.Spec.Template
	if tpl.Spec.Containers[0].Image != "nginx:1.25" || tpl.Metadata.Labels[api.LabelPodTemplateHash] != "" || tpl.Metadata.Labels["app"] != "web" {
		t.Fatalf("template %+v", tpl)
	}
	if old.Spec.Template.Metadata.Labels[api.LabelPodTemplateHash] != "h1" {
		t.Fatal("the ReplicaSet's labels changed")
	}
	if got := d.Metadata.Annotations[api.AnnotationChangeCause]; got != "first" {
		t.Fatalf("change cause %q", got)
	}
	if !rollBack(d, current) {
		t.Fatal("did not roll forward")
	}
	if _, ok := d.Metadata.Annotations[api.AnnotationChangeCause]; ok {
		t.Fatal("change cause of revision 1 kept")
	}
}

func TestPrintHistory(t *testing.T) {
	d := deployment(1, 1, api.DeploymentStatus{})
	rs2 := replicaSet(d, "2", "nginx:1.27", "berth apply -f web.yaml")
	c := &rs2.Spec.Template.Spec.Containers[0]
	c.Ports = []api.ContainerPort{{ContainerPort: 80}}
	c.Env = []api.EnvVar{{Name: "MODE", Value: "fast"}}
	rss := []*api.ReplicaSet{replicaSet(d, "1", "nginx:1.25", ""), rs2}
	var out bytes.Buffer
	if err := printHistory(&out, d, rss, 0); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"deployment.apps/web\n" +
		"REVISION  CHANGE-CAUSE\n" +
		"1         <none>\n" +
		"2         berth apply -f web.yaml\n" +
		"\n"
	if out.String() != want {
		t.Fatalf("history\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	if err := printHistory(&out, d, rss, 2); err != nil {
		t.Fatal(err)
	}
	want = "" +
		"deployment.apps/web with revision #2\n" +
		"Pod Template:\n" +
		"  Labels:       app=web\n" +
		"                pod-template-hash=h2\n" +
		"  Annotations:  kubernetes.io/change-cause=berth apply -f web.yaml\n" +
		"  Containers:\n" +
		"   web:\n" +
		"    Image:      nginx:1.27\n" +
		"    Port:       80/TCP\n" +
		"    Host Port:  0/TCP\n" +
		"    Environment:\n" +
		"      MODE:  fast\n" +
		"    Mounts:  <none>\n" +
		"  Volumes:   <none>\n"
	if out.String() != want {
		t.Fatalf("revision 2\n%s\nwant\n%s", out.String(), want)
	}
	if len(rs2.Spec.Template.Metadata.Annotations) != 0 {
		t.Fatal("printing changed the ReplicaSet's template")
	}
	if err := printHistory(&out, d, rss, 3); err == nil || err.Error() != "unable to find the specified revision" {
		t.Fatalf("error %v", err)
	}
}

func TestRestartTemplate(t *testing.T) {
	d := deployment(1, 1, api.DeploymentStatus{})
	if ok, err := restartTemplate(d, "2025-06-01T12:00:00Z"); !ok || err != nil {
		t.Fatalf("%v %v", ok, err)
	}
	if got := d.Spec.Template.Metadata.Annotations[annotationRestartedAt]; got != "2025-06-01T12:00:00Z" {
		t.Fatalf("annotation %q", got)
	}
	d.Spec.Paused = true
	if _, err := restartTemplate(d, "x"); err == nil || !strings.Contains(err.Error(), "paused") {
		t.Fatalf("paused: %v", err)
	}
	ss := &api.StatefulSet{}
	if ok, err := restartTemplate(ss, "x"); !ok || err != nil || ss.Spec.Template.Metadata.Annotations[annotationRestartedAt] != "x" {
		t.Fatalf("statefulset: %v %v", ok, err)
	}
}

// The errors of rollout that come before any call (--addr points nowhere).
func TestRolloutCommandErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"rollout", "status"}, "rollout status needs a TYPE/NAME or TYPE NAME argument"},
		{[]string{"rollout", "status", "foo/web"}, `rollout status: unknown resource type "foo"`},
		{[]string{"rollout", "status", "deploy/web", "--timeout", "-1s"}, "rollout status: --timeout must be 0 (no limit) or more, got -1s"},
		{[]string{"rollout", "undo", "sts/db"}, "rollout undo is only for deployments"},
		{[]string{"rollout", "undo", "deploy/web", "--to-revision", "-2"}, "rollout undo: --to-revision must be positive, got -2"},
		{[]string{"rollout", "history", "rs/web"}, "rollout history is only for deployments"},
		{[]string{"rollout", "pause", "sts/db"}, "rollout pause is only for deployments"},
		{[]string{"rollout", "resume", "deploy"}, "rollout resume needs the name of the deploy after its type"},
		{[]string{"rollout", "restart", "rs/web"}, "rollout restart is only for deployments and statefulsets, not replicasets"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := run(t, "", append([]string{"--addr", "127.0.0.1:1"}, tt.args...)...)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to start with %q", err, tt.want)
			}
		})
	}
}
