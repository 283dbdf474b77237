package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
)

// stop, start and rm act on a pod by its name, or on every pod of a run
// (labelled berth.dev/run=NAME), as Docker's verbs act on containers. Each
// NAME is handled on its own: a failure is reported and the others go on.

func newStopCmd() *cobra.Command {
	return newLifecycleCmd("stop", "Stop pods: their nodes stop the containers and keep them stopped", stopPod)
}

func newStartCmd() *cobra.Command {
	return newLifecycleCmd("start", "Start stopped or finished pods again", startPod)
}

// podChange changes a pod read from the cluster for stop or start. It
// returns what to print ("stopped") and false when the pod needs no
// change.
type podChange func(p *api.Pod) (changed bool, msg string)

// newLifecycleCmd makes stop or start: a read-modify-write of each pod.
func newLifecycleCmd(verb, short string, change podChange) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:   verb + " NAME...",
		Short: short,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("%s needs the name of a pod or run", verb)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			return eachName(cmd.ErrOrStderr(), args, func(name string) error {
				pods, err := runPods(ctx, c, namespace, name)
				if err != nil {
					return err
				}
				for _, p := range pods {
					msg, err := updatePod(ctx, c, p, change)
					if err != nil {
						return fmt.Errorf("%s %s: %w", verb, p.Metadata.Name, userError(err))
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", p.Metadata.Name, msg)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace of the pods")
	return cmd
}

// eachName runs fn for every name; a failure is printed and the others go
// on, and the command then exits 1.
func eachName(stderr io.Writer, names []string, fn func(name string) error) error {
	if len(names) == 1 {
		return fn(names[0])
	}
	failed := false
	for _, name := range names {
		if err := fn(name); err != nil {
			fmt.Fprintln(stderr, "error:", err)
			failed = true
		}
	}
	if failed {
		return exitError{1}
	}
	return nil
}

// stopPod sets the stopped annotation.
func stopPod(p *api.Pod) (bool, string) {
	if podStopped(p) {
		return false, "already stopped"
	}
	if p.Metadata.Annotations == nil {
		p.Metadata.Annotations = map[string]string{}
	}
	p.Metadata.Annotations[api.AnnotationStopped] = "true"
	return true, "stopped"
}

// startPod removes the stopped annotation and, for a pod that has
// finished, puts it back to Pending with no container status, so that its
// node starts it again.
func startPod(p *api.Pod) (bool, string) {
	_, annotated := p.Metadata.Annotations[api.AnnotationStopped]
	if !annotated && !p.Terminated() {
		return false, "already started"
	}
	delete(p.Metadata.Annotations, api.AnnotationStopped)
	if p.Metadata.Annotations == nil {
		p.Metadata.Annotations = map[string]string{}
	}
	// Containers that ended before this time start again, whatever the
	// restart policy says.
	p.Metadata.Annotations[api.AnnotationRestartedAt] = time.Now().UTC().Format(time.RFC3339Nano)
	if p.Terminated() {
		// The conditions stay: a status with none is taken for a
		// manifest's and the cluster's own would be kept.
		p.Status.Phase = api.PodPending
		p.Status.ContainerStatuses = nil
	}
	return true, "started"
}

// updatePod applies change to the pod as stored now, retrying when it
// changed between the read and the write.
func updatePod(ctx context.Context, c *client.Client, p *api.Pod, change podChange) (string, error) {
	for {
		changed, msg := change(p)
		if !changed {
			return msg, nil
		}
		_, err := c.Update(ctx, p)
		if !client.IsConflict(err) {
			return msg, err
		}
		obj, err := c.Get(ctx, "Pod", p.Metadata.Namespace, p.Metadata.Name)
		if err != nil {
			return "", err
		}
		p = obj.(*api.Pod)
	}
}

// runPods returns the pod named name and the pods of the run named name,
// sorted by name; none is an error.
func runPods(ctx context.Context, c *client.Client, ns, name string) ([]*api.Pod, error) {
	if name == "" {
		return nil, errors.New("the name of a pod or run cannot be empty")
	}
	var pods []*api.Pod
	obj, err := c.Get(ctx, "Pod", ns, name)
	switch {
	case err == nil:
		pods = append(pods, obj.(*api.Pod))
	case !client.IsNotFound(err):
		return nil, userError(err)
	}
	// A name that is no label value cannot name a run.
	if checkDNSLabel(name) == "" {
		objs, _, err := c.List(ctx, "Pod", ns, client.LabelSelector(api.LabelRun+"="+name))
		if err != nil {
			return nil, userError(err)
		}
		for _, o := range objs {
			p := o.(*api.Pod)
			if p.Metadata.Name != name {
				pods = append(pods, p)
			}
		}
	}
	if len(pods) == 0 {
		return nil, fmt.Errorf("no pod or run named %q in namespace %s", name, ns)
	}
	slices.SortFunc(pods, func(a, b *api.Pod) int { return strings.Compare(a.Metadata.Name, b.Metadata.Name) })
	return pods, nil
}

func newRmCmd() *cobra.Command {
	var namespace string
	var force bool
	cmd := &cobra.Command{
		Use:   "rm [-f] NAME...",
		Short: "Remove pods, or the pods of runs; -f also removes running ones",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("rm needs the name of a pod or run")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			return eachName(cmd.ErrOrStderr(), args, func(name string) error {
				return removeRun(ctx, c, cmd.OutOrStdout(), namespace, name, force)
			})
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace of the pods")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "also remove running pods")
	return cmd
}

// removeRun deletes the pods of one NAME, all or nothing. Without force
// it refuses a running one, and deletes the others only as they were read
// (a pod started meanwhile makes it read again).
func removeRun(ctx context.Context, c *client.Client, w io.Writer, ns, name string, force bool) error {
	const tries = 5
	for try := 1; ; try++ {
		pods, err := runPods(ctx, c, ns, name)
		if err != nil {
			return err
		}
		refs := make([]client.Ref, 0, len(pods))
		for _, p := range pods {
			if err := checkRemovable(p, force); err != nil {
				return err
			}
			ref := client.Ref{Kind: "Pod", Namespace: p.Metadata.Namespace, Name: p.Metadata.Name}
			if !force {
				ref.ResourceVersion = resourceVersion(p)
			}
			refs = append(refs, ref)
		}
		_, err = c.Delete(ctx, refs...)
		if (client.IsConflict(err) || client.IsNotFound(err)) && try < tries {
			continue // a pod changed or went meanwhile: look again
		}
		if err != nil {
			return userError(err)
		}
		for _, p := range pods {
			fmt.Fprintln(w, p.Metadata.Name)
		}
		return nil
	}
}

// checkRemovable refuses a running pod, as docker rm does, unless force.
func checkRemovable(p *api.Pod, force bool) error {
	if force || !podActive(p) {
		return nil
	}
	return fmt.Errorf("pod %q is running: stop it first or use rm -f", p.Metadata.Name)
}

// resourceVersion is the pod's metadata.resourceVersion as a delete's
// precondition; 0 (none) if it does not parse.
func resourceVersion(p *api.Pod) uint64 {
	v, _ := strconv.ParseUint(p.Metadata.ResourceVersion, 10, 64)
	return v
}
