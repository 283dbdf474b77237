package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
)

func newCordonCmd() *cobra.Command {
	return newSchedulableCmd("cordon", "Mark a node unschedulable: new pods go elsewhere, running ones stay", cordonNode)
}

func newUncordonCmd() *cobra.Command {
	return newSchedulableCmd("uncordon", "Mark a node schedulable again (and no longer draining)", uncordonNode)
}

// newSchedulableCmd makes cordon or uncordon, whose change is change.
func newSchedulableCmd(verb, short string, change func(*api.Node) bool) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " NODE",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			return updateNode(ctx, c, cmd.OutOrStdout(), args[0], verb+"ed", change)
		},
	}
}

// cordonNode sets unschedulable; false when it was set.
func cordonNode(n *api.Node) bool {
	changed := !n.Spec.Unschedulable
	n.Spec.Unschedulable = true
	return changed
}

// uncordonNode clears unschedulable and the draining annotation; false
// when neither was there.
func uncordonNode(n *api.Node) bool {
	_, draining := n.Metadata.Annotations[api.AnnotationDraining]
	changed := n.Spec.Unschedulable || draining
	n.Spec.Unschedulable = false
	delete(n.Metadata.Annotations, api.AnnotationDraining)
	return changed
}

// drainNode cordons the node and marks it draining; false when it was.
func drainNode(n *api.Node) bool {
	changed := !n.Spec.Unschedulable || n.Metadata.Annotations[api.AnnotationDraining] != "true"
	n.Spec.Unschedulable = true
	if n.Metadata.Annotations == nil {
		n.Metadata.Annotations = map[string]string{}
	}
	n.Metadata.Annotations[api.AnnotationDraining] = "true"
	return changed
}

// updateNode applies change to the node as it is now, retrying when the
// node changed between the read and the write (its controller rewrites it
// often), and prints `node/NAME cordoned` or `node/NAME already cordoned`.
func updateNode(ctx context.Context, c *client.Client, w io.Writer, name, verb string, change func(*api.Node) bool) error {
	_, changed, err := modify(ctx, c, "Node", "", name, func(obj api.Object) (bool, error) {
		n, ok := obj.(*api.Node)
		if !ok {
			return false, fmt.Errorf("node %q: got a %s", name, kindOf(obj))
		}
		return change(n), nil
	})
	if err != nil {
		return err
	}
	if !changed {
		verb = "already " + verb
	}
	fmt.Fprintf(w, "node/%s %s\n", name, verb)
	return nil
}

// drainOptions are the flags of drain.
type drainOptions struct {
	force           bool
	deleteLocalData bool
	timeout         time.Duration
}

func newDrainCmd() *cobra.Command {
	var o drainOptions
	cmd := &cobra.Command{
		Use:   "drain NODE",
		Short: "Cordon a node and move its pods elsewhere",
		Long: "Cordon a node and mark it draining: the controllers of its pods start a replacement\n" +
			"of each elsewhere and delete the pod once the replacement is available. drain waits\n" +
			"until no pod is left on the node, or --timeout passes.\n\n" +
			"A pod that no controller manages is gone for good once deleted, so drain refuses\n" +
			"unless --force is given. A StatefulSet's pod keeps its data in local volumes of the\n" +
			"node, so drain refuses unless --delete-local-data is given, and then deletes the pod\n" +
			"and its PersistentVolumeClaims: the StatefulSet starts it again elsewhere, empty.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.timeout <= 0 {
				return fmt.Errorf("drain: --timeout must be positive, got %s", o.timeout)
			}
			c, closeClient, err := watchClient(cmd)
			if err != nil {
				return err
			}
			defer closeClient()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return drain(ctx, c, cmd.OutOrStdout(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.force, "force", false, "also delete pods that no controller manages")
	f.BoolVar(&o.deleteLocalData, "delete-local-data", false, "delete StatefulSet pods on the node and their PersistentVolumeClaims (their data is lost)")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for the pods to leave the node")
	return cmd
}

// drainPlan sorts the pods on a node that have not terminated.
type drainPlan struct {
	unmanaged []*api.Pod // no controller: lost once deleted
	stateful  []*api.Pod // a StatefulSet's: its volumes are local to the node
	managed   []*api.Pod // moved by their controllers
}

// planDrain sorts the pods of objs bound to node.
func planDrain(objs []api.Object, node string) drainPlan {
	var p drainPlan
	for _, obj := range objs {
		pod, ok := obj.(*api.Pod)
		if !ok || pod.Spec.NodeName != node || pod.Terminated() {
			continue
		}
		switch ref := api.ControllerOf(&pod.Metadata); {
		case ref == nil:
			p.unmanaged = append(p.unmanaged, pod)
		case ref.Kind == "StatefulSet":
			p.stateful = append(p.stateful, pod)
		default:
			p.managed = append(p.managed, pod)
		}
	}
	return p
}

// check refuses a drain that would lose pods or data the flags do not
// allow to lose.
func (p drainPlan) check(node string, force, deleteLocalData bool) error {
	if len(p.unmanaged) > 0 && !force {
		return fmt.Errorf("cannot drain node %q: %d pod(s) are not managed by a controller and would be lost: %s (use --force to delete them)",
			node, len(p.unmanaged), podNames(p.unmanaged))
	}
	if len(p.stateful) > 0 && !deleteLocalData {
		return fmt.Errorf("cannot drain node %q: %d StatefulSet pod(s) keep their data in local volumes of the node: %s (use --delete-local-data to delete them and their PersistentVolumeClaims)",
			node, len(p.stateful), podNames(p.stateful))
	}
	return nil
}

// podNames lists pods as ns/name, ns/name.
func podNames(pods []*api.Pod) string {
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Metadata.Namespace + "/" + p.Metadata.Name
	}
	return strings.Join(names, ", ")
}

