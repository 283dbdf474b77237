package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/spf13/cobra"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) string { return now.Add(-d).Format(time.RFC3339) }

func meta(ns, name string, age time.Duration) api.ObjectMeta {
	return api.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: ago(age), UID: "u-" + name, ResourceVersion: "7"}
}

func configMap(ns, name string, age time.Duration) *api.ConfigMap {
	return &api.ConfigMap{
		TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		Metadata: meta(ns, name, age),
		Data:     map[string]string{"a": "1", "b": "2"},
		BinaryData: map[string][]byte{
			"bin": {0, 1, 2},
		},
	}
}

func secret(ns, name string, age time.Duration) *api.Secret {
	return &api.Secret{
		TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		Metadata: meta(ns, name, age),
		Type:     api.SecretTypeOpaque,
		Data:     map[string][]byte{"password": []byte("hunter22")},
	}
}

func namespace(name string, age time.Duration) *api.Namespace {
	return &api.Namespace{
		TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		Metadata: meta("", name, age),
		Status:   api.NamespaceStatus{Phase: api.NamespaceActive},
	}
}

func kind(t *testing.T, name string) api.KindInfo {
	t.Helper()
	info, err := resolveKind(name)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestPrintTable(t *testing.T) {
	tests := []struct {
		name  string
		kind  string
		objs  []api.Object
		allNS bool
		want  string
	}{
		{"configmaps", "cm", []api.Object{configMap("default", "web", 45*time.Second), configMap("default", "a-much-longer-name", 3*time.Minute)}, false, "" +
			"NAME                 DATA   AGE\n" +
			"web                  3      45s\n" +
			"a-much-longer-name   3      3m\n"},
		{"configmaps across namespaces", "configmaps", []api.Object{configMap("default", "web", 2*time.Hour), configMap("prod", "web", 5*24*time.Hour)}, true, "" +
			"NAMESPACE   NAME   DATA   AGE\n" +
			"default     web    3      120m\n" +
			"prod        web    3      5d\n"},
		{"secrets", "secret", []api.Object{secret("default", "db", 30*time.Hour)}, false, "" +
			"NAME   TYPE     DATA   AGE\n" +
			"db     Opaque   1      30h\n"},
		{"secrets across namespaces", "Secret", []api.Object{secret("prod", "db", time.Minute)}, true, "" +
			"NAMESPACE   NAME   TYPE     DATA   AGE\n" +
			"prod        db     Opaque   1      60s\n"},
		{"namespaces", "ns", []api.Object{namespace("default", 400*24*time.Hour), namespace("prod", 10*time.Minute)}, false, "" +
			"NAME      STATUS   AGE\n" +
			"default   Active   400d\n" +
			"prod      Active   10m\n"},
		{"namespace without a phase", "namespaces", []api.Object{&api.Namespace{Metadata: meta("", "new", time.Second)}}, false, "" +
			"NAME   STATUS   AGE\n" +
			"new    Active   1s\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := printTable(&buf, kind(t, tt.kind), tt.objs, tt.allNS, now); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", buf.String(), tt.want)
			}
		})
	}
}

func TestHumanAge(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-5 * time.Second, "<invalid>"},
		{-time.Second, "0s"},
		{0, "0s"},
		{45 * time.Second, "45s"},
		{119 * time.Second, "119s"},
		{3 * time.Minute, "3m"},
		{3*time.Minute + 20*time.Second, "3m20s"},
		{45 * time.Minute, "45m"},
		{179 * time.Minute, "179m"},
		{3 * time.Hour, "3h"},
		{2*time.Hour + 30*time.Minute + 180*time.Minute, "5h30m"},
		{20 * time.Hour, "20h"},
		{50 * time.Hour, "2d2h"},
		{5 * 24 * time.Hour, "5d"},
		{45 * 24 * time.Hour, "45d"},
		{(3*365 + 20) * 24 * time.Hour, "3y20d"},
		{9 * 365 * 24 * time.Hour, "9y"},
	}
	for _, tt := range tests {
		if got := humanAge(ago(tt.d), now); got != tt.want {
			t.Errorf("age of %v = %q, want %q", tt.d, got, tt.want)
		}
	}
	for _, ts := range []string{"", "yesterday"} {
		if got := humanAge(ts, now); got != "<unknown>" {
			t.Errorf("humanAge(%q) = %q, want <unknown>", ts, got)
		}
	}
}

