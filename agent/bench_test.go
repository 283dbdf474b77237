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
// in-process servers, 64 writers sending to the leader (profile with
// -cpuprofile: the whole write path of a cluster is in this process).
func BenchmarkApply3(b *testing.B) {
	servers := startThree(b)
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
