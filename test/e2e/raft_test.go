package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/testcluster"
)

// An object written through one server is read back through every server,
// linearizably, at once.
func TestReadYourWritesOnEveryServer(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Servers: 3})
	ctx := ctxT(t, 60*time.Second)
	var clients []*client.Client
	for _, n := range c.Nodes {
		clients = append(clients, n.Client(t))
	}
	for i := 0; i < 30; i++ {
		w := clients[i%3]
		val := fmt.Sprint(i)
		mustApply(t, ctx, w, configMap("reg", map[string]string{"v": val}))
		for j, r := range clients {
			if got := getCM(t, ctx, r, "reg").Data["v"]; got != val {
				t.Fatalf("write %d through %s, read through %s: got %q", i, c.Nodes[i%3].Name, c.Nodes[j].Name, got)
			}
		}
	}
	peers, err := clients[0].Peers(ctx)
	if err != nil || len(peers) != 3 {
		t.Fatalf("peers: %v %v", peers, err)
	}
}

// kill -9 of the leader: a new one is elected and writes go on; the killed
// server comes back from its data dir and catches up; a stop and start of
// the whole cluster keeps every acknowledged write.
func TestLeaderCrashAndFullRestart(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Servers: 3})
	ctx := ctxT(t, 120*time.Second)
	cl := c.Client(t)
	for i := 0; i < 20; i++ {
		mustApply(t, ctx, cl, configMap(fmt.Sprintf("a%d", i), nil))
	}
	old := c.WaitLeader(t)
	old.Kill(t)
	next := c.WaitLeader(t)
	if next == old {
		t.Fatal("the killed server still leads")
	}
	for i := 0; i < 20; i++ {
		mustApply(t, ctx, cl, configMap(fmt.Sprintf("b%d", i), nil))
	}
	// It comes back from its data dir alone: no --join, no --bootstrap-expect.
	old.DropFlag("--join")
	old.DropFlag("--bootstrap-expect")
	old.Start(t)
	eventually(t, 30*time.Second, func() error { return wantCount(ctx, old.Client(t), 40, client.Stale()) })

	for _, n := range c.Nodes {
		n.Kill(t)
	}
	for _, n := range c.Nodes {
		n.Start(t)
	}
	c.WaitLeader(t)
	if err := wantCount(ctx, cl, 40); err != nil {
		t.Fatalf("after a full restart: %v", err)
	}
}

// A follower that was down while more than the snapshot threshold of writes
// happened catches up by snapshot install.
func TestFollowerCatchesUpBySnapshot(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Servers: 3, Args: []string{
		"--raft-snapshot-threshold", "40", "--raft-trailing-logs", "10", "--raft-snapshot-interval", "100ms",
	}})
	ctx := ctxT(t, 120*time.Second)
	leader := c.WaitLeader(t)
	var follower *testcluster.Node
	for _, n := range c.Nodes {
		if n != leader {
			follower = n
			break
		}
	}
	info, err := follower.Client(t).Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	follower.Stop(t)
	cl := leader.Client(t)
	for i := 0; i < 150; i++ {
		mustApply(t, ctx, cl, configMap(fmt.Sprintf("s%d", i), map[string]string{"i": fmt.Sprint(i)}))
	}
	mustApply(t, ctx, cl, configMap("filler", nil))
	// The leader must have dropped from its log the entries the follower
	// needs next: then only a snapshot can bring it up to date.
	eventually(t, 20*time.Second, func() error {
		li, err := leader.Client(t).Info(ctx)
		if err != nil {
			return err
		}
		if li.FirstLogIndex <= info.LastLogIndex+1 {
			mustApply(t, ctx, cl, configMap("filler", map[string]string{"at": fmt.Sprint(li.LastLogIndex)}))
			return fmt.Errorf("the leader's log starts at %d, the follower needs %d", li.FirstLogIndex, info.LastLogIndex+1)
		}
		return nil
	})
	follower.Start(t)
	eventually(t, 30*time.Second, func() error { return wantCount(ctx, follower.Client(t), 151, client.Stale()) })
	if got := getCM(t, ctx, follower.Client(t), "s149", client.Stale()).Data["i"]; got != "149" {
		t.Fatalf("s149 on the follower: %q", got)
	}
}

