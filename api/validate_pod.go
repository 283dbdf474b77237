package api

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

func defaultPod(p *Pod) {
	if p.Spec.RestartPolicy == "" {
		p.Spec.RestartPolicy = "Always"
	}
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		// A request left out is the limit, as in Kubernetes.
		for name, q := range c.Resources.Limits {
			if _, ok := c.Resources.Requests[name]; !ok {
				if c.Resources.Requests == nil {
					c.Resources.Requests = ResourceList{}
				}
				c.Resources.Requests[name] = q
			}
		}
		for j := range c.Ports {
			if c.Ports[j].Protocol == "" {
				c.Ports[j].Protocol = "TCP"
			}
		}
	}
	if p.Status.Phase == "" {
		p.Status.Phase = PodPending
	}
}

func defaultNode(n *Node) {
	if len(n.Status.Allocatable) == 0 && len(n.Status.Capacity) > 0 {
		n.Status.Allocatable = maps.Clone(n.Status.Capacity)
	}
	// A node that counts GPUs but does not list them gets one entry per GPU,
	// named by its index.
	if q, ok := n.Status.Capacity[ResourceGPU]; ok && len(n.Status.GPUs) == 0 {
		if _, err := ParseQuantity(string(q)); err == nil && q.Value() <= 1024 {
			for i := range q.Value() {
				n.Status.GPUs = append(n.Status.GPUs, NodeGPU{ID: strconv.FormatInt(i, 10), Index: int32(i)})
			}
		}
	}
}

var (
	podResources  = []string{ResourceCPU, ResourceMemory, ResourceEphemeralStorage, ResourceGPU}
	nodeResources = []string{ResourceCPU, ResourceMemory, ResourceEphemeralStorage, ResourceGPU, ResourcePods}
)

func validatePod(l *errList, p *Pod) {
	s := &p.Spec
	if len(s.Containers) == 0 {
		l.add("spec.containers", "required: a pod has at least one container")
	}
	names := map[string]bool{}
	for i := range s.Containers {
		validateContainer(l, fmt.Sprintf("spec.containers[%d]", i), &s.Containers[i], names)
	}
	validateRuntime(l, s)
	switch s.DNSPolicy {
	case "", DNSClusterFirst, DNSClusterFirstWithHostNet, DNSDefault:
	case "None":
		l.add("spec.dnsPolicy", "%q is not supported (it needs dnsConfig); use ClusterFirst or Default", s.DNSPolicy)
	default:
		l.add("spec.dnsPolicy", "%q is not a DNS policy (ClusterFirst, ClusterFirstWithHostNet, Default)", s.DNSPolicy)
	}
	for _, f := range []struct{ path, v string }{{"spec.hostname", s.Hostname}, {"spec.subdomain", s.Subdomain}} {
		if f.v == "" {
			continue
		}
		if msg := checkLabel(f.v); msg != "" {
			l.add(f.path, "%s", msg)
		}
	}
	switch s.RestartPolicy {
	case "Always", "OnFailure", "Never":
	default:
		l.add("spec.restartPolicy", "%s is not Always, OnFailure or Never", quote(s.RestartPolicy))
	}
	validateLabelMap(l, "spec.nodeSelector", s.NodeSelector)
	if a := s.Affinity; a != nil {
		if na := a.NodeAffinity; na != nil {
			if na.Required != nil {
				path := "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
				if len(na.Required.NodeSelectorTerms) == 0 {
					l.add(path, "required: at least one term")
				}
				for i := range na.Required.NodeSelectorTerms {
					validateNodeTerm(l, fmt.Sprintf("%s[%d]", path, i), &na.Required.NodeSelectorTerms[i])
				}
			}
			for i, pt := range na.Preferred {
				path := fmt.Sprintf("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[%d]", i)
				if pt.Weight < 1 || pt.Weight > 100 {
					l.add(path+".weight", "%d is not in 1..100", pt.Weight)
				}
				validateNodeTerm(l, path+".preference", &pt.Preference)
			}
		}
		if pa := a.PodAntiAffinity; pa != nil {
			for i, t := range pa.Required {
				path := fmt.Sprintf("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[%d]", i)
				if t.TopologyKey != LabelHostname {
					l.add(path+".topologyKey", "%s: not supported, only %s", quote(t.TopologyKey), quote(LabelHostname))
				}
				if t.LabelSelector == nil {
					l.add(path+".labelSelector", "required")
				} else {
					validateLabelSelector(l, path+".labelSelector", t.LabelSelector)
				}
			}
		}
	}
	for i, t := range s.Tolerations {
		path := fmt.Sprintf("spec.tolerations[%d]", i)
		switch t.Operator {
		case "", "Equal":
			if t.Key == "" {
				l.add(path+".key", "required with operator Equal")
			}
		case "Exists":
			if t.Value != "" {
				l.add(path+".value", "must be empty with operator Exists")
			}
		default:
			l.add(path+".operator", "%s is not Equal or Exists", quote(t.Operator))
		}
		switch t.Effect {
		case "", TaintNoSchedule, TaintPreferNoSchedule, TaintNoExecute:
		default:
			l.add(path+".effect", "%s is not NoSchedule, PreferNoSchedule or NoExecute", quote(t.Effect))
		}
	}
	if len(s.AssignedGPUs) > 0 && s.NodeName == "" {
		l.add("spec.assignedGPUs", "set only with spec.nodeName")
	}
	for i, id := range s.AssignedGPUs {
		if id == "" || slices.Contains(s.AssignedGPUs[:i], id) {
			l.add(fmt.Sprintf("spec.assignedGPUs[%d]", i), "%s is empty or repeated", quote(id))
		}
	}
	if s.NodeName != "" {
		if msg := checkSubdomain(s.NodeName); msg != "" {
			l.add("spec.nodeName", "%s %s", quote(s.NodeName), msg)
		}
	}
	switch p.Status.Phase {
	case "", PodPending, PodRunning, PodSucceeded, PodFailed, PodUnknown:
	default:
		l.add("status.phase", "%s is not Pending, Running, Succeeded, Failed or Unknown", quote(p.Status.Phase))
	}
	if v, ok := p.Metadata.Annotations[AnnotationStrategy]; ok && v != StrategyBinpack && v != StrategySpread {
		l.add("metadata.annotations", "%s: %s is not %q or %q", AnnotationStrategy, quote(v), StrategyBinpack, StrategySpread)
	}
}

