package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/berth-dev/berth/api"
)

// wideHeader is what -o wide adds after AGE to a kind's table, as kubectl
// does; nil for the kinds kubectl shows no more of.
func wideHeader(kind string) []string {
	switch kind {
	case "Pod":
		return []string{"IP", "RESTARTS", "GPUS", "IMAGES"}
	case "Node":
		return []string{"VERSION", "OS-IMAGE", "KERNEL-VERSION", "GPU-MODEL"}
	case "Deployment", "ReplicaSet":
		return []string{"CONTAINERS", "IMAGES", "SELECTOR"}
	case "StatefulSet":
		return []string{"CONTAINERS", "IMAGES"}
	case "Service":
		return []string{"SELECTOR"}
	case "PersistentVolumeClaim":
		return []string{"VOLUMEMODE"}
	}
	return nil
}

// wideColumns are obj's cells under wideHeader.
func wideColumns(obj api.Object) []string {
	switch o := obj.(type) {
	case *api.Pod:
		return []string{orNone(o.Status.PodIP), fmt.Sprint(podRestarts(o)), orNone(strings.Join(o.Spec.AssignedGPUs, ",")),
			containerImages(o.Spec.Containers)}
	case *api.Node:
		info := o.Status.NodeInfo
		osImage := "<unknown>"
		if info.OperatingSystem != "" {
			osImage = info.OperatingSystem + "/" + info.Architecture
		}
		return []string{orUnknown(info.AgentVersion), osImage, orUnknown(info.KernelVersion), gpuModels(o.Status.GPUs)}
	case *api.Deployment:
		return append(templateColumns(o.Spec.Template), selectorString(o.Spec.Selector))
	case *api.ReplicaSet:
		return append(templateColumns(o.Spec.Template), selectorString(o.Spec.Selector))
	case *api.StatefulSet:
		return templateColumns(o.Spec.Template)
	case *api.Service:
		return []string{formatSelectorSet(o.Spec.Selector)}
	case *api.PersistentVolumeClaim:
		mode := o.Spec.VolumeMode
		if mode == "" {
			mode = "Filesystem"
		}
		return []string{mode}
	}
	return nil
}

// templateColumns are CONTAINERS and IMAGES: the names and images of a
// pod template's containers.
func templateColumns(t api.PodTemplateSpec) []string {
	names := make([]string, len(t.Spec.Containers))
	for i, c := range t.Spec.Containers {
		names[i] = c.Name
	}
	return []string{orNone(strings.Join(names, ",")), containerImages(t.Spec.Containers)}
}

// containerImages lists the containers' images, comma-separated.
func containerImages(cs []api.Container) string {
	images := make([]string, len(cs))
	for i, c := range cs {
		images[i] = c.Image
	}
	return orNone(strings.Join(images, ","))
}

// gpuModels is a node's GPUs by model: "2x NVIDIA H100 80GB HBM3", or
// "<none>".
func gpuModels(gpus []api.NodeGPU) string {
	count := map[string]int{}
	var order []string
	for _, g := range gpus {
		m := g.Model
		if m == "" {
			m = "unknown"
		}
		if count[m] == 0 {
			order = append(order, m)
		}
		count[m]++
	}
	parts := make([]string, len(order))
	for i, m := range order {
		parts[i] = fmt.Sprintf("%dx %s", count[m], m)
	}
	return orNone(strings.Join(parts, ","))
}

// formatSelectorSet writes a Service's selector: "app=web,tier=front",
// sorted by key.
func formatSelectorSet(set map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(set)) {
		parts = append(parts, k+"="+set[k])
	}
	return orNone(strings.Join(parts, ","))
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}
