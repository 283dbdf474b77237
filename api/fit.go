package api

import (
	"slices"
	"strconv"
	"strings"
)

// The rules of whether a pod fits a node. The scheduler filters with them
// and the state machine re-checks each placement with them when it commits
// a plan, so both always agree.

// Resources are the amounts the scheduler counts.
type Resources struct {
	MilliCPU int64 // millicores
	Memory   int64 // bytes
	GPU      int64 // whole GPUs
	Pods     int64
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{r.MilliCPU + o.MilliCPU, r.Memory + o.Memory, r.GPU + o.GPU, r.Pods + o.Pods}
}

// Sub returns r - o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{r.MilliCPU - o.MilliCPU, r.Memory - o.Memory, r.GPU - o.GPU, r.Pods - o.Pods}
}

// Fits reports whether r fits in free.
func (r Resources) Fits(free Resources) bool {
	return r.MilliCPU <= free.MilliCPU && r.Memory <= free.Memory && r.GPU <= free.GPU && r.Pods <= free.Pods
}

// Insufficient returns the reasons, in Kubernetes' words, why r does not
// fit in free: "Insufficient cpu", "Insufficient memory", "Insufficient
// nvidia.com/gpu", "Too many pods". None when it fits.
func (r Resources) Insufficient(free Resources) []string {
	var out []string
	if r.Pods > free.Pods {
		out = append(out, ReasonTooManyPods)
	}
	if r.MilliCPU > free.MilliCPU {
		out = append(out, ReasonInsufficientCPU)
	}
	if r.Memory > free.Memory {
		out = append(out, ReasonInsufficientMemory)
	}
	if r.GPU > free.GPU {
		out = append(out, ReasonInsufficientGPU)
	}
	return out
}

// DefaultMaxPods is a node's pod capacity when its status does not say.
const DefaultMaxPods = 110

// Requests returns what the pod asks for: the sum of its containers'
// requests (a request left out is the limit, as Default sets it), and one
// pod.
func (p *Pod) Requests() Resources {
	r := Resources{Pods: 1}
	for i := range p.Spec.Containers {
		req := p.Spec.Containers[i].Resources.Requests
		r.MilliCPU += req[ResourceCPU].Milli()
		r.Memory += req[ResourceMemory].Value()
		r.GPU += req[ResourceGPU].Value()
	}
	return r
}

// Allocatable returns what pods may use on the node: status.allocatable,
// or status.capacity where allocatable does not name a resource. GPUs are
// given out by ID, so never more than status.gpus lists count.
func (n *Node) Allocatable() Resources {
	get := func(name string) (Quantity, bool) {
		if q, ok := n.Status.Allocatable[name]; ok {
			return q, true
		}
		q, ok := n.Status.Capacity[name]
		return q, ok
	}
	var r Resources
	if q, ok := get(ResourceCPU); ok {
		r.MilliCPU = q.Milli()
	}
	if q, ok := get(ResourceMemory); ok {
		r.Memory = q.Value()
	}
	if q, ok := get(ResourceGPU); ok {
		r.GPU = q.Value()
	}
	r.GPU = min(r.GPU, int64(len(n.Status.GPUs)))
	r.Pods = DefaultMaxPods
	if q, ok := get(ResourcePods); ok {
		r.Pods = q.Value()
	}
	return r
}

// Reasons a node does not fit a pod, in Kubernetes' words where it has
// them. A scheduler counts them over the nodes: "0/5 nodes are available:
// 3 Insufficient cpu, 2 node(s) didn't match node selector."
const (
	ReasonNodeNotReady       = "node(s) were not ready"
	ReasonNodeUnschedulable  = "node(s) were unschedulable"
	ReasonNodeSelector       = "node(s) didn't match node selector"
	ReasonNodeAffinity       = "node(s) didn't match Pod's node affinity"
	ReasonHostPorts          = "node(s) didn't have free ports for the requested pod ports"
	ReasonAntiAffinity       = "node(s) didn't match pod anti-affinity rules"
	ReasonTooManyPods        = "Too many pods"
	ReasonInsufficientCPU    = "Insufficient cpu"
	ReasonInsufficientMemory = "Insufficient memory"
	ReasonInsufficientGPU    = "Insufficient nvidia.com/gpu"
)

