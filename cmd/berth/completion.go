package main

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
)

// Shell completion: cobra's `berth completion bash|zsh|fish|powershell`
// writes the script; the functions here answer the script's questions,
// resource types from the registry and object names from the cluster.
// Asking the cluster is bounded by completionTimeout, and any failure (no
// cluster, no credentials) offers nothing rather than an error: a shell
// prompt is no place for one.

// completionTimeout bounds the calls that complete an object's name.
const completionTimeout = 1500 * time.Millisecond

// registerCompletions sets the completions of the commands that take
// resource types and names. Commands are found by their path, so the
// files that make them need not know.
func registerCompletions(root *cobra.Command) {
	args := map[string]cobra.CompletionFunc{
		"get":             completeKindThenNames(1),
		"describe":        completeKindThenNames(1),
		"delete":          completeKindThenNames(-1),
		"watch":           completeKindThenNames(0),
		"cordon":          completeNamesOf("Node", 1),
		"uncordon":        completeNamesOf("Node", 1),
		"drain":           completeNamesOf("Node", 1),
		"logs":            completeNamesOf("Pod", 1),
		"exec":            completeNamesOf("Pod", 1),
		"stop":            completeNamesOf("Pod", -1),
		"start":           completeNamesOf("Pod", -1),
		"rm":              completeNamesOf("Pod", -1),
		"top pods":        completeNamesOf("Pod", 1),
		"rollout status":  completeSlashNames("Deployment", "StatefulSet"),
		"rollout restart": completeSlashNames("Deployment", "StatefulSet"),
		"rollout history": completeSlashNames("Deployment"),
		"rollout undo":    completeSlashNames("Deployment"),
		"rollout pause":   completeSlashNames("Deployment"),
		"rollout resume":  completeSlashNames("Deployment"),
		"scale":           completeSlashNames("Deployment", "StatefulSet", "ReplicaSet"),
	}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		path := strings.TrimPrefix(c.CommandPath(), root.Name()+" ")
		if fn, ok := args[path]; ok && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = fn
		}
		// Errors: the flag has a completion already, which stays.
		if c.Flags().Lookup("namespace") != nil {
			_ = c.RegisterFlagCompletionFunc("namespace", completeNamespaces)
		}
		if path == "get" {
			_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(getFormats, cobra.ShellCompDirectiveNoFileComp))
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// kindNames are the plural names of every kind that start with prefix.
func kindNames(prefix string) []string {
	var out []string
	for _, k := range api.Kinds() {
		if strings.HasPrefix(k.Plural, strings.ToLower(prefix)) {
			out = append(out, k.Plural)
		}
	}
	return out
}

// completeKindThenNames completes KIND, then up to names names of objects
// of that kind (-1: any number), leaving out those already given.
func completeKindThenNames(names int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return kindNames(toComplete), cobra.ShellCompDirectiveNoFileComp
		}
		if names >= 0 && len(args) > names {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		info, err := resolveKind(args[0])
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return objectNames(cmd, info, toComplete, args[1:]), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeNamesOf completes up to names names of objects of kind (-1:
// any number).
func completeNamesOf(kind string, names int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		info, ok := api.LookupKind(kind)
		if !ok || (names >= 0 && len(args) >= names) {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return objectNames(cmd, info, toComplete, args), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeSlashNames completes one KIND/NAME argument, as rollout and
// scale take it: the "deployment/" prefixes, then the names after one.
func completeSlashNames(kinds ...string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		typed, name, found := strings.Cut(toComplete, "/")
		if !found {
			var out []string
			for _, k := range kinds {
				if p := strings.ToLower(k) + "/"; strings.HasPrefix(p, strings.ToLower(typed)) {
					out = append(out, p)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
		}
		info, err := resolveKind(typed)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, n := range objectNames(cmd, info, name, nil) {
			out = append(out, typed+"/"+n)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeNamespaces completes -n with the cluster's namespaces.
func completeNamespaces(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	info, _ := api.LookupKind("Namespace")
	return objectNames(cmd, info, toComplete, nil), cobra.ShellCompDirectiveNoFileComp
}

// objectNames lists the names of the objects of a kind that start with
// prefix, in the namespace of the command's -n (every one with -A),
// leaving out those in skip. Any failure gives none.
func objectNames(cmd *cobra.Command, info api.KindInfo, prefix string, skip []string) []string {
	c, closeClient, err := newClientWith(cmd, completionTimeout)
	if err != nil {
		return nil
	}
	defer closeClient()
	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, completionTimeout)
	defer cancel()
	ns, _ := cmd.Flags().GetString("namespace")
	all, _ := cmd.Flags().GetBool("all-namespaces")
	// A stale read: any server answers, and no quorum is asked.
	objs, _, err := c.List(ctx, info.Kind, namespaceFor(info, ns, all), client.Stale())
	if err != nil {
		return nil
	}
	var out []string
	for _, obj := range objs {
		name := obj.GetObjectMeta().Name
		if strings.HasPrefix(name, prefix) && !slices.Contains(skip, name) {
			out = append(out, name)
		}
	}
	return out
}
