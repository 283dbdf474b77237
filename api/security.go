package api

import (
	"fmt"
	"time"
)

// APIVersionBerth is the group of Berth's own kinds.
const APIVersionBerth = "berth.dev/v1"

// The roles of an ACL token.
const (
	RoleAdmin    = "admin"     // everything
	RoleOperator = "operator"  // workloads: read and write namespaced objects
	RoleReadOnly = "read-only" // read objects (Secrets without their values) and logs
)

// The roles of a join token: what the joining agent becomes.
const (
	JoinRoleWorker = "worker"
	JoinRoleServer = "server"
)

// ACLToken grants access to the API. Its name is the token's ID; the
// secret is never stored, only its SHA-256.
type ACLToken struct {
	TypeMeta
	Metadata ObjectMeta   `json:"metadata"`
	Spec     ACLTokenSpec `json:"spec"`
}

// ACLTokenSpec says what a token may do.
type ACLTokenSpec struct {
	Role string `json:"role"`
	// Namespaces limits the token to these namespaces (and no cluster-wide
	// object); empty: every namespace.
	Namespaces  []string `json:"namespaces,omitempty"`
	SecretHash  string   `json:"secretHash"`
	Description string   `json:"description,omitempty"`
	// ExpirationTime (RFC 3339) ends the token; empty: never.
	ExpirationTime string `json:"expirationTime,omitempty"`
}

// JoinToken lets an agent join the cluster once it proves the secret. Its
// name is the token's ID.
type JoinToken struct {
	TypeMeta
	Metadata ObjectMeta    `json:"metadata"`
	Spec     JoinTokenSpec `json:"spec"`
}

// JoinTokenSpec says what a join token allows and how often.
type JoinTokenSpec struct {
	Role           string `json:"role"`
	SecretHash     string `json:"secretHash"`
	Description    string `json:"description,omitempty"`
	ExpirationTime string `json:"expirationTime,omitempty"`
	// Uses is how many joins the token allows (0: no limit); Used counts
	// those made.
	Uses int32 `json:"uses,omitempty"`
	Used int32 `json:"used,omitempty"`
}

// GetTypeMeta returns the object's TypeMeta.
func (o *ACLToken) GetTypeMeta() *TypeMeta { return &o.TypeMeta }

// GetObjectMeta returns the object's metadata.
func (o *ACLToken) GetObjectMeta() *ObjectMeta { return &o.Metadata }

// GetTypeMeta returns the object's TypeMeta.
func (o *JoinToken) GetTypeMeta() *TypeMeta { return &o.TypeMeta }

// GetObjectMeta returns the object's metadata.
func (o *JoinToken) GetObjectMeta() *ObjectMeta { return &o.Metadata }

// Expired reports whether a token's expiration time (RFC 3339, empty:
// never) has passed at now.
func Expired(expiration string, now time.Time) bool {
	if expiration == "" {
		return false
	}
	t, err := time.Parse(time.RFC3339, expiration)
	return err != nil || !now.Before(t)
}

func validateSecurity(l *errList, obj Object) {
	var expiration, hash string
	switch o := obj.(type) {
	case *ACLToken:
		switch o.Spec.Role {
		case RoleAdmin, RoleOperator, RoleReadOnly:
		default:
			l.add("spec.role", "%s is not %s, %s or %s", quote(o.Spec.Role), RoleAdmin, RoleOperator, RoleReadOnly)
		}
		for i, ns := range o.Spec.Namespaces {
			if msg := checkLabel(ns); msg != "" {
				l.add(fmt.Sprintf("spec.namespaces[%d]", i), "%s %s", quote(ns), msg)
			}
		}
		if o.Spec.Role == RoleAdmin && len(o.Spec.Namespaces) > 0 {
			l.add("spec.namespaces", "an admin token is not limited to namespaces")
		}
		expiration, hash = o.Spec.ExpirationTime, o.Spec.SecretHash
	case *JoinToken:
		switch o.Spec.Role {
		case JoinRoleWorker, JoinRoleServer:
		default:
			l.add("spec.role", "%s is not %s or %s", quote(o.Spec.Role), JoinRoleWorker, JoinRoleServer)
		}
		if o.Spec.Uses < 0 || o.Spec.Used < 0 {
			l.add("spec.uses", "must not be negative")
		}
		expiration, hash = o.Spec.ExpirationTime, o.Spec.SecretHash
	}
	if len(hash) != 64 {
		l.add("spec.secretHash", "must be 64 hex digits (the SHA-256 of the secret)")
	}
	if expiration != "" {
		if _, err := time.Parse(time.RFC3339, expiration); err != nil {
			l.add("spec.expirationTime", "%s is not an RFC 3339 time", quote(expiration))
		}
	}
}

// CheckNodeName returns what is wrong with a node's name ("" if nothing):
// a DNS subdomain, as Kubernetes requires.
func CheckNodeName(name string) string {
	if name == "" {
		return "is empty"
	}
	return checkSubdomain(name)
}

// IsBerthKind reports whether kind is one of Berth's own (tokens).
func IsBerthKind(kind string) bool {
	info, ok := LookupKind(kind)
	return ok && info.APIVersion == APIVersionBerth
}
