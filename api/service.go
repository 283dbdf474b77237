package api

// The service kinds: v1 Service (a stable virtual IP, DNS name and
// published port in front of the pods its selector matches), v1 Endpoints
// (the pods behind a Service, kept by the leader), and networking.k8s.io/v1
// Ingress (HTTP routing by host and path), in Kubernetes' shapes. Every
// node serves them (package netsvc).

// Service types.
const (
	ServiceTypeClusterIP = "ClusterIP"
	ServiceTypeNodePort  = "NodePort"
	// ClusterIPNone makes a headless Service: no virtual IP; its DNS
	// name answers with the ready pods' addresses.
	ClusterIPNone = "None"
)

// Service is a stable address for the pods its selector matches.
type Service struct {
	TypeMeta
	Metadata ObjectMeta    `json:"metadata"`
	Spec     ServiceSpec   `json:"spec"`
	Status   ServiceStatus `json:"status,omitempty"`
}

// ServiceSpec is the desired state of a Service.
type ServiceSpec struct {
	// Type is ClusterIP (default) or NodePort.
	Type string `json:"type,omitempty"`
	// Selector picks the pods; a Service without one has the Endpoints
	// users write themselves.
	Selector map[string]string `json:"selector,omitempty"`
	Ports    []ServicePort     `json:"ports,omitempty"`
	// ClusterIP is allocated by the cluster from --service-cidr when
	// empty, and kept for the life of the Service; "None" is headless.
	ClusterIP  string   `json:"clusterIP,omitempty"`
	ClusterIPs []string `json:"clusterIPs,omitempty"`
	// PublishNotReadyAddresses lists pods in DNS before they are ready
	// (a StatefulSet's peers finding each other).
	PublishNotReadyAddresses bool `json:"publishNotReadyAddresses,omitempty"`
	// SessionAffinity is None (each connection picks an endpoint) or
	// ClientIP (a client's connections go to the endpoint its first one
	// went to, for SessionAffinityConfig's timeout, 3 hours by default).
	SessionAffinity       string                 `json:"sessionAffinity,omitempty"`
	SessionAffinityConfig *SessionAffinityConfig `json:"sessionAffinityConfig,omitempty"`
	ExternalTrafficPolicy string                 `json:"externalTrafficPolicy,omitempty"`
	InternalTrafficPolicy string                 `json:"internalTrafficPolicy,omitempty"`
	IPFamilies            []string               `json:"ipFamilies,omitempty"`
	IPFamilyPolicy        string                 `json:"ipFamilyPolicy,omitempty"`
}

// SessionAffinityConfig tunes ClientIP affinity.
type SessionAffinityConfig struct {
	ClientIP *ClientIPConfig `json:"clientIP,omitempty"`
}

// ClientIPConfig is how long a client stays with its endpoint.
type ClientIPConfig struct {
	TimeoutSeconds *int32 `json:"timeoutSeconds,omitempty"` // 1 to 86400, default 10800
}

// Session affinities of a Service.
const (
	SessionAffinityNone     = "None"
	SessionAffinityClientIP = "ClientIP"
	// DefaultAffinityTimeout is ClientIP affinity's default, in seconds.
	DefaultAffinityTimeout = 10800
)

// AffinityTimeout is how long a ClientIP affinity lasts, in seconds (0
// without affinity).
func (o *Service) AffinityTimeout() int32 {
	if o.Spec.SessionAffinity != SessionAffinityClientIP {
		return 0
	}
	if c := o.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		return *c.ClientIP.TimeoutSeconds
	}
	return DefaultAffinityTimeout
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name     string `json:"name,omitempty"`
	Protocol string `json:"protocol,omitempty"` // TCP (default) or UDP
	Port     int32  `json:"port"`
	// TargetPort is the pods' port: a number, or the name of a container
	// port. Default: Port.
	TargetPort  IntOrString `json:"targetPort,omitempty"`
	NodePort    int32       `json:"nodePort,omitempty"`
	AppProtocol string      `json:"appProtocol,omitempty"`
}

// ServiceStatus is empty: Berth has no load balancers to report.
type ServiceStatus struct {
	LoadBalancer *struct{} `json:"loadBalancer,omitempty"`
}

// GetTypeMeta returns the object's TypeMeta.
func (o *Service) GetTypeMeta() *TypeMeta { return &o.TypeMeta }

// GetObjectMeta returns the object's metadata.
func (o *Service) GetObjectMeta() *ObjectMeta { return &o.Metadata }

// Headless says whether the Service has no virtual IP.
func (o *Service) Headless() bool { return o.Spec.ClusterIP == ClusterIPNone }