func validateContainer(l *errList, path string, c *Container, names map[string]bool) {
	switch {
	case c.Name == "":
		l.add(path+".name", "required")
	case checkLabel(c.Name) != "":
		l.add(path+".name", "%s %s", quote(c.Name), checkLabel(c.Name))
	case names[c.Name]:
		l.add(path+".name", "%s is used by another container", quote(c.Name))
	}
	names[c.Name] = true
	if c.Image == "" {
		l.add(path+".image", "required")
	}
	if sc := c.SecurityContext; sc != nil && sc.Capabilities != nil {
		for _, f := range []struct {
			field string
			caps  []string
		}{{"add", sc.Capabilities.Add}, {"drop", sc.Capabilities.Drop}} {
			field := f.field
			for i, name := range f.caps {
				if !validCapability(name) {
					l.add(fmt.Sprintf("%s.securityContext.capabilities.%s[%d]", path, field, i), "%s is not a capability such as NET_ADMIN", quote(name))
				}
			}
		}
	}
	for i, e := range c.Env {
		if e.Name == "" {
			l.add(fmt.Sprintf("%s.env[%d].name", path, i), "required")
		}
	}
	for i, p := range c.Ports {
		pp := fmt.Sprintf("%s.ports[%d]", path, i)
		if p.ContainerPort < 1 || p.ContainerPort > 65535 {
			l.add(pp+".containerPort", "%d is not in 1..65535", p.ContainerPort)
		}
		if p.HostPort < 0 || p.HostPort > 65535 {
			l.add(pp+".hostPort", "%d is not in 0..65535", p.HostPort)
		}
		switch p.Protocol {
		case "TCP", "UDP", "SCTP":
		default:
			l.add(pp+".protocol", "%s is not TCP, UDP or SCTP", quote(p.Protocol))
		}
	}
	switch c.ImagePullPolicy {
	case "", "Always", "IfNotPresent", "Never":
	default:
		l.add(path+".imagePullPolicy", "%s is not Always, IfNotPresent or Never", quote(c.ImagePullPolicy))
	}
	req := validateResources(l, path+".resources.requests", c.Resources.Requests, podResources)
	lim := validateResources(l, path+".resources.limits", c.Resources.Limits, podResources)
	for _, name := range slices.Sorted(maps.Keys(req)) {
		if lq, ok := lim[name]; ok && req[name] > lq {
			l.add(path+".resources.requests."+name, "%s is more than the limit %s", c.Resources.Requests[name], c.Resources.Limits[name])
		}
	}
	if _, ok := c.Resources.Requests[ResourceGPU]; ok && req[ResourceGPU] != lim[ResourceGPU] {
		l.add(path+".resources.limits."+ResourceGPU, "must be set and equal to the request")
	}
}

