package agent

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	pb "github.com/berth-dev/berth/proto/berthpb"
)

// The fence keeps a StatefulSet's pod from running twice. A node runs its
// stateful pods only while it holds a lease: every lease/5 it reads its own
// Node through the leader (a linearizable read), and when the Node is Ready
// the lease runs until the moment the read was sent plus FenceLease. So a
// lease that is still running was renewed before the leader recorded the
// node NotReady. When the lease runs out — the node is cut off, the leader
// marked it NotReady, the agent is stopped or paused — its stateful pods are
// killed (SIGKILL):
//
//   - by the agent itself when it runs (and it starts none while it holds
//     no lease);
//   - by each stateful container's logger process (the watchdog of
//     driver.FenceWatchdog), which the containerd shim runs apart from the
//     agent, so a paused or killed agent is no hole in the fence. The
//     lease's end is kept in the file FenceFile for it.
//
// The leader starts a replacement only once the node has been NotReady for
// FenceLease plus a margin (controller.WorkloadsConfig), so by then the old
// pod is dead. The lease is announced as the node label LabelFenceLease, and
// the leader waits the longer of its own and the node's.

// fenceFile is where a node keeps the end of its lease (Unix nanoseconds).
func fenceFile(dataDir string) string { return filepath.Join(dataDir, "fence-lease") }

type fence struct {
	lease time.Duration
	path  string

	mu     sync.Mutex
	expiry time.Time
}

// newFence loads the lease a previous run of the agent left: stateful
// containers it adopts keep running while that lease does.
func newFence(dataDir string, lease time.Duration) *fence {
	f := &fence{lease: lease, path: fenceFile(dataDir)}
	if b, err := os.ReadFile(f.path); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
			f.expiry = time.Unix(0, n)
		}
	}
	return f
}

// held reports whether the lease is running.
func (f *fence) held() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.Now().Before(f.expiry)
}

// renew moves the lease's end to sent+lease, and the file with it.
func (f *fence) renew(sent time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	next := sent.Add(f.lease)
	if !next.After(f.expiry) {
		return nil
	}
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatInt(next.UnixNano(), 10)), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return err
	}
	f.expiry = next
	return nil
}

// fenceLoop renews the lease while the leader says this node is Ready.
func (k *kubelet) fenceLoop(ctx context.Context) {
	every := min(max(k.fence.lease/5, 200*time.Millisecond), 2*time.Second)
	wasHeld := k.fence.held()
	for ctx.Err() == nil {
		sent := time.Now()
		cctx, cancel := context.WithTimeout(ctx, k.fence.lease/2)
		n, err := k.readNode(cctx)
		cancel()
		if err == nil && n.Ready() {
			if err := k.fence.renew(sent); err != nil {
				k.log.Warn("renew the fence lease", "err", err)
			}
		}
		held := k.fence.held()
		if held != wasHeld {
			if held {
				k.log.Info("fence lease held: stateful pods may run")
			} else {
				k.log.Warn("fence lease ran out: stateful pods are stopped", "lease", k.fence.lease)
			}
			k.pokeStateful()
			wasHeld = held
		}
		sleepCtx(ctx, every)
	}
}

// readNode reads this node's Node through the leader.
func (k *kubelet) readNode(ctx context.Context) (*api.Node, error) {
	resp, err := k.res.Get(ctx, &pb.GetRequest{Ref: &pb.ObjectRef{Kind: "Node", Name: k.name}})
	if err != nil {
		return nil, err
	}
	obj, err := api.DecodeStored("Node", resp.Object)
	if err != nil {
		return nil, err
	}
	return obj.(*api.Node), nil
}

// pokeStateful wakes the workers of stateful pods.
func (k *kubelet) pokeStateful() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, w := range k.workers {
		if p := w.current(); p != nil && isStateful(p) {
			w.poke()
		}
	}
}

// isStateful reports whether a StatefulSet controls the pod.
func isStateful(p *api.Pod) bool {
	ref := api.ControllerOf(&p.Metadata)
	return ref != nil && ref.Kind == "StatefulSet"
}

// twinStopping reports whether another worker of this node still holds a
// pod of w's namespace and name: an earlier incarnation of a stateful pod,
// deleted and not yet torn down. Two pods of one identity never run at
// once, so the new one waits.
func (k *kubelet) twinStopping(w *podWorker) bool {
	ns, name := w.identity()
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, o := range k.workers {
		if o == w {
			continue
		}
		if ons, oname := o.identity(); ons == ns && oname == name {
			return true
		}
	}
	return false
}
