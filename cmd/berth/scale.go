package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
)

func newScaleCmd() *cobra.Command {
	var namespace string
	var replicas int32
	cmd := &cobra.Command{
		Use:   "scale (deployment|statefulset|replicaset)/NAME --replicas N",
		Short: "Set the number of replicas of a Deployment, StatefulSet or ReplicaSet",
		Long: "Set spec.replicas of a Deployment, StatefulSet or ReplicaSet; its controller then\n" +
			"adds or removes pods. The object may be named TYPE/NAME or TYPE NAME.",
		RunE: func(cmd *cobra.Command, args []string) error {
			info, name, err := parseResourceArg("scale", args, "Deployment", "ReplicaSet", "StatefulSet")
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("replicas") {
				return fmt.Errorf("scale: --replicas is required")
			}
			if replicas < 0 {
				return fmt.Errorf("scale: --replicas must be 0 or more, got %d", replicas)
			}
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			ns := namespaceFor(info, namespace, false)
			if _, _, err := modify(ctx, c, info.Kind, ns, name, func(obj api.Object) (bool, error) {
				return setReplicas(obj, replicas), nil
			}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s scaled\n", resourceName(info.Kind), name)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&namespace, "namespace", "n", "default", "namespace of the object")
	f.Int32Var(&replicas, "replicas", 0, "the number of replicas wanted (required, 0 or more)")
	return cmd
}

// setReplicas sets the spec.replicas of a workload; false when it had that
// number already (or obj is not a workload).
func setReplicas(obj api.Object, n int32) bool {
	var p **int32
	switch o := obj.(type) {
	case *api.Deployment:
		p = &o.Spec.Replicas
	case *api.ReplicaSet:
		p = &o.Spec.Replicas
	case *api.StatefulSet:
		p = &o.Spec.Replicas
	default:
		return false
	}
	if *p != nil && **p == n {
		return false
	}
	*p = &n
	return true
}

// parseResourceArg reads the object a rollout or scale verb acts on, given
// as TYPE/NAME (deployment/web, deploy/web, deployment.apps/web) or as TYPE
// NAME. Its kind must be one of kinds.
func parseResourceArg(verb string, args []string, kinds ...string) (api.KindInfo, string, error) {
	var typ, name string
	switch {
	case len(args) == 0:
		return api.KindInfo{}, "", fmt.Errorf("%s needs a TYPE/NAME or TYPE NAME argument, such as %s/web", verb, strings.ToLower(kinds[0]))
	case len(args) == 1 && strings.Contains(args[0], "/"):
		typ, name, _ = strings.Cut(args[0], "/")
	case len(args) == 1:
		return api.KindInfo{}, "", fmt.Errorf("%s needs the name of the %s after its type (TYPE/NAME or TYPE NAME)", verb, args[0])
	case len(args) == 2 && !strings.Contains(args[0], "/"):
		typ, name = args[0], args[1]
	default:
		return api.KindInfo{}, "", fmt.Errorf("%s takes one TYPE/NAME or TYPE NAME, got %d arguments", verb, len(args))
	}
	var plurals []string
	for _, k := range kinds {
		info, _ := api.LookupKind(k)
		plurals = append(plurals, info.Plural)
	}
	info, err := resolveKind(typ)
	if err != nil {
		return api.KindInfo{}, "", fmt.Errorf("%s: unknown resource type %q (one of: %s)", verb, typ, strings.Join(plurals, ", "))
	}
	if !slices.Contains(kinds, info.Kind) {
		return api.KindInfo{}, "", fmt.Errorf("%s is only for %s, not %s", verb, andList(plurals), info.Plural)
	}
	if name == "" || strings.Contains(name, "/") {
		return api.KindInfo{}, "", fmt.Errorf("%s: the name of the %s cannot be empty or hold a slash, got %q", verb, strings.ToLower(info.Kind), name)
	}
	return info, name, nil
}

// andList joins words as "a, b and c".
func andList(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// modify reads an object, lets change alter it and writes it back with the
// resourceVersion it read, so that a write of another client (a
// controller's) in between is not lost: on a conflict it reads again and
// starts over. change returns false to leave the object as it is; modify
// then returns false and writes nothing. It returns the object as stored.
func modify(ctx context.Context, c *client.Client, kind, ns, name string, change func(api.Object) (bool, error)) (api.Object, bool, error) {
	for {
		obj, err := c.Get(ctx, kind, ns, name)
		if err != nil {
			return nil, false, userError(err)
		}
		changed, err := change(obj)
		if err != nil || !changed {
			return obj, false, err
		}
		res, err := c.Update(ctx, obj)
		if client.IsConflict(err) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return nil, false, userError(err)
		}
		if len(res) == 1 && res[0].Object != nil {
			obj = res[0].Object
		}
		return obj, true, nil
	}
}
