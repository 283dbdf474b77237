package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/api"
)

// serviceColumns are the columns of the service kinds, kubectl's:
// Service's TYPE, CLUSTER-IP, EXTERNAL-IP and PORT(S); Endpoints'
// ENDPOINTS; Ingress's CLASS, HOSTS, ADDRESS and PORTS.
func serviceColumns(obj api.Object) []string {
	switch o := obj.(type) {
	case *api.Service:
		typ := o.Spec.Type
		if typ == "" {
			typ = api.ServiceTypeClusterIP
		}
		// Berth has no load balancers: no external IP to show.
		return []string{typ, orNone(o.Spec.ClusterIP), "<none>", servicePorts(o.Spec.Ports)}
	case *api.Endpoints:
		return []string{formatEndpoints(o)}
	case *api.Ingress:
		class := "<none>"
		if c := o.Spec.IngressClassName; c != nil {
			class = *c
		}
		ports := "80"
		if len(o.Spec.TLS) > 0 {
			ports = "80, 443"
		}
		// Every node serves every Ingress: no address to show.
		return []string{class, ingressHosts(o.Spec.Rules), "", ports}
	}
	return nil
}

// servicePorts is the PORT(S) column: "80/TCP,443/TCP", with the node
// port of a NodePort Service: "80:30080/TCP".
func servicePorts(ports []api.ServicePort) string {
	var parts []string
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = "TCP"
		}
		if p.NodePort > 0 {
			parts = append(parts, fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, proto))
		} else {
			parts = append(parts, fmt.Sprintf("%d/%s", p.Port, proto))
		}
	}
	return orNone(strings.Join(parts, ","))
}

// maxListed is how many endpoints or hosts a column lists before
// " + N more...".
const maxListed = 3

// formatEndpoints is the ENDPOINTS column, as kubectl writes it: the
// ready addresses with each port of their subset (the bare IPs of a subset
// without ports), at most three, then " + N more...".
func formatEndpoints(e *api.Endpoints) string {
	var list []string
	count := 0
	add := func(s string) {
		count++
		if len(list) < maxListed {
			list = append(list, s)
		}
	}
	for _, ss := range e.Subsets {
		if len(ss.Ports) == 0 {
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	s := strings.Join(list, ",")
	if count > maxListed {
		return fmt.Sprintf("%s + %d more...", s, count-maxListed)
	}
	return orNone(s)
}

// ingressHosts is the HOSTS column, as kubectl writes it: the hosts of
// the rules that name one, at most three then " + N more..." (N counts
// the rules past the third, as kubectl's does), or "*" when no rule names
// a host.
func ingressHosts(rules []api.IngressRule) string {
	var list []string
	more := false
	for _, r := range rules {
		if len(list) == maxListed {
			more = true
			break
		}
		if r.Host != "" {
			list = append(list, r.Host)
		}
	}
	if len(list) == 0 {
		return "*"
	}
	s := strings.Join(list, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", s, len(rules)-maxListed)
	}
	return s
}
