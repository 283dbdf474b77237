package e2e

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/testcluster"
)

// An update with a stale resourceVersion fails with a conflict; concurrent
// read-modify-write increments that retry on conflict lose nothing.
func TestOptimisticConcurrency(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Servers: 3})
	ctx := ctxT(t, 120*time.Second)
	cl := c.Client(t)
	first := mustApply(t, ctx, cl, configMap("counter", map[string]string{"n": "0"}))[0].Object
	mustApply(t, ctx, cl, configMap("counter", map[string]string{"n": "0", "touched": "yes"}))
	stale := configMap("counter", map[string]string{"n": "100"})
	stale.Metadata.ResourceVersion = first.GetObjectMeta().ResourceVersion
	if _, err := cl.Update(ctx, stale); !client.IsConflict(err) {
		t.Fatalf("update with a stale resourceVersion: %v", err)
	}

	const workers, each = 6, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wcl := c.Nodes[w%3].Client(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				for {
					obj, err := wcl.Get(ctx, "ConfigMap", "default", "counter")
					if err != nil {
						errs <- err
						return
					}
					cur := obj.(*api.ConfigMap)
					n, _ := strconv.Atoi(cur.Data["n"])
					next := configMap("counter", map[string]string{"n": strconv.Itoa(n + 1)})
					next.Metadata.ResourceVersion = cur.Metadata.ResourceVersion
					_, err = wcl.Update(ctx, next)
					if err == nil {
						break
					}
					if !client.IsConflict(err) {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := getCM(t, ctx, cl, "counter").Data["n"]; got != strconv.Itoa(workers*each) {
		t.Fatalf("counter %s, want %d", got, workers*each)
	}
}

// A watch from revision R sees exactly the later changes, in order, across
// a leader change; a compacted revision gives the distinct error.
func TestWatchAcrossLeaderChange(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Servers: 3, Args: []string{"--watch-history", "50"}})
	ctx := ctxT(t, 120*time.Second)
	cl := c.Client(t)
	mustApply(t, ctx, cl, configMap("before", nil))
	_, rev, err := cl.List(ctx, "ConfigMap", "default")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 0; i < 10; i++ {
		mustApply(t, ctx, cl, configMap(fmt.Sprintf("w%d", i), nil))
		want = append(want, fmt.Sprintf("ADDED w%d", i))
	}
	events := cl.Watch(ctx, "ConfigMap", "default", rev)
	var got []string
	var last uint64
	read := func(n int) {
		t.Helper()
		for len(got) < n {
			select {
			case ev, ok := <-events:
				if !ok || ev.Err != nil {
					t.Fatalf("watch ended: %v", ev.Err)
				}
				if ev.Revision <= last {
					t.Fatalf("revision %d after %d", ev.Revision, last)
				}
				last = ev.Revision
				got = append(got, ev.Type+" "+ev.Object.GetObjectMeta().Name)
			case <-time.After(30 * time.Second):
				t.Fatalf("watch stalled after %v", got)
			}
		}
	}
	read(10)
	c.WaitLeader(t).Kill(t)
	c.WaitLeader(t)
	for i := 0; i < 10; i++ {
		mustApply(t, ctx, cl, configMap(fmt.Sprintf("w%d", i), map[string]string{"v": "2"}))
		want = append(want, fmt.Sprintf("MODIFIED w%d", i))
	}
	if _, err := cl.Delete(ctx, client.Ref{Kind: "ConfigMap", Namespace: "default", Name: "before"}); err != nil {
		t.Fatal(err)
	}
	want = append(want, "DELETED before")
	read(len(want))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
	select {
	case ev := <-events:
		t.Fatalf("an extra event: %+v", ev)
	case <-time.After(300 * time.Millisecond):
	}

	// Push revision `rev` out of every server's history.
	for i := 0; i < 60; i++ {
		mustApply(t, ctx, cl, configMap("churn", map[string]string{"i": fmt.Sprint(i)}))
	}
	for ev := range cl.Watch(ctx, "ConfigMap", "default", rev) {
		if ev.Err != nil {
			if !client.IsCompacted(ev.Err) {
				t.Fatalf("watch of a compacted revision: %v", ev.Err)
			}
			return
		}
	}
	t.Fatal("the watch of a compacted revision ended without an error")
}