// claimRefs are the PersistentVolumeClaims a StatefulSet made for pod,
// those of its volumes named CLAIMTEMPLATE-POD.
func claimRefs(pod *api.Pod) []client.Ref {
	var refs []client.Ref
	for _, v := range pod.Spec.Volumes {
		if pvc := v.PersistentVolumeClaim; pvc != nil && strings.HasSuffix(pvc.ClaimName, "-"+pod.Metadata.Name) {
			refs = append(refs, client.Ref{Kind: "PersistentVolumeClaim", Namespace: pod.Metadata.Namespace, Name: pvc.ClaimName})
		}
	}
	return refs
}

// drain cordons the node and marks it draining, deletes the pods the
// flags allow it to, and waits for the others to leave.
func drain(ctx context.Context, c *client.Client, w io.Writer, node string, o drainOptions) error {
	if _, err := c.Get(ctx, "Node", "", node); err != nil {
		return userError(err)
	}
	pods, _, err := c.List(ctx, "Pod", "")
	if err != nil {
		return userError(err)
	}
	plan := planDrain(pods, node)
	if err := plan.check(node, o.force, o.deleteLocalData); err != nil {
		return err
	}
	if err := updateNode(ctx, c, w, node, "cordoned", drainNode); err != nil {
		return err
	}
	// A StatefulSet's pod is made again elsewhere once deleted: it must
	// have stopped here first, or two would run with one identity.
	if err := stopStateful(ctx, c, w, plan.stateful, o.timeout); err != nil {
		return err
	}
	var groups [][]client.Ref
	for _, p := range plan.unmanaged {
		groups = append(groups, []client.Ref{{Kind: "Pod", Namespace: p.Metadata.Namespace, Name: p.Metadata.Name}})
	}
	for _, p := range plan.stateful {
		pod := client.Ref{Kind: "Pod", Namespace: p.Metadata.Namespace, Name: p.Metadata.Name}
		groups = append(groups, append([]client.Ref{pod}, claimRefs(p)...))
	}
	for _, refs := range groups {
		res, err := deleteExisting(ctx, c, refs)
		if err != nil {
			return userError(err)
		}
		for _, r := range res {
			if r.Object != nil {
				md := r.Object.GetObjectMeta()
				fmt.Fprintf(w, "%s/%s/%s deleted\n", strings.ToLower(kindOf(r.Object)), md.Namespace, md.Name)
			}
		}
	}
	return waitDrained(ctx, c, w, node, o.timeout)
}

