package api

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// Defaulting and validation of the service kinds (Service, Endpoints,
// Ingress), by Kubernetes' rules, narrowed to what Berth serves: single-stack
// IPv4, TCP and UDP, ClusterIP and NodePort Services, Ingress backends that
// are Services. The cluster allocates clusterIP and nodePort later; here
// they are only checked.

// Protocols of a Service or Endpoints port.
const (
	protocolTCP = "TCP"
	protocolUDP = "UDP"
)

// Traffic policies and session affinity: Berth has only the defaults.
const (
	trafficPolicyCluster = "Cluster"
	trafficPolicyLocal   = "Local"
	sessionAffinityNone  = "None"
	ipv4Family           = "IPv4"
	singleStack          = "SingleStack"
)

// defaultServices fills what a user may leave out of the kinds of this file.
func defaultServices(obj Object) {
	switch o := obj.(type) {
	case *Service:
		defaultServiceSpec(&o.Spec)
	case *Endpoints:
		for i := range o.Subsets {
			for j := range o.Subsets[i].Ports {
				if p := &o.Subsets[i].Ports[j]; p.Protocol == "" {
					p.Protocol = protocolTCP
				}
			}
		}
	case *Ingress:
		for i := range o.Spec.Rules {
			if h := o.Spec.Rules[i].HTTP; h != nil {
				for j := range h.Paths {
					p := &h.Paths[j]
					if p.Path == "" && (p.PathType == PathTypePrefix || p.PathType == PathTypeImplementationSpecific) {
						p.Path = "/"
					}
				}
			}
		}
	}
}

func defaultServiceSpec(s *ServiceSpec) {
	if s.Type == "" {
		s.Type = ServiceTypeClusterIP
	}
	// A manifest that gives only clusterIPs asks for its first address,
	// as Kubernetes reads it.
	if s.ClusterIP == "" && len(s.ClusterIPs) > 0 {
		s.ClusterIP = s.ClusterIPs[0]
	}
	for i := range s.Ports {
		p := &s.Ports[i]
		if p.Protocol == "" {
			p.Protocol = protocolTCP
		}
		if p.TargetPort == (IntOrString{}) {
			p.TargetPort = IntOrString{IntVal: p.Port}
		}
	}
	if s.SessionAffinity == "" {
		s.SessionAffinity = sessionAffinityNone
	}
	if s.SessionAffinity == SessionAffinityClientIP {
		if s.SessionAffinityConfig == nil {
			s.SessionAffinityConfig = &SessionAffinityConfig{}
		}
		if s.SessionAffinityConfig.ClientIP == nil {
			s.SessionAffinityConfig.ClientIP = &ClientIPConfig{}
		}
		if s.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil {
			t := int32(DefaultAffinityTimeout)
			s.SessionAffinityConfig.ClientIP.TimeoutSeconds = &t
		}
	}
	if s.Type == ServiceTypeNodePort && s.ExternalTrafficPolicy == "" {
		s.ExternalTrafficPolicy = trafficPolicyCluster
	}
	if s.InternalTrafficPolicy == "" {
		s.InternalTrafficPolicy = trafficPolicyCluster
	}
}

// validateServices checks the kinds of this file.
func validateServices(l *errList, obj Object) {
	switch o := obj.(type) {
	case *Service:
		validateServiceSpec(l, &o.Spec)
	case *Endpoints:
		for i := range o.Subsets {
			validateSubset(l, fmt.Sprintf("subsets[%d]", i), &o.Subsets[i])
		}
	case *Ingress:
		validateIngressSpec(l, &o.Spec)
	}
}

// notSupported reports a value Berth does not serve, with those it does.
func notSupported(l *errList, path, v string, supported ...string) {
	l.add(path, "%s is not supported (%s)", quote(v), strings.Join(supported, ", "))
}

