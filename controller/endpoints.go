package controller

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/fsm"
)

// The endpoints controller keeps, for each Service with a selector, an
// Endpoints object of the same name: the pods the selector matches that
// have an IP and have not finished, ready ones under addresses and the
// others under notReadyAddresses, grouped by the ports the Service's
// target ports resolve to in each pod. Nodes route to the ready ones only
// (package netsvc). Endpoints the controller made carry LabelManagedBy;
// those whose Service is gone or has lost its selector are deleted, while Endpoints users write
// for a Service without selector are theirs.

// LabelManagedBy marks the Endpoints the controller keeps.
const LabelManagedBy = "endpoints.kubernetes.io/managed-by"

const managedBy = "berth-endpoints-controller"

// syncEndpoints brings every Service's Endpoints up to date in one
// command.
func (w *Workloads) syncEndpoints(ctx context.Context, st *state) error {
	var ops []fsm.Op
	services := map[string]*api.Service{}
	byNS := map[string][]*api.Pod{}
	if len(st.services) > 0 {
		for _, p := range st.pods {
			byNS[p.Metadata.Namespace] = append(byNS[p.Metadata.Namespace], p)
		}
	}
	for _, svc := range st.services {
		key := svc.Metadata.Namespace + "/" + svc.Metadata.Name
		services[key] = svc
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		want := endpointsFor(byNS[svc.Metadata.Namespace], svc)
		have := st.endpoints[key]
		if have != nil && sameEndpoints(have, want) {
			continue
		}
		verb := fsm.VerbCreate
		if have != nil {
			verb = fsm.VerbUpdate
			want.Metadata.ResourceVersion = have.Metadata.ResourceVersion
		}
		op, err := objectOp(verb, want)
		if err != nil {
			return err
		}
		ops = append(ops, op)
	}
	for key, eps := range st.endpoints {
		// Gone, or no longer selecting: what the controller wrote goes.
		if svc := services[key]; (svc == nil || len(svc.Spec.Selector) == 0) && eps.Metadata.Labels[LabelManagedBy] == managedBy {
			ops = append(ops, deleteOp("Endpoints", &eps.Metadata))
		}
	}
	slices.SortFunc(ops, func(a, b fsm.Op) int { return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name) })
	return w.write(ctx, st.now, ops...)
}

// endpointsFor computes a Service's Endpoints from the pods of its
// namespace.
func endpointsFor(pods []*api.Pod, svc *api.Service) *api.Endpoints {
	eps := &api.Endpoints{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Endpoints"},
		Metadata: api.ObjectMeta{Name: svc.Metadata.Name, Namespace: svc.Metadata.Namespace,
			Labels: map[string]string{LabelManagedBy: managedBy}}}
	sel := api.SelectorFromSet(svc.Spec.Selector)
	bySig := map[string]*api.EndpointSubset{}
	var sigs []string
	for _, p := range pods {
		if !sel.Matches(p.Metadata.Labels) ||
			p.Status.PodIP == "" || p.Spec.NodeName == "" || p.Terminated() ||
			p.Metadata.Annotations[api.AnnotationStopped] == "true" {
			continue
		}
		ports := endpointPorts(svc, p)
		if len(ports) == 0 && len(svc.Spec.Ports) > 0 {
			continue
		}
		b, _ := json.Marshal(ports)
		sig := string(b)
		ss := bySig[sig]
		if ss == nil {
			ss = &api.EndpointSubset{Ports: ports}
			bySig[sig] = ss
			sigs = append(sigs, sig)
		}
		addr := api.EndpointAddress{IP: p.Status.PodIP, NodeName: p.Spec.NodeName,
			TargetRef: &api.ObjectReference{Kind: "Pod", Namespace: p.Metadata.Namespace, Name: p.Metadata.Name, UID: p.Metadata.UID}}
		if p.Spec.Hostname != "" && p.Spec.Subdomain == svc.Metadata.Name {
			addr.Hostname = p.Spec.Hostname
		}
		if p.Ready() {
			ss.Addresses = append(ss.Addresses, addr)
		} else {
			ss.NotReadyAddresses = append(ss.NotReadyAddresses, addr)
		}
	}
	slices.Sort(sigs)
	for _, sig := range sigs {
		ss := bySig[sig]
		byIP := func(a, b api.EndpointAddress) int { return strings.Compare(a.IP, b.IP) }
		slices.SortFunc(ss.Addresses, byIP)
		slices.SortFunc(ss.NotReadyAddresses, byIP)
		eps.Subsets = append(eps.Subsets, *ss)
	}
	return eps
}

// endpointPorts resolves a Service's target ports in a pod: a number is
// itself, a name is the pod's container port of that name (a port the
// pod lacks is left out).
func endpointPorts(svc *api.Service, p *api.Pod) []api.EndpointPort {
	var out []api.EndpointPort
	for _, sp := range svc.Spec.Ports {
		port := sp.TargetPort.IntVal
		if sp.TargetPort.StrVal != "" {
			port = 0
			for _, c := range p.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Name == sp.TargetPort.StrVal && (cp.Protocol == "" || cp.Protocol == sp.Protocol) {
						port = cp.ContainerPort
					}
				}
			}
		} else if port == 0 {
			port = sp.Port
		}
		if port == 0 {
			continue
		}
		out = append(out, api.EndpointPort{Name: sp.Name, Port: port, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol})
	}
	return out
}

// sameEndpoints compares what the controller sets.
func sameEndpoints(a, b *api.Endpoints) bool {
	ja, _ := json.Marshal(a.Subsets)
	jb, _ := json.Marshal(b.Subsets)
	return string(ja) == string(jb) && a.Metadata.Labels[LabelManagedBy] == b.Metadata.Labels[LabelManagedBy]
}
