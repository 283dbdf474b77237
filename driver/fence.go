package driver

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/driver/logfile"
	client "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
)

// FenceWatchdog runs in a stateful container's logger process, which the
// containerd shim starts and keeps apart from the agent: it kills the
// container (SIGKILL) once the node's fence lease, whose end the agent
// keeps in o.FenceFile, has passed. So the container stops in time even
// when the agent is paused, killed or cut off. The shim names the
// container in CONTAINER_ID and CONTAINER_NAMESPACE.
func FenceWatchdog(o logfile.Options) {
	id, ns := os.Getenv("CONTAINER_ID"), os.Getenv("CONTAINER_NAMESPACE")
	if id == "" || ns == "" || o.Socket == "" {
		fmt.Fprintf(os.Stderr, "berth logger: fence watchdog without a container (id %q, namespace %q, socket %q)\n", id, ns, o.Socket)
		return
	}
	for {
		if !leaseHeld(o.FenceFile, time.Now()) {
			err := killTask(o.Socket, ns, id)
			if err == nil {
				fmt.Fprintf(os.Stderr, "berth logger: fence lease of %s ran out: container %s killed\n", o.FenceFile, id)
				return
			}
			fmt.Fprintf(os.Stderr, "berth logger: fence lease ran out; kill container %s: %v\n", id, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leaseHeld reports whether the lease whose end (Unix nanoseconds) the
// file holds runs past now. A missing or unreadable file is no lease.
func leaseHeld(path string, now time.Time) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return err == nil && now.Before(time.Unix(0, n))
}

func killTask(socket, ns, id string) error {
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), 5*time.Second)
	defer cancel()
	cl, err := client.New(socket, client.WithTimeout(2*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctr, err := cl.LoadContainer(ctx, id)
	if err != nil {
		return err
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return err
	}
	if err := task.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return nil
}
