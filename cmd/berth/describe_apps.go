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

// deploymentFields writes what kubectl describe deployment shows after the
// metadata: the selector, the replica counts and the strategy.
func deploymentFields(tw io.Writer, d *api.Deployment) {
	s := d.Status
	fmt.Fprintf(tw, "Selector:\t%s\n", selectorString(d.Spec.Selector))
	fmt.Fprintf(tw, "Replicas:\t%d desired | %d updated | %d total | %d available | %d unavailable\n",
		api.Int32Value(d.Spec.Replicas, 1), s.UpdatedReplicas, s.Replicas, s.AvailableReplicas, s.UnavailableReplicas)
	strategy := d.Spec.Strategy.Type
	if strategy == "" {
		strategy = api.RollingUpdateStrategy
	}
	fmt.Fprintf(tw, "StrategyType:\t%s\n", strategy)
	fmt.Fprintf(tw, "MinReadySeconds:\t%d\n", d.Spec.MinReadySeconds)
	if strategy == api.RollingUpdateStrategy {
		unavailable, surge := "25%", "25%"
		if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
			if ru.MaxUnavailable != nil {
				unavailable = ru.MaxUnavailable.String()
			}
			if ru.MaxSurge != nil {
				surge = ru.MaxSurge.String()
			}
		}
		fmt.Fprintf(tw, "RollingUpdateStrategy:\t%s max unavailable, %s max surge\n", unavailable, surge)
	}
	if d.Spec.Paused {
		fmt.Fprintf(tw, "Paused:\ttrue\n")
	}
}

// deploymentSections writes a Deployment's pod template and conditions.
func deploymentSections(w io.Writer, d *api.Deployment) error {
	if err := describePodTemplate(w, d.Spec.Template); err != nil {
		return err
	}
	fmt.Fprintf(w, "Conditions:\n")
	if len(d.Status.Conditions) == 0 {
		fmt.Fprintf(w, "  <none>\n")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "  Type\tStatus\tReason\n")
	fmt.Fprintf(tw, "  ----\t------\t------\n")
	for _, c := range d.Status.Conditions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.Type, c.Status, c.Reason)
	}
	return tw.Flush()
}

// deploymentReplicaSets writes the OldReplicaSets (those that still have
// replicas) and the NewReplicaSet (the one of the current template) of d,
// among the ReplicaSets it controls.
func deploymentReplicaSets(w io.Writer, d *api.Deployment, rss []*api.ReplicaSet) error {
	var newRS *api.ReplicaSet
	for _, rs := range rss {
		if templatesEqual(rs.Spec.Template, d.Spec.Template) {
			newRS = rs
		}
	}
	var old []string
	for _, rs := range rss {
		if rs != newRS && api.Int32Value(rs.Spec.Replicas, 1) > 0 {
			old = append(old, replicaSetSummary(rs))
		}
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "OldReplicaSets:\t%s\n", orNone(strings.Join(old, ", ")))
	created := "<none>"
	if newRS != nil {
		created = replicaSetSummary(newRS)
	}
	fmt.Fprintf(tw, "NewReplicaSet:\t%s\n", created)
	return tw.Flush()
}

// replicaSetSummary is "web-5d4f8 (3/3 replicas created)".
func replicaSetSummary(rs *api.ReplicaSet) string {
	return fmt.Sprintf("%s (%d/%d replicas created)", rs.Metadata.Name, rs.Status.Replicas, api.Int32Value(rs.Spec.Replicas, 1))
}

// selectorString writes a label selector as kubectl does:
// "app=web,tier in (a,b)".
func selectorString(s *api.LabelSelector) string {
	if s == nil {
		return "<none>"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.MatchLabels)) {
		parts = append(parts, k+"="+s.MatchLabels[k])
	}
	for _, r := range s.MatchExpressions {
		switch r.Operator {
		case "Exists":
			parts = append(parts, r.Key)
		case "DoesNotExist":
			parts = append(parts, "!"+r.Key)
		default:
			parts = append(parts, fmt.Sprintf("%s %s (%s)", r.Key, strings.ToLower(r.Operator), strings.Join(r.Values, ",")))
		}
	}
	return orNone(strings.Join(parts, ","))
}

