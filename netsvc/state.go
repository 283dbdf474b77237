package netsvc

import (
	"github.com/berth-dev/berth/api"
)

// State is one consistent view of what the node serves: the objects as of
// one revision of the cluster's state. A State is never changed once it
// is handed to Update: each change makes a new one.
type State struct {
	// Revision is the cluster revision the view is at.
	Revision uint64
	// Keyed by "namespace/name".
	Services  map[string]*api.Service
	Endpoints map[string]*api.Endpoints
	Ingresses map[string]*api.Ingress
	// Secrets holds only kubernetes.io/tls Secrets.
	Secrets map[string]*api.Secret
}

// Key is the map key of an object of a namespace.
func Key(ns, name string) string { return ns + "/" + name }

// ReadyAddresses are the endpoint addresses of the subsets of eps that
// receive traffic, each with the port of the subset named portName ("" for
// the only port of an unnamed one) and protocol; none when eps is nil.
func ReadyAddresses(eps *api.Endpoints, portName, protocol string) []Backend {
	if eps == nil {
		return nil
	}
	var out []Backend
	for _, ss := range eps.Subsets {
		for _, p := range ss.Ports {
			if p.Name != portName || protoOr(p.Protocol) != protoOr(protocol) {
				continue
			}
			for _, a := range ss.Addresses {
				out = append(out, Backend{IP: a.IP, Port: p.Port, Node: a.NodeName})
			}
		}
	}
	return out
}

// Backend is one ready pod address and port.
type Backend struct {
	IP   string
	Port int32
	Node string
}

func protoOr(p string) string {
	if p == "" {
		return "TCP"
	}
	return p
}
