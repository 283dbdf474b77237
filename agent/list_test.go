package agent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	pb "github.com/berth-dev/berth/proto/berthpb"
)

// A user's list comes in pages of MaxListPage, every page from the
// snapshot of the first; the client reads them all.
func TestListPages(t *testing.T) {
	s := newServer(t, "a", 0)
	s.start(t)
	waitFor(t, "the default namespace", func() bool {
		_, err := s.a.fsm.Get("Namespace", "", "default")
		return err == nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, _ := dial(t, s.addr())
	n := 2*MaxListPage + 17
	var objs [][]byte
	for i := range n {
		objs = append(objs, cmBytes(t, fmt.Sprintf("cm-%04d", i), "v"))
	}
	if _, err := res.Apply(ctx, &pb.WriteRequest{RequestId: "many", Objects: objs}); err != nil {
		t.Fatal(err)
	}
	first, err := res.List(ctx, &pb.ListRequest{Kind: "ConfigMap"})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Objects) != MaxListPage || first.Continue == "" {
		t.Fatalf("first page: %d objects, continue %q", len(first.Objects), first.Continue)
	}
	// A write between pages does not show: the pages share a snapshot.
	if _, err := res.Apply(ctx, &pb.WriteRequest{RequestId: "late", Objects: [][]byte{cmBytes(t, "cm-0000-late", "v")}}); err != nil {
		t.Fatal(err)
	}
	// Another question cannot take the cursor.
	if _, err := res.List(ctx, &pb.ListRequest{Kind: "Secret", Continue: first.Continue}); err == nil {
		t.Error("a list of another kind continued this one")
	}
	got := len(first.Objects)
	req := &pb.ListRequest{Kind: "ConfigMap", Continue: first.Continue, Limit: 300}
	for req.Continue != "" {
		page, err := res.List(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Objects) > 300 || page.Revision != first.Revision {
			t.Fatalf("page of %d at revision %d (first at %d)", len(page.Objects), page.Revision, first.Revision)
		}
		got += len(page.Objects)
		req.Continue = page.Continue
	}
	if got != n {
		t.Errorf("the pages held %d objects, want %d", got, n)
	}
	if _, err := res.List(ctx, &pb.ListRequest{Kind: "ConfigMap", Continue: first.Continue}); err == nil {
		t.Error("a used cursor was served twice")
	}
	// The client reads every page, and now sees the late one too.
	cl, err := client.New([]string{s.addr()}, credsOf(t).Options()...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	all, _, err := cl.List(ctx, "ConfigMap", "default")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n+1 || all[0].(*api.ConfigMap).Metadata.Name != "cm-0000" {
		t.Errorf("client list: %d objects", len(all))
	}
}
