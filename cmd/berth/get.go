package main

import (
	"context"
	"fmt"
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
}

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
	if err := checkOutput(o.output, outTable, outYAML, outJSON, outName); err != nil {
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
			var allocated map[string]api.Resources
			if r.info.Kind == "Node" && o.output == outTable {
				if allocated, err = podRequestsByNode(ctx, c, o.stale); err != nil {
					return userError(err)
				}
			}
			return o.print(cmd, r, objs, time.Now(), allocated)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.namespace, "namespace", "n", "default", "namespace of a namespaced kind")
	f.BoolVarP(&o.all, "all-namespaces", "A", false, "list across all namespaces")
	f.StringVarP(&o.selector, "selector", "l", "", "label selector, such as app=web,tier!=db")
	f.StringVarP(&o.output, "output", "o", outTable, "output format: table, yaml, json or name")
	f.BoolVar(&o.stale, "stale", false, "read any server's replica, without a linearizable read")
	return cmd
}

// print writes what get read. An empty list says so on stderr for the
// table and name formats; yaml and json print an empty List.
func (o *getOptions) print(cmd *cobra.Command, r getRequest, objs []api.Object, now time.Time, allocated map[string]api.Resources) error {
	out := cmd.OutOrStdout()
	if len(objs) == 0 && (o.output == outTable || o.output == outName) {
		if r.namespace != "" {
			fmt.Fprintf(cmd.ErrOrStderr(), "No resources found in %s namespace.\n", r.namespace)
		} else {
			fmt.Fprintln(cmd.ErrOrStderr(), "No resources found")
		}
		return nil
	}
	if o.output == outTable {
		return printTableWith(out, r.info, objs, r.info.Namespaced && r.namespace == "", now, allocated)
	}
	return printObjects(out, o.output, objs, r.name != "")
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