func validateServiceSpec(l *errList, s *ServiceSpec) {
	switch s.Type {
	case "", ServiceTypeClusterIP, ServiceTypeNodePort:
	default:
		notSupported(l, "spec.type", s.Type, ServiceTypeClusterIP, ServiceTypeNodePort)
	}
	// LoadBalancer, reported above, would allow nodePorts too.
	nodePort := s.Type != "" && s.Type != ServiceTypeClusterIP
	headless := s.ClusterIP == ClusterIPNone
	switch {
	case s.ClusterIP == "" || headless:
	default:
		checkIPv4(l, "spec.clusterIP", s.ClusterIP, `"None" or an IPv4 address`)
	}
	if headless && s.Type == ServiceTypeNodePort {
		l.add("spec.clusterIP", "may not be \"None\" with type \"NodePort\"")
	}
	switch {
	case len(s.ClusterIPs) > 1:
		l.add("spec.clusterIPs", "%d addresses, at most 1 (single-stack IPv4)", len(s.ClusterIPs))
	case len(s.ClusterIPs) == 1 && s.ClusterIPs[0] != s.ClusterIP:
		l.add("spec.clusterIPs[0]", "%s must be spec.clusterIP (%s)", quote(s.ClusterIPs[0]), quote(s.ClusterIP))
	}
	if len(s.Ports) == 0 && !headless {
		l.add("spec.ports", "required: at least one port, unless the Service is headless (clusterIP \"None\")")
	}
	validateServicePorts(l, s.Ports, nodePort)
	validateLabelMap(l, "spec.selector", s.Selector)
	switch a := s.SessionAffinity; a {
	case "", sessionAffinityNone:
		if s.SessionAffinityConfig != nil {
			l.add("spec.sessionAffinityConfig", "only with sessionAffinity ClientIP")
		}
	case SessionAffinityClientIP:
		if c := s.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			if t := *c.ClientIP.TimeoutSeconds; t < 1 || t > 86400 {
				l.add("spec.sessionAffinityConfig.clientIP.timeoutSeconds", "%d is not between 1 and 86400", t)
			}
		}
	default:
		notSupported(l, "spec.sessionAffinity", a, sessionAffinityNone, SessionAffinityClientIP)
	}
	switch p := s.ExternalTrafficPolicy; {
	case p == "":
	case p != trafficPolicyCluster && p != trafficPolicyLocal:
		notSupported(l, "spec.externalTrafficPolicy", p, trafficPolicyCluster, trafficPolicyLocal)
	case !nodePort:
		l.add("spec.externalTrafficPolicy", "may only be set with type \"NodePort\"")
	}
	if p := s.InternalTrafficPolicy; p != "" && p != trafficPolicyCluster {
		notSupported(l, "spec.internalTrafficPolicy", p, trafficPolicyCluster)
	}
	switch f := s.IPFamilies; {
	case len(f) > 1:
		l.add("spec.ipFamilies", "%d families, at most 1 (single-stack IPv4)", len(f))
	case len(f) == 1 && f[0] != ipv4Family:
		notSupported(l, "spec.ipFamilies[0]", f[0], ipv4Family)
	}
	if p := s.IPFamilyPolicy; p != "" && p != singleStack {
		notSupported(l, "spec.ipFamilyPolicy", p, singleStack)
	}
}

// validateServicePorts checks a Service's ports; nodePort says whether its
// type is NodePort.
func validateServicePorts(l *errList, ports []ServicePort, nodePort bool) {
	var names, used, usedNode []string
	for i, p := range ports {
		pp := fmt.Sprintf("spec.ports[%d]", i)
		switch {
		case p.Name == "" && len(ports) > 1:
			l.add(pp+".name", "required when the Service has more than one port")
		case p.Name == "":
		case checkLabel(p.Name) != "":
			l.add(pp+".name", "%s %s", quote(p.Name), labelMsg)
		case slices.Contains(names, p.Name):
			l.add(pp+".name", "%s is used by another port", quote(p.Name))
		default:
			names = append(names, p.Name)
		}
		protoOK := validateProtocol(l, pp+".protocol", p.Protocol)
		if checkPort(l, pp+".port", p.Port) && protoOK {
			if key := fmt.Sprintf("%d/%s", p.Port, p.Protocol); slices.Contains(used, key) {
				l.add(pp+".port", "%s is used by another port", key)
			} else {
				used = append(used, key)
			}
		}
		// Zero is left to Default: the port's number, checked above.
		if t := p.TargetPort; t.StrVal != "" {
			if msg := checkPortName(t.StrVal); msg != "" {
				l.add(pp+".targetPort", "%s %s", quote(t.StrVal), msg)
			}
		} else if t.IntVal != 0 && t.IntVal != p.Port {
			checkPort(l, pp+".targetPort", t.IntVal)
		}
		// Zero asks the cluster to allocate one; the cluster checks its range.
		switch {
		case p.NodePort == 0:
		case !nodePort:
			l.add(pp+".nodePort", "may only be set with type \"NodePort\"")
		case checkPort(l, pp+".nodePort", p.NodePort) && protoOK:
			if key := fmt.Sprintf("%d/%s", p.NodePort, p.Protocol); slices.Contains(usedNode, key) {
				l.add(pp+".nodePort", "%s is used by another port", key)
			} else {
				usedNode = append(usedNode, key)
			}
		}
		validateAppProtocol(l, pp+".appProtocol", p.AppProtocol)
	}
}

