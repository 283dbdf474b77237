package api

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Defaulting and validation of the workload kinds (Deployment, ReplicaSet,
// StatefulSet), PersistentVolumeClaim and HorizontalPodAutoscaler, by
// Kubernetes' rules, and of the ownerReferences every object may carry.

// ResourceStorage is the size a PersistentVolumeClaim asks for.
const ResourceStorage = "storage"

// Access modes of a PersistentVolumeClaim.
const (
	ReadWriteOnce    = "ReadWriteOnce"
	ReadOnlyMany     = "ReadOnlyMany"
	ReadWriteMany    = "ReadWriteMany"
	ReadWriteOncePod = "ReadWriteOncePod"
)

// Defaults of the autoscaler's metric: cpu at 80% of the pods' requests.
const defaultUtilization = 80

var claimResources = []string{ResourceStorage}

// defaultApps fills what a user may leave out of the kinds of this file.
func defaultApps(obj Object) {
	switch o := obj.(type) {
	case *Deployment:
		defaultDeployment(&o.Spec)
	case *ReplicaSet:
		defaultInt32(&o.Spec.Replicas, 1)
		defaultTemplate(&o.Spec.Template)
	case *StatefulSet:
		defaultStatefulSet(&o.Spec)
	case *PersistentVolumeClaim:
		defaultClaimSpec(&o.Spec)
		if o.Status.Phase == "" {
			o.Status.Phase = ClaimPending
		}
	case *HorizontalPodAutoscaler:
		defaultHPA(&o.Spec)
	}
}

func defaultInt32(p **int32, v int32) {
	if *p == nil {
		*p = new(v)
	}
}

func defaultDeployment(s *DeploymentSpec) {
	defaultInt32(&s.Replicas, 1)
	if s.Strategy.Type == "" {
		s.Strategy.Type = RollingUpdateStrategy
	}
	if s.Strategy.Type == RollingUpdateStrategy {
		if s.Strategy.RollingUpdate == nil {
			s.Strategy.RollingUpdate = &RollingUpdateDeployment{}
		}
		ru := s.Strategy.RollingUpdate
		if ru.MaxSurge == nil {
			ru.MaxSurge = &IntOrString{StrVal: "25%"}
		}
		if ru.MaxUnavailable == nil {
			ru.MaxUnavailable = &IntOrString{StrVal: "25%"}
		}
	}
	defaultInt32(&s.RevisionHistoryLimit, 10)
	defaultInt32(&s.ProgressDeadlineSeconds, 600)
	defaultTemplate(&s.Template)
}

func defaultStatefulSet(s *StatefulSetSpec) {
	defaultInt32(&s.Replicas, 1)
	if s.PodManagementPolicy == "" {
		s.PodManagementPolicy = OrderedReadyPodManagement
	}
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = RollingUpdateStrategy
	}
	if s.UpdateStrategy.Type == RollingUpdateStrategy {
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &RollingUpdateStatefulSetStrategy{}
		}
		defaultInt32(&s.UpdateStrategy.RollingUpdate.Partition, 0)
	}
	defaultInt32(&s.RevisionHistoryLimit, 10)
	for i := range s.VolumeClaimTemplates {
		defaultClaimSpec(&s.VolumeClaimTemplates[i].Spec)
	}
	defaultTemplate(&s.Template)
}

// defaultTemplate defaults a template's pod spec as a pod's. Only the spec
// is copied back: a template has no status, and its namespace stays empty.
func defaultTemplate(t *PodTemplateSpec) {
	p := &Pod{Spec: t.Spec}
	defaultPod(p)
	t.Spec = p.Spec
}

func defaultClaimSpec(s *PersistentVolumeClaimSpec) {
	if len(s.AccessModes) == 0 {
		s.AccessModes = []string{ReadWriteOnce}
	}
}

func defaultHPA(s *HorizontalPodAutoscalerSpec) {
	defaultInt32(&s.MinReplicas, 1)
	if s.ScaleTargetRef.APIVersion == "" {
		s.ScaleTargetRef.APIVersion = "apps/v1"
	}
	if len(s.Metrics) == 0 {
		s.Metrics = []MetricSpec{{
			Type: MetricResource,
			Resource: &ResourceMetricSource{
				Name:   ResourceCPU,
				Target: MetricTarget{Type: TargetUtilization, AverageUtilization: new(int32(defaultUtilization))},
			},
		}}
	}
}