// Endpoints are the addresses behind a Service: the same name as the
// Service, one subset per distinct set of ports.
type Endpoints struct {
	TypeMeta
	Metadata ObjectMeta       `json:"metadata"`
	Subsets  []EndpointSubset `json:"subsets,omitempty"`
}

// EndpointSubset is a set of addresses that share ports.
type EndpointSubset struct {
	// Addresses are ready: they receive traffic.
	Addresses []EndpointAddress `json:"addresses,omitempty"`
	// NotReadyAddresses are running but not ready: no new connections.
	NotReadyAddresses []EndpointAddress `json:"notReadyAddresses,omitempty"`
	Ports             []EndpointPort    `json:"ports,omitempty"`
}

// EndpointAddress is one pod's address.
type EndpointAddress struct {
	IP string `json:"ip"`
	// Hostname is the pod's name in DNS under a headless Service
	// (<hostname>.<service>.<ns>.svc.cluster.local): a StatefulSet's pod.
	Hostname  string           `json:"hostname,omitempty"`
	NodeName  string           `json:"nodeName,omitempty"`
	TargetRef *ObjectReference `json:"targetRef,omitempty"`
}

// EndpointPort is one port of the addresses.
type EndpointPort struct {
	Name        string `json:"name,omitempty"`
	Port        int32  `json:"port"`
	Protocol    string `json:"protocol,omitempty"`
	AppProtocol string `json:"appProtocol,omitempty"`
}

// ObjectReference names one object.
type ObjectReference struct {
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	UID       string `json:"uid,omitempty"`
}

// GetTypeMeta returns the object's TypeMeta.
func (o *Endpoints) GetTypeMeta() *TypeMeta { return &o.TypeMeta }

// GetObjectMeta returns the object's metadata.
func (o *Endpoints) GetObjectMeta() *ObjectMeta { return &o.Metadata }

// Path types of an Ingress rule.
const (
	PathTypePrefix                 = "Prefix"
	PathTypeExact                  = "Exact"
	PathTypeImplementationSpecific = "ImplementationSpecific" // as Prefix
)

// Ingress routes HTTP and HTTPS by host and path to Services; every node
// serves it on --ingress-http-port and --ingress-https-port.
type Ingress struct {
	TypeMeta
	Metadata ObjectMeta    `json:"metadata"`
	Spec     IngressSpec   `json:"spec"`
	Status   IngressStatus `json:"status,omitempty"`
}

// IngressSpec is the routing of an Ingress.
type IngressSpec struct {
	IngressClassName *string         `json:"ingressClassName,omitempty"`
	DefaultBackend   *IngressBackend `json:"defaultBackend,omitempty"`
	TLS              []IngressTLS    `json:"tls,omitempty"`
	Rules            []IngressRule   `json:"rules,omitempty"`
}

// IngressTLS serves Hosts with the certificate of a kubernetes.io/tls
// Secret of the Ingress's namespace.
type IngressTLS struct {
	Hosts      []string `json:"hosts,omitempty"`
	SecretName string   `json:"secretName,omitempty"`
}

// IngressRule routes one host ("" or absent: any host; "*.example.com":
// one label of wildcard).
type IngressRule struct {
	Host string                `json:"host,omitempty"`
	HTTP *HTTPIngressRuleValue `json:"http,omitempty"`
}

// HTTPIngressRuleValue is the paths of a rule.
type HTTPIngressRuleValue struct {
	Paths []HTTPIngressPath `json:"paths"`
}

// HTTPIngressPath sends a path to a backend.
type HTTPIngressPath struct {
	Path     string         `json:"path,omitempty"`
	PathType string         `json:"pathType"`
	Backend  IngressBackend `json:"backend"`
}

// IngressBackend is a Service port.
type IngressBackend struct {
	Service *IngressServiceBackend `json:"service,omitempty"`
}

// IngressServiceBackend names a Service of the Ingress's namespace and
// one of its ports, by number or name.
type IngressServiceBackend struct {
	Name string             `json:"name"`
	Port ServiceBackendPort `json:"port"`
}

// ServiceBackendPort is a Service port by name or number.
type ServiceBackendPort struct {
	Name   string `json:"name,omitempty"`
	Number int32  `json:"number,omitempty"`
}

// IngressStatus is empty: every node serves every Ingress.
type IngressStatus struct {
	LoadBalancer *struct{} `json:"loadBalancer,omitempty"`
}

// GetTypeMeta returns the object's TypeMeta.
func (o *Ingress) GetTypeMeta() *TypeMeta { return &o.TypeMeta }

// GetObjectMeta returns the object's metadata.
func (o *Ingress) GetObjectMeta() *ObjectMeta { return &o.Metadata }