func TestPrintObjects(t *testing.T) {
	cm := &api.ConfigMap{
		TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		Metadata: api.ObjectMeta{Name: "web", Namespace: "default"},
		Data:     map[string]string{"a": "1"},
	}
	ns := &api.Namespace{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, Metadata: api.ObjectMeta{Name: "prod"}}
	tests := []struct {
		name   string
		format string
		objs   []api.Object
		single bool
		want   string
	}{
		{"name", outName, []api.Object{cm, ns}, false, "configmap/web\nnamespace/prod\n"},
		{"yaml of one", outYAML, []api.Object{cm}, true, "" +
			"apiVersion: v1\n" +
			"data:\n" +
			"  a: \"1\"\n" +
			"kind: ConfigMap\n" +
			"metadata:\n" +
			"  name: web\n" +
			"  namespace: default\n"},
		{"yaml of a list", outYAML, []api.Object{ns}, false, "" +
			"apiVersion: v1\n" +
			"items:\n" +
			"- apiVersion: v1\n" +
			"  kind: Namespace\n" +
			"  metadata:\n" +
			"    name: prod\n" +
			"  spec: {}\n" +
			"  status: {}\n" +
			"kind: List\n"},
		{"yaml of an empty list", outYAML, nil, false, "apiVersion: v1\nitems: []\nkind: List\n"},
		{"json of one", outJSON, []api.Object{cm}, true, "" +
			"{\n" +
			"  \"apiVersion\": \"v1\",\n" +
			"  \"kind\": \"ConfigMap\",\n" +
			"  \"metadata\": {\n" +
			"    \"name\": \"web\",\n" +
			"    \"namespace\": \"default\"\n" +
			"  },\n" +
			"  \"data\": {\n" +
			"    \"a\": \"1\"\n" +
			"  }\n" +
			"}\n"},
		{"json of a list", outJSON, []api.Object{cm}, false, "" +
			"{\n" +
			"  \"apiVersion\": \"v1\",\n" +
			"  \"kind\": \"List\",\n" +
			"  \"items\": [\n" +
			"    {\n" +
			"      \"apiVersion\": \"v1\",\n" +
			"      \"kind\": \"ConfigMap\",\n" +
			"      \"metadata\": {\n" +
			"        \"name\": \"web\",\n" +
			"        \"namespace\": \"default\"\n" +
			"      },\n" +
			"      \"data\": {\n" +
			"        \"a\": \"1\"\n" +
			"      }\n" +
			"    }\n" +
			"  ]\n" +
			"}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := printObjects(&buf, tt.format, tt.objs, tt.single); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", buf.String(), tt.want)
			}
		})
	}
}

// TestListRoundTrip checks that what get -o yaml prints applies again.
func TestListRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	objs := []api.Object{configMap("default", "web", time.Second), namespace("prod", time.Second)}
	if err := printObjects(&buf, outYAML, objs, false); err != nil {
		t.Fatal(err)
	}
	back, err := api.DecodeDocuments(buf.Bytes())
	if err != nil {
		t.Fatalf("decode of get's yaml: %v\n%s", err, buf.String())
	}
	if got := objNames(back); got != "configmap/web namespace/prod" {
		t.Fatalf("decoded %q", got)
	}
}

func TestGetPrintEmpty(t *testing.T) {
	tests := []struct {
		kind, ns, output string
		wantOut, wantErr string
	}{
		{"cm", "default", outTable, "", "No resources found in default namespace.\n"},
		{"cm", "prod", outName, "", "No resources found in prod namespace.\n"},
		{"cm", "", outTable, "", "No resources found\n"},
		{"ns", "", outTable, "", "No resources found\n"},
		{"cm", "default", outJSON, "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",\n  \"items\": []\n}\n", ""},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		cmd := &cobra.Command{}
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		o := getOptions{output: tt.output}
		if err := o.print(cmd, getRequest{info: kind(t, tt.kind), namespace: tt.ns}, nil, now, nil); err != nil {
			t.Fatal(err)
		}
		if out.String() != tt.wantOut || errOut.String() != tt.wantErr {
			t.Errorf("%s in %q -o %s: stdout %q stderr %q, want %q and %q", tt.kind, tt.ns, tt.output, out.String(), errOut.String(), tt.wantOut, tt.wantErr)
		}
	}
}

func TestResolveKind(t *testing.T) {
	for _, name := range []string{"configmaps", "configmap", "cm", "ConfigMap", "CM"} {
		if info, err := resolveKind(name); err != nil || info.Kind != "ConfigMap" {
			t.Errorf("resolveKind(%q) = %v, %v", name, info.Kind, err)
		}
	}
	_, err := resolveKind("jobs")
	if want := `unknown resource type "jobs" (one of: acltokens, configmaps, deployments, endpoints, events, horizontalpodautoscalers, ingresses, jointokens, namespaces, nodes, persistentvolumeclaims, pods, replicasets, secrets, services, statefulsets)`; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	if !strings.Contains(checkOutput("wide", outTable, outJSON).Error(), "(want table or json)") {
		t.Fatal("checkOutput does not list the formats")
	}
}
