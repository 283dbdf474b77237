package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
)

// deleteOptions are the flags of delete.
type deleteOptions struct {
	namespace      string
	files          []string
	ignoreNotFound bool
}

func newDeleteCmd() *cobra.Command {
	var o deleteOptions
	cmd := &cobra.Command{
		Use:   "delete (KIND NAME [NAME...] | -f FILE|DIR|-)",
		Short: "Delete objects by name or those of manifests, all or nothing",
		RunE: func(cmd *cobra.Command, args []string) error {
			refs, err := o.refs(cmd, args)
			if err != nil {
				return err
			}
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			var res []client.Result
			if o.ignoreNotFound {
				res, err = deleteExisting(ctx, c, refs)
			} else {
				res, err = c.Delete(ctx, refs...)
			}
			if err != nil {
				return userError(err)
			}
			for _, r := range res {
				if r.Object == nil {
					continue // a retried delete that had been applied already
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s deleted\n", api.Describe(r.Object))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.namespace, "namespace", "n", "default", "namespace of a namespaced kind (KIND NAME form; manifests name their own)")
	f.StringArrayVarP(&o.files, "filename", "f", nil, "manifest file, directory or - for stdin, whose objects to delete (repeatable)")
	f.BoolVar(&o.ignoreNotFound, "ignore-not-found", false, "skip objects that do not exist instead of failing")
	return cmd
}

// refs returns the objects to delete, from the arguments or the manifests.
func (o *deleteOptions) refs(cmd *cobra.Command, args []string) ([]client.Ref, error) {
	if len(o.files) > 0 {
		if len(args) > 0 {
			return nil, fmt.Errorf("delete takes either -f or KIND NAME arguments, not both")
		}
		objs, err := loadObjects(cmd, o.files, "delete")
		if err != nil {
			return nil, err
		}
		refs := make([]client.Ref, 0, len(objs))
		for _, obj := range objs {
			md := obj.GetObjectMeta()
			refs = append(refs, client.Ref{Kind: kindOf(obj), Namespace: md.Namespace, Name: md.Name})
		}
		return refs, nil
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("delete needs a resource type and names, or -f (resource types: %s)", resourceTypes())
	}
	info, err := resolveKind(args[0])
	if err != nil {
		return nil, err
	}
	if len(args) == 1 {
		return nil, fmt.Errorf("delete needs the name of at least one %s", strings.ToLower(info.Kind))
	}
	ns := namespaceFor(info, o.namespace, false)
	var refs []client.Ref
	for _, name := range args[1:] {
		if name == "" {
			return nil, fmt.Errorf("the name of a resource cannot be empty")
		}
		refs = append(refs, client.Ref{Kind: info.Kind, Namespace: ns, Name: name})
	}
	return refs, nil
}

// deleteExisting deletes those of refs that exist. It reads each object
// first and deletes the ones found in one call, all or nothing; if one of
// them vanished meanwhile (another client deleted it), the call fails with
// NotFound and changed nothing, so it reads and tries again.
func deleteExisting(ctx context.Context, c *client.Client, refs []client.Ref) ([]client.Result, error) {
	const tries = 3
	for i := 0; ; i++ {
		var found []client.Ref
		for _, r := range refs {
			_, err := c.Get(ctx, r.Kind, r.Namespace, r.Name)
			if client.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			found = append(found, r)
		}
		if len(found) == 0 {
			return nil, nil
		}
		res, err := c.Delete(ctx, found...)
		if client.IsNotFound(err) && i+1 < tries {
			continue
		}
		return res, err
	}
}
