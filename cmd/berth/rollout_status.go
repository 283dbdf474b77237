package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
)

func newRolloutStatusCmd() *cobra.Command {
	var namespace string
	var watch bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status (deployment|statefulset)/NAME",
		Short: "Watch a rollout until it completes",
		Long: "Watch the rollout of a Deployment or a StatefulSet, printing its progress as it\n" +
			"changes, until it completes (exit 0) or the Deployment exceeds its progress\n" +
			"deadline (exit 1). With --watch=false, print the progress once and exit.",
		RunE: func(cmd *cobra.Command, args []string) error {
			info, name, err := parseResourceArg("rollout status", args, "Deployment", "StatefulSet")
			if err != nil {
				return err
			}
			if timeout < 0 {
				return fmt.Errorf("rollout status: --timeout must be 0 (no limit) or more, got %s", timeout)
			}
			c, closeClient, err := watchClient(cmd)
			if err != nil {
				return err
			}
			defer closeClient()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			ns := namespaceFor(info, namespace, false)
			return waitRollout(ctx, c, cmd.OutOrStdout(), info.Kind, ns, name, watch)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&namespace, "namespace", "n", "default", "namespace of the object")
	f.BoolVarP(&watch, "watch", "w", true, "watch until the rollout completes; false prints its progress once")
	f.DurationVar(&timeout, "timeout", 0, "how long to watch before giving up (0: no limit)")
	return cmd
}

// watchClient is newClient for a command whose --timeout bounds a watch,
// not each call, and may be 0: each call is bounded by 30 s.
func watchClient(cmd *cobra.Command) (*client.Client, func(), error) {
	return newClientWith(cmd, 30*time.Second)
}

// errTimedOut is rollout status's error when its --timeout passes.
var errTimedOut = errors.New("timed out waiting for the condition")

// errRelist says that a watch must start over from a new list.
var errRelist = errors.New("watch compacted: list again")

// waitRollout prints the progress of a rollout, each message once, until
// it completes, fails, or ctx ends. Without watch it prints once.
func waitRollout(ctx context.Context, c *client.Client, w io.Writer, kind, ns, name string, watch bool) error {
	p := &rolloutPrinter{w: w, line: newLiveLine(w)}
	defer p.line.keep()
	for {
		objs, rev, err := c.List(ctx, kind, ns)
		if err != nil {
			return ctxError(ctx, userError(err))
		}
		obj := findNamed(objs, name)
		if obj == nil {
			return fmt.Errorf("%s %q not found", resourceName(kind), name)
		}
		done, err := p.show(obj)
		if err != nil || done || !watch {
			return err
		}
		wctx, cancel := context.WithCancel(ctx)
		err = followRollout(wctx, c.Watch(wctx, kind, ns, rev), name, p)
		cancel()
		if !errors.Is(err, errRelist) {
			return ctxError(ctx, err)
		}
	}
}

// followRollout shows the changes of the object called name that events
// bring, until the rollout ends. A closed channel means ctx ended.
func followRollout(ctx context.Context, events <-chan client.Event, name string, p *rolloutPrinter) error {
	for ev := range events {
		if ev.Err != nil {
			if client.IsCompacted(ev.Err) {
				return errRelist
			}
			return userError(ev.Err)
		}
		md := ev.Object.GetObjectMeta()
		if md.Name != name {
			continue
		}
		if ev.Type == "DELETED" {
			return fmt.Errorf("%s %q was deleted", resourceName(kindOf(ev.Object)), name)
		}
		done, err := p.show(ev.Object)
		if err != nil || done {
			return err
		}
	}
	return ctx.Err()
}

// ctxError turns an error caused by ctx's end into what the user should
// read: the timeout, or the interrupt.
func ctxError(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return errTimedOut
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted")
	}
	return err
}

func findNamed(objs []api.Object, name string) api.Object {
	for _, o := range objs {
		if o.GetObjectMeta().Name == name {
			return o
		}
	}
	return nil
}