// validateProtocol checks a port's protocol and reports whether it is
// valid. Empty is left to Default: TCP.
func validateProtocol(l *errList, path, p string) bool {
	switch p {
	case "", protocolTCP, protocolUDP:
		return true
	}
	notSupported(l, path, p, protocolTCP, protocolUDP)
	return false
}

// checkPort checks a port number and reports whether it is valid.
func checkPort(l *errList, path string, n int32) bool {
	if n < 1 || n > 65535 {
		l.add(path, "%d is not in 1..65535", n)
		return false
	}
	return true
}

func validateAppProtocol(l *errList, path, p string) {
	if p == "" {
		return
	}
	if msg := checkQualifiedName(p); msg != "" {
		l.add(path, "%s: %s", quote(p), msg)
	}
}

// checkIPv4 checks an IPv4 address; what names the other values the
// field accepts, for the message.
func checkIPv4(l *errList, path, s, what string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		l.add(path, "%s is not %s", quote(s), what)
	case !ip.Is4():
		notSupported(l, path, s, "IPv4 only")
	default:
		return ip, true
	}
	return ip, false
}

func validateSubset(l *errList, path string, s *EndpointSubset) {
	for _, a := range []struct {
		field string
		addrs []EndpointAddress
	}{{"addresses", s.Addresses}, {"notReadyAddresses", s.NotReadyAddresses}} {
		for i, addr := range a.addrs {
			validateEndpointAddress(l, fmt.Sprintf("%s.%s[%d]", path, a.field, i), &addr)
		}
	}
	var names []string
	for i, p := range s.Ports {
		pp := fmt.Sprintf("%s.ports[%d]", path, i)
		switch {
		case p.Name == "" && len(s.Ports) > 1:
			l.add(pp+".name", "required when the subset has more than one port")
		case p.Name == "":
		case checkLabel(p.Name) != "":
			l.add(pp+".name", "%s %s", quote(p.Name), labelMsg)
		case slices.Contains(names, p.Name):
			l.add(pp+".name", "%s is used by another port", quote(p.Name))
		default:
			names = append(names, p.Name)
		}
		checkPort(l, pp+".port", p.Port)
		validateProtocol(l, pp+".protocol", p.Protocol)
		validateAppProtocol(l, pp+".appProtocol", p.AppProtocol)
	}
}

func validateEndpointAddress(l *errList, path string, a *EndpointAddress) {
	if a.IP == "" {
		l.add(path+".ip", "required")
	} else if ip, ok := checkIPv4(l, path+".ip", a.IP, "an IPv4 address"); ok &&
		(ip.IsUnspecified() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast()) {
		l.add(path+".ip", "%s may not be an unspecified, loopback or link-local address", quote(a.IP))
	}
	if a.Hostname != "" {
		if msg := checkLabel(a.Hostname); msg != "" {
			l.add(path+".hostname", "%s %s", quote(a.Hostname), msg)
		}
	}
	if a.NodeName != "" {
		if msg := checkSubdomain(a.NodeName); msg != "" {
			l.add(path+".nodeName", "%s %s", quote(a.NodeName), msg)
		}
	}
}