// validateApps checks the kinds of this file.
func validateApps(l *errList, obj Object) {
	switch o := obj.(type) {
	case *Deployment:
		validateDeployment(l, &o.Spec)
	case *ReplicaSet:
		s := &o.Spec
		validateWorkload(l, workload{"ReplicaSet", s.Replicas, s.MinReadySeconds, s.Selector, &s.Template}, nil)
	case *StatefulSet:
		validateStatefulSet(l, &o.Spec)
	case *PersistentVolumeClaim:
		validateClaimSpec(l, "spec", &o.Spec)
		switch o.Status.Phase {
		case "", ClaimPending, ClaimBound:
		default:
			l.add("status.phase", "%s is not Pending or Bound", quote(o.Status.Phase))
		}
	case *HorizontalPodAutoscaler:
		validateHPA(l, &o.Spec)
	}
}

// workload is what Deployments, ReplicaSets and StatefulSets share.
type workload struct {
	kind     string
	replicas *int32
	minReady int32
	selector *LabelSelector
	template *PodTemplateSpec
}

// validateWorkload checks the fields a workload shares. claims are the
// valid names of a StatefulSet's volumeClaimTemplates, which its
// containers may mount.
func validateWorkload(l *errList, w workload, claims []string) {
	if w.replicas != nil && *w.replicas < 0 {
		l.add("spec.replicas", "%d is negative", *w.replicas)
	}
	if w.minReady < 0 {
		l.add("spec.minReadySeconds", "%d is negative", w.minReady)
	}
	if s := w.selector; s == nil || len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 {
		l.add("spec.selector", "required: at least one matchLabels or matchExpressions entry")
	} else {
		n := len(l.errs)
		validateLabelSelector(l, "spec.selector", s)
		if len(l.errs) == n && !s.Matches(w.template.Metadata.Labels) {
			l.add("spec.template.metadata.labels", "does not match spec.selector")
		}
	}
	validateTemplate(l, w.kind, w.template, claims)
}

// validateTemplate checks a workload's pod template: its labels and
// annotations as metadata's, its spec as a pod's (paths under
// spec.template), plus what a workload's pods need.
func validateTemplate(l *errList, kind string, t *PodTemplateSpec, claims []string) {
	validateLabelMap(l, "spec.template.metadata.labels", t.Metadata.Labels)
	validateAnnotations(l, "spec.template.metadata.annotations", t.Metadata.Annotations)
	p := &Pod{Metadata: t.Metadata, Spec: t.Spec}
	// Reported here, so that validatePod does not say it again.
	if p.Spec.RestartPolicy != "Always" {
		l.add("spec.template.spec.restartPolicy", "must be \"Always\" for a %s", kind)
		p.Spec.RestartPolicy = "Always"
	}
	if p.Spec.NodeName != "" {
		l.add("spec.template.spec.nodeName", "must be empty: the scheduler places the pods of a %s", kind)
		p.Spec.NodeName = ""
	}
	// A container may mount a claim template as it mounts a volume: check
	// a copy with each claim template as a volume of its name.
	vols := slices.Clone(p.Spec.Volumes)
	for _, name := range claims {
		if i := slices.IndexFunc(t.Spec.Volumes, func(v Volume) bool { return v.Name == name }); i >= 0 {
			l.add(fmt.Sprintf("spec.template.spec.volumes[%d].name", i), "%s is also a volumeClaimTemplate", quote(name))
			continue
		}
		vols = append(vols, Volume{Name: name, PersistentVolumeClaim: &PersistentVolumeClaimVolumeSource{ClaimName: name}})
	}
	p.Spec.Volumes = vols
	sub := &errList{prefix: joinPath(l.prefix, "spec.template")}
	validatePod(sub, p)
	l.errs = append(l.errs, sub.errs...)
}

func validateDeployment(l *errList, s *DeploymentSpec) {
	validateWorkload(l, workload{"Deployment", s.Replicas, s.MinReadySeconds, s.Selector, &s.Template}, nil)
	switch st := &s.Strategy; st.Type {
	case RollingUpdateStrategy:
		if ru := st.RollingUpdate; ru != nil {
			surge0 := validateIntOrPercent(l, "spec.strategy.rollingUpdate.maxSurge", ru.MaxSurge)
			unavailable0 := validateIntOrPercent(l, "spec.strategy.rollingUpdate.maxUnavailable", ru.MaxUnavailable)
			if surge0 && unavailable0 {
				l.add("spec.strategy.rollingUpdate", "maxSurge and maxUnavailable may not both be 0")
			}
		}
	case RecreateStrategy:
		if st.RollingUpdate != nil {
			l.add("spec.strategy.rollingUpdate", "may not be set with type \"Recreate\"")
		}
	default:
		l.add("spec.strategy.type", "%s is not RollingUpdate or Recreate", quote(st.Type))
	}
	if r := s.RevisionHistoryLimit; r != nil && *r < 0 {
		l.add("spec.revisionHistoryLimit", "%d is negative", *r)
	}
	if p := s.ProgressDeadlineSeconds; p != nil && *p <= s.MinReadySeconds {
		l.add("spec.progressDeadlineSeconds", "%d must be greater than spec.minReadySeconds (%d)", *p, s.MinReadySeconds)
	}
}

