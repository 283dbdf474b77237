package api

import (
	"errors"
	"strings"
	"testing"
)

// Minimal valid manifests of the service kinds. The tests below change
// them with addSpec and strings.Replace.
const (
	baseService = `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
`
	baseEndpoints = `apiVersion: v1
kind: Endpoints
metadata: {name: web}
subsets:
- addresses: [{ip: 10.244.1.5}]
  ports: [{port: 8080}]
`
	baseIngress = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
  - host: example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`
)

// A Service as kubectl get -o yaml prints it from a Kubernetes cluster.
const realService = `apiVersion: v1
kind: Service
metadata:
  name: frontend
  namespace: shop
  uid: 3f1c7d2e-8a41-4b8e-9a53-0c6f1d2b7e11
  resourceVersion: "48211"
  creationTimestamp: "2024-05-02T09:14:07Z"
  labels:
    app.kubernetes.io/name: frontend
    app.kubernetes.io/part-of: shop
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: "{}"
spec:
  type: ClusterIP
  clusterIP: 10.96.41.7
  clusterIPs:
  - 10.96.41.7
  internalTrafficPolicy: Cluster
  ipFamilies:
  - IPv4
  ipFamilyPolicy: SingleStack
  ports:
  - name: http
    port: 80
    protocol: TCP
    targetPort: http
  - name: https
    port: 443
    protocol: TCP
    targetPort: 8443
    appProtocol: kubernetes.io/h2c
  - name: dns
    port: 53
    protocol: UDP
    targetPort: 5353
  selector:
    app.kubernetes.io/name: frontend
  sessionAffinity: None
status:
  loadBalancer: {}
`

const nodePortService = `apiVersion: v1
kind: Service
metadata:
  name: shop-gateway
  namespace: shop
spec:
  type: NodePort
  selector:
    app: gateway
  ports:
  - name: http
    port: 80
    targetPort: 8080
    nodePort: 30080
  - name: metrics
    port: 9090
`

const headlessService = `apiVersion: v1
kind: Service
metadata:
  name: db
  labels: {app: db}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector:
    app: db
  ports:
  - name: postgres
    port: 5432
`

const realIngress = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /
    cert-manager.io/cluster-issuer: letsencrypt
spec:
  ingressClassName: nginx
  tls:
  - hosts:
    - shop.example.com
    - "*.shop.example.com"
    secretName: shop-tls
  defaultBackend:
    service:
      name: frontend
      port:
        name: http
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /api
        pathType: Prefix
        backend:
          service:
            name: api
            port:
              number: 8080
      - path: /healthz
        pathType: Exact
        backend:
          service:
            name: api
            port:
              number: 8080
      - path: /
        pathType: ImplementationSpecific
        backend:
          service:
            name: frontend
            port:
              name: http
  - host: "*.shop.example.com"
    http:
      paths:
      - pathType: Prefix
        backend:
          service:
            name: frontend
            port:
              number: 80
  - http:
      paths:
      - path: /static
        pathType: ImplementationSpecific
        backend:
          service:
            name: static
            port:
              number: 80
`

func TestServiceDefaults(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(t *testing.T, obj Object)
	}{
		{"service", baseService, func(t *testing.T, obj Object) {
			s := obj.(*Service)
			if s.Metadata.Namespace != "default" || s.Spec.Type != ServiceTypeClusterIP || s.Spec.SessionAffinity != "None" ||
				s.Spec.InternalTrafficPolicy != "Cluster" || s.Spec.ExternalTrafficPolicy != "" {
				t.Errorf("spec = %+v", s.Spec)
			}
			// The cluster allocates the address, not Default.
			if s.Spec.ClusterIP != "" || s.Spec.ClusterIPs != nil || s.Headless() {
				t.Errorf("clusterIP = %q, clusterIPs = %q", s.Spec.ClusterIP, s.Spec.ClusterIPs)
			}
			if p := s.Spec.Ports[0]; p.Protocol != "TCP" || p.TargetPort != (IntOrString{IntVal: 80}) || p.NodePort != 0 {
				t.Errorf("port = %+v", p)
			}
		}},
		{"real service", realService, func(t *testing.T, obj Object) {
			s := obj.(*Service)
			if s.Spec.ClusterIP != "10.96.41.7" || len(s.Spec.Ports) != 3 || s.Status.LoadBalancer == nil {
				t.Errorf("service = %+v", s)
			}
			if p := s.Spec.Ports; p[0].TargetPort.StrVal != "http" || p[1].TargetPort.IntVal != 8443 || p[2].Protocol != "UDP" {
				t.Errorf("ports = %+v", p)
			}
		}},
		{"nodeport", nodePortService, func(t *testing.T, obj Object) {
			s := obj.(*Service)
			if s.Spec.ExternalTrafficPolicy != "Cluster" || s.Spec.InternalTrafficPolicy != "Cluster" {
				t.Errorf("spec = %+v", s.Spec)
			}
			if p := s.Spec.Ports; p[0].NodePort != 30080 || p[0].TargetPort.IntVal != 8080 || p[1].NodePort != 0 || p[1].TargetPort.IntVal != 9090 {
				t.Errorf("ports = %+v", p)
			}
		}},
		{"headless", headlessService, func(t *testing.T, obj Object) {
			s := obj.(*Service)
			if !s.Headless() || !s.Spec.PublishNotReadyAddresses || s.Spec.ClusterIPs != nil || s.Spec.Ports[0].TargetPort.IntVal != 5432 {
				t.Errorf("spec = %+v", s.Spec)
			}
		}},
		{"headless without ports", "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec: {clusterIP: None, clusterIPs: [None]}\n", nil},
		{"clusterIP alone", addSpec(baseService, "  clusterIP: 10.96.0.10\n"), func(t *testing.T, obj Object) {
			if s := obj.(*Service); s.Spec.ClusterIP != "10.96.0.10" || s.Spec.ClusterIPs != nil {
				t.Errorf("clusterIP = %q, clusterIPs = %q", s.Spec.ClusterIP, s.Spec.ClusterIPs)
			}
		}},
		{"clusterIPs alone", addSpec(baseService, "  clusterIPs: [10.96.0.10]\n"), func(t *testing.T, obj Object) {
			if s := obj.(*Service); s.Spec.ClusterIP != "10.96.0.10" {
				t.Errorf("clusterIP = %q", s.Spec.ClusterIP)
			}
		}},
		{"named target port and udp", strings.Replace(baseService, "{port: 80}", "{port: 53, protocol: UDP, targetPort: dns}", 1), func(t *testing.T, obj Object) {
			if p := obj.(*Service).Spec.Ports[0]; p.Protocol != "UDP" || p.TargetPort.StrVal != "dns" {
				t.Errorf("port = %+v", p)
			}
		}},
		{"same port, two protocols", strings.Replace(baseService, "[{port: 80}]", "[{name: a, port: 53}, {name: b, port: 53, protocol: UDP}]", 1), nil},
		{"selectorless", strings.Replace(baseService, "  selector: {app: web}\n", "", 1), nil},
		{"endpoints", baseEndpoints, func(t *testing.T, obj Object) {
			e := obj.(*Endpoints)
			if e.Metadata.Namespace != "default" || e.Subsets[0].Ports[0].Protocol != "TCP" {
				t.Errorf("endpoints = %+v", e)
			}
		}},
		{"endpoints full", `apiVersion: v1
kind: Endpoints
metadata: {name: db, namespace: data}
subsets:
- addresses:
  - ip: 10.244.1.5
    hostname: db-0
    nodeName: node-1
    targetRef: {kind: Pod, namespace: data, name: db-0, uid: u1}
  notReadyAddresses:
  - {ip: 10.244.2.9, hostname: db-1}
  ports:
  - {name: postgres, port: 5432, protocol: TCP}
  - {name: metrics, port: 9187, appProtocol: http}
- ports: [{port: 53, protocol: UDP}]
`, func(t *testing.T, obj Object) {
			e := obj.(*Endpoints)
			if a := e.Subsets[0].Addresses[0]; a.TargetRef == nil || a.TargetRef.Name != "db-0" || e.Subsets[0].Ports[1].Protocol != "TCP" {
				t.Errorf("subsets = %+v", e.Subsets)
			}
		}},
		{"ingress", baseIngress, func(t *testing.T, obj Object) {
			if i := obj.(*Ingress); i.Metadata.Namespace != "default" || i.Spec.IngressClassName != nil {
				t.Errorf("ingress = %+v", i)
			}
		}},
		{"real ingress", realIngress, func(t *testing.T, obj Object) {
			s := &obj.(*Ingress).Spec
			if *s.IngressClassName != "nginx" || s.TLS[0].SecretName != "shop-tls" || s.DefaultBackend.Service.Port.Name != "http" {
				t.Errorf("spec = %+v", s)
			}
			// ImplementationSpecific stays; an empty Prefix path is "/".
			p := s.Rules[0].HTTP.Paths[2]
			if p.PathType != PathTypeImplementationSpecific || p.Path != "/" {
				t.Errorf("path = %+v", p)
			}
			if p := s.Rules[1].HTTP.Paths[0]; p.Path != "/" || p.Backend.Service.Port.Number != 80 {
				t.Errorf("path = %+v", p)
			}
			if r := s.Rules[2]; r.Host != "" || r.HTTP.Paths[0].Path != "/static" {
				t.Errorf("rule = %+v", r)
			}
		}},
		{"ingress default backend only", `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: all}
spec:
  defaultBackend: {service: {name: web, port: {number: 80}}}
`, nil},
		{"ingress empty implementation specific path", strings.Replace(baseIngress, "{path: /, pathType: Prefix,", "{pathType: ImplementationSpecific,", 1), func(t *testing.T, obj Object) {
			if p := obj.(*Ingress).Spec.Rules[0].HTTP.Paths[0]; p.Path != "/" || p.PathType != PathTypeImplementationSpecific {
				t.Errorf("path = %+v", p)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := decodeOne(t, tt.in)
			if tt.check != nil {
				tt.check(t, obj)
			}
			checkDefaulted(t, obj)
		})
	}
}

func TestServiceValidation(t *testing.T) {
	svcPorts := func(ports string) string { return strings.Replace(baseService, "[{port: 80}]", ports, 1) }
	epSubset := func(subset string) string {
		return strings.Replace(baseEndpoints, "- addresses: [{ip: 10.244.1.5}]\n  ports: [{port: 8080}]\n", subset, 1)
	}
	ingPath := func(path string) string {
		return strings.Replace(baseIngress, "{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}", path, 1)
	}
	ingBackend := func(backend string) string {
		return strings.Replace(baseIngress, "{service: {name: web, port: {number: 80}}}", backend, 1)
	}
	tests := []struct {
		name string
		in   string
		want string // the exact message
	}{
		// Service: type, clusterIP, clusterIPs
		{"service load balancer", addSpec(baseService, "  type: LoadBalancer\n"),
			`service "web": spec.type: "LoadBalancer" is not supported (ClusterIP, NodePort)`},
		{"service external name", addSpec(baseService, "  type: ExternalName\n"),
			`service "web": spec.type: "ExternalName" is not supported (ClusterIP, NodePort)`},
		{"service no ports", svcPorts("[]"),
			`service "web": spec.ports: required: at least one port, unless the Service is headless (clusterIP "None")`},
		{"headless nodeport", strings.Replace(headlessService, "  clusterIP: None\n", "  clusterIP: None\n  type: NodePort\n", 1),
			`service "db": spec.clusterIP: may not be "None" with type "NodePort"`},
		{"service cluster ip", addSpec(baseService, "  clusterIP: 10.96.0.300\n"),
			`service "web": spec.clusterIP: "10.96.0.300" is not "None" or an IPv4 address`},
		{"service cluster ip v6", addSpec(baseService, "  clusterIP: fd00::10\n"),
			`service "web": spec.clusterIP: "fd00::10" is not supported (IPv4 only)`},
		{"service cluster ips mismatch", addSpec(baseService, "  clusterIP: 10.96.0.10\n  clusterIPs: [10.96.0.11]\n"),
			`service "web": spec.clusterIPs[0]: "10.96.0.11" must be spec.clusterIP ("10.96.0.10")`},
		{"service cluster ips dual stack", addSpec(baseService, "  clusterIP: 10.96.0.10\n  clusterIPs: [10.96.0.10, fd00::10]\n"),
			`service "web": spec.clusterIPs: 2 addresses, at most 1 (single-stack IPv4)`},

		// Service: ports
		{"service port range", svcPorts("[{name: a, port: 0}, {name: b, port: 65536}]"),
			`service "web": spec.ports[0].port: 0 is not in 1..65535; spec.ports[1].port: 65536 is not in 1..65535`},
		{"service sctp", svcPorts("[{port: 80, protocol: SCTP}]"),
			`service "web": spec.ports[0].protocol: "SCTP" is not supported (TCP, UDP)`},
		{"service port name", svcPorts("[{name: HTTP, port: 80}]"),
			`service "web": spec.ports[0].name: "HTTP" ` + labelMsg},
		{"service port names required", svcPorts("[{name: http, port: 80}, {port: 443}]"),
			`service "web": spec.ports[1].name: required when the Service has more than one port`},
		{"service port names repeated", svcPorts("[{name: http, port: 80}, {name: http, port: 8080}]"),
			`service "web": spec.ports[1].name: "http" is used by another port`},
		{"service port repeated", svcPorts("[{name: a, port: 80}, {name: b, port: 80, protocol: TCP}]"),
			`service "web": spec.ports[1].port: 80/TCP is used by another port`},
		{"service target port range", svcPorts("[{name: a, port: 80, targetPort: 70000}, {name: b, port: 81, targetPort: -1}]"),
			`service "web": spec.ports[0].targetPort: 70000 is not in 1..65535; spec.ports[1].targetPort: -1 is not in 1..65535`},
		{"service target port name", svcPorts("[{name: a, port: 80, targetPort: Http}, {name: b, port: 81, targetPort: very-long-port-name}, " +
			"{name: c, port: 82, targetPort: web--http}, {name: d, port: 83, targetPort: 80-80}, {name: e, port: 84, targetPort: -http}]"),
			`service "web": spec.ports[0].targetPort: "Http" ` + portNameMsg + `; spec.ports[1].targetPort: "very-long-port-name" ` + portNameMsg +
				`; spec.ports[2].targetPort: "web--http" ` + portNameMsg + `; spec.ports[3].targetPort: "80-80" ` + portNameMsg +
				`; spec.ports[4].targetPort: "-http" ` + portNameMsg},
		{"service node port on cluster ip", svcPorts("[{port: 80, nodePort: 30080}]"),
			`service "web": spec.ports[0].nodePort: may only be set with type "NodePort"`},
		{"service node port range", strings.Replace(nodePortService, "nodePort: 30080", "nodePort: 70000", 1),
			`service "shop-gateway": spec.ports[0].nodePort: 70000 is not in 1..65535`},
		{"service node port repeated", strings.Replace(nodePortService, "    port: 9090\n", "    port: 9090\n    nodePort: 30080\n", 1),
			`service "shop-gateway": spec.ports[1].nodePort: 30080/TCP is used by another port`},
		{"service app protocol", svcPorts("[{port: 80, appProtocol: 'h 2'}]"),
			`service "web": spec.ports[0].appProtocol: "h 2": name ` + nameMsg},

		// Service: selector and policies
		{"service selector", addSpec(strings.Replace(baseService, "  selector: {app: web}\n", "", 1), "  selector: {app: web!, bad key: x}\n"),
			`service "web": spec.selector: value "web!" of key "app": must be empty or ` + nameMsg[len("must be "):] +
				`; spec.selector: key "bad key": name ` + nameMsg},
		{"service session affinity", addSpec(baseService, "  sessionAffinity: Cookie\n"),
			`service "web": spec.sessionAffinity: "Cookie" is not supported (None, ClientIP)`},
		{"service affinity timeout", addSpec(baseService, "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}\n"),
			`service "web": spec.sessionAffinityConfig.clientIP.timeoutSeconds: 0 is not between 1 and 86400`},
		{"service affinity config without affinity", addSpec(baseService, "  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}\n"),
			`service "web": spec.sessionAffinityConfig: only with sessionAffinity ClientIP`},
		{"service external traffic bogus", strings.Replace(nodePortService, "  type: NodePort\n", "  type: NodePort\n  externalTrafficPolicy: Nearby\n", 1),
			`service "shop-gateway": spec.externalTrafficPolicy: "Nearby" is not supported (Cluster, Local)`},
		{"service external traffic on cluster ip", addSpec(baseService, "  externalTrafficPolicy: Cluster\n"),
			`service "web": spec.externalTrafficPolicy: may only be set with type "NodePort"`},
		{"service internal traffic local", addSpec(baseService, "  internalTrafficPolicy: Local\n"),
			`service "web": spec.internalTrafficPolicy: "Local" is not supported (Cluster)`},
		{"service ip families v6", addSpec(baseService, "  ipFamilies: [IPv6]\n"),
			`service "web": spec.ipFamilies[0]: "IPv6" is not supported (IPv4)`},
		{"service ip families dual", addSpec(baseService, "  ipFamilies: [IPv4, IPv6]\n"),
			`service "web": spec.ipFamilies: 2 families, at most 1 (single-stack IPv4)`},
		{"service ip family policy", addSpec(baseService, "  ipFamilyPolicy: PreferDualStack\n"),
			`service "web": spec.ipFamilyPolicy: "PreferDualStack" is not supported (SingleStack)`},
		{"service load balancer fields", addSpec(baseService, "  loadBalancerIP: 1.2.3.4\n"),
			`service "web": unknown field "spec.loadBalancerIP"`},

		// Endpoints
		{"endpoints ip", epSubset("- addresses: [{ip: 10.0.0}, {ip: ''}, {ip: 'fd00::5'}]\n  notReadyAddresses: [{ip: 127.0.0.1}, {ip: 169.254.1.1}, {ip: 0.0.0.0}]\n"),
			`endpoints "web": subsets[0].addresses[0].ip: "10.0.0" is not an IPv4 address; subsets[0].addresses[1].ip: required; ` +
				`subsets[0].addresses[2].ip: "fd00::5" is not supported (IPv4 only); ` +
				`subsets[0].notReadyAddresses[0].ip: "127.0.0.1" may not be an unspecified, loopback or link-local address; ` +
				`subsets[0].notReadyAddresses[1].ip: "169.254.1.1" may not be an unspecified, loopback or link-local address; ` +
				`subsets[0].notReadyAddresses[2].ip: "0.0.0.0" may not be an unspecified, loopback or link-local address`},
		{"endpoints hostname", epSubset("- addresses: [{ip: 10.244.1.5, hostname: db.0, nodeName: Node_1}]\n"),
			`endpoints "web": subsets[0].addresses[0].hostname: "db.0" ` + labelMsg + `; subsets[0].addresses[0].nodeName: "Node_1" ` + subdomainMsg},
		{"endpoints port range", epSubset("- ports: [{name: a, port: 0}, {name: b, port: 65536}]\n"),
			`endpoints "web": subsets[0].ports[0].port: 0 is not in 1..65535; subsets[0].ports[1].port: 65536 is not in 1..65535`},
		{"endpoints protocol", epSubset("- ports: [{port: 9, protocol: SCTP}]\n"),
			`endpoints "web": subsets[0].ports[0].protocol: "SCTP" is not supported (TCP, UDP)`},
		{"endpoints port names", epSubset("- ports: [{name: a, port: 1}, {port: 2}, {name: a, port: 3}, {name: A, port: 4}]\n- ports: [{name: a, port: 1}]\n"),
			`endpoints "web": subsets[0].ports[1].name: required when the subset has more than one port; ` +
				`subsets[0].ports[2].name: "a" is used by another port; subsets[0].ports[3].name: "A" ` + labelMsg},

		// Ingress: spec, class, tls
		{"ingress empty", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web}\nspec: {}\n",
			`ingress "web": spec: required: a defaultBackend or at least one rule`},
		{"ingress class", addSpec(baseIngress, "  ingressClassName: Nginx\n"),
			`ingress "web": spec.ingressClassName: "Nginx" ` + subdomainMsg},
		{"ingress tls", addSpec(baseIngress, "  tls: [{hosts: [example.com]}, {hosts: ['10.0.0.1', '*.Example.com'], secretName: Web_TLS}]\n"),
			`ingress "web": spec.tls[0].secretName: required; spec.tls[1].hosts[0]: "10.0.0.1" must be a DNS name, not an IP address; ` +
				`spec.tls[1].hosts[1]: "*.Example.com" ` + hostMsg + `; spec.tls[1].secretName: "Web_TLS" ` + subdomainMsg},

		// Ingress: rules
		{"ingress host ip", strings.Replace(baseIngress, "host: example.com", "host: 192.168.1.10", 1),
			`ingress "web": spec.rules[0].host: "192.168.1.10" must be a DNS name, not an IP address`},
		{"ingress host", strings.Replace(baseIngress, "host: example.com", "host: 'foo.*.com'", 1),
			`ingress "web": spec.rules[0].host: "foo.*.com" ` + hostMsg},
		{"ingress host bare wildcard", strings.Replace(baseIngress, "host: example.com", "host: '*'", 1),
			`ingress "web": spec.rules[0].host: "*" ` + hostMsg},
		{"ingress rule without http", strings.Replace(baseIngress, "  rules:\n", "  rules:\n  - host: other.example.com\n", 1),
			`ingress "web": spec.rules[0].http: required`},
		{"ingress no paths", strings.Replace(baseIngress, "      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n", "      paths: []\n", 1),
			`ingress "web": spec.rules[0].http.paths: required: at least one path`},
		{"ingress path type required", ingPath("{path: /, backend: {service: {name: web, port: {number: 80}}}}"),
			`ingress "web": spec.rules[0].http.paths[0].pathType: required`},
		{"ingress path type regex", ingPath("{path: /, pathType: Regex, backend: {service: {name: web, port: {number: 80}}}}"),
			`ingress "web": spec.rules[0].http.paths[0].pathType: "Regex" is not supported (Exact, Prefix, ImplementationSpecific)`},
		{"ingress relative path", ingPath("{path: api, pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}"),
			`ingress "web": spec.rules[0].http.paths[0].path: "api" must start with '/'`},
		{"ingress exact empty path", ingPath("{pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}"),
			`ingress "web": spec.rules[0].http.paths[0].path: "" must start with '/'`},
		{"ingress unclean paths", ingPath("{path: /a//b, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n" +
			"      - {path: /a/.., pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}"),
			`ingress "web": spec.rules[0].http.paths[0].path: "/a//b" must not contain "//"; ` +
				`spec.rules[0].http.paths[1].path: "/a/.." must not end with "/." or "/.."`},

		// Ingress: backends
		{"ingress backend resource", ingBackend("{resource: {apiGroup: k8s.example.com, kind: StorageBucket, name: static}}"),
			`ingress "web": unknown field "spec.rules[0].http.paths[0].backend.resource"`},
		{"ingress backend empty", ingBackend("{}"),
			`ingress "web": spec.rules[0].http.paths[0].backend.service: required`},
		{"ingress backend name", ingBackend("{service: {name: 1web, port: {number: 80}}}"),
			`ingress "web": spec.rules[0].http.paths[0].backend.service.name: "1web" ` + dns1035Msg},
		{"ingress backend no name", ingBackend("{service: {port: {number: 80}}}"),
			`ingress "web": spec.rules[0].http.paths[0].backend.service.name: required`},
		{"ingress backend port both", ingBackend("{service: {name: web, port: {number: 80, name: http}}}"),
			`ingress "web": spec.rules[0].http.paths[0].backend.service.port: only one of number or name`},
		{"ingress backend port neither", ingBackend("{service: {name: web, port: {}}}"),
			`ingress "web": spec.rules[0].http.paths[0].backend.service.port: required: a number or a name`},
		{"ingress backend port number", ingBackend("{service: {name: web, port: {number: 65536}}}"),
			`ingress "web": spec.rules[0].http.paths[0].backend.service.port.number: 65536 is not in 1..65535`},
		{"ingress backend port name", ingBackend("{service: {name: web, port: {name: HTTP}}}"),
			`ingress "web": spec.rules[0].http.paths[0].backend.service.port.name: "HTTP" ` + portNameMsg},
		{"ingress default backend", addSpec(baseIngress, "  defaultBackend: {service: {name: web}}\n"),
			`ingress "web": spec.defaultBackend.service.port: required: a number or a name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeDocuments([]byte(tt.in))
			switch {
			case err == nil:
				t.Fatalf("no error, want %s", tt.want)
			case !errors.Is(err, ErrInvalid):
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			case err.Error() != tt.want:
				t.Errorf("error = %s\n want %s", err, tt.want)
			}
		})
	}
}

func TestCheckPortName(t *testing.T) {
	for _, ok := range []string{"http", "h2c", "web-8080", "a", "x1-2-3", strings.Repeat("a", 15)} {
		if msg := checkPortName(ok); msg != "" {
			t.Errorf("checkPortName(%q) = %s", ok, msg)
		}
	}
	for _, bad := range []string{"", "8080", "1-2", "-a", "a-", "a--b", "A", "a_b", "a.b", strings.Repeat("a", 16)} {
		if checkPortName(bad) == "" {
			t.Errorf("checkPortName(%q) accepted", bad)
		}
	}
}

// Validate does not rely on Default: zero objects are refused, not a
// panic, and a Service built in Go without Default is accepted.
func TestServiceValidateZero(t *testing.T) {
	for _, k := range []string{"Service", "Ingress"} {
		info, _ := LookupKind(k)
		obj := info.New()
		obj.GetObjectMeta().Name = "x"
		obj.GetObjectMeta().Namespace = "default"
		if err := Validate(obj); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v", k, err)
		}
	}
	ep := &Endpoints{TypeMeta: TypeMeta{APIVersion: "v1", Kind: "Endpoints"}, Metadata: ObjectMeta{Name: "x", Namespace: "default"}}
	if err := Validate(ep); err != nil {
		t.Errorf("empty Endpoints: %v", err)
	}
	svc := &Service{TypeMeta: TypeMeta{APIVersion: "v1", Kind: "Service"}, Metadata: ObjectMeta{Name: "x", Namespace: "default"},
		Spec: ServiceSpec{Ports: []ServicePort{{Port: 80}}}}
	if err := Validate(svc); err != nil {
		t.Errorf("undefaulted Service: %v", err)
	}
	// Default fills a Go-built Service as the decoder's.
	Default(svc)
	if p := svc.Spec.Ports[0]; p.Protocol != "TCP" || p.TargetPort.IntVal != 80 || svc.Spec.Type != ServiceTypeClusterIP {
		t.Errorf("defaulted = %+v", svc.Spec)
	}
}
