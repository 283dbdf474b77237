package agent

import (
	"context"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testmetrics"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// scrape gets and parses an agent's /metrics.
func scrape(t testing.TB, a *Agent) testmetrics.Families {
	t.Helper()
	mfs, err := testmetrics.Scrape(a.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// Every server serves /metrics: Raft's indexes, state and leader changes,
// the commit and apply timings, the scheduler's plans, the API calls by
// method and code (also those the authentication refused), and the
// gossip pool's members.
func TestMetricsEndpoint(t *testing.T) {
	servers := []*testServer{newServer(t, "a", 3), newServer(t, "b", 3), newServer(t, "c", 3)}
	for i, s := range servers {
		s.cfg.HTTPPort = freePort(t)
		if i > 0 {
			s.cfg.Join = []string{servers[0].addr()}
		}
		s.start(t)
	}
	var leader *testServer
	waitFor(t, "a leader that made the default namespace", func() bool {
		for _, s := range servers {
			if s.a.node.IsLeader() {
				leader = s
			}
		}
		if leader == nil {
			return false
		}
		_, err := leader.a.fsm.Get("Namespace", "", "default")
		return err == nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, _ := dial(t, leader.addr())
	if _, err := res.Apply(ctx, &pb.WriteRequest{RequestId: "cm", Objects: [][]byte{cmBytes(t, "x", "1")}}); err != nil {
		t.Fatal(err)
	}
	// A pod the scheduler places on one of the servers' nodes (none of
	// them runs pods).
	pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`)
	if _, err := res.Apply(ctx, &pb.WriteRequest{RequestId: "pod", Objects: [][]byte{pod}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pod placed", func() bool { return leader.a.SchedulerStats().Bound == 1 })

	// A call without a token is refused, and counted with its code.
	tc, err := credsOf(t).Config(nil).TLS()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(leader.addr(), grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := pb.NewResourcesClient(conn).Get(ctx, &pb.GetRequest{Ref: &pb.ObjectRef{Kind: "ConfigMap", Name: "x"}}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a call without a token: %v", err)
	}

	leaders := 0
	for _, s := range servers {
		var mfs testmetrics.Families
		waitFor(t, s.cfg.Name+"'s gossip members alive", func() bool {
			mfs = scrape(t, s.a)
			v, _ := mfs.Value("berth_gossip_members", "state", "alive")
			return v == 3
		})
		val := func(name string, labels ...string) float64 {
			t.Helper()
			v, ok := mfs.Value(name, labels...)
			if !ok {
				t.Fatalf("%s: no %s%v", s.cfg.Name, name, labels)
			}
			return v
		}
		for _, name := range []string{"berth_raft_last_log_index", "berth_raft_commit_index", "berth_raft_applied_index", "berth_raft_term", "berth_raft_fsm_apply_duration_seconds"} {
			if v := val(name); v <= 0 {
				t.Errorf("%s: %s = %v, want > 0", s.cfg.Name, name, v)
			}
		}
		if v := val("berth_raft_peers", "suffrage", "voter"); v != 3 {
			t.Errorf("%s: %v voters, want 3", s.cfg.Name, v)
		}
		if val("berth_raft_leader_changes_total") < 1 {
			t.Errorf("%s counted no leader change", s.cfg.Name)
		}
		states := 0.0
		for _, st := range []string{"follower", "candidate", "leader", "shutdown"} {
			states += val("berth_raft_state", "state", st)
		}
		if states != 1 {
			t.Errorf("%s is in %v Raft states", s.cfg.Name, states)
		}
		leaders += int(val("berth_raft_state", "state", "leader"))
		if v := val("berth_agent_info", "name", s.cfg.Name); v != 1 {
			t.Errorf("%s: agent info %v", s.cfg.Name, v)
		}
		if val("berth_scheduler_pending_pods") != 0 || val("berth_gossip_members", "state", "dead") != 0 {
			t.Errorf("%s: pending pods or dead members", s.cfg.Name)
		}
		if _, ok := mfs["go_goroutines"]; !ok {
			t.Errorf("%s: no Go collector", s.cfg.Name)
		}
		if _, ok := mfs["process_resident_memory_bytes"]; !ok {
			t.Errorf("%s: no process collector", s.cfg.Name)
		}
		if s != leader {
			continue
		}
		for _, name := range []string{"berth_raft_commit_duration_seconds", "berth_scheduler_plan_duration_seconds", "berth_scheduler_plans_total"} {
			if v := val(name); v < 1 {
				t.Errorf("leader: %s = %v, want ≥ 1", name, v)
			}
		}
		if v := val("berth_scheduler_placements_total"); v != 1 {
			t.Errorf("leader: %v placements, want 1", v)
		}
		apply := "/berth.v1.Resources/Apply"
		if v := val("berth_api_requests_total", "method", apply, "code", "OK"); v < 2 {
			t.Errorf("leader: %v Apply calls counted OK, want ≥ 2", v)
		}
		if v := val("berth_api_request_duration_seconds", "method", apply); v < 2 {
			t.Errorf("leader: %v Apply calls timed, want ≥ 2", v)
		}
		if v := val("berth_api_requests_total", "method", "/berth.v1.Resources/Get", "code", "Unauthenticated"); v < 1 {
			t.Errorf("leader: the refused call was not counted (%v)", v)
		}
	}
	if leaders != 1 {
		t.Fatalf("%d servers say they lead", leaders)
	}
}
