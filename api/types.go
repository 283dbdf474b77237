package api

// TypeMeta names an object's kind and the API version of its schema.
type TypeMeta struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// ObjectMeta is the metadata every object carries.
type ObjectMeta struct {
	Name              string            `json:"name,omitempty"`
	Namespace         string            `json:"namespace,omitempty"`
	UID               string            `json:"uid,omitempty"`
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
	Generation        int64             `json:"generation,omitempty"`
	CreationTimestamp string            `json:"creationTimestamp,omitempty"` // RFC 3339, stamped by the server
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	// OwnerReferences name the objects this one belongs to (set by the
	// controllers): it is deleted with them.
	OwnerReferences []OwnerReference `json:"ownerReferences,omitempty"`
}

// Object is implemented by the pointer types of the kinds: *Namespace,
// *ConfigMap, *Secret, *Pod, *Node.
type Object interface {
	GetTypeMeta() *TypeMeta
	GetObjectMeta() *ObjectMeta
}

// Namespace is a cluster-scoped object that scopes the names of other
// objects.
type Namespace struct {
	TypeMeta
	Metadata ObjectMeta      `json:"metadata"`
	Spec     NamespaceSpec   `json:"spec,omitempty"`
	Status   NamespaceStatus `json:"status,omitempty"`
}

// NamespaceSpec is the desired state of a Namespace.
type NamespaceSpec struct {
	Finalizers []string `json:"finalizers,omitempty"`
}

// NamespaceStatus is the observed state of a Namespace.
type NamespaceStatus struct {
	Phase string `json:"phase,omitempty"`
}

// Namespace phases.
const (
	NamespaceActive      = "Active"
	NamespaceTerminating = "Terminating"
)

// ConfigMap holds non-secret configuration as key-value pairs.
type ConfigMap struct {
	TypeMeta
	Metadata   ObjectMeta        `json:"metadata"`
	Immutable  *bool             `json:"immutable,omitempty"`
	Data       map[string]string `json:"data,omitempty"`
	BinaryData map[string][]byte `json:"binaryData,omitempty"`
}

// Secret holds sensitive key-value pairs. Data is base64 in JSON and YAML,
// as in Kubernetes. StringData is write-only: Default merges it into Data
// and clears it.
type Secret struct {
	TypeMeta
	Metadata   ObjectMeta        `json:"metadata"`
	Immutable  *bool             `json:"immutable,omitempty"`
	Type       string            `json:"type,omitempty"`
	Data       map[string][]byte `json:"data,omitempty"`
	StringData map[string]string `json:"stringData,omitempty"`
}

// Secret types with a required shape.
const (
	SecretTypeOpaque = "Opaque"
	SecretTypeTLS    = "kubernetes.io/tls"
	TLSCertKey       = "tls.crt"
	TLSPrivateKeyKey = "tls.key"
)

var (
	_ Object = (*Namespace)(nil)
	_ Object = (*ConfigMap)(nil)
	_ Object = (*Secret)(nil)
	_ Object = (*Pod)(nil)
	_ Object = (*Node)(nil)
)

// GetTypeMeta returns the object's TypeMeta.
func (o *Pod) GetTypeMeta() *TypeMeta { return &o.TypeMeta }

// GetObjectMeta returns the object's metadata.
func (o *Pod) GetObjectMeta() *ObjectMeta { return &o.Metadata }

// GetTypeMeta returns the object's TypeMeta.
func (o *Node) GetTypeMeta() *TypeMeta { return &o.TypeMeta }

// GetObjectMeta returns the object's metadata.
func (o *Node) GetObjectMeta() *ObjectMeta { return &o.Metadata }

// GetTypeMeta returns the object's TypeMeta.
func (o *Namespace) GetTypeMeta() *TypeMeta { return &o.TypeMeta }

// GetObjectMeta returns the object's metadata.
func (o *Namespace) GetObjectMeta() *ObjectMeta { return &o.Metadata }

// GetTypeMeta returns the object's TypeMeta.
func (o *ConfigMap) GetTypeMeta() *TypeMeta { return &o.TypeMeta }

// GetObjectMeta returns the object's metadata.
func (o *ConfigMap) GetObjectMeta() *ObjectMeta { return &o.Metadata }

// GetTypeMeta returns the object's TypeMeta.
func (o *Secret) GetTypeMeta() *TypeMeta { return &o.TypeMeta }

// GetObjectMeta returns the object's metadata.
func (o *Secret) GetObjectMeta() *ObjectMeta { return &o.Metadata }

// kindOf returns the Kind of obj's Go type, whatever its TypeMeta says, or
// "" for a type this package does not know.
func kindOf(obj Object) string {
	switch obj.(type) {
	case *Namespace:
		return "Namespace"
	case *ConfigMap:
		return "ConfigMap"
	case *Secret:
		return "Secret"
	case *Pod:
		return "Pod"
	case *Node:
		return "Node"
	case *Deployment:
		return "Deployment"
	case *Service:
		return "Service"
	case *Endpoints:
		return "Endpoints"
	case *Ingress:
		return "Ingress"
	case *ACLToken:
		return "ACLToken"
	case *JoinToken:
		return "JoinToken"
	case *ReplicaSet:
		return "ReplicaSet"
	case *StatefulSet:
		return "StatefulSet"
	case *PersistentVolumeClaim:
		return "PersistentVolumeClaim"
	case *HorizontalPodAutoscaler:
		return "HorizontalPodAutoscaler"
	case *Event:
		return "Event"
	}
	return ""
}

// Describe names an object for messages, as kubectl does: `configmap "web"`,
// or `configmap (no name)` when the name is empty.
func Describe(obj Object) string {
	if isNil(obj) {
		return "object (no name)"
	}
	kind := kindOf(obj)
	if kind == "" {
		kind = obj.GetTypeMeta().Kind
	}
	return describe(kind, obj.GetObjectMeta().Name)
}

func describe(kind, name string) string {
	k := lower(kind)
	if k == "" {
		k = "object"
	}
	if name == "" {
		return k + " (no name)"
	}
	return k + " " + quote(name)
}
