package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
)

// getOptions are the flags of get.
type getOptions struct {
	namespace string
	all       bool
	selector  string
	output    string
	stale     bool
	// watch (-w) prints the objects, then each change until interrupted;
	// watchOnly the changes alone; watchEvents adds each change's type.
	watch, watchOnly, watchEvents bool
}

// getFormats are the values of get -o.
var getFormats = []string{outTable, outWide, outYAML, outJSON, outName}

// getRequest is a checked get: what to read and how to print it.
type getRequest struct {
	info      api.KindInfo
	name      string // "" lists
	namespace string // "" for every namespace or a cluster-scoped kind
}

// kindArgs checks that the first argument names a resource type; verb
// words the message.
func kindArgs(verb string, max int) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) == 0 {
			return fmt.Errorf("%s needs a resource type (one of: %s)", verb, resourceTypes())
		}
		if max >= 0 && len(args) > max {
			return fmt.Errorf("%s takes at most %d arguments, got %d", verb, max, len(args))
		}
		return nil
	}
}

// namespaceFor returns the namespace a command acts in: none for a
// cluster-scoped kind or with -A, else -n.
func namespaceFor(info api.KindInfo, ns string, all bool) string {
	if !info.Namespaced || all {
		return ""
	}
	if ns == "" {
		return "default"
	}
	return ns
}

// check validates the flags and arguments before any call is made.
func (o *getOptions) check(args []string) (getRequest, error) {
	if err := checkOutput(o.output, getFormats...); err != nil {
		return getRequest{}, err
	}
	info, err := resolveKind(args[0])
	if err != nil {
		return getRequest{}, err
	}
	r := getRequest{info: info, namespace: namespaceFor(info, o.namespace, o.all)}
	if len(args) > 1 {
		r.name = args[1]
		if r.name == "" {
			return getRequest{}, fmt.Errorf("the name of a resource cannot be empty")
		}
		if o.all && info.Namespaced {
			return getRequest{}, fmt.Errorf("a resource cannot be retrieved by name across all namespaces")
		}
		if o.selector != "" {
			return getRequest{}, fmt.Errorf("a name cannot be given together with a label selector")
		}
	}
	if _, err := api.ParseSelector(o.selector); err != nil {
		return getRequest{}, err
	}
	return r, nil
}

func newGetCmd() *cobra.Command {
	var o getOptions
	cmd := &cobra.Command{
		Use:   "get KIND [NAME]",
		Short: "Show one object or list the objects of a kind",
		Args:  kindArgs("get", 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := o.check(args)
			if err != nil {
				return err
			}
			if o.watch || o.watchOnly {
				return o.runWatch(cmd, r)
			}
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			var opts []client.ReadOption
			if o.stale {
				opts = append(opts, client.Stale())
			}
			var objs []api.Object
			if r.name != "" {
				obj, err := c.Get(ctx, r.info.Kind, r.namespace, r.name, opts...)
				if err != nil {
					return userError(err)
				}
				objs = []api.Object{obj}
			} else {
				if o.selector != "" {
					opts = append(opts, client.LabelSelector(o.selector))
				}
				if objs, _, err = c.List(ctx, r.info.Kind, r.namespace, opts...); err != nil {
					return userError(err)
				}
			}
			allocated, err := o.allocated(ctx, c, r)
			if err != nil {
				return err
			}
			return o.print(cmd, r, objs, time.Now(), allocated)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.namespace, "namespace", "n", "default", "namespace of a namespaced kind")
	f.BoolVarP(&o.all, "all-namespaces", "A", false, "list across all namespaces")
	f.StringVarP(&o.selector, "selector", "l", "", "label selector, such as app=web,tier!=db")
	f.StringVarP(&o.output, "output", "o", outTable, "output format: "+orList(getFormats))
	f.BoolVar(&o.stale, "stale", false, "read any server's replica, without a linearizable read")
	f.BoolVarP(&o.watch, "watch", "w", false, "after the objects, print each change as it happens, until interrupted")
	f.BoolVar(&o.watchOnly, "watch-only", false, "print the changes only, not the objects as they are")
	f.BoolVar(&o.watchEvents, "output-watch-events", false, "with --watch, print each change's type (ADDED, MODIFIED, DELETED)")
	return cmd
}

// print writes what get read: Events by when they last happened, tables
// colored on a terminal. An empty list says so on stderr for the table,
// wide and name formats; yaml and json print an empty List.
func (o *getOptions) print(cmd *cobra.Command, r getRequest, objs []api.Object, now time.Time, allocated map[string]api.Resources) error {
	out := cmd.OutOrStdout()
	if len(objs) == 0 && o.output != outYAML && o.output != outJSON {
		fmt.Fprintln(cmd.ErrOrStderr(), noResources(r.namespace))
		return nil
	}
	if r.info.Kind == "Event" {
		objs = slices.Clone(objs)
		sortEvents(objs)
	}
	if o.output == outTable || o.output == outWide {
		return writeTable(out, r.info, objs, o.tableOptions(r, now, allocated, useColor(out)))
	}
	return printObjects(out, o.output, objs, r.name != "")
}

// tableOptions are the table settings of the flags and the request.
func (o *getOptions) tableOptions(r getRequest, now time.Time, allocated map[string]api.Resources, color bool) tableOptions {
	return tableOptions{
		withNamespace: r.info.Namespaced && r.namespace == "",
		wide:          o.output == outWide,
		color:         color,
		now:           now,
		allocated:     allocated,
	}
}

// allocated reads what the pods on each node request, for the node
// table's columns; nil for other kinds and formats.
func (o *getOptions) allocated(ctx context.Context, c *client.Client, r getRequest) (map[string]api.Resources, error) {
	if r.info.Kind != "Node" || (o.output != outTable && o.output != outWide) {
		return nil, nil
	}
	allocated, err := podRequestsByNode(ctx, c, o.stale)
	return allocated, userError(err)
}

// podRequestsByNode sums what the pods bound to each node request, for
// get nodes' allocated/allocatable columns.
func podRequestsByNode(ctx context.Context, c *client.Client, stale bool) (map[string]api.Resources, error) {
	var opts []client.ReadOption
	if stale {
		opts = append(opts, client.Stale())
	}
	pods, _, err := c.List(ctx, "Pod", "", opts...)
	if err != nil {
		return nil, err
	}
	out := map[string]api.Resources{}
	for _, obj := range pods {
		p, ok := obj.(*api.Pod)
		if !ok || p.Spec.NodeName == "" || p.Terminated() {
			continue
		}
		out[p.Spec.NodeName] = out[p.Spec.NodeName].Add(p.Requests())
	}
	return out, nil
}
