package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/api"
	"sigs.k8s.io/yaml"
)

// Output formats of get.
const (
	outTable = "table"
	outWide  = "wide"
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

// resolveKind resolves a resource name typed by the user. The name may be
// qualified by the kind's API group, as -o name prints it
// ("deployment.apps", "hpa.autoscaling").
func resolveKind(name string) (api.KindInfo, error) {
	info, ok := api.ResolveResource(name)
	if base, group, found := strings.Cut(name, "."); !ok && found {
		info, ok = api.ResolveResource(base)
		ok = ok && strings.HasPrefix(info.APIVersion, strings.ToLower(group)+"/")
	}
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
	case *api.Deployment:
		return "Deployment"
	case *api.ReplicaSet:
		return "ReplicaSet"
	case *api.StatefulSet:
		return "StatefulSet"
	case *api.PersistentVolumeClaim:
		return "PersistentVolumeClaim"
	case *api.HorizontalPodAutoscaler:
		return "HorizontalPodAutoscaler"
	case *api.Service:
		return "Service"
	case *api.Endpoints:
		return "Endpoints"
	case *api.Ingress:
		return "Ingress"
	case *api.Event:
		return "Event"
	case *api.ACLToken:
		return "ACLToken"
	case *api.JoinToken:
		return "JoinToken"
	}
	return "object"
}

// objectName names obj as kubectl's -o name does: `configmap/web`, and
// with the API group for the kinds of one, `deployment.apps/web`.
func objectName(obj api.Object) string {
	return resourceName(kindOf(obj)) + "/" + obj.GetObjectMeta().Name
}

// resourceName is a kind's lower-case name qualified by its API group, if
// it has one: "configmap", "deployment.apps".
func resourceName(kind string) string {
	name := strings.ToLower(kind)
	if info, ok := api.LookupKind(kind); ok {
		if group, _, found := strings.Cut(info.APIVersion, "/"); found {
			name += "." + group
		}
	}
	return name
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
	return writeTable(w, info, objs, tableOptions{withNamespace: withNamespace, now: now, allocated: allocated})
}

// tableOptions say how a kind's table is printed.
type tableOptions struct {
	withNamespace bool // a leading NAMESPACE column
	wide          bool // -o wide: kubectl's extra columns, after AGE
	color         bool // color the status words (a terminal)
	now           time.Time
	// allocated is what the pods on each node request (nodes' CPU,
	// MEMORY and GPUS columns); nil shows what is allocatable alone.
	allocated map[string]api.Resources
}

// writeTable writes objs of one kind as a table.
func writeTable(w io.Writer, info api.KindInfo, objs []api.Object, o tableOptions) error {
	t := kindTable(info.Kind, o)
	for _, obj := range objs {
		t.add(tableRow(obj, o)...)
	}
	return t.write(w, o.color)
}

// kindTable starts the table of a kind: its header, and its STATUS column
// (an Event's TYPE) marked for color.
func kindTable(kind string, o tableOptions) *table {
	var header []string
	if o.withNamespace {
		header = append(header, "NAMESPACE")
	}
	if kind == "Event" {
		header = append(header, eventHeader(o.wide)...)
	} else {
		header = append(header, tableHeader(kind)...)
		if o.wide {
			header = append(header, wideHeader(kind)...)
		}
	}
	t := newTable(header...)
	for i, h := range header {
		if h == "STATUS" || (kind == "Event" && h == "TYPE") {
			t.statusColumn(i)
		}
	}
	return t
}

// tableRow is the row of obj in its kind's table.
func tableRow(obj api.Object, o tableOptions) []string {
	md := obj.GetObjectMeta()
	var row []string
	if o.withNamespace {
		row = append(row, md.Namespace)
	}
	if e, ok := obj.(*api.Event); ok {
		return append(row, eventColumns(e, o.wide, o.now)...)
	}
	row = append(row, md.Name)
	row = append(row, tableColumns(obj, o.allocated)...)
	row = append(row, humanAge(md.CreationTimestamp, o.now))
	if o.wide {
		row = append(row, wideColumns(obj)...)
	}
	return row
}

// tableHeader is the header of a kind's table, NAME to AGE.
func tableHeader(kind string) []string {
	switch kind {
	case "Namespace":
		return []string{"NAME", "STATUS", "AGE"}
	case "ConfigMap":
		return []string{"NAME", "DATA", "AGE"}
	case "Secret":
		return []string{"NAME", "TYPE", "DATA", "AGE"}
	case "Pod":
		return []string{"NAME", "STATUS", "NODE", "AGE"}
	case "Node":
		return []string{"NAME", "STATUS", "ROLES", "ADDRESS", "CPU", "MEMORY", "GPUS", "AGE"}
	case "Deployment":
		return []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}
	case "ReplicaSet":
		return []string{"NAME", "DESIRED", "CURRENT", "READY", "AGE"}
	case "StatefulSet":
		return []string{"NAME", "READY", "AGE"}
	case "PersistentVolumeClaim":
		return []string{"NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "NODE", "AGE"}
	case "HorizontalPodAutoscaler":
		return []string{"NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"}
	case "Service":
		return []string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"}
	case "Endpoints":
		return []string{"NAME", "ENDPOINTS", "AGE"}
	case "Ingress":
		return []string{"NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"}
	}
	return []string{"NAME", "AGE"}
}