// describePodTemplate writes a pod template as kubectl describe and
// rollout history --revision do.
func describePodTemplate(w io.Writer, t api.PodTemplateSpec) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "Pod Template:\n")
	mapField(tw, "  Labels", t.Metadata.Labels)
	if len(t.Metadata.Annotations) > 0 {
		mapField(tw, "  Annotations", t.Metadata.Annotations)
	}
	fmt.Fprintf(tw, "  Containers:\n")
	for _, c := range t.Spec.Containers {
		templateContainer(tw, c)
	}
	if len(t.Spec.Volumes) == 0 {
		fmt.Fprintf(tw, "  Volumes:\t<none>\n")
	} else {
		fmt.Fprintf(tw, "  Volumes:\n")
	}
	for _, v := range t.Spec.Volumes {
		fmt.Fprintf(tw, "   %s:\t%s\n", v.Name, volumeSource(v))
	}
	return tw.Flush()
}

// templateContainer writes one container of a pod template.
func templateContainer(tw io.Writer, c api.Container) {
	fmt.Fprintf(tw, "   %s:\n", c.Name)
	fmt.Fprintf(tw, "    Image:\t%s\n", c.Image)
	if len(c.Ports) == 0 {
		fmt.Fprintf(tw, "    Port:\t<none>\n")
	}
	for _, p := range c.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "TCP"
		}
		fmt.Fprintf(tw, "    Port:\t%d/%s\n", p.ContainerPort, proto)
		fmt.Fprintf(tw, "    Host Port:\t%d/%s\n", p.HostPort, proto)
	}
	if len(c.Command) > 0 {
		fmt.Fprintf(tw, "    Command:\t%s\n", strings.Join(c.Command, " "))
	}
	if len(c.Args) > 0 {
		fmt.Fprintf(tw, "    Args:\t%s\n", strings.Join(c.Args, " "))
	}
	if len(c.Resources.Requests) > 0 {
		fmt.Fprintf(tw, "    Requests:\t%s\n", resourceString(c.Resources.Requests))
	}
	if len(c.Resources.Limits) > 0 {
		fmt.Fprintf(tw, "    Limits:\t%s\n", resourceString(c.Resources.Limits))
	}
	if len(c.Env) == 0 {
		fmt.Fprintf(tw, "    Environment:\t<none>\n")
	} else {
		fmt.Fprintf(tw, "    Environment:\n")
	}
	for _, e := range c.Env {
		fmt.Fprintf(tw, "      %s:\t%s\n", e.Name, envValue(e))
	}
	if len(c.VolumeMounts) == 0 {
		fmt.Fprintf(tw, "    Mounts:\t<none>\n")
	} else {
		fmt.Fprintf(tw, "    Mounts:\n")
	}
	for _, m := range c.VolumeMounts {
		ro := "rw"
		if m.ReadOnly {
			ro = "ro"
		}
		fmt.Fprintf(tw, "      %s from %s (%s)\n", m.MountPath, m.Name, ro)
	}
}

// envValue is an environment variable's value, or where it comes from.
func envValue(e api.EnvVar) string {
	switch {
	case e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil:
		r := e.ValueFrom.ConfigMapKeyRef
		return fmt.Sprintf("<set to the key '%s' of config map '%s'>", r.Key, r.Name)
	case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
		r := e.ValueFrom.SecretKeyRef
		return fmt.Sprintf("<set to the key '%s' in secret '%s'>", r.Key, r.Name)
	}
	return e.Value
}

// volumeSource says what a volume is: "PersistentVolumeClaim (data-db-0)".
func volumeSource(v api.Volume) string {
	switch {
	case v.HostPath != nil:
		return "HostPath (" + v.HostPath.Path + ")"
	case v.EmptyDir != nil:
		return "EmptyDir"
	case v.PersistentVolumeClaim != nil:
		return "PersistentVolumeClaim (" + v.PersistentVolumeClaim.ClaimName + ")"
	case v.ConfigMap != nil:
		return "ConfigMap (" + v.ConfigMap.Name + ")"
	case v.Secret != nil:
		return "Secret (" + v.Secret.SecretName + ")"
	}
	return "<unknown>"
}
