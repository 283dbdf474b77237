package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/berth-dev/berth/api"
)

// podFields writes what kubectl describe pod shows after the metadata:
// where the pod is, its containers and its placement constraints.
func podFields(tw io.Writer, p *api.Pod) {
	fmt.Fprintf(tw, "Node:\t%s\n", orNone(p.Spec.NodeName))
	fmt.Fprintf(tw, "Status:\t%s\n", podStatus(p))
	fmt.Fprintf(tw, "IP:\t%s\n", p.Status.PodIP)
	if len(p.Spec.AssignedGPUs) > 0 {
		fmt.Fprintf(tw, "GPUs:\t%s\n", strings.Join(p.Spec.AssignedGPUs, ", "))
	}
	fmt.Fprintf(tw, "Containers:\t\n")
	for _, c := range p.Spec.Containers {
		fmt.Fprintf(tw, "  %s:\t\n", c.Name)
		fmt.Fprintf(tw, "    Image:\t%s\n", c.Image)
		for _, port := range c.Ports {
			host := ""
			if port.HostPort != 0 {
				host = fmt.Sprintf(" (host port %d)", port.HostPort)
			}
			fmt.Fprintf(tw, "    Port:\t%d/%s%s\n", port.ContainerPort, port.Protocol, host)
		}
		fmt.Fprintf(tw, "    Requests:\t%s\n", resourceString(c.Resources.Requests))
		fmt.Fprintf(tw, "    Limits:\t%s\n", resourceString(c.Resources.Limits))
	}
	mapField(tw, "Node-Selectors", p.Spec.NodeSelector)
	var tols []string
	for _, t := range p.Spec.Tolerations {
		s := t.Key
		if t.Operator == "Exists" {
			s += " (exists)"
		} else if t.Value != "" {
			s += "=" + t.Value
		}
		if t.Effect != "" {
			s += ":" + t.Effect
		}
		tols = append(tols, s)
	}
	fmt.Fprintf(tw, "Tolerations:\t%s\n", orNone(strings.Join(tols, ", ")))
}

// podConditions writes the pod's conditions, whose messages say why a pod
// is still pending.
func podConditions(w io.Writer, p *api.Pod) error {
	fmt.Fprintf(w, "Conditions:\n")
	if len(p.Status.Conditions) == 0 {
		fmt.Fprintf(w, "  <none>\n")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "  Type\tStatus\tReason\tMessage\n")
	for _, c := range p.Status.Conditions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, c.Message)
	}
	return tw.Flush()
}

// nodeFields writes a node's schedulability, taints, resources and GPUs.
func nodeFields(tw io.Writer, n *api.Node) {
	fmt.Fprintf(tw, "Status:\t%s\n", nodeStatus(n))
	fmt.Fprintf(tw, "Unschedulable:\t%v\n", n.Spec.Unschedulable)
	var taints []string
	for _, t := range n.Spec.Taints {
		s := t.Key
		if t.Value != "" {
			s += "=" + t.Value
		}
		taints = append(taints, s+":"+t.Effect)
	}
	fmt.Fprintf(tw, "Taints:\t%s\n", orNone(strings.Join(taints, ", ")))
	fmt.Fprintf(tw, "Capacity:\t%s\n", resourceString(n.Status.Capacity))
	fmt.Fprintf(tw, "Allocatable:\t%s\n", resourceString(n.Status.Allocatable))
	for _, a := range n.Status.Addresses {
		fmt.Fprintf(tw, "%s:\t%s\n", a.Type, a.Address)
	}
	for _, g := range n.Status.GPUs {
		var detail []string
		if g.Model != "" {
			detail = append(detail, g.Model)
		}
		if g.MemoryBytes > 0 {
			detail = append(detail, memString(g.MemoryBytes))
		}
		if g.MIGEnabled {
			detail = append(detail, "MIG enabled")
		}
		fmt.Fprintf(tw, "GPU %d:\t%s %s\n", g.Index, g.ID, strings.Join(detail, ", "))
	}
}

// nodeConditions writes the node's conditions.
func nodeConditions(w io.Writer, n *api.Node) error {
	fmt.Fprintf(w, "Conditions:\n")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "  Type\tStatus\tLastTransitionTime\tReason\tMessage\n")
	for _, c := range n.Status.Conditions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, c.LastTransitionTime, c.Reason, c.Message)
	}
	return tw.Flush()
}

// resourceString writes a resource list as "cpu=500m, memory=64Mi", or
// <none>.
func resourceString(rl api.ResourceList) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(rl)) {
		parts = append(parts, k+"="+string(rl[k]))
	}
	return orNone(strings.Join(parts, ", "))
}
