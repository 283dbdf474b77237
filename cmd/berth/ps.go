package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/spf13/cobra"
)

// psOptions are the flags of ps.
type psOptions struct {
	all       bool // -a: also the stopped and finished pods
	namespace string
	allNS     bool // -A
	quiet     bool
}

func newPsCmd() *cobra.Command {
	var o psOptions
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List the running pods (all of them with -a)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			ns := o.namespace
			if o.allNS {
				ns = ""
			}
			objs, _, err := c.List(ctx, "Pod", ns)
			if err != nil {
				return userError(err)
			}
			var pods []*api.Pod
			for _, obj := range objs {
				if p, ok := obj.(*api.Pod); ok {
					pods = append(pods, p)
				}
			}
			return o.print(cmd.OutOrStdout(), pods, time.Now())
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "also list stopped and finished pods")
	f.StringVarP(&o.namespace, "namespace", "n", "default", "namespace to list")
	f.BoolVarP(&o.allNS, "all-namespaces", "A", false, "list every namespace")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print the names only")
	return cmd
}

// print writes the pods ps shows, sorted by namespace and name.
func (o *psOptions) print(w io.Writer, pods []*api.Pod, now time.Time) error {
	pods = slices.DeleteFunc(slices.Clone(pods), func(p *api.Pod) bool { return !o.all && !podActive(p) })
	slices.SortFunc(pods, func(a, b *api.Pod) int {
		if c := strings.Compare(a.Metadata.Namespace, b.Metadata.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Metadata.Name, b.Metadata.Name)
	})
	name := func(p *api.Pod) string {
		if o.allNS {
			return p.Metadata.Namespace + "/" + p.Metadata.Name
		}
		return p.Metadata.Name
	}
	if o.quiet {
		for _, p := range pods {
			fmt.Fprintln(w, name(p))
		}
		return nil
	}
	t := newTable("NAME", "IMAGE", "NODE", "IP", "STATUS", "RESTARTS", "AGE")
	t.statusColumn(4)
	for _, p := range pods {
		image := "<none>"
		if len(p.Spec.Containers) > 0 {
			image = p.Spec.Containers[0].Image
		}
		t.add(name(p), image, orNone(p.Spec.NodeName), orNone(p.Status.PodIP),
			psStatus(p), fmt.Sprint(podRestarts(p)), humanAge(p.Metadata.CreationTimestamp, now))
	}
	return t.write(w, useColor(w))
}

// podStopped reports whether berth stop asked the pod's node to keep it
// stopped.
func podStopped(p *api.Pod) bool { return p.Metadata.Annotations[api.AnnotationStopped] == "true" }

// podActive reports whether a pod runs or is meant to: neither finished
// nor stopped. ps lists only these without -a.
func podActive(p *api.Pod) bool { return !p.Terminated() && !podStopped(p) }

// podRestarts sums the restarts of the pod's containers.
func podRestarts(p *api.Pod) int {
	n := 0
	for _, cs := range p.Status.ContainerStatuses {
		n += int(cs.RestartCount)
	}
	return n
}

// psStatus is ps's STATUS column, as kubectl's: Stopped (Stopping while
// the node has not stopped it yet) for a pod berth stop stopped; else why
// a container waits (ContainerCreating, CrashLoopBackOff, ErrImagePull...)
// or why it ended (Completed, Error, OOMKilled); else the pod's phase, with
// why it is not scheduled ("Pending (Unschedulable)").
func psStatus(p *api.Pod) string {
	if podStopped(p) {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Running != nil {
				return "Stopping"
			}
		}
		return "Stopped"
	}
	for _, cs := range p.Status.ContainerStatuses {
		switch st := cs.State; {
		case st.Waiting != nil && st.Waiting.Reason != "":
			return st.Waiting.Reason
		case st.Terminated != nil:
			if st.Terminated.Reason != "" {
				return st.Terminated.Reason
			}
			if st.Terminated.ExitCode == 0 {
				return api.ReasonCompleted
			}
			return api.ReasonError
		}
	}
	return podStatus(p)
}
