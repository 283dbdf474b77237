package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/internal/testcluster"
	"github.com/berth-dev/berth/internal/testcreds"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

func freePort(t testing.TB) int { return testcluster.FreePort(t) }

// testKey is a gossip key of the test's own: agents of tests that run side
// by side never gossip with each other.
func testKey(t testing.TB) []byte {
	k := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", strings.Split(t.Name(), "/")[0], os.Getpid())))
	return k[:]
}

type testServer struct {
	cfg Config
	a   *Agent
}

// credsOf are the credentials of a test's cluster (one per top-level
// test): its CA, for servers that bootstrap together, and its admin token.
func credsOf(t testing.TB) *testcreds.Creds {
	name := strings.Split(t.Name(), "/")[0]
	if c, ok := testCreds.Load(name); ok {
		return c.(*testcreds.Creds)
	}
	c, err := testcreds.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, _ := testCreds.LoadOrStore(name, c)
	return v.(*testcreds.Creds)
}

var testCreds sync.Map

func newServer(t testing.TB, name string, expect int) *testServer {
	cr := credsOf(t)
	return &testServer{cfg: Config{
		Name: name, DataDir: t.TempDir(), BindAddr: "127.0.0.1", APIPort: freePort(t), RaftPort: freePort(t), GossipPort: freePort(t), GossipKey: testKey(t), Server: true,
		BootstrapExpect: expect, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RaftLog: io.Discard,
		CACertFile: cr.CACert, CAKeyFile: cr.CAKey, BootstrapToken: cr.Token,
	}}
}

func (s *testServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.cfg.APIPort) }

func (s *testServer) start(t testing.TB) {
	t.Helper()
	a, err := Start(context.Background(), s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.a = a
	t.Cleanup(func() { a.Close() })
}

func dial(t testing.TB, addr string) (pb.ResourcesClient, pb.ClusterClient) {
	t.Helper()
	cfg := credsOf(t).Config(nil)
	tc, err := cfg.TLS()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)), grpc.WithPerRPCCredentials(bearer(cfg.Token)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewResourcesClient(conn), pb.NewClusterClient(conn)
}

// bearer sends an ACL token with every call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{TokenHeader: "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return true }

func waitFor(t testing.TB, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func cmBytes(t testing.TB, name, v string) []byte {
	c := &api.ConfigMap{Metadata: api.ObjectMeta{Name: name}, Data: map[string]string{"v": v}}
	api.Default(c)
	b, err := api.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startThree starts three servers that know only the first one's address,
// and waits until every one knows where the leader's API is and the leader
// has made the default namespace.
func startThree(tb testing.TB) []*testServer {
	servers := []*testServer{newServer(tb, "a", 3), newServer(tb, "b", 3), newServer(tb, "c", 3)}
	for _, s := range servers[1:] {
		s.cfg.Join = []string{servers[0].addr()}
	}
	for _, s := range servers {
		s.start(tb)
	}
	waitFor(tb, "a leader with a registered API address", func() bool {
		for _, s := range servers {
			if _, err := s.a.leaderAPI(); err != nil {
				return false
			}
		}
		_, err := servers[0].a.fsm.Get("Namespace", "", "default")
		return err == nil
	})
	return servers
}

// Three servers that know only the first one's address find each other,
// bootstrap once, forward writes to the leader and serve linearizable
// reads everywhere; a fourth joins the running cluster and can be removed.
func TestBootstrapForwardJoin(t *testing.T) {
	servers := startThree(t)
	var follower, other *testServer
	for _, s := range servers {
		if !s.a.node.IsLeader() {
			if follower == nil {
				follower = s
			} else {
				other = s
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, _ := dial(t, follower.addr())
	for i := 0; i < 10; i++ {
		if _, err := res.Apply(ctx, &pb.WriteRequest{RequestId: fmt.Sprint("r", i), Objects: [][]byte{cmBytes(t, "x", fmt.Sprint(i))}}); err != nil {
			t.Fatalf("apply through a follower: %v", err)
		}
		otherRes, _ := dial(t, other.addr())
		got, err := otherRes.Get(ctx, &pb.GetRequest{Ref: &pb.ObjectRef{Kind: "ConfigMap", Name: "x"}})
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`"v":"%d"`, i); !bytes.Contains(got.Object, []byte(want)) {
			t.Fatalf("read after write %d: %s", i, got.Object)
		}
	}

	// A create retried (the first answer lost) through another server is
	// answered as the first was, and applied once.
	create := &pb.WriteRequest{RequestId: "once", Objects: [][]byte{cmBytes(t, "once", "1")}}
	first, err := res.Create(ctx, create)
	if err != nil {
		t.Fatal(err)
	}
	otherRes, _ := dial(t, other.addr())
	again, err := otherRes.Create(ctx, create)
	if err != nil || again.Revision != first.Revision || again.Results[0].Action != "created" {
		t.Fatalf("retried create: %v %+v (first at %d)", err, again, first.Revision)
	}
	if _, err := otherRes.Create(ctx, &pb.WriteRequest{RequestId: "twice", Objects: create.Objects}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("a new create of the same object: %v", err)
	}

	// A server with an empty data dir and no bootstrap-expect joins.
	d := newServer(t, "d", 0)
	d.cfg.Join = []string{follower.addr()}
	d.start(t)
	_, cl := dial(t, servers[0].addr())
	waitFor(t, "d to be a voter", func() bool {
		peers, err := cl.Peers(ctx, &pb.PeersRequest{})
		if err != nil {
			return false
		}
		for _, p := range peers.Peers {
			if p.Id == "d" && p.Suffrage == "Voter" {
				return true
			}
		}
		return false
	})
	waitFor(t, "d to hold the state", func() bool {
		_, err := d.a.fsm.Get("ConfigMap", "default", "x")
		return err == nil
	})
	if _, err := cl.RemoveServer(ctx, &pb.RemoveServerRequest{Id: "d"}); err != nil {
		t.Fatal(err)
	}
	// a's view of the configuration follows the leader's.
	waitFor(t, "three peers after removing d", func() bool {
		peers, err := cl.Peers(ctx, &pb.PeersRequest{})
		return err == nil && len(peers.Peers) == 3
	})
	waitFor(t, "d's record to go", func() bool {
		for _, r := range servers[0].a.fsm.View().Servers() {
			if r.ID == "d" {
				return false
			}
		}
		return true
	})
	// d still runs, and must stay out.
	time.Sleep(1500 * time.Millisecond)
	if peers, _ := cl.Peers(ctx, &pb.PeersRequest{}); len(peers.GetPeers()) != 3 {
		t.Fatalf("the removed server came back: %v", peers)
	}
}
