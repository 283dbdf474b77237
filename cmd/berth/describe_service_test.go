package main

import (
	"strings"
	"testing"

	"github.com/berth-dev/berth/api"
)

func TestDescribeService(t *testing.T) {
	svc := &api.Service{Metadata: api.ObjectMeta{Name: "web", Namespace: "default"}, Spec: api.ServiceSpec{
		Type: api.ServiceTypeNodePort, Selector: map[string]string{"app": "web", "tier": "fe"}, ClusterIP: "10.96.0.10",
		SessionAffinity: "None",
		Ports:           []api.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, TargetPort: api.IntOrString{StrVal: "http"}, NodePort: 30080}}}}
	eps := &api.Endpoints{Subsets: []api.EndpointSubset{{
		Addresses:         []api.EndpointAddress{{IP: "10.244.1.2"}, {IP: "10.244.2.2"}},
		NotReadyAddresses: []api.EndpointAddress{{IP: "10.244.3.2"}},
		Ports:             []api.EndpointPort{{Name: "http", Port: 8080}}}}}
	var b strings.Builder
	if err := describeService(&b, svc, eps); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Selector:          app=web,tier=fe", "Type:              NodePort", "IP:                10.96.0.10",
		"Port:              http  80/TCP", "TargetPort:        http/TCP", "NodePort:          http  30080/TCP",
		"Endpoints:         10.244.1.2:8080,10.244.2.2:8080", "Not ready:         10.244.3.2"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("describe lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := describeService(&b, svc, nil); err != nil || !strings.Contains(b.String(), "Endpoints:         <none>") {
		t.Errorf("no Endpoints object: %v\n%s", err, b.String())
	}
}

func TestDescribeIngress(t *testing.T) {
	ing := &api.Ingress{Spec: api.IngressSpec{
		TLS: []api.IngressTLS{{Hosts: []string{"a.test"}, SecretName: "a-tls"}},
		Rules: []api.IngressRule{{Host: "a.test", HTTP: &api.HTTPIngressRuleValue{Paths: []api.HTTPIngressPath{
			{Path: "/", PathType: "Prefix", Backend: api.IngressBackend{Service: &api.IngressServiceBackend{Name: "web", Port: api.ServiceBackendPort{Number: 80}}}},
			{Path: "/api", PathType: "Exact", Backend: api.IngressBackend{Service: &api.IngressServiceBackend{Name: "api", Port: api.ServiceBackendPort{Name: "http"}}}}}}}}}}
	var b strings.Builder
	if err := describeIngress(&b, ing); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Default backend:  <none>", "TLS:              a-tls terminates a.test", "a.test  / (Prefix)", "web:80", "/api (Exact)", "api:http"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("describe lacks %q:\n%s", want, b.String())
		}
	}
}
