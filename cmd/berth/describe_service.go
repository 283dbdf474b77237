package main

import (
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/berth-dev/berth/api"
)

// describeService writes a Service as kubectl describe does: selector,
// type, addresses, and each port with its target, node port and ready
// endpoints (eps may be nil).
func describeService(w io.Writer, svc *api.Service, eps *api.Endpoints) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	field := func(name, value string) { fmt.Fprintf(tw, "%s:\t%s\n", name, value) }
	var sel []string
	for k, v := range svc.Spec.Selector {
		sel = append(sel, k+"="+v)
	}
	sort.Strings(sel)
	field("Selector", orNone(strings.Join(sel, ",")))
	typ := svc.Spec.Type
	if typ == "" {
		typ = api.ServiceTypeClusterIP
	}
	field("Type", typ)
	field("IP", orNone(svc.Spec.ClusterIP))
	for _, p := range svc.Spec.Ports {
		name := p.Name
		if name == "" {
			name = "<unset>"
		}
		proto := p.Protocol
		if proto == "" {
			proto = "TCP"
		}
		field("Port", fmt.Sprintf("%s  %d/%s", name, p.Port, proto))
		target := p.TargetPort.StrVal
		if target == "" {
			target = strconv.Itoa(int(p.TargetPort.IntVal))
		}
		field("TargetPort", target+"/"+proto)
		if p.NodePort != 0 {
			field("NodePort", fmt.Sprintf("%s  %d/%s", name, p.NodePort, proto))
		}
		field("Endpoints", portEndpoints(eps, p.Name))
	}
	if eps != nil {
		var unready []string
		for _, ss := range eps.Subsets {
			for _, a := range ss.NotReadyAddresses {
				unready = append(unready, a.IP)
			}
		}
		if len(unready) > 0 {
			field("Not ready", strings.Join(unready, ","))
		}
	}
	field("Session Affinity", orNone(svc.Spec.SessionAffinity))
	return tw.Flush()
}

// portEndpoints lists the ready addresses of a Service port's subsets,
// IP:port, all of them.
func portEndpoints(eps *api.Endpoints, port string) string {
	if eps == nil {
		return "<none>"
	}
	var list []string
	for _, ss := range eps.Subsets {
		for _, p := range ss.Ports {
			if p.Name != port {
				continue
			}
			for _, a := range ss.Addresses {
				list = append(list, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	return orNone(strings.Join(list, ","))
}

// describeIngress writes an Ingress's TLS and rules, as kubectl does.
func describeIngress(w io.Writer, ing *api.Ingress) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	backend := func(b *api.IngressBackend) string {
		if b == nil || b.Service == nil {
			return "<none>"
		}
		port := b.Service.Port.Name
		if port == "" {
			port = strconv.Itoa(int(b.Service.Port.Number))
		}
		return b.Service.Name + ":" + port
	}
	fmt.Fprintf(tw, "Default backend:\t%s\n", backend(ing.Spec.DefaultBackend))
	for _, t := range ing.Spec.TLS {
		fmt.Fprintf(tw, "TLS:\t%s terminates %s\n", t.SecretName, strings.Join(t.Hosts, ","))
	}
	fmt.Fprintf(tw, "Rules:\n  Host\tPath\tBackends\n  ----\t----\t--------\n")
	for _, r := range ing.Spec.Rules {
		host := r.Host
		if host == "" {
			host = "*"
		}
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			fmt.Fprintf(tw, "  %s\t%s (%s)\t%s\n", host, p.Path, p.PathType, backend(&p.Backend))
			host = ""
		}
	}
	return tw.Flush()
}
