package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// breakingServer serves a fixed history whose revision 5 holds two events,
// and breaks its first stream between them, as a server that goes away
// mid-revision does. It checks the protocol the client follows, not the
// real server's behaviour (test/e2e does that).
type breakingServer struct {
	pb.UnimplementedResourcesServer
	streams atomic.Int32
	from    []uint64
}

type histEvent struct {
	rev  uint64
	name string
}

var history = []histEvent{{4, "a"}, {5, "b"}, {5, "c"}, {6, "d"}}

func cmJSON(name string) []byte {
	return []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q,"namespace":"default"}}`, name))
}

func (s *breakingServer) Watch(req *pb.WatchRequest, stream pb.Resources_WatchServer) error {
	n := s.streams.Add(1)
	s.from = append(s.from, req.Revision)
	if err := stream.Send(&pb.WatchEvent{Type: "BOOKMARK", Revision: req.Revision}); err != nil {
		return err
	}
	for _, e := range history {
		if e.rev <= req.Revision {
			continue
		}
		if n == 1 && e.name == "c" {
			return status.Error(codes.Unavailable, "going away")
		}
		if err := stream.Send(&pb.WatchEvent{Type: "ADDED", Kind: "ConfigMap", Revision: e.rev, Object: cmJSON(e.name)}); err != nil {
			return err
		}
	}
	<-stream.Context().Done()
	return nil
}

func TestWatchResumesMidRevision(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	fake := &breakingServer{}
	pb.RegisterResourcesServer(srv, fake)
	go srv.Serve(lis)
	defer srv.Stop()

	c, err := New([]string{lis.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for ev := range c.Watch(ctx, "ConfigMap", "", 3) {
		if ev.Err != nil {
			t.Fatal(ev.Err)
		}
		got = append(got, fmt.Sprintf("%d %s", ev.Revision, ev.Object.GetObjectMeta().Name))
		if len(got) == 4 {
			break
		}
	}
	if want := "[4 a 5 b 5 c 6 d]"; fmt.Sprint(got) != want {
		t.Fatalf("events %v, want %s", got, want)
	}
	if fmt.Sprint(fake.from) != "[3 4]" {
		t.Fatalf("watched from %v, want [3 4]: resume after the last whole revision", fake.from)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("timed out")
	}
}