// ReasonTaint words an untolerated taint: "node(s) had untolerated taint
// {dedicated: gpu}".
func ReasonTaint(t Taint) string {
	return "node(s) had untolerated taint {" + t.Key + ": " + t.Value + "}"
}

// CheckFit returns why pod does not fit node, which already holds usage
// (nil: nothing), or nil when it fits. The checks run cheapest first and
// stop at the first that fails; the resource check may give several
// reasons. req is pod.Requests(), passed in so callers compute it once.
func CheckFit(node *Node, usage *NodeUsage, pod *Pod, req Resources) []string {
	switch {
	case !node.Ready():
		return []string{ReasonNodeNotReady}
	case node.Spec.Unschedulable:
		return []string{ReasonNodeUnschedulable}
	}
	if t := UntoleratedTaint(node, pod.Spec.Tolerations); t != nil {
		return []string{ReasonTaint(*t)}
	}
	if !MatchesNodeSelector(pod, node) {
		return []string{ReasonNodeSelector}
	}
	if !MatchesRequiredAffinity(pod, node) {
		return []string{ReasonNodeAffinity}
	}
	if r := req.Insufficient(node.Allocatable().Sub(usage.Total())); r != nil {
		return r
	}
	if !usage.PortsFree(PodHostPorts(pod)) {
		return []string{ReasonHostPorts}
	}
	if usage.AntiAffinityConflict(pod) {
		return []string{ReasonAntiAffinity}
	}
	return nil
}

// UntoleratedTaint returns the first taint of the node with effect
// NoSchedule or NoExecute that no toleration tolerates, or nil.
func UntoleratedTaint(node *Node, tols []Toleration) *Taint {
	for i := range node.Spec.Taints {
		t := &node.Spec.Taints[i]
		if t.Effect != TaintNoSchedule && t.Effect != TaintNoExecute {
			continue
		}
		if !Tolerated(tols, *t) {
			return t
		}
	}
	return nil
}

// Tolerated reports whether one of tols tolerates t.
func Tolerated(tols []Toleration, t Taint) bool {
	for _, tol := range tols {
		if tol.Effect != "" && tol.Effect != t.Effect {
			continue
		}
		if tol.Operator == "Exists" {
			if tol.Key == "" || tol.Key == t.Key {
				return true
			}
			continue
		}
		if tol.Key == t.Key && tol.Value == t.Value {
			return true
		}
	}
	return false
}

// MatchesNodeSelector reports whether the node has every label of the
// pod's spec.nodeSelector.
func MatchesNodeSelector(pod *Pod, node *Node) bool {
	for k, v := range pod.Spec.NodeSelector {
		if lv, ok := node.Metadata.Labels[k]; !ok || lv != v {
			return false
		}
	}
	return true
}

// MatchesRequiredAffinity reports whether the node matches the pod's
// required node affinity: any one of its terms (none given: any node).
func MatchesRequiredAffinity(pod *Pod, node *Node) bool {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.Required == nil {
		return true
	}
	for i := range a.NodeAffinity.Required.NodeSelectorTerms {
		if a.NodeAffinity.Required.NodeSelectorTerms[i].Matches(node) {
			return true
		}
	}
	return false
}

// PreferredAffinityScore is the sum of the weights of the pod's preferred
// node affinity terms that the node matches.
func PreferredAffinityScore(pod *Pod, node *Node) int64 {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil {
		return 0
	}
	var s int64
	for i := range a.NodeAffinity.Preferred {
		if p := &a.NodeAffinity.Preferred[i]; p.Preference.Matches(node) {
			s += int64(p.Weight)
		}
	}
	return s
}

// Matches reports whether the node satisfies every expression of the term.
// A term with no expressions matches no node, as in Kubernetes.
func (t *NodeSelectorTerm) Matches(node *Node) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for _, r := range t.MatchExpressions {
		v, ok := node.Metadata.Labels[r.Key]
		if !r.matches(v, ok) {
			return false
		}
	}
	for _, r := range t.MatchFields {
		if r.Key != "metadata.name" || !r.matches(node.Metadata.Name, true) {
			return false
		}
	}
	return true
}