// tableColumns are the columns of obj between NAME and AGE.
func tableColumns(obj api.Object, allocated map[string]api.Resources) []string {
	switch o := obj.(type) {
	case *api.Namespace:
		return []string{namespacePhase(o)}
	case *api.ConfigMap:
		return []string{fmt.Sprint(len(o.Data) + len(o.BinaryData))}
	case *api.Secret:
		return []string{o.Type, fmt.Sprint(len(o.Data))}
	case *api.Pod:
		return []string{psStatus(o), orNone(o.Spec.NodeName)}
	case *api.Node:
		a := o.Allocatable()
		cpu, mem, gpu := milliString(a.MilliCPU), memString(a.Memory), fmt.Sprint(a.GPU)
		if allocated != nil {
			u := allocated[o.Metadata.Name]
			cpu = milliString(u.MilliCPU) + "/" + cpu
			mem = memString(u.Memory) + "/" + mem
			gpu = fmt.Sprint(u.GPU) + "/" + gpu
		}
		return []string{nodeStatus(o), nodeRoles(o), nodeAddress(o), cpu, mem, gpu}
	case *api.Service, *api.Endpoints, *api.Ingress:
		return serviceColumns(o)
	}
	return appsColumns(obj)
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
		return checkOutput(format, getFormats...)
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

// appsColumns are the columns of the workload kinds, kubectl's: READY is
// ready/desired.
func appsColumns(obj api.Object) []string {
	switch o := obj.(type) {
	case *api.Deployment:
		s := o.Status
		return []string{fmt.Sprintf("%d/%d", s.ReadyReplicas, api.Int32Value(o.Spec.Replicas, 1)),
			fmt.Sprint(s.UpdatedReplicas), fmt.Sprint(s.AvailableReplicas)}
	case *api.ReplicaSet:
		return []string{fmt.Sprint(api.Int32Value(o.Spec.Replicas, 1)), fmt.Sprint(o.Status.Replicas), fmt.Sprint(o.Status.ReadyReplicas)}
	case *api.StatefulSet:
		return []string{fmt.Sprintf("%d/%d", o.Status.ReadyReplicas, api.Int32Value(o.Spec.Replicas, 1))}
	case *api.PersistentVolumeClaim:
		return claimColumns(o)
	case *api.HorizontalPodAutoscaler:
		ref := o.Spec.ScaleTargetRef
		return []string{ref.Kind + "/" + ref.Name, hpaTargets(o), fmt.Sprint(api.Int32Value(o.Spec.MinReplicas, 1)),
			fmt.Sprint(o.Spec.MaxReplicas), fmt.Sprint(o.Status.CurrentReplicas)}
	}
	return nil
}

// claimColumns are a claim's STATUS, VOLUME, CAPACITY, ACCESS MODES,
// STORAGECLASS and NODE. A bound claim's volume is the node's local volume
// of the claim's name, of the size it asked for.
func claimColumns(c *api.PersistentVolumeClaim) []string {
	phase := c.Status.Phase
	if phase == "" {
		phase = api.ClaimPending
	}
	var volume, capacity, modes string
	if phase == api.ClaimBound {
		volume = c.Metadata.Name
		capacity = string(c.Spec.Resources.Requests["storage"])
		m := c.Status.AccessModes
		if len(m) == 0 {
			m = c.Spec.AccessModes
		}
		modes = accessModes(m)
	}
	class := "<unset>"
	if c.Spec.StorageClassName != nil {
		class = *c.Spec.StorageClassName
	}
	return []string{phase, volume, capacity, modes, class, orNone(c.Metadata.Annotations[api.AnnotationSelectedNode])}
}

// accessModes abbreviates access modes as kubectl does: RWO,ROX.
func accessModes(modes []string) string {
	short := map[string]string{"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
	var out []string
	for _, m := range modes {
		if s, ok := short[m]; ok {
			m = s
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return strings.Join(out, ",")
}

// hpaTargets is the TARGETS column of an autoscaler: "cpu: 42%/80%" for
// each metric, "<unknown>" for a value not measured yet. Without metrics
// the autoscaler follows cpu at 80%.
func hpaTargets(h *api.HorizontalPodAutoscaler) string {
	specs := h.Spec.Metrics
	if len(specs) == 0 {
		eighty := int32(80)
		specs = []api.MetricSpec{{Type: api.MetricResource, Resource: &api.ResourceMetricSource{
			Name: "cpu", Target: api.MetricTarget{Type: api.TargetUtilization, AverageUtilization: &eighty}}}}
	}
	var parts []string
	for _, m := range specs {
		if m.Type != api.MetricResource || m.Resource == nil {
			parts = append(parts, "<unknown>/<unknown>")
			continue
		}
		target := "<unknown>"
		if u := m.Resource.Target.AverageUtilization; u != nil {
			target = fmt.Sprintf("%d%%", *u)
		}
		current := "<unknown>"
		for _, s := range h.Status.CurrentMetrics {
			if s.Resource != nil && s.Resource.Name == m.Resource.Name && s.Resource.Current.AverageUtilization != nil {
				current = fmt.Sprintf("%d%%", *s.Resource.Current.AverageUtilization)
			}
		}
		parts = append(parts, m.Resource.Name+": "+current+"/"+target)
	}
	return strings.Join(parts, ", ")
}
