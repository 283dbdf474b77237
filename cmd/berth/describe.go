package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/spf13/cobra"
)

func newDescribeCmd() *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:   "describe KIND NAME",
		Short: "Show one object in a form for people to read",
		Args: func(cmd *cobra.Command, args []string) error {
			if err := kindArgs("describe", 2)(cmd, args); err != nil {
				return err
			}
			if len(args) < 2 || args[1] == "" {
				return fmt.Errorf("describe needs the name of the object after its resource type")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			info, err := resolveKind(args[0])
			if err != nil {
				return err
			}
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			obj, err := c.Get(ctx, info.Kind, namespaceFor(info, namespace, false), args[1])
			if err != nil {
				return userError(err)
			}
			w := cmd.OutOrStdout()
			if err := describeObject(w, obj, time.Now()); err != nil {
				return err
			}
			switch o := obj.(type) {
			case *api.Service:
				var eps *api.Endpoints
				if e, err := c.Get(ctx, "Endpoints", o.Metadata.Namespace, o.Metadata.Name); err == nil {
					eps = e.(*api.Endpoints)
				}
				err = describeService(w, o, eps)
			case *api.Ingress:
				err = describeIngress(w, o)
			case *api.Deployment:
				var rss []api.Object
				if rss, _, err = c.List(ctx, "ReplicaSet", o.Metadata.Namespace); err != nil {
					return userError(err)
				}
				err = deploymentReplicaSets(w, o, ownedReplicaSets(o, rss))
			}
			if err != nil || info.Kind == "Event" {
				return err
			}
			// Events of cluster-scoped objects (nodes) are kept in the
			// default namespace, as in Kubernetes.
			evs, _, err := c.List(ctx, "Event", cmp.Or(obj.GetObjectMeta().Namespace, "default"))
			if err != nil {
				return userError(err)
			}
			return describeEvents(w, objectEvents(evs, obj), time.Now())
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace of a namespaced kind")
	return cmd
}

// describeObject writes obj as kubectl describe does: its metadata, then
// what its kind holds. A Secret's values are never shown, only their sizes.
func describeObject(w io.Writer, obj api.Object, now time.Time) error {
	md := obj.GetObjectMeta()
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	field := func(name, value string) { fmt.Fprintf(tw, "%s:\t%s\n", name, value) }
	field("Name", md.Name)
	if md.Namespace != "" {
		field("Namespace", md.Namespace)
	}
	mapField(tw, "Labels", md.Labels)
	mapField(tw, "Annotations", md.Annotations)
	field("UID", md.UID)
	field("ResourceVersion", md.ResourceVersion)
	created := md.CreationTimestamp
	if created != "" {
		created += " (" + humanAge(md.CreationTimestamp, now) + " ago)"
	}
	field("Created", created)
	switch o := obj.(type) {
	case *api.Namespace:
		field("Status", namespacePhase(o))
	case *api.Secret:
		field("Type", o.Type)
	case *api.Pod:
		podFields(tw, o)
	case *api.Node:
		nodeFields(tw, o)
	case *api.Deployment:
		deploymentFields(tw, o)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch o := obj.(type) {
	case *api.Pod:
		return podConditions(w, o)
	case *api.Node:
		return nodeConditions(w, o)
	case *api.Deployment:
		return deploymentSections(w, o)
	case *api.ConfigMap:
		describeConfigMap(w, o)
	case *api.Secret:
		fmt.Fprintf(w, "\nData\n====\n")
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		for _, k := range slices.Sorted(maps.Keys(o.Data)) {
			fmt.Fprintf(tw, "%s:\t%d bytes\n", k, len(o.Data[k]))
		}
		return tw.Flush()
	}
	return nil
}

func describeConfigMap(w io.Writer, cm *api.ConfigMap) {
	fmt.Fprintf(w, "\nData\n====\n")
	for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
		fmt.Fprintf(w, "%s:\n----\n%s\n\n", k, strings.TrimSuffix(cm.Data[k], "\n"))
	}
	if len(cm.Data) == 0 {
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "BinaryData\n====\n")
	for _, k := range slices.Sorted(maps.Keys(cm.BinaryData)) {
		fmt.Fprintf(w, "%s: %d bytes\n", k, len(cm.BinaryData[k]))
	}
}

// mapField writes labels or annotations one key=value a line, or <none>.
func mapField(tw io.Writer, name string, m map[string]string) {
	if len(m) == 0 {
		fmt.Fprintf(tw, "%s:\t<none>\n", name)
		return
	}
	for i, k := range slices.Sorted(maps.Keys(m)) {
		label := name + ":"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(tw, "%s\t%s=%s\n", label, k, m[k])
	}
}
