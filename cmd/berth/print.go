package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-dev/berth/api"
	"sigs.k8s.io/yaml"
)

// Output formats of get.
const (
	outTable = "table"
	outYAML  = "yaml"
	outJSON  = "json"
	outName  = "name"
)

// checkOutput returns an error unless format is one of allowed.
func checkOutput(format string, allowed ...string) error {
	if slices.Contains(allowed, format) {
		return nil
	}
	return fmt.Errorf("unknown output format %q (want %s)", format, orList(allowed))
}

// orList joins words as "a, b or c".
func orList(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// resourceTypes lists the plural names of every kind, for messages.
func resourceTypes() string {
	var names []string
	for _, k := range api.Kinds() {
		names = append(names, k.Plural)
	}
	return strings.Join(names, ", ")
}

// resolveKind resolves a resource name typed by the user.
func resolveKind(name string) (api.KindInfo, error) {
	info, ok := api.ResolveResource(name)
	if !ok {
		return api.KindInfo{}, fmt.Errorf("unknown resource type %q (one of: %s)", name, resourceTypes())
	}
	return info, nil
}

// kindOf returns the Kind of obj, from its TypeMeta or its Go type.
func kindOf(obj api.Object) string {
	if k := obj.GetTypeMeta().Kind; k != "" {
		return k
	}
	switch obj.(type) {
	case *api.Namespace:
		return "Namespace"
	case *api.ConfigMap:
		return "ConfigMap"
	case *api.Secret:
		return "Secret"
	case *api.Pod:
		return "Pod"
	case *api.Node:
		return "Node"
	}
	return "object"
}

// objectName names obj as `configmap/web`, as kubectl's -o name does.
func objectName(obj api.Object) string {
	return strings.ToLower(kindOf(obj)) + "/" + obj.GetObjectMeta().Name
}

// humanAge formats how long ago an object was created, as kubectl's AGE
// column does (k8s.io/apimachinery's duration.HumanDuration).
func humanAge(created string, now time.Time) string {
	if created == "" {
		return "<unknown>"
	}
	t, err := time.Parse(time.RFC3339, created)
	if err != nil {
		return "<unknown>"
	}
	return humanDuration(now.Sub(t))
}

// humanDuration gives two units of precision where the first is small and
// one where it is large: 90s, 3m20s, 45m, 2h30m, 20h, 2d5h, 45d, 3y20d, 9y.
func humanDuration(d time.Duration) string {
	// A clock skew under two seconds counts as now.
	if s := int(d.Seconds()); s < -1 {
		return "<invalid>"
	} else if s < 0 {
		return "0s"
	} else if s < 60*2 {
		return fmt.Sprintf("%ds", s)
	}
	minutes := int(d / time.Minute)
	if minutes < 10 {
		if s := int(d/time.Second) % 60; s != 0 {
			return fmt.Sprintf("%dm%ds", minutes, s)
		}
		return fmt.Sprintf("%dm", minutes)
	} else if minutes < 60*3 {
		return fmt.Sprintf("%dm", minutes)
	}
	hours := int(d / time.Hour)
	switch {
	case hours < 8:
		if m := minutes % 60; m != 0 {
			return fmt.Sprintf("%dh%dm", hours, m)
		}
		return fmt.Sprintf("%dh", hours)
	case hours < 48:
		return fmt.Sprintf("%dh", hours)
	case hours < 24*8:
		if h := hours % 24; h != 0 {
			return fmt.Sprintf("%dd%dh", hours/24, h)
		}
		return fmt.Sprintf("%dd", hours/24)
	case hours < 24*365*2:
		return fmt.Sprintf("%dd", hours/24)
	case hours < 24*365*8:
		if days := (hours / 24) % 365; days != 0 {
			return fmt.Sprintf("%dy%dd", hours/24/365, days)
		}
		return fmt.Sprintf("%dy", hours/24/365)
	}
	return fmt.Sprintf("%dy", hours/24/365)
}

// printTable writes objs of one kind as kubectl's columns. withNamespace
// adds a leading NAMESPACE column (get -A of a namespaced kind).
func printTable(w io.Writer, info api.KindInfo, objs []api.Object, withNamespace bool, now time.Time) error {
	return printTableWith(w, info, objs, withNamespace, now, nil)
}

// printTableWith is printTable with what the pods on each node request,
// for the nodes' CPU, MEMORY and GPUS columns (allocated/allocatable).
func printTableWith(w io.Writer, info api.KindInfo, objs []api.Object, withNamespace bool, now time.Time, allocated map[string]api.Resources) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	var header []string
	if withNamespace {
		header = append(header, "NAMESPACE")
	}
	switch info.Kind {
	case "Namespace":
		header = append(header, "NAME", "STATUS", "AGE")
	case "ConfigMap":
		header = append(header, "NAME", "DATA", "AGE")
	case "Secret":
		header = append(header, "NAME", "TYPE", "DATA", "AGE")
	case "Pod":
		header = append(header, "NAME", "STATUS", "NODE", "AGE")
	case "Node":
		header = append(header, "NAME", "STATUS", "ROLES", "ADDRESS", "CPU", "MEMORY", "GPUS", "AGE")
	default:
		header = append(header, "NAME", "AGE")
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, obj := range objs {
		md := obj.GetObjectMeta()
		var row []string
		if withNamespace {
			row = append(row, md.Namespace)
		}
		row = append(row, md.Name)
		switch o := obj.(type) {
		case *api.Namespace:
			row = append(row, namespacePhase(o))
		case *api.ConfigMap:
			row = append(row, fmt.Sprint(len(o.Data)+len(o.BinaryData)))
		case *api.Secret:
			row = append(row, o.Type, fmt.Sprint(len(o.Data)))
		case *api.Pod:
			row = append(row, psStatus(o), orNone(o.Spec.NodeName))
		case *api.Node:
			a := o.Allocatable()
			cpu, mem, gpu := milliString(a.MilliCPU), memString(a.Memory), fmt.Sprint(a.GPU)
			if allocated != nil {
				u := allocated[o.Metadata.Name]
				cpu = milliString(u.MilliCPU) + "/" + cpu
				mem = memString(u.Memory) + "/" + mem
				gpu = fmt.Sprint(u.GPU) + "/" + gpu
			}
			row = append(row, nodeStatus(o), nodeRoles(o), nodeAddress(o), cpu, mem, gpu)
		}
		row = append(row, humanAge(md.CreationTimestamp, now))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// namespacePhase is a namespace's status.phase; a namespace whose phase
// was never set is in use, so it reads Active, as kubectl would show it.
func namespacePhase(ns *api.Namespace) string {
	if ns.Status.Phase == "" {
		return api.NamespaceActive
	}
	return ns.Status.Phase
}

// list is the `kind: List` that -o yaml and -o json print for several
// objects; api.DecodeDocuments reads it back.
type list struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Items      []json.RawMessage `json:"items"`
}

// encodeObjects returns the JSON of one object, or of a List when single is
// false.
func encodeObjects(objs []api.Object, single bool) ([]byte, error) {
	if single && len(objs) == 1 {
		return api.Encode(objs[0])
	}
	l := list{APIVersion: "v1", Kind: "List", Items: []json.RawMessage{}}
	for _, obj := range objs {
		b, err := api.Encode(obj)
		if err != nil {
			return nil, err
		}
		l.Items = append(l.Items, b)
	}
	return json.Marshal(l)
}

// printObjects writes objs as yaml, json or name. single asks for the bare
// object rather than a List (get KIND NAME).
func printObjects(w io.Writer, format string, objs []api.Object, single bool) error {
	switch format {
	case outName:
		for _, obj := range objs {
			fmt.Fprintln(w, objectName(obj))
		}
		return nil
	case outJSON, outYAML:
	default:
		return checkOutput(format, outTable, outYAML, outJSON, outName)
	}
	raw, err := encodeObjects(objs, single)
	if err != nil {
		return err
	}
	if format == outYAML {
		y, err := yaml.JSONToYAML(raw)
		if err != nil {
			return err
		}
		_, err = w.Write(y)
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = buf.WriteTo(w)
	return err
}

// podStatus is the STATUS column of a pod: its phase, or why it waits.
func podStatus(p *api.Pod) string {
	if c := p.Condition(api.PodScheduled); c != nil && c.Status == api.ConditionFalse && c.Reason != "" {
		return p.Status.Phase + " (" + c.Reason + ")"
	}
	if p.Status.Phase == "" {
		return api.PodPending
	}
	return p.Status.Phase
}

// nodeStatus is the STATUS column of a node, as kubectl shows it:
// Ready or NotReady, and SchedulingDisabled when cordoned.
func nodeStatus(n *api.Node) string {
	s := "NotReady"
	if n.Ready() {
		s = "Ready"
	}
	if n.Spec.Unschedulable {
		s += ",SchedulingDisabled"
	}
	return s
}

// nodeRoles is the ROLES column: the node-role.kubernetes.io/ROLE labels.
func nodeRoles(n *api.Node) string {
	var roles []string
	for k := range n.Metadata.Labels {
		if r, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok && r != "" {
			roles = append(roles, r)
		}
	}
	slices.Sort(roles)
	return orNone(strings.Join(roles, ","))
}

// nodeAddress is the node's first InternalIP.
func nodeAddress(n *api.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == "InternalIP" {
			return a.Address
		}
	}
	return "<none>"
}

// memString writes bytes for a column: exact when Mi or a larger binary
// unit divides them ("64Mi"), else with one decimal in the largest unit
// ("23.5Gi").
func memString(b int64) string {
	units := []struct {
		suffix string
		size   int64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}}
	for _, u := range units[:3] {
		if b >= u.size && b%u.size == 0 {
			return fmt.Sprintf("%d%s", b/u.size, u.suffix)
		}
	}
	for _, u := range units {
		if b >= u.size {
			return fmt.Sprintf("%.1f%s", float64(b)/float64(u.size), u.suffix)
		}
	}
	return fmt.Sprint(b)
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// milliString writes millicores as Kubernetes would: "2" or "1500m".
func milliString(m int64) string {
	if m%1000 == 0 {
		return fmt.Sprint(m / 1000)
	}
	return fmt.Sprintf("%dm", m)
}
