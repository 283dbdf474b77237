package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
)

func TestPrintServiceTables(t *testing.T) {
	web := &api.Service{Metadata: meta("default", "web", 5*time.Minute), Spec: api.ServiceSpec{
		Type: api.ServiceTypeClusterIP, ClusterIP: "10.96.0.12",
		Ports: []api.ServicePort{{Name: "http", Port: 80, Protocol: "TCP"}, {Name: "https", Port: 443, Protocol: "TCP"}}}}
	gateway := &api.Service{Metadata: meta("default", "gateway", time.Hour), Spec: api.ServiceSpec{
		Type: api.ServiceTypeNodePort, ClusterIP: "10.96.0.13",
		Ports: []api.ServicePort{{Name: "http", Port: 80, NodePort: 30080, Protocol: "TCP"}, {Name: "dns", Port: 53, NodePort: 30053, Protocol: "UDP"}}}}
	db := &api.Service{Metadata: meta("default", "db", time.Hour), Spec: api.ServiceSpec{
		Type: api.ServiceTypeClusterIP, ClusterIP: api.ClusterIPNone, Ports: []api.ServicePort{{Port: 5432, Protocol: "TCP"}}}}
	// Not allocated yet, not defaulted, no ports: a headless Service may have none.
	fresh := &api.Service{Metadata: meta("default", "fresh", time.Second)}

	addrs := func(ips ...string) []api.EndpointAddress {
		var out []api.EndpointAddress
		for _, ip := range ips {
			out = append(out, api.EndpointAddress{IP: ip})
		}
		return out
	}
	webEP := &api.Endpoints{Metadata: meta("default", "web", 5*time.Minute), Subsets: []api.EndpointSubset{{
		Addresses:         addrs("10.244.1.5", "10.244.2.7"),
		NotReadyAddresses: addrs("10.244.3.9"),
		Ports:             []api.EndpointPort{{Name: "http", Port: 8080}},
	}}}
	manyEP := &api.Endpoints{Metadata: meta("default", "gateway", time.Hour), Subsets: []api.EndpointSubset{{
		Addresses: addrs("10.244.1.5", "10.244.2.7"),
		Ports:     []api.EndpointPort{{Name: "http", Port: 8080}, {Name: "dns", Port: 53, Protocol: "UDP"}},
	}}}
	headlessEP := &api.Endpoints{Metadata: meta("default", "db", time.Hour), Subsets: []api.EndpointSubset{{Addresses: addrs("10.244.1.9")}}}
	notReadyEP := &api.Endpoints{Metadata: meta("default", "api", time.Minute), Subsets: []api.EndpointSubset{{
		NotReadyAddresses: addrs("10.244.1.5"), Ports: []api.EndpointPort{{Port: 80}}}}}
	emptyEP := &api.Endpoints{Metadata: meta("default", "fresh", time.Second)}

	class := "nginx"
	backend := api.IngressBackend{Service: &api.IngressServiceBackend{Name: "web", Port: api.ServiceBackendPort{Number: 80}}}
	rule := func(host string) api.IngressRule {
		return api.IngressRule{Host: host, HTTP: &api.HTTPIngressRuleValue{Paths: []api.HTTPIngressPath{{Path: "/", PathType: api.PathTypePrefix, Backend: backend}}}}
	}
	shop := &api.Ingress{Metadata: meta("shop", "shop", time.Hour), Spec: api.IngressSpec{
		IngressClassName: &class,
		TLS:              []api.IngressTLS{{Hosts: []string{"shop.example.com"}, SecretName: "shop-tls"}},
		Rules:            []api.IngressRule{rule("shop.example.com"), rule("*.shop.example.com"), rule("")},
	}}
	anyHost := &api.Ingress{Metadata: meta("default", "any", time.Minute), Spec: api.IngressSpec{Rules: []api.IngressRule{rule("")}}}
	defaultOnly := &api.Ingress{Metadata: meta("default", "all", time.Minute), Spec: api.IngressSpec{DefaultBackend: &backend}}
	many := &api.Ingress{Metadata: meta("default", "many", time.Minute), Spec: api.IngressSpec{
		Rules: []api.IngressRule{rule("a.example.com"), rule(""), rule("b.example.com"), rule("c.example.com"), rule("d.example.com")}}}

	tests := []struct {
		kind string
		objs []api.Object
		want string
	}{
		{"svc", []api.Object{web, gateway, db, fresh}, "" +
			"NAME      TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)                     AGE\n" +
			"web       ClusterIP   10.96.0.12   <none>        80/TCP,443/TCP              5m\n" +
			"gateway   NodePort    10.96.0.13   <none>        80:30080/TCP,53:30053/UDP   60m\n" +
			"db        ClusterIP   None         <none>        5432/TCP                    60m\n" +
			"fresh     ClusterIP   <none>       <none>        <none>                      1s\n"},
		{"ep", []api.Object{webEP, manyEP, headlessEP, notReadyEP, emptyEP}, "" +
			"NAME      ENDPOINTS                                                   AGE\n" +
			"web       10.244.1.5:8080,10.244.2.7:8080                             5m\n" +
			"gateway   10.244.1.5:8080,10.244.2.7:8080,10.244.1.5:53 + 1 more...   60m\n" +
			"db        10.244.1.9                                                  60m\n" +
			"api       <none>                                                      60s\n" +
			"fresh     <none>                                                      1s\n"},
		{"ing", []api.Object{shop, anyHost, defaultOnly, many}, "" +
			"NAME   CLASS    HOSTS                                                   ADDRESS   PORTS     AGE\n" +
			"shop   nginx    shop.example.com,*.shop.example.com                               80, 443   60m\n" +
			"any    <none>   *                                                                 80        60s\n" +
			"all    <none>   *                                                                 80        60s\n" +
			"many   <none>   a.example.com,b.example.com,c.example.com + 2 more...             80        60s\n"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			var buf bytes.Buffer
			if err := printTable(&buf, kind(t, tt.kind), tt.objs, false, now); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", buf.String(), tt.want)
			}
		})
	}
}

func TestServiceKindNames(t *testing.T) {
	for obj, want := range map[api.Object]string{
		&api.Service{Metadata: meta("default", "web", 0)}:   "service/web",
		&api.Endpoints{Metadata: meta("default", "web", 0)}: "endpoints/web",
		&api.Ingress{Metadata: meta("default", "web", 0)}:   "ingress.networking.k8s.io/web",
	} {
		if got := objectName(obj); got != want {
			t.Errorf("objectName = %q, want %q", got, want)
		}
	}
	for name, want := range map[string]string{"svc": "Service", "services": "Service", "ep": "Endpoints", "endpoints": "Endpoints",
		"ing": "Ingress", "ingresses": "Ingress", "ingress.networking.k8s.io": "Ingress"} {
		if info, err := resolveKind(name); err != nil || info.Kind != want {
			t.Errorf("resolveKind(%q) = %q, %v; want %s", name, info.Kind, err, want)
		}
	}
}
