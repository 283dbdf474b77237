package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
)

// topOptions are the flags of top pods.
type topOptions struct {
	namespace string
	allNS     bool   // -A
	sortBy    string // cpu or memory; "" by name
}

func newTopCmd() *cobra.Command {
	top := &cobra.Command{
		Use:   "top",
		Short: "Show what pods use (CPU, memory, GPUs), as their nodes measure it",
	}
	var o topOptions
	pods := &cobra.Command{
		Use:     "pods [NAME]",
		Aliases: []string{"pod", "po"},
		Short:   "Show the CPU, memory and GPU use of pods (CPU averaged over the last 10-15 s)",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.sortBy != "" && o.sortBy != "cpu" && o.sortBy != "memory" {
				return fmt.Errorf("--sort-by %q: want cpu or memory", o.sortBy)
			}
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			nodes, err := c.PodMetrics(ctx, "")
			if err != nil {
				return userError(err)
			}
			for _, n := range nodes {
				if n.Err != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: node %s: %s\n", n.Node, n.Err)
				}
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return o.print(cmd.OutOrStdout(), o.pick(nodes, name), name)
		},
	}
	f := pods.Flags()
	f.StringVarP(&o.namespace, "namespace", "n", "default", "namespace of the pods")
	f.BoolVarP(&o.allNS, "all-namespaces", "A", false, "show every namespace")
	f.StringVar(&o.sortBy, "sort-by", "", "sort by cpu or memory (highest first) instead of by name")
	top.AddCommand(pods)
	return top
}

// pick returns the pods of the namespace asked (or every one with -A),
// the one named only if name is set, sorted as asked.
func (o *topOptions) pick(nodes []client.NodePodMetrics, name string) []client.PodMetrics {
	var out []client.PodMetrics
	for _, n := range nodes {
		for _, p := range n.Pods {
			if (o.allNS || p.Namespace == o.namespace) && (name == "" || p.Name == name) {
				out = append(out, p)
			}
		}
	}
	slices.SortFunc(out, func(a, b client.PodMetrics) int {
		switch o.sortBy {
		case "cpu":
			if c := cmp.Compare(b.CPUMilli, a.CPUMilli); c != 0 {
				return c
			}
		case "memory":
			if c := cmp.Compare(b.MemoryBytes, a.MemoryBytes); c != 0 {
				return c
			}
		}
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	return out
}

// print writes kubectl top's columns: NAME CPU(cores) MEMORY(bytes), with
// NAMESPACE first under -A and GPU% last when a pod has GPUs.
func (o *topOptions) print(w io.Writer, pods []client.PodMetrics, name string) error {
	if len(pods) == 0 {
		switch {
		case name != "":
			return fmt.Errorf("metrics not available for pod %s/%s (not running, or started a few seconds ago)", o.namespace, name)
		case o.allNS:
			fmt.Fprintln(w, "No resources found")
		default:
			fmt.Fprintf(w, "No resources found in %s namespace.\n", o.namespace)
		}
		return nil
	}
	gpus := slices.ContainsFunc(pods, func(p client.PodMetrics) bool { return p.GPUPercent != nil })
	var header []string
	if o.allNS {
		header = append(header, "NAMESPACE")
	}
	header = append(header, "NAME", "CPU(cores)", "MEMORY(bytes)")
	if gpus {
		header = append(header, "GPU%")
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, p := range pods {
		var row []string
		if o.allNS {
			row = append(row, p.Namespace)
		}
		row = append(row, p.Name, fmt.Sprintf("%dm", p.CPUMilli), fmt.Sprintf("%dMi", p.MemoryBytes>>20))
		if gpus {
			gpu := "<none>"
			if p.GPUPercent != nil {
				gpu = fmt.Sprintf("%d%%", *p.GPUPercent)
			}
			row = append(row, gpu)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}