func validateIngressSpec(l *errList, s *IngressSpec) {
	if s.DefaultBackend == nil && len(s.Rules) == 0 {
		l.add("spec", "required: a defaultBackend or at least one rule")
	}
	if c := s.IngressClassName; c != nil {
		if msg := checkSubdomain(*c); msg != "" {
			l.add("spec.ingressClassName", "%s %s", quote(*c), msg)
		}
	}
	if b := s.DefaultBackend; b != nil {
		validateIngressBackend(l, "spec.defaultBackend", b)
	}
	for i, t := range s.TLS {
		p := fmt.Sprintf("spec.tls[%d]", i)
		for j, h := range t.Hosts {
			validateIngressHost(l, fmt.Sprintf("%s.hosts[%d]", p, j), h)
		}
		if t.SecretName == "" {
			l.add(p+".secretName", "required")
		} else if msg := checkSubdomain(t.SecretName); msg != "" {
			l.add(p+".secretName", "%s %s", quote(t.SecretName), msg)
		}
	}
	for i, r := range s.Rules {
		p := fmt.Sprintf("spec.rules[%d]", i)
		if r.Host != "" {
			validateIngressHost(l, p+".host", r.Host)
		}
		if r.HTTP == nil {
			l.add(p+".http", "required")
			continue
		}
		if len(r.HTTP.Paths) == 0 {
			l.add(p+".http.paths", "required: at least one path")
		}
		for j := range r.HTTP.Paths {
			validateIngressPath(l, fmt.Sprintf("%s.http.paths[%d]", p, j), &r.HTTP.Paths[j])
		}
	}
}

const hostMsg = "must be a DNS-1123 subdomain, or \"*.\" followed by one: at most 253 characters, lower-case alphanumeric characters, '-' or '.', " +
	"each dot-separated part starting and ending with an alphanumeric character"

// validateIngressHost checks the host of a rule or of a TLS entry: a DNS
// name, with at most a leading "*." wildcard, not an IP address.
func validateIngressHost(l *errList, path, h string) {
	if _, err := netip.ParseAddr(h); err == nil {
		l.add(path, "%s must be a DNS name, not an IP address", quote(h))
		return
	}
	name, _ := strings.CutPrefix(h, "*.")
	if checkSubdomain(name) != "" {
		l.add(path, "%s %s", quote(h), hostMsg)
	}
}

// badPathParts are what Kubernetes refuses in a Prefix or Exact path.
var badPathParts = []string{"//", "/./", "/../", "%2f", "%2F"}

func validateIngressPath(l *errList, path string, p *HTTPIngressPath) {
	switch p.PathType {
	case "":
		l.add(path+".pathType", "required")
	case PathTypeExact, PathTypePrefix, PathTypeImplementationSpecific:
	default:
		notSupported(l, path+".pathType", p.PathType, PathTypeExact, PathTypePrefix, PathTypeImplementationSpecific)
	}
	switch {
	case !strings.HasPrefix(p.Path, "/"):
		l.add(path+".path", "%s must start with '/'", quote(p.Path))
	case p.PathType == PathTypeExact || p.PathType == PathTypePrefix:
		for _, bad := range badPathParts {
			if strings.Contains(p.Path, bad) {
				l.add(path+".path", "%s must not contain %s", quote(p.Path), quote(bad))
				break
			}
		}
		if strings.HasSuffix(p.Path, "/..") || strings.HasSuffix(p.Path, "/.") {
			l.add(path+".path", "%s must not end with \"/.\" or \"/..\"", quote(p.Path))
		}
	}
	validateIngressBackend(l, path+".backend", &p.Backend)
}

var dns1035RE = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

const dns1035Msg = "must be a DNS-1035 label: at most 63 lower-case alphanumeric characters or '-', starting with a letter and ending with an alphanumeric character"

func validateIngressBackend(l *errList, path string, b *IngressBackend) {
	s := b.Service
	if s == nil {
		l.add(path+".service", "required")
		return
	}
	switch {
	case s.Name == "":
		l.add(path+".service.name", "required")
	case len(s.Name) > 63 || !dns1035RE.MatchString(s.Name):
		l.add(path+".service.name", "%s %s", quote(s.Name), dns1035Msg)
	}
	switch port := s.Port; {
	case port.Name != "" && port.Number != 0:
		l.add(path+".service.port", "only one of number or name")
	case port.Name != "":
		if msg := checkPortName(port.Name); msg != "" {
			l.add(path+".service.port.name", "%s %s", quote(port.Name), msg)
		}
	case port.Number != 0:
		checkPort(l, path+".service.port.number", port.Number)
	default:
		l.add(path+".service.port", "required: a number or a name")
	}
}

var portNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

const portNameMsg = "must be an IANA service name: at most 15 lower-case alphanumeric characters or '-', " +
	"with at least one letter, starting and ending with an alphanumeric character, without \"--\""

// checkPortName returns why s is not an IANA_SVC_NAME (RFC 6335), the
// name of a container port, or "".
func checkPortName(s string) string {
	if len(s) > 15 || !portNameRE.MatchString(s) || strings.Contains(s, "--") || !strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyz") {
		return portNameMsg
	}
	return ""
}
