package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/internal/testcluster"
	"github.com/berth-dev/berth/internal/testnet"
)

// A worker cut off from everyone for 60 s (TCP and UDP dropped in its own
// network namespace; longer than memberlist gossips to the dead) goes
// NotReady, and the pool heals by itself: within 60 s of the heal every
// agent sees every other alive and the worker's node is Ready.
func TestPartitionHeals(t *testing.T) {
	t.Parallel()
	net := testnet.New(t)
	host := net.AddHost(t, "w2")
	c := testcluster.Start(t, testcluster.Options{Servers: 3, Bind: net.BridgeIP()})
	c.AddWorker(t)
	w2 := c.AddWorkerIn(t, host)
	cl := c.Client(t)
	waitNodes(t, cl, 5)

	if err := host.Isolate(); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	nodeReady(t, cl, w2.Name, false, 15*time.Second)
	time.Sleep(time.Until(cut.Add(60 * time.Second)))
	if err := host.Heal(); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	eventually(t, 60*time.Second, func() error {
		for _, n := range c.All() {
			out, stderr, code := berth(t, n.APIAddr(), "members")
			if code != 0 {
				return fmt.Errorf("members of %s: %s", n.Name, stderr)
			}
			if alive := strings.Count(out, " alive "); alive != 5 {
				return fmt.Errorf("%s sees %d alive:\n%s", n.Name, alive, out)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		obj, err := cl.Get(ctx, "Node", "", w2.Name)
		if err != nil {
			return err
		}
		if !obj.(*api.Node).Ready() {
			return fmt.Errorf("node %s not Ready", w2.Name)
		}
		return nil
	})
	t.Logf("full membership %v after the heal", time.Since(healed).Round(100*time.Millisecond))
}