// rolloutPrinter prints a rollout's messages, each once as it changes:
// on a terminal, in place of the one before (the last one stays), else
// each on a line of its own.
type rolloutPrinter struct {
	w    io.Writer
	line *liveLine // nil: not a terminal
	last string
}

// show prints obj's rollout message if it differs from the last one.
func (p *rolloutPrinter) show(obj api.Object) (done bool, err error) {
	msg, done, err := rolloutStatus(obj)
	if err != nil {
		return false, err
	}
	if msg != p.last {
		p.last = msg
		if p.line != nil && p.line.tty {
			p.line.set(msg)
		} else {
			fmt.Fprintln(p.w, msg)
		}
	}
	return done, nil
}

// rolloutStatus says where the rollout of a Deployment or StatefulSet
// stands, in kubectl's words, and whether it is done. A Deployment that
// exceeded its progress deadline is an error.
func rolloutStatus(obj api.Object) (msg string, done bool, err error) {
	switch o := obj.(type) {
	case *api.Deployment:
		return deploymentStatus(o)
	case *api.StatefulSet:
		return statefulSetStatus(o)
	}
	return "", false, fmt.Errorf("rollout status is only for deployments and statefulsets, not %s", resourceName(kindOf(obj)))
}

// deploymentStatus is kubectl's DeploymentStatusViewer.
func deploymentStatus(d *api.Deployment) (string, bool, error) {
	name, s := d.Metadata.Name, d.Status
	if d.Metadata.Generation > s.ObservedGeneration {
		return "Waiting for deployment spec update to be observed...", false, nil
	}
	for _, c := range s.Conditions {
		if c.Type == api.DeploymentProgressing && c.Reason == api.ReasonProgressDeadlineExceeded {
			return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", name)
		}
	}
	if want := api.Int32Value(d.Spec.Replicas, 1); s.UpdatedReplicas < want {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...", name, s.UpdatedReplicas, want), false, nil
	}
	if s.Replicas > s.UpdatedReplicas {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...", name, s.Replicas-s.UpdatedReplicas), false, nil
	}
	if s.AvailableReplicas < s.UpdatedReplicas {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...", name, s.AvailableReplicas, s.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out", name), true, nil
}

// statefulSetStatus is kubectl's StatefulSetStatusViewer.
func statefulSetStatus(ss *api.StatefulSet) (string, bool, error) {
	strategy := ss.Spec.UpdateStrategy
	if strategy.Type != "" && strategy.Type != api.RollingUpdateStrategy {
		return "", false, fmt.Errorf("rollout status is only available for %s strategy type", api.RollingUpdateStrategy)
	}
	s := ss.Status
	if s.ObservedGeneration == 0 || ss.Metadata.Generation > s.ObservedGeneration {
		return "Waiting for statefulset spec update to be observed...", false, nil
	}
	want := api.Int32Value(ss.Spec.Replicas, 1)
	if s.ReadyReplicas < want {
		return fmt.Sprintf("Waiting for %d pods to be ready...", want-s.ReadyReplicas), false, nil
	}
	if strategy.RollingUpdate != nil {
		if p := strategy.RollingUpdate.Partition; p != nil && s.UpdatedReplicas < want-*p {
			return fmt.Sprintf("Waiting for partitioned roll out to finish: %d out of %d new pods have been updated...", s.UpdatedReplicas, want-*p), false, nil
		}
		return fmt.Sprintf("partitioned roll out complete: %d new pods have been updated...", s.UpdatedReplicas), true, nil
	}
	if s.UpdateRevision != s.CurrentRevision {
		return fmt.Sprintf("waiting for statefulset rolling update to complete %d pods at revision %s...", s.UpdatedReplicas, s.UpdateRevision), false, nil
	}
	return fmt.Sprintf("statefulset rolling update complete %d pods at revision %s...", s.CurrentReplicas, s.CurrentRevision), true, nil
}
