package raft

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/berth-dev/berth/fsm"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// cluster opens n servers on loopback that bootstrap together.
func cluster(t *testing.T, n int) []*Node {
	t.Helper()
	var nodes []*Node
	var servers []Server
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("n%d", i+1)
		node, err := Open(Config{ID: id, DataDir: t.TempDir(), BindAddr: freeAddr(t), LogOutput: io.Discard}, fsm.New(fsm.Options{}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Close() })
		nodes = append(nodes, node)
		servers = append(servers, Server{ID: id, Addr: node.Addr()})
	}
	for _, node := range nodes {
		if err := node.Bootstrap(servers); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

func leaderOf(t *testing.T, nodes []*Node) *Node {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			if n.IsLeader() {
				return n
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no leader")
	return nil
}

const nsJSON = `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}`

func cmJSON(v string) []byte {
	return []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"default"},"data":{"v":"` + v + `"}}`)
}

func TestApplyReadIndexSnapshot(t *testing.T) {
	nodes := cluster(t, 3)
	led := make(chan struct{}, 3)
	for _, n := range nodes {
		n.OnLeader(func(ctx context.Context) { led <- struct{}{} })
	}
	leader := leaderOf(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := leader.Apply(ctx, &fsm.Command{Time: "2026-01-01T00:00:00Z", Ops: []fsm.Op{
		mkOp(fsm.VerbCreate, "Namespace", []byte(nsJSON), "u0"),
	}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		res, err := leader.Apply(ctx, &fsm.Command{Time: "2026-01-01T00:00:00Z", Ops: []fsm.Op{
			mkOp(fsm.VerbApply, "ConfigMap", cmJSON(fmt.Sprint(i)), "u"),
		}})
		if err != nil || res.Index == 0 {
			t.Fatalf("apply %d: %v", i, err)
		}
	}
	// A command the FSM refuses comes back as its error.
	if _, err := leader.Apply(ctx, &fsm.Command{Time: "2026-01-01T00:00:00Z", Ops: []fsm.Op{
		mkOp(fsm.VerbCreate, "ConfigMap", cmJSON("dup"), "u"),
	}}); !errors.Is(err, fsm.ErrAlreadyExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	idx, err := leader.ReadIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if err := n.WaitApplied(ctx, idx); err != nil {
			t.Fatal(err)
		}
		rec, err := n.FSM().Get("ConfigMap", "default", "x")
		if err != nil || !bytes.Contains(rec.Object, []byte(`"v":"19"`)) {
			t.Fatalf("%s after WaitApplied(%d): %v %s", n.ID(), idx, err, rec.Object)
		}
		if n != leader {
			if _, err := n.ReadIndex(ctx); !errors.Is(err, ErrNotLeader) {
				t.Fatalf("ReadIndex on a follower: %v", err)
			}
			if _, err := n.Apply(ctx, &fsm.Command{}); !errors.Is(err, ErrNotLeader) {
				t.Fatalf("Apply on a follower: %v", err)
			}
		}
	}
	select {
	case <-led:
	case <-time.After(5 * time.Second):
		t.Fatal("the leadership callback did not run")
	}

	var snap bytes.Buffer
	if _, err := leader.SaveSnapshot(ctx, &snap); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Apply(ctx, &fsm.Command{Time: "2026-01-01T00:00:00Z", Ops: []fsm.Op{
		{Verb: fsm.VerbDelete, Kind: "ConfigMap", Namespace: "default", Name: "x"},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.RestoreSnapshot(ctx, []byte("not a snapshot")); err == nil {
		t.Fatal("a bad snapshot was restored")
	}
	if _, err := leader.RestoreSnapshot(ctx, snap.Bytes()); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := n.FSM().Get("ConfigMap", "default", "x"); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not get the restored state", n.ID())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	servers, err := leader.Servers()
	if err != nil || len(servers) != 3 {
		t.Fatalf("servers: %v %v", servers, err)
	}
}

func mkOp(verb fsm.Verb, kind string, raw []byte, uid string) fsm.Op {
	op, err := fsm.NewOp(verb, kind, raw)
	if err != nil {
		panic(err)
	}
	op.UID = uid
	return op
}
