package jepsen

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-dev/berth/client"
)

// checkConvergence waits, after the faults have stopped and the network
// has healed, until every server's replica has the same digest at the same
// index and one leader is named by all, for up to bound. Two replicas with
// the same index and different digests have diverged: that fails at once.
func checkConvergence(ctx context.Context, c *Cluster, bound time.Duration) Verdict {
	v := Verdict{Checker: "convergence (identical replicas, one leader)"}
	start := time.Now()
	var last string
	for time.Since(start) < bound && ctx.Err() == nil {
		digests := make([]*client.StateDigest, len(c.Servers))
		ok := true
		for i, s := range c.Servers {
			cl := s.Client()
			dctx, cancel := context.WithTimeout(ctx, time.Second)
			d, err := cl.StateDigest(dctx)
			cancel()
			cl.Close()
			if err != nil {
				ok, last = false, fmt.Sprintf("%s: %v", s.Name, err)
				break
			}
			digests[i] = d
		}
		if ok {
			same := true
			for i, d := range digests {
				a := digests[0]
				if d.Index == a.Index && d.SHA256 != a.SHA256 {
					v.Summary = fmt.Sprintf("DIVERGED: %s and %s both at index %d with different states (%s… vs %s…)",
						c.Servers[0].Name, c.Servers[i].Name, d.Index, a.SHA256[:12], d.SHA256[:12])
					return v
				}
				if d.Index != a.Index {
					same, last = false, fmt.Sprintf("%s at index %d, %s at %d", c.Servers[0].Name, a.Index, c.Servers[i].Name, d.Index)
				}
			}
			if same {
				if err := c.healthy(ctx); err != nil {
					last = "no single leader: " + err.Error()
				} else {
					v.Valid = true
					v.Summary = fmt.Sprintf("%d replicas identical at index %d (sha256 %s…, %d bytes) %v after the heal; one leader",
						len(c.Servers), digests[0].Index, digests[0].SHA256[:12], digests[0].Bytes, time.Since(start).Round(10*time.Millisecond))
					return v
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	v.Summary = fmt.Sprintf("not converged within %v: %s", bound, last)
	return v
}