// stopStateful has the node stop the StatefulSet pods (the stopped
// annotation) and waits until none of their containers runs, or timeout
// (0: 5 minutes) passes. A node that does not answer cannot stop them: its
// pods move once the leader has fenced it, not before.
func stopStateful(ctx context.Context, c *client.Client, w io.Writer, pods []*api.Pod, timeout time.Duration) error {
	if len(pods) == 0 {
		return nil
	}
	for _, p := range pods {
		if _, err := updatePod(ctx, c, p, stopPod); err != nil && !client.IsNotFound(err) {
			return userError(err)
		}
		fmt.Fprintf(w, "stopping pod %s/%s\n", p.Metadata.Namespace, p.Metadata.Name)
	}
	deadline := time.Now().Add(cmp.Or(timeout, 5*time.Minute))
	for {
		running := []string{}
		for _, p := range pods {
			obj, err := c.Get(ctx, "Pod", p.Metadata.Namespace, p.Metadata.Name)
			if client.IsNotFound(err) {
				continue
			}
			if err != nil {
				return userError(err)
			}
			for _, cs := range obj.(*api.Pod).Status.ContainerStatuses {
				if cs.State.Running != nil {
					running = append(running, p.Metadata.Namespace+"/"+p.Metadata.Name)
					break
				}
			}
		}
		if len(running) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("drain: %s did not stop; if the node is down, its StatefulSet pods move once it is fenced", strings.Join(running, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitDrained waits until no pod that has not terminated is bound to node,
// printing `evicting pod ns/name` as each goes, or until timeout passes.
func waitDrained(ctx context.Context, c *client.Client, w io.Writer, node string, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := &drainTracker{w: w, node: node, line: newLiveLine(w)}
	defer t.line.clear()
	for {
		pods, rev, err := c.List(wctx, "Pod", "")
		if err != nil {
			return t.ended(wctx, timeout, userError(err))
		}
		if t.reset(pods) {
			return nil
		}
		lctx, stop := context.WithCancel(wctx)
		err = t.follow(lctx, c.Watch(lctx, "Pod", "", rev))
		stop()
		if !errors.Is(err, errRelist) {
			return t.ended(wctx, timeout, err)
		}
	}
}

// drainTracker follows the pods left on a draining node. It prints
// `evicting pod ns/name (n of m)` as each goes and, on a terminal, a live
// line of the count and the pods still there.
type drainTracker struct {
	w       io.Writer
	line    *liveLine // nil: not a terminal
	node    string
	left    map[string]bool // ns/name of the pods still on the node
	evicted int             // the pods gone so far
	ready   bool            // left has been listed once
}

// gone prints that the pod ns/name left the node.
func (t *drainTracker) gone(k string) {
	t.evicted++
	msg := fmt.Sprintf("evicting pod %s (%d of %d)", k, t.evicted, t.evicted+len(t.left))
	if t.line == nil {
		fmt.Fprintln(t.w, msg)
		return
	}
	// The count changed: status draws the live line again after this.
	t.line.clear()
	t.line.println(msg)
}

// status shows the count on the live line.
func (t *drainTracker) status() {
	if t.line == nil || len(t.left) == 0 {
		return
	}
	t.line.set(fmt.Sprintf("%d of %d pods evicted; waiting for %s", t.evicted, t.evicted+len(t.left),
		strings.Join(slices.Sorted(maps.Keys(t.left)), ", ")))
}

// reset takes the pods on the node from a new list; true when none is.
func (t *drainTracker) reset(objs []api.Object) bool {
	now := map[string]bool{}
	for _, obj := range objs {
		if p, ok := obj.(*api.Pod); ok && t.onNode(p) {
			now[p.Metadata.Namespace+"/"+p.Metadata.Name] = true
		}
	}
	old := t.left
	t.left = now
	if t.ready {
		for _, k := range slices.Sorted(maps.Keys(old)) {
			if !now[k] {
				t.gone(k)
			}
		}
	}
	t.ready = true
	t.status()
	return t.done()
}

func (t *drainTracker) onNode(p *api.Pod) bool {
	return p.Spec.NodeName == t.node && !p.Terminated()
}

// done prints `node/NAME drained` and returns true once no pod is left.
func (t *drainTracker) done() bool {
	if len(t.left) > 0 {
		return false
	}
	if t.line != nil {
		t.line.clear()
	}
	fmt.Fprintf(t.w, "node/%s drained\n", t.node)
	return true
}

// follow applies pod events until the node is empty (nil), the watch
// must start over (errRelist), or it ends (ctx's error).
func (t *drainTracker) follow(ctx context.Context, events <-chan client.Event) error {
	for ev := range events {
		if ev.Err != nil {
			if client.IsCompacted(ev.Err) {
				return errRelist
			}
			return userError(ev.Err)
		}
		p, ok := ev.Object.(*api.Pod)
		if !ok {
			continue
		}
		k := p.Metadata.Namespace + "/" + p.Metadata.Name
		switch on := ev.Type != "DELETED" && t.onNode(p); {
		case on:
			t.left[k] = true
			t.status()
		case t.left[k]:
			delete(t.left, k)
			t.gone(k)
			if t.done() {
				return nil
			}
			t.status()
		}
	}
	return ctx.Err()
}

// ended words the end of a wait: the timeout names the pods still there.
func (t *drainTracker) ended(ctx context.Context, timeout time.Duration, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		names := slices.Sorted(maps.Keys(t.left))
		return fmt.Errorf("drain node %q: timed out after %s with %d pod(s) still on it: %s", t.node, timeout, len(names), strings.Join(names, ", "))
	}
	if ctx.Err() != nil {
		return fmt.Errorf("drain node %q: interrupted with %d pod(s) still on it", t.node, len(t.left))
	}
	return err
}
