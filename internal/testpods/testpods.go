// Package testpods starts clusters whose agents run pods on a real
// containerd (the test binary's own, internal/testcontainerd), with the
// test image (internal/testimage) loaded on every node. Tests only.
package testpods

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/testcluster"
	"github.com/berth-dev/berth/internal/testcontainerd"
	"github.com/berth-dev/berth/internal/testimage"
)

// Start starts servers and workers that run pods on this test
// binary's containerd (testcontainerd.Start), waits until every node is
// Ready with its pod subnet, and loads the test image onto every node
// under each of refs (testimage.Ref when none is given).
func Start(tb testing.TB, servers, workers int, args []string, refs ...string) *testcluster.Cluster {
	tb.Helper()
	sock := testcontainerd.Start(tb)
	c := testcluster.Start(tb, testcluster.Options{Servers: servers, Containerd: sock, Args: args})
	for range workers {
		c.AddWorker(tb, args...)
	}
	WaitNodesReady(tb, c, servers+workers, 30*time.Second)
	if len(refs) == 0 {
		refs = []string{testimage.Ref}
	}
	for _, ref := range refs {
		archive := WriteImage(tb, ref)
		// The nodes' runtimes come up after their subnets; load once all are.
		testcluster.Eventually(tb, 30*time.Second, func() error {
			out, errs, code := testcluster.CLI(tb, c.Nodes[0].APIAddr(), "", "image", "load", archive)
			if code != 0 {
				return fmt.Errorf("image load: %s%s", out, errs)
			}
			if n := strings.Count(out, ref); n != servers+workers {
				return fmt.Errorf("image loaded on %d nodes:\n%s", n, out)
			}
			return nil
		})
	}
	return c
}

// WaitNodesReady waits until n nodes are Ready and have a pod subnet.
func WaitNodesReady(tb testing.TB, c *testcluster.Cluster, n int, d time.Duration) {
	tb.Helper()
	cl := c.Client(tb)
	testcluster.Eventually(tb, d, func() error {
		nodes, _, err := cl.List(context.Background(), "Node", "")
		if err != nil {
			return err
		}
		ready := 0
		for _, o := range nodes {
			if node := o.(*api.Node); node.Ready() && node.Spec.PodCIDR != "" {
				ready++
			}
		}
		if ready != n {
			return fmt.Errorf("%d of %d nodes ready with a pod subnet", ready, n)
		}
		return nil
	})
}

// WriteImage writes the test image's archive, named ref, to a temporary
// file and returns its path.
func WriteImage(tb testing.TB, ref string) string {
	tb.Helper()
	archive := filepath.Join(tb.TempDir(), "image.tar")
	f, err := os.Create(archive)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := testimage.Write(f, ref); err != nil {
		tb.Fatal(err)
	}
	return archive
}

// Pods lists the pods of the default namespace with the label app=app.
func Pods(tb testing.TB, cl *client.Client, app string) []*api.Pod {
	tb.Helper()
	objs, _, err := cl.List(context.Background(), "Pod", "default", client.LabelSelector("app="+app))
	if err != nil {
		tb.Fatal(err)
	}
	var out []*api.Pod
	for _, o := range objs {
		out = append(out, o.(*api.Pod))
	}
	return out
}
