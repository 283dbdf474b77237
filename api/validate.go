package api

import (
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Default fills what a user may leave out: apiVersion and kind when empty,
// namespace "default" for namespaced kinds. For a Secret it sets Type
// "Opaque" when empty and merges StringData into Data (StringData wins on a
// key in both), then clears StringData. Default is idempotent.
func Default(obj Object) {
	if isNil(obj) {
		return
	}
	kind := kindOf(obj)
	info, ok := LookupKind(kind)
	if !ok {
		return
	}
	tm := obj.GetTypeMeta()
	if tm.Kind == "" {
		tm.Kind = info.Kind
	}
	if tm.APIVersion == "" {
		tm.APIVersion = info.APIVersion
	}
	if md := obj.GetObjectMeta(); info.Namespaced && md.Namespace == "" {
		md.Namespace = "default"
	}
	if s, ok := obj.(*Secret); ok {
		if s.Type == "" {
			s.Type = SecretTypeOpaque
		}
		if len(s.StringData) > 0 && s.Data == nil {
			s.Data = make(map[string][]byte, len(s.StringData))
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
		s.StringData = nil
	}
	switch o := obj.(type) {
	case *Pod:
		defaultPod(o)
	case *Node:
		defaultNode(o)
	case *Deployment, *ReplicaSet, *StatefulSet, *PersistentVolumeClaim, *HorizontalPodAutoscaler:
		defaultApps(o)
	case *Service, *Endpoints, *Ingress:
		defaultServices(o)
	case *Event:
		defaultEvent(o)
	}
}

// Validate checks an object after Default: its kind and apiVersion, its
// metadata, the kind's own fields, and its encoded size. The error names
// the object and each field path at fault, all on one line, and wraps
// ErrInvalid.
func Validate(obj Object) error { return validate(obj, "") }

// errList gathers the problems of one object, each "path: message".
type errList struct {
	prefix string // where the object sits in its document: "" or "items[2]"
	errs   []string
}

func (l *errList) add(path, format string, args ...any) {
	l.errs = append(l.errs, joinPath(l.prefix, path)+": "+fmt.Sprintf(format, args...))
}

func validate(obj Object, prefix string) error {
	if isNil(obj) {
		return invalidf("object is nil")
	}
	kind := kindOf(obj)
	info, ok := LookupKind(kind)
	if !ok {
		return invalidf("kind %s is not supported", quote(obj.GetTypeMeta().Kind))
	}
	desc := Describe(obj)
	l := &errList{prefix: prefix}
	tm := obj.GetTypeMeta()
	if tm.Kind != info.Kind {
		l.add("kind", "must be %s, not %s", quote(info.Kind), quote(tm.Kind))
	}
	if tm.APIVersion != info.APIVersion {
		l.add("apiVersion", "%s is not valid for kind %s (want %s)", quote(tm.APIVersion), info.Kind, quote(info.APIVersion))
	}
	validateMeta(l, info, obj.GetObjectMeta())
	switch o := obj.(type) {
	case *Namespace:
		validateNamespace(l, o)
	case *ConfigMap:
		validateData(l, "data", slices.Sorted(maps.Keys(o.Data)))
		validateData(l, "binaryData", slices.Sorted(maps.Keys(o.BinaryData)))
		for _, k := range slices.Sorted(maps.Keys(o.BinaryData)) {
			if _, dup := o.Data[k]; dup {
				l.add("binaryData", "key %s is also in data", quote(k))
			}
		}
	case *Secret:
		validateSecret(l, o)
	case *Pod:
		validatePod(l, o)
	case *Node:
		validateNode(l, o)
	case *Deployment, *ReplicaSet, *StatefulSet, *PersistentVolumeClaim, *HorizontalPodAutoscaler:
		validateApps(l, o)
	case *Service, *Endpoints, *Ingress:
		validateServices(l, o)
	case *ACLToken, *JoinToken:
		validateSecurity(l, o)
	case *Event:
		validateEvent(l, o)
	}
	if len(l.errs) > 0 {
		return invalidf("%s: %s", desc, strings.Join(l.errs, "; "))
	}
	b, err := Encode(obj)
	if err != nil {
		return invalidf("%s: %v", desc, err)
	}
	if len(b) > MaxObjectBytes {
		return invalidf("%s: object is %d bytes, larger than the %d-byte limit", desc, len(b), MaxObjectBytes)
	}
	return nil
}

func validateMeta(l *errList, info KindInfo, md *ObjectMeta) {
	switch {
	case md.Name == "":
		l.add("metadata.name", "required")
	case info.Namespaced || info.Kind == "Node":
		if msg := checkSubdomain(md.Name); msg != "" {
			l.add("metadata.name", "%s %s", quote(md.Name), msg)
		}
	default:
		if msg := checkLabel(md.Name); msg != "" {
			l.add("metadata.name", "%s %s", quote(md.Name), msg)
		}
	}
	switch {
	case !info.Namespaced && md.Namespace != "":
		l.add("metadata.namespace", "must be empty: kind %s is not namespaced", info.Kind)
	case info.Namespaced && md.Namespace == "":
		l.add("metadata.namespace", "required")
	case info.Namespaced:
		if msg := checkLabel(md.Namespace); msg != "" {
			l.add("metadata.namespace", "%s %s", quote(md.Namespace), msg)
		}
	}
	if md.Generation < 0 {
		l.add("metadata.generation", "must not be negative")
	}
	if ts := md.CreationTimestamp; ts != "" {
		if _, err := time.Parse(time.RFC3339, ts); err != nil {
			l.add("metadata.creationTimestamp", "%s is not an RFC 3339 time", quote(ts))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(md.Labels)) {
		if msg := checkQualifiedName(k); msg != "" {
			l.add("metadata.labels", "key %s: %s", quote(k), msg)
			continue
		}
		if msg := checkLabelValue(md.Labels[k]); msg != "" {
			l.add("metadata.labels", "value %s of key %s: %s", quote(md.Labels[k]), quote(k), msg)
		}
	}
	total := 0
	for _, k := range slices.Sorted(maps.Keys(md.Annotations)) {
		total += len(k) + len(md.Annotations[k])
		if msg := checkQualifiedName(k); msg != "" {
			l.add("metadata.annotations", "key %s: %s", quote(k), msg)
		}
	}
	if total > maxAnnotationBytes {
		l.add("metadata.annotations", "%d bytes in all, more than the %d-byte limit", total, maxAnnotationBytes)
	}
	validateOwnerReferences(l, md.OwnerReferences)
}

// maxAnnotationBytes is Kubernetes' limit on the total size of annotations.
const maxAnnotationBytes = 256 << 10

func validateNamespace(l *errList, ns *Namespace) {
	for i, f := range ns.Spec.Finalizers {
		if msg := checkQualifiedName(f); msg != "" {
			l.add(fmt.Sprintf("spec.finalizers[%d]", i), "%s: %s", quote(f), msg)
		}
	}
	switch ns.Status.Phase {
	case "", NamespaceActive, NamespaceTerminating:
	default:
		l.add("status.phase", "%s is not %q or %q", quote(ns.Status.Phase), NamespaceActive, NamespaceTerminating)
	}
}

func validateSecret(l *errList, s *Secret) {
	validateData(l, "data", slices.Sorted(maps.Keys(s.Data)))
	validateData(l, "stringData", slices.Sorted(maps.Keys(s.StringData)))
	switch s.Type {
	case "":
		l.add("type", "required")
	case SecretTypeTLS:
		for _, k := range []string{TLSCertKey, TLSPrivateKeyKey} {
			_, inData := s.Data[k]
			_, inString := s.StringData[k]
			if !inData && !inString {
				l.add("data", "key %s: required for type %s", quote(k), quote(SecretTypeTLS))
			}
		}
	}
}

func validateData(l *errList, field string, keys []string) {
	for _, k := range keys {
		if msg := checkDataKey(k); msg != "" {
			l.add(field, "key %s: %s", quote(k), msg)
		}
	}
}

var (
	labelRE     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	subdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	nameRE      = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	dataKeyRE   = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
)

const (
	labelMsg     = "must be a DNS-1123 label: at most 63 lower-case alphanumeric characters or '-', starting and ending with an alphanumeric character"
	subdomainMsg = "must be a DNS-1123 subdomain: at most 253 characters, lower-case alphanumeric characters, '-' or '.', each dot-separated part starting and ending with an alphanumeric character"
	nameMsg      = "must be at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character"
)

// checkLabel returns why s is not a DNS-1123 label, or "".
func checkLabel(s string) string {
	if len(s) > 63 || !labelRE.MatchString(s) {
		return labelMsg
	}
	return ""
}

// checkSubdomain returns why s is not a DNS-1123 subdomain, or "".
func checkSubdomain(s string) string {
	if len(s) > 253 || !subdomainRE.MatchString(s) {
		return subdomainMsg
	}
	return ""
}

// checkQualifiedName checks a label or annotation key: an optional DNS
// subdomain prefix and "/", then a name.
func checkQualifiedName(s string) string {
	prefix, name, hasPrefix := strings.Cut(s, "/")
	if !hasPrefix {
		name = prefix
	} else {
		if prefix == "" {
			return "prefix before '/' must not be empty"
		}
		if msg := checkSubdomain(prefix); msg != "" {
			return "prefix " + msg
		}
	}
	if name == "" {
		return "name must not be empty"
	}
	if len(name) > 63 || !nameRE.MatchString(name) {
		return "name " + nameMsg
	}
	return ""
}

// checkLabelValue checks a label value: empty, or like a name.
func checkLabelValue(s string) string {
	if s != "" && (len(s) > 63 || !nameRE.MatchString(s)) {
		return "must be empty or " + nameMsg[len("must be "):]
	}
	return ""
}

// checkDataKey checks a ConfigMap or Secret data key.
func checkDataKey(s string) string {
	switch {
	case len(s) > 253:
		return "must be at most 253 characters"
	case s == "." || s == "..":
		return "must not be '.' or '..'"
	case !dataKeyRE.MatchString(s):
		return "must consist of alphanumeric characters, '-', '_' or '.'"
	}
	return ""
}

// isNil reports whether obj is nil or a nil pointer.
func isNil(obj Object) bool {
	return obj == nil || reflect.ValueOf(obj).Kind() == reflect.Pointer && reflect.ValueOf(obj).IsNil()
}