func (r *NodeSelectorRequirement) matches(v string, ok bool) bool {
	return requirementMatches(r.Operator, r.Values, v, ok)
}

// requirementMatches applies a selector operator to a label's value v
// (ok: the label is there). Gt and Lt compare integers; validation allows
// them in node selectors only.
func requirementMatches(op string, values []string, v string, ok bool) bool {
	switch op {
	case "In":
		return ok && slices.Contains(values, v)
	case "NotIn":
		return !ok || !slices.Contains(values, v)
	case "Exists":
		return ok
	case "DoesNotExist":
		return !ok
	case "Gt", "Lt":
		if !ok || len(values) != 1 {
			return false
		}
		a, err1 := strconv.ParseInt(v, 10, 64)
		b, err2 := strconv.ParseInt(values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if op == "Gt" {
			return a > b
		}
		return a < b
	}
	return false
}

// Matches reports whether labels satisfy the selector. A nil selector
// matches nothing.
func (s *LabelSelector) Matches(labels map[string]string) bool {
	if s == nil {
		return false
	}
	for k, v := range s.MatchLabels {
		if lv, ok := labels[k]; !ok || lv != v {
			return false
		}
	}
	for _, r := range s.MatchExpressions {
		v, ok := labels[r.Key]
		if !requirementMatches(r.Operator, r.Values, v, ok) {
			return false
		}
	}
	return true
}

// HostPort is a node port a pod takes. An empty IP is every address.
type HostPort struct {
	Protocol string `json:"protocol"`
	IP       string `json:"ip,omitempty"`
	Port     int32  `json:"port"`
}

// Conflicts reports whether two host ports cannot both be bound.
func (a HostPort) Conflicts(b HostPort) bool {
	if a.Port != b.Port || a.Protocol != b.Protocol {
		return false
	}
	return a.IP == b.IP || isAnyIP(a.IP) || isAnyIP(b.IP)
}

func isAnyIP(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }

// PodHostPorts returns the host ports the pod takes.
func PodHostPorts(pod *Pod) []HostPort {
	var out []HostPort
	for i := range pod.Spec.Containers {
		for _, p := range pod.Spec.Containers[i].Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := p.Protocol
			if proto == "" {
				proto = "TCP"
			}
			out = append(out, HostPort{Protocol: proto, IP: p.HostIP, Port: p.HostPort})
		}
	}
	return out
}

// antiAffinityTerms returns the pod's required anti-affinity terms.
func antiAffinityTerms(pod *Pod) []PodAffinityTerm {
	if a := pod.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		return a.PodAntiAffinity.Required
	}
	return nil
}

// termSelects reports whether term, written by a pod in namespace ns,
// selects a pod in podNS with labels.
func termSelects(term *PodAffinityTerm, ns, podNS string, labels map[string]string) bool {
	if len(term.Namespaces) == 0 {
		if podNS != ns {
			return false
		}
	} else if !slices.Contains(term.Namespaces, podNS) {
		return false
	}
	return term.LabelSelector.Matches(labels)
}