// percentRE is a percentage of a rolling update: "25%".
var percentRE = regexp.MustCompile(`^[0-9]+%$`)

// validateIntOrPercent checks a non-negative number or a percentage from
// 0% to 100%, and reports whether v is valid and 0 (or 0%).
func validateIntOrPercent(l *errList, path string, v *IntOrString) bool {
	switch {
	case v == nil:
		return false
	case v.StrVal == "" && v.IntVal < 0:
		l.add(path, "%d is negative", v.IntVal)
		return false
	case v.StrVal == "":
		return v.IntVal == 0
	case !percentRE.MatchString(v.StrVal):
		l.add(path, "%s is not a number or a percentage such as \"25%%\"", quote(v.StrVal))
		return false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	if err != nil || n > 100 {
		l.add(path, "%s is more than 100%%", quote(v.StrVal))
		return false
	}
	return n == 0
}

func validateStatefulSet(l *errList, s *StatefulSetSpec) {
	claims := validateClaimTemplates(l, s.VolumeClaimTemplates)
	validateWorkload(l, workload{"StatefulSet", s.Replicas, s.MinReadySeconds, s.Selector, &s.Template}, claims)
	if s.ServiceName != "" {
		if msg := checkLabel(s.ServiceName); msg != "" {
			l.add("spec.serviceName", "%s %s", quote(s.ServiceName), msg)
		}
	}
	switch s.PodManagementPolicy {
	case OrderedReadyPodManagement, ParallelPodManagement:
	default:
		l.add("spec.podManagementPolicy", "%s is not OrderedReady or Parallel", quote(s.PodManagementPolicy))
	}
	switch us := &s.UpdateStrategy; us.Type {
	case RollingUpdateStrategy:
		if ru := us.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition < 0 {
			l.add("spec.updateStrategy.rollingUpdate.partition", "%d is negative", *ru.Partition)
		}
	case OnDeleteStrategy:
		if us.RollingUpdate != nil {
			l.add("spec.updateStrategy.rollingUpdate", "may not be set with type \"OnDelete\"")
		}
	default:
		l.add("spec.updateStrategy.type", "%s is not RollingUpdate or OnDelete", quote(us.Type))
	}
	if r := s.RevisionHistoryLimit; r != nil && *r < 0 {
		l.add("spec.revisionHistoryLimit", "%d is negative", *r)
	}
}

// validateClaimTemplates checks a StatefulSet's volumeClaimTemplates and
// returns the names that are valid and not repeated.
func validateClaimTemplates(l *errList, claims []PersistentVolumeClaim) []string {
	var names []string
	for i := range claims {
		c := &claims[i]
		p := fmt.Sprintf("spec.volumeClaimTemplates[%d]", i)
		switch name := c.Metadata.Name; {
		case name == "":
			l.add(p+".metadata.name", "required")
		case checkLabel(name) != "":
			l.add(p+".metadata.name", "%s %s", quote(name), checkLabel(name))
		case slices.Contains(names, name):
			l.add(p+".metadata.name", "%s is used by another volumeClaimTemplate", quote(name))
		default:
			names = append(names, name)
		}
		validateLabelMap(l, p+".metadata.labels", c.Metadata.Labels)
		validateAnnotations(l, p+".metadata.annotations", c.Metadata.Annotations)
		validateClaimSpec(l, p+".spec", &c.Spec)
	}
	return names
}

// validateClaimSpec checks what a claim asks for; path is its spec's.
func validateClaimSpec(l *errList, path string, s *PersistentVolumeClaimSpec) {
	if len(s.AccessModes) == 0 {
		l.add(path+".accessModes", "required: at least one access mode")
	}
	for i, m := range s.AccessModes {
		switch m {
		case ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod:
		default:
			l.add(fmt.Sprintf("%s.accessModes[%d]", path, i), "%s is not ReadWriteOnce, ReadOnlyMany, ReadWriteMany or ReadWriteOncePod", quote(m))
		}
	}
	if slices.Contains(s.AccessModes, ReadWriteOncePod) && len(s.AccessModes) > 1 {
		l.add(path+".accessModes", "ReadWriteOncePod may not be combined with other access modes")
	}
	req := validateResources(l, path+".resources.requests", s.Resources.Requests, claimResources)
	validateResources(l, path+".resources.limits", s.Resources.Limits, claimResources)
	if q, ok := req[ResourceStorage]; ok && q == 0 {
		l.add(path+".resources.requests."+ResourceStorage, "must be more than 0")
	}
	if c := s.StorageClassName; c != nil && *c != "" {
		if msg := checkSubdomain(*c); msg != "" {
			l.add(path+".storageClassName", "%s %s", quote(*c), msg)
		}
	}
	switch s.VolumeMode {
	case "", "Filesystem":
	default:
		l.add(path+".volumeMode", "%s is not supported (supported: \"Filesystem\")", quote(s.VolumeMode))
	}
}

func validateHPA(l *errList, s *HorizontalPodAutoscalerSpec) {
	ref := &s.ScaleTargetRef
	switch ref.Kind {
	case "":
		l.add("spec.scaleTargetRef.kind", "required")
	case "Deployment", "StatefulSet", "ReplicaSet":
	default:
		l.add("spec.scaleTargetRef.kind", "%s is not supported (supported: \"Deployment\", \"StatefulSet\", \"ReplicaSet\")", quote(ref.Kind))
	}
	if ref.Name == "" {
		l.add("spec.scaleTargetRef.name", "required")
	} else if msg := checkSubdomain(ref.Name); msg != "" {
		l.add("spec.scaleTargetRef.name", "%s %s", quote(ref.Name), msg)
	}
	if ref.APIVersion != "apps/v1" {
		l.add("spec.scaleTargetRef.apiVersion", "%s is not \"apps/v1\"", quote(ref.APIVersion))
	}
	minReplicas := Int32Value(s.MinReplicas, 1)
	if minReplicas < 1 {
		l.add("spec.minReplicas", "%d is less than 1", minReplicas)
	}
	switch {
	case s.MaxReplicas < 1:
		l.add("spec.maxReplicas", "%d is less than 1", s.MaxReplicas)
	case s.MaxReplicas < minReplicas:
		l.add("spec.maxReplicas", "%d is less than spec.minReplicas (%d)", s.MaxReplicas, minReplicas)
	}
	for i := range s.Metrics {
		validateMetric(l, fmt.Sprintf("spec.metrics[%d]", i), &s.Metrics[i])
	}
	if b := s.Behavior; b != nil {
		for _, r := range []struct {
			path  string
			rules *HPAScalingRules
		}{{"spec.behavior.scaleUp", b.ScaleUp}, {"spec.behavior.scaleDown", b.ScaleDown}} {
			if r.rules == nil || r.rules.StabilizationWindowSeconds == nil {
				continue
			}
			if w := *r.rules.StabilizationWindowSeconds; w < 0 || w > 3600 {
				l.add(r.path+".stabilizationWindowSeconds", "%d is not in 0..3600", w)
			}
		}
	}
}

func validateMetric(l *errList, path string, m *MetricSpec) {
	if m.Type != MetricResource {
		l.add(path+".type", "%s is not supported (supported: \"Resource\")", quote(m.Type))
		return
	}
	r := m.Resource
	if r == nil {
		l.add(path+".resource", "required with type \"Resource\"")
		return
	}
	switch r.Name {
	case ResourceCPU, ResourceGPU:
	default:
		l.add(path+".resource.name", "%s is not supported (supported: %q, %q)", quote(r.Name), ResourceCPU, ResourceGPU)
	}
	if r.Target.Type != TargetUtilization {
		l.add(path+".resource.target.type", "%s is not supported (supported: \"Utilization\")", quote(r.Target.Type))
		return
	}
	switch u := r.Target.AverageUtilization; {
	case u == nil:
		l.add(path+".resource.target.averageUtilization", "required with type \"Utilization\"")
	case *u < 1 || *u > 1000:
		l.add(path+".resource.target.averageUtilization", "%d is not in 1..1000", *u)
	}
}

// validateOwnerReferences checks metadata.ownerReferences: each names its
// owner fully, and at most one is the controller.
func validateOwnerReferences(l *errList, refs []OwnerReference) {
	controllers := 0
	for i, r := range refs {
		p := fmt.Sprintf("metadata.ownerReferences[%d]", i)
		for _, f := range []struct{ name, v string }{{"apiVersion", r.APIVersion}, {"kind", r.Kind}, {"name", r.Name}, {"uid", r.UID}} {
			if f.v == "" {
				l.add(p+"."+f.name, "required")
			}
		}
		if r.Controller != nil && *r.Controller {
			controllers++
		}
	}
	if controllers > 1 {
		l.add("metadata.ownerReferences", "%d have controller true, at most one may", controllers)
	}
}

// validateAnnotations checks annotation keys and their total size, as
// validateMeta does for an object's.
func validateAnnotations(l *errList, path string, m map[string]string) {
	total := 0
	for _, k := range slices.Sorted(maps.Keys(m)) {
		total += len(k) + len(m[k])
		if msg := checkQualifiedName(k); msg != "" {
			l.add(path, "key %s: %s", quote(k), msg)
		}
	}
	if total > maxAnnotationBytes {
		l.add(path, "%d bytes in all, more than the %d-byte limit", total, maxAnnotationBytes)
	}
}
