package agent

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	pb "github.com/berth-dev/berth/proto/berthpb"
)

// BenchmarkApply3 measures writes of 256-byte ConfigMaps through three
// in-process servers, 64 writers spread over them (profile with
// -cpuprofile: the whole write path of a cluster is in this process).
func BenchmarkApply3(b *testing.B) {
	servers := []*testServer{newServer(b, "a", 3), newServer(b, "b", 3), newServer(b, "c", 3)}
	for _, s := range servers[1:] {
		s.cfg.Join = []string{servers[0].addr()}
	}
	for _, s := range servers {
		s.start(b)
	}
	waitFor(b, "a leader", func() bool {
		for _, s := range servers {
			if _, err := s.a.leaderAPI(); err != nil {
				return false
			}
		}
		_, err := servers[0].a.fsm.Get("Namespace", "", "default")
		return err == nil
	})
	var clients []pb.ResourcesClient
	for _, s := range servers {
		if s.a.node.IsLeader() {
			c, _ := dial(b, s.addr())
			clients = append(clients, c)
		}
	}
	val := strings.Repeat("v", 256)
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb_ *testing.PB) {
		ctx := context.Background()
		for pb_.Next() {
			i := n.Add(1)
			obj := cmBytes(b, fmt.Sprintf("k%d", i%1000), fmt.Sprint(val, i))
			if _, err := clients[0].Apply(ctx, &pb.WriteRequest{RequestId: fmt.Sprint("r", i), Objects: [][]byte{obj}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
