package agent

import (
	"strings"
	"testing"

	"github.com/berth-dev/berth/api"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"github.com/berth-dev/berth/security"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func tokenCaller(role string, namespaces ...string) *caller {
	return &caller{name: "acl-x", role: security.RoleClient, raw: "t",
		token: &api.ACLToken{Metadata: api.ObjectMeta{Name: "x"}, Spec: api.ACLTokenSpec{Role: role, Namespaces: namespaces}}}
}

func TestAuthorize(t *testing.T) {
	a := &Agent{cfg: Config{AllowedHostPaths: []string{"/srv/data"}}}
	write := func(manifest string) *pb.WriteRequest {
		obj, err := api.DecodeObject([]byte(manifest))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := api.Encode(obj)
		return &pb.WriteRequest{Objects: [][]byte{b}}
	}
	cm := func(ns string) *pb.WriteRequest {
		return write("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: " + ns + "}\n")
	}
	pod := func(extra string) *pb.WriteRequest {
		return write("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec:\n  containers:\n  - name: c\n    image: x\n" + extra)
	}
	agentCaller := &caller{name: "w1", role: security.RoleWorker}
	for _, tc := range []struct {
		name   string
		c      *caller
		method string
		req    any
		want   string // "" allowed, else a part of the PermissionDenied message
	}{
		{"read-only get", tokenCaller(api.RoleReadOnly), pb.Resources_Get_FullMethodName, &pb.GetRequest{Ref: &pb.ObjectRef{Kind: "ConfigMap", Name: "c"}}, ""},
		{"read-only apply", tokenCaller(api.RoleReadOnly), pb.Resources_Apply_FullMethodName, cm("a"), "needs an operator or admin token"},
		{"read-only delete", tokenCaller(api.RoleReadOnly), pb.Resources_Delete_FullMethodName, &pb.DeleteRequest{Refs: []*pb.ObjectRef{{Kind: "cm", Name: "c"}}}, "operator or admin"},
		{"read-only logs", tokenCaller(api.RoleReadOnly), pb.Workloads_Logs_FullMethodName, &pb.LogsRequest{Pod: "p"}, ""},
		{"read-only exec", tokenCaller(api.RoleReadOnly), pb.Workloads_Exec_FullMethodName, &pb.ExecInput{Start: &pb.ExecStart{Pod: "p"}}, "operator or admin"},
		{"operator in scope", tokenCaller(api.RoleOperator, "a"), pb.Resources_Apply_FullMethodName, cm("a"), ""},
		{"operator out of scope", tokenCaller(api.RoleOperator, "a"), pb.Resources_Apply_FullMethodName, cm("b"), `namespace "b": not one of its namespaces`},
		{"scoped list of every namespace", tokenCaller(api.RoleOperator, "a"), pb.Resources_List_FullMethodName, &pb.ListRequest{Kind: "Pod"}, "name one of a"},
		{"scoped watch of every kind", tokenCaller(api.RoleReadOnly, "a"), pb.Resources_Watch_FullMethodName, &pb.WatchRequest{}, "every namespace"},
		{"operator reads nodes", tokenCaller(api.RoleOperator, "a"), pb.Resources_List_FullMethodName, &pb.ListRequest{Kind: "nodes"}, ""},
		{"operator writes a namespace", tokenCaller(api.RoleOperator), pb.Resources_Apply_FullMethodName, write("apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n"), "needs an admin token"},
		{"operator reads tokens", tokenCaller(api.RoleOperator), pb.Resources_List_FullMethodName, &pb.ListRequest{Kind: "ACLToken"}, "needs an admin token"},
		{"operator makes tokens", tokenCaller(api.RoleOperator), pb.Security_ACLCreate_FullMethodName, &pb.ACLCreateRequest{}, "needs an admin token"},
		{"operator snapshots", tokenCaller(api.RoleOperator), pb.Cluster_SnapshotSave_FullMethodName, &pb.SnapshotSaveRequest{}, "needs an admin token"},
		{"operator privileged pod", tokenCaller(api.RoleOperator), pb.Resources_Apply_FullMethodName, pod("    securityContext: {privileged: true}\n"), "spec.containers[0].securityContext.privileged"},
		{"operator capabilities", tokenCaller(api.RoleOperator), pb.Resources_Apply_FullMethodName, pod("    securityContext: {capabilities: {add: [NET_ADMIN]}}\n"), "capabilities.add"},
		{"operator dropped capabilities", tokenCaller(api.RoleOperator), pb.Resources_Apply_FullMethodName, pod("    securityContext: {capabilities: {drop: [ALL]}}\n"), ""},
		{"operator host path outside", tokenCaller(api.RoleOperator), pb.Resources_Apply_FullMethodName, pod("  volumes: [{name: h, hostPath: {path: /srv/database}}]\n"), "outside the allowed host paths"},
		{"operator host path inside", tokenCaller(api.RoleOperator), pb.Resources_Apply_FullMethodName, pod("  volumes: [{name: h, hostPath: {path: /srv/data/x}}]\n"), ""},
		{"admin privileged pod", tokenCaller(api.RoleAdmin), pb.Resources_Apply_FullMethodName, pod("    securityContext: {privileged: true}\n"), ""},
		{"admin reports pods", tokenCaller(api.RoleAdmin), pb.Nodes_ReportPods_FullMethodName, &pb.ReportPodsRequest{}, "agents only"},
		{"agent reports pods", agentCaller, pb.Nodes_ReportPods_FullMethodName, &pb.ReportPodsRequest{}, ""},
		{"agent anything", agentCaller, pb.Security_KeyringRotate_FullMethodName, &pb.KeyringRotateRequest{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := a.authorize(tc.c, tc.method, tc.req)
			if w, ok := tc.req.(*pb.WriteRequest); ok && err == nil {
				err = a.checkWrites(tc.c, w) // objects are checked as the write decodes them
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want PermissionDenied with %q", err, tc.want)
			}
		})
	}
}
