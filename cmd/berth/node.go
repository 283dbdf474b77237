package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
)

func newCordonCmd() *cobra.Command {
	return newSchedulableCmd("cordon", "Mark a node unschedulable: new pods go elsewhere, running ones stay", true)
}

func newUncordonCmd() *cobra.Command {
	return newSchedulableCmd("uncordon", "Mark a node schedulable again", false)
}

// newSchedulableCmd makes cordon (unschedulable true) or uncordon.
func newSchedulableCmd(verb, short string, unschedulable bool) *cobra.Command {
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
			return setUnschedulable(ctx, c, cmd.OutOrStdout(), args[0], unschedulable)
		},
	}
}

func newDrainCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "drain NODE",
		Short: "Cordon a node and delete the pods bound to it",
		Long: "Cordon a node and delete the pods bound to it. A pod that no controller manages\n" +
			"is gone for good once deleted, so drain refuses unless --force is given.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			return drain(ctx, c, cmd.OutOrStdout(), args[0], force)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "also delete pods that no controller manages")
	return cmd
}

// setUnschedulable sets a node's spec.unschedulable, retrying when the node
// changed between the read and the write.
func setUnschedulable(ctx context.Context, c *client.Client, w io.Writer, name string, on bool) error {
	verb := map[bool]string{true: "cordoned", false: "uncordoned"}[on]
	for {
		obj, err := c.Get(ctx, "Node", "", name)
		if err != nil {
			return userError(err)
		}
		n := obj.(*api.Node)
		if n.Spec.Unschedulable == on {
			fmt.Fprintf(w, "node/%s already %s\n", name, verb)
			return nil
		}
		n.Spec.Unschedulable = on
		_, err = c.Update(ctx, n)
		if client.IsConflict(err) {
			continue
		}
		if err != nil {
			return userError(err)
		}
		fmt.Fprintf(w, "node/%s %s\n", name, verb)
		return nil
	}
}

func drain(ctx context.Context, c *client.Client, w io.Writer, name string, force bool) error {
	if err := setUnschedulable(ctx, c, w, name, true); err != nil {
		return err
	}
	objs, _, err := c.List(ctx, "Pod", "")
	if err != nil {
		return userError(err)
	}
	var refs []client.Ref
	var names []string
	for _, obj := range objs {
		p := obj.(*api.Pod)
		if p.Spec.NodeName != name || p.Terminated() {
			continue
		}
		refs = append(refs, client.Ref{Kind: "Pod", Namespace: p.Metadata.Namespace, Name: p.Metadata.Name})
		names = append(names, p.Metadata.Namespace+"/"+p.Metadata.Name)
	}
	if len(refs) == 0 {
		fmt.Fprintf(w, "node/%s drained\n", name)
		return nil
	}
	if !force {
		return fmt.Errorf("cannot drain node %q: %d pod(s) are not managed by a controller and would be lost: %s (use --force to delete them)",
			name, len(refs), strings.Join(names, ", "))
	}
	for i, ref := range refs {
		if _, err := c.Delete(ctx, ref); err != nil && !client.IsNotFound(err) {
			return userError(err)
		}
		fmt.Fprintf(w, "pod/%s deleted\n", names[i])
	}
	fmt.Fprintf(w, "node/%s drained\n", name)
	return nil
}