// PodUsage is what one pod bound to a node holds there.
type PodUsage struct {
	Namespace    string            `json:"namespace"`
	Name         string            `json:"name"`
	Requests     Resources         `json:"requests"`
	GPUs         []string          `json:"gpus,omitempty"`
	Ports        []HostPort        `json:"ports,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	AntiAffinity []PodAffinityTerm `json:"antiAffinity,omitempty"`
}

// UsageOf returns what the pod holds on its node.
func UsageOf(pod *Pod) PodUsage {
	return PodUsage{
		Namespace: pod.Metadata.Namespace, Name: pod.Metadata.Name,
		Requests: pod.Requests(), GPUs: pod.Spec.AssignedGPUs, Ports: PodHostPorts(pod),
		Labels: pod.Metadata.Labels, AntiAffinity: antiAffinityTerms(pod),
	}
}

// NodeUsage is what the pods bound to one node hold. It is immutable once
// built: With and Without return new ones. A nil *NodeUsage is empty.
type NodeUsage struct {
	Requested Resources  `json:"requested"`
	Pods      []PodUsage `json:"pods"` // sorted by namespace, then name
}

// Total returns the sum of the pods' requests.
func (u *NodeUsage) Total() Resources {
	if u == nil {
		return Resources{}
	}
	return u.Requested
}

func comparePod(a *PodUsage, ns, name string) int {
	if c := strings.Compare(a.Namespace, ns); c != 0 {
		return c
	}
	return strings.Compare(a.Name, name)
}

// With returns the usage with p added (or replacing the entry of the same
// pod).
func (u *NodeUsage) With(p PodUsage) *NodeUsage {
	if u == nil {
		u = &NodeUsage{}
	}
	u = u.Without(p.Namespace, p.Name)
	i, _ := slices.BinarySearchFunc(u.Pods, p, func(a PodUsage, b PodUsage) int { return comparePod(&a, b.Namespace, b.Name) })
	pods := make([]PodUsage, 0, len(u.Pods)+1)
	pods = append(pods, u.Pods[:i]...)
	pods = append(pods, p)
	pods = append(pods, u.Pods[i:]...)
	return &NodeUsage{Requested: u.Requested.Add(p.Requests), Pods: pods}
}

// Without returns the usage less the named pod's entry.
func (u *NodeUsage) Without(ns, name string) *NodeUsage {
	if u == nil {
		return &NodeUsage{}
	}
	i, found := slices.BinarySearchFunc(u.Pods, name, func(a PodUsage, _ string) int { return comparePod(&a, ns, name) })
	if !found {
		return u
	}
	pods := slices.Delete(slices.Clone(u.Pods), i, i+1)
	return &NodeUsage{Requested: u.Requested.Sub(u.Pods[i].Requests), Pods: pods}
}

// GPUInUse reports whether a pod holds the GPU.
func (u *NodeUsage) GPUInUse(id string) bool {
	if u == nil {
		return false
	}
	for i := range u.Pods {
		if slices.Contains(u.Pods[i].GPUs, id) {
			return true
		}
	}
	return false
}

// FreeGPUs returns the IDs of the node's GPUs no pod holds, in index order.
func (u *NodeUsage) FreeGPUs(node *Node) []string {
	var out []string
	for _, g := range node.Status.GPUs {
		if !u.GPUInUse(g.ID) {
			out = append(out, g.ID)
		}
	}
	return out
}

// CheckGPUs returns why the GPUs assigned to pod cannot be given to it on
// the node ("" when they can): as many as it requests, each one of the
// node's, none held by another pod, none twice.
func (u *NodeUsage) CheckGPUs(node *Node, pod *Pod, req Resources) string {
	ids := pod.Spec.AssignedGPUs
	if int64(len(ids)) != req.GPU {
		return "assigned " + strconv.Itoa(len(ids)) + " GPU(s) for a request of " + strconv.FormatInt(req.GPU, 10)
	}
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			return "GPU " + strconv.Quote(id) + " assigned twice"
		}
		if !slices.ContainsFunc(node.Status.GPUs, func(g NodeGPU) bool { return g.ID == id }) {
			return "node has no GPU " + strconv.Quote(id)
		}
		if u.GPUInUse(id) {
			return "GPU " + strconv.Quote(id) + " is in use"
		}
	}
	return ""
}

// PortsFree reports whether none of ports conflicts with a port in use.
func (u *NodeUsage) PortsFree(ports []HostPort) bool {
	if u == nil || len(ports) == 0 {
		return true
	}
	for i := range u.Pods {
		for _, a := range u.Pods[i].Ports {
			for _, b := range ports {
				if a.Conflicts(b) {
					return false
				}
			}
		}
	}
	return true
}

// AntiAffinityConflict reports whether placing pod beside the node's pods
// breaks a required anti-affinity rule, the pod's own or one of theirs
// (Berth's topology is the host, so a conflict is on this node).
func (u *NodeUsage) AntiAffinityConflict(pod *Pod) bool {
	if u == nil {
		return false
	}
	own := antiAffinityTerms(pod)
	ns := pod.Metadata.Namespace
	for i := range u.Pods {
		q := &u.Pods[i]
		for j := range own {
			if termSelects(&own[j], ns, q.Namespace, q.Labels) {
				return true
			}
		}
		for j := range q.AntiAffinity {
			if termSelects(&q.AntiAffinity[j], q.Namespace, ns, pod.Metadata.Labels) {
				return true
			}
		}
	}
	return false
}