// A snapshot saved through the CLI's client restores the whole state, and
// linearizable reads work right after.
func TestSnapshotSaveRestore(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Servers: 3})
	ctx := ctxT(t, 60*time.Second)
	cl := c.Client(t)
	mustApply(t, ctx, cl, configMap("kept", map[string]string{"v": "1"}))
	var snap bytes.Buffer
	if _, err := cl.SnapshotSave(ctx, &snap); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Delete(ctx, client.Ref{Kind: "ConfigMap", Namespace: "default", Name: "kept"}); err != nil {
		t.Fatal(err)
	}
	mustApply(t, ctx, cl, configMap("later", nil))
	if _, err := cl.SnapshotRestore(ctx, bytes.NewReader([]byte("garbage"))); err == nil {
		t.Fatal("a bad snapshot was restored")
	}
	if _, err := cl.SnapshotRestore(ctx, &snap); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		ncl := n.Client(t)
		eventually(t, 20*time.Second, func() error {
			if _, err := ncl.Get(ctx, "ConfigMap", "default", "kept"); err != nil {
				return fmt.Errorf("%s: %w", n.Name, err)
			}
			if _, err := ncl.Get(ctx, "ConfigMap", "default", "later"); !client.IsNotFound(err) {
				return fmt.Errorf("%s: later: %v", n.Name, err)
			}
			return nil
		})
	}
	mustApply(t, ctx, cl, configMap("after", nil))
}

// A server with an empty data dir that can reach a running cluster joins it
// and never bootstraps a second one, even with --bootstrap-expect; a server
// whose data was lost comes back as a member and catches up.
func TestEmptyServersJoinNeverBootstrap(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Servers: 3})
	ctx := ctxT(t, 90*time.Second)
	cl := c.Client(t)
	mustApply(t, ctx, cl, configMap("before", nil))

	fourth := c.AddServer(t, "--bootstrap-expect", "3")
	eventually(t, 30*time.Second, func() error {
		peers, err := fourth.Client(t).Peers(ctx)
		if err != nil {
			return err
		}
		if len(peers) != 4 {
			return fmt.Errorf("the new server sees %d peers: %+v", len(peers), peers)
		}
		return nil
	})
	if got := getCM(t, ctx, fourth.Client(t), "before").Metadata.Name; got != "before" {
		t.Fatalf("the new server reads %q", got)
	}
	peers, err := c.Nodes[0].Client(t).Peers(ctx)
	if err != nil || len(peers) != 4 {
		t.Fatalf("the old servers see %d peers (%v): a second cluster?", len(peers), err)
	}

	// Lose a follower's data: it rejoins under its name, with the state.
	leader := c.WaitLeader(t)
	var lost *testcluster.Node
	for _, n := range c.Nodes[:3] {
		if n != leader {
			lost = n
			break
		}
	}
	lost.Kill(t)
	lost.WipeData(t)
	mustApply(t, ctx, cl, configMap("while-away", nil))
	lost.Start(t)
	eventually(t, 30*time.Second, func() error { return wantCount(ctx, lost.Client(t), 2, client.Stale()) })
	if peers, err := lost.Client(t).Peers(ctx); err != nil || len(peers) != 4 {
		t.Fatalf("the wiped server sees %d peers: %v", len(peers), err)
	}
	mustApply(t, ctx, cl, configMap("after", nil))
}

// A leader stopped gracefully hands leadership over before it goes; the
// cluster keeps every write.
func TestGracefulLeaderStop(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Servers: 3})
	ctx := ctxT(t, 60*time.Second)
	cl := c.Client(t)
	mustApply(t, ctx, cl, configMap("one", nil))
	old := c.WaitLeader(t)
	old.Stop(t)
	if strings.Contains(old.Log(t), "leadership transfer") {
		// Not an error: the cluster elects a leader anyway, a little later.
		t.Log("the leader could not hand over leadership before it stopped")
	}
	next := c.WaitLeader(t)
	if next == old {
		t.Fatal("the stopped server still leads")
	}
	mustApply(t, ctx, cl, configMap("two", nil))
	old.Start(t)
	eventually(t, 30*time.Second, func() error { return wantCount(ctx, old.Client(t), 2, client.Stale()) })
}

// Removing the leader itself works: it hands leadership over, the new
// leader removes it, and the two left go on taking writes.
func TestRemoveTheLeader(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Servers: 3})
	ctx := ctxT(t, 60*time.Second)
	cl := c.Client(t)
	leader := c.WaitLeader(t)
	if err := cl.RemoveServer(ctx, leader.Name); err != nil {
		t.Fatalf("remove the leader %s: %v", leader.Name, err)
	}
	leader.Kill(t)
	var other *testcluster.Node
	for _, n := range c.Nodes {
		if n != leader {
			other = n
		}
	}
	peers, err := other.Client(t).Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		if p.ID == leader.Name {
			t.Fatalf("%s is still a peer: %+v", leader.Name, peers)
		}
	}
	if len(peers) != 2 {
		t.Fatalf("%d peers, want 2: %+v", len(peers), peers)
	}
	mustApply(t, ctx, cl, configMap("after-removal", nil))
}