// validateResources checks names and amounts; it returns the amounts in
// thousandths of those that parse.
func validateResources(l *errList, path string, rl ResourceList, allowed []string) map[string]int64 {
	out := map[string]int64{}
	for _, name := range slices.Sorted(maps.Keys(rl)) {
		if !slices.Contains(allowed, name) {
			l.add(path+"."+name, "not supported (supported: %v)", allowed)
			continue
		}
		r, err := ParseQuantity(string(rl[name]))
		if err != nil {
			l.add(path+"."+name, "%v", err.(*invalidError).msg)
			continue
		}
		if (name == ResourceGPU || name == ResourcePods) && !r.IsInt() {
			l.add(path+"."+name, "%s must be a whole number", quote(string(rl[name])))
			continue
		}
		out[name] = rl[name].Milli()
	}
	return out
}

func validateNodeTerm(l *errList, path string, t *NodeSelectorTerm) {
	for i, r := range t.MatchExpressions {
		validateRequirement(l, fmt.Sprintf("%s.matchExpressions[%d]", path, i), r.Key, r.Operator, r.Values, true)
	}
	for i, r := range t.MatchFields {
		p := fmt.Sprintf("%s.matchFields[%d]", path, i)
		if r.Key != "metadata.name" {
			l.add(p+".key", "%s: not supported, only \"metadata.name\"", quote(r.Key))
		}
		validateRequirement(l, p, "metadata.name", r.Operator, r.Values, false)
	}
}

func validateLabelSelector(l *errList, path string, s *LabelSelector) {
	validateLabelMap(l, path+".matchLabels", s.MatchLabels)
	for i, r := range s.MatchExpressions {
		validateRequirement(l, fmt.Sprintf("%s.matchExpressions[%d]", path, i), r.Key, r.Operator, r.Values, false)
	}
}

func validateRequirement(l *errList, path, key, op string, values []string, numeric bool) {
	if msg := checkQualifiedName(key); msg != "" && key != "metadata.name" {
		l.add(path+".key", "%s: %s", quote(key), msg)
	}
	switch op {
	case "In", "NotIn":
		if len(values) == 0 {
			l.add(path+".values", "required with operator %s", op)
		}
	case "Exists", "DoesNotExist":
		if len(values) > 0 {
			l.add(path+".values", "must be empty with operator %s", op)
		}
	case "Gt", "Lt":
		if !numeric {
			l.add(path+".operator", "%s is not In, NotIn, Exists or DoesNotExist", quote(op))
			return
		}
		if len(values) != 1 {
			l.add(path+".values", "exactly one integer with operator %s", op)
		} else if _, err := strconv.ParseInt(values[0], 10, 64); err != nil {
			l.add(path+".values", "%s is not an integer", quote(values[0]))
		}
	default:
		if numeric {
			l.add(path+".operator", "%s is not In, NotIn, Exists, DoesNotExist, Gt or Lt", quote(op))
		} else {
			l.add(path+".operator", "%s is not In, NotIn, Exists or DoesNotExist", quote(op))
		}
	}
}

func validateLabelMap(l *errList, path string, m map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if msg := checkQualifiedName(k); msg != "" {
			l.add(path, "key %s: %s", quote(k), msg)
		} else if msg := checkLabelValue(m[k]); msg != "" {
			l.add(path, "value %s of key %s: %s", quote(m[k]), quote(k), msg)
		}
	}
}

func validateNode(l *errList, n *Node) {
	for i, t := range n.Spec.Taints {
		path := fmt.Sprintf("spec.taints[%d]", i)
		if msg := checkQualifiedName(t.Key); msg != "" {
			l.add(path+".key", "%s: %s", quote(t.Key), msg)
		}
		switch t.Effect {
		case TaintNoSchedule, TaintPreferNoSchedule, TaintNoExecute:
		default:
			l.add(path+".effect", "%s is not NoSchedule, PreferNoSchedule or NoExecute", quote(t.Effect))
		}
	}
	capa := validateResources(l, "status.capacity", n.Status.Capacity, nodeResources)
	validateResources(l, "status.allocatable", n.Status.Allocatable, nodeResources)
	if g, ok := capa[ResourceGPU]; ok && g/1000 != int64(len(n.Status.GPUs)) {
		l.add("status.gpus", "%d listed, but capacity says %s", len(n.Status.GPUs), n.Status.Capacity[ResourceGPU])
	}
	for i, g := range n.Status.GPUs {
		if g.ID == "" {
			l.add(fmt.Sprintf("status.gpus[%d].id", i), "required")
		}
		for j := range i {
			if n.Status.GPUs[j].ID == g.ID {
				l.add(fmt.Sprintf("status.gpus[%d].id", i), "%s is repeated", quote(g.ID))
			}
		}
	}
}

// validCapability reports whether name is a capability's name, with or
// without its CAP_ prefix: upper-case letters and underscores.
func validCapability(name string) bool {
	name = strings.TrimPrefix(name, "CAP_")
	if name == "" || len(name) > 32 {
		return false
	}
	for _, r := range name {
		if (r < 'A' || r > 'Z') && r != '_' {
			return false
		}
	}
	return true
}
