package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/berth-dev/berth/api"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"github.com/berth-dev/berth/security"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// TokenHeader is the metadata key of a caller's ACL token ("Bearer TOKEN").
const TokenHeader = "authorization"

// caller is who made a call: the certificate it presented and, for a
// user, the ACL token it sent. An agent's own calls carry no token.
type caller struct {
	name  string
	role  security.Role
	token *api.ACLToken
	raw   string // the token as sent (a worker passes it on unchecked)
	open  bool   // a method with no certificate needed (openMethods)
}

// agent reports whether the call is an agent's own: full rights, as the
// cluster's certificate says.
func (c *caller) agent() bool {
	return c.token == nil && c.raw == "" && (c.role == security.RoleServer || c.role == security.RoleWorker)
}

// key names the caller for per-client limits: its certificate and token.
func (c *caller) key() string {
	if c.token != nil {
		return c.name + "/" + c.token.Metadata.Name
	}
	return c.name
}

// MaxWatchesPerClient bounds the watch streams one user (certificate and
// token) has open on one server; agents are not limited.
const MaxWatchesPerClient = 64

// watchCounts counts the open watch streams of each user.
type watchCounts struct {
	mu sync.Mutex
	n  map[string]int
}

// acquire counts one more watch of key, or refuses it past the limit.
func (w *watchCounts) acquire(key string) (release func(), err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n == nil {
		w.n = map[string]int{}
	}
	if w.n[key] >= MaxWatchesPerClient {
		return nil, status.Errorf(codes.ResourceExhausted, "%d watches are open already for this client on this server, the limit", MaxWatchesPerClient)
	}
	w.n[key]++
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.n[key]--; w.n[key] <= 0 {
			delete(w.n, key)
		}
	}, nil
}

// admin reports whether the caller may do anything.
func (c *caller) admin() bool {
	return c.agent() || c.token != nil && c.token.Spec.Role == api.RoleAdmin
}

type callerKey struct{}

// callerOf returns who made the call (nil outside an RPC).
func callerOf(ctx context.Context) *caller {
	c, _ := ctx.Value(callerKey{}).(*caller)
	return c
}

// openMethods need no certificate: the token in the request is the
// credential.
var openMethods = []string{pb.Security_JoinCluster_FullMethodName, pb.Security_Login_FullMethodName}

// agentMethods are the internal calls of agents: no ACL token opens them.
var agentMethods = []string{
	pb.Cluster_Join_FullMethodName, pb.Nodes_ReportPods_FullMethodName,
	pb.Security_Keyring_FullMethodName, pb.Security_RenewCertificate_FullMethodName,
}

// workerOwn are the services a worker answers itself for agents; a user's
// call of them goes to a server, which checks the token and relays it.
func workerOwn(method string) bool {
	return strings.HasPrefix(method, "/berth.v1.Workloads/")
}

// relayed reports whether a worker passes this call to a server rather
// than answering it: a user's call of the worker's own services.
func (a *Agent) relayed(c *caller, method string) bool {
	return a.fsm == nil && c.role == security.RoleClient && workerOwn(method)
}

// authenticate names the caller of an RPC: its verified certificate, and
// on a server its ACL token, checked against the state.
func (a *Agent) authenticate(ctx context.Context, method string) (*caller, error) {
	if slices.Contains(openMethods, method) {
		return &caller{open: true}, nil
	}
	if plaintext {
		return &caller{role: security.RoleServer}, nil
	}
	c := &caller{}
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			c.name, c.role, _ = security.PeerIdentity(ti.State)
		}
	}
	if c.role == "" {
		return nil, status.Error(codes.Unauthenticated, "no client certificate of this cluster: log in with `berth login` (the CLI reads ~/.berth/config), or use an agent's certificate")
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(TokenHeader); len(v) > 0 {
			c.raw = strings.TrimSpace(strings.TrimPrefix(v[0], "Bearer "))
		}
	}
	if c.raw == "" {
		if c.role == security.RoleClient {
			return nil, status.Error(codes.Unauthenticated, "no ACL token: pass --token or BERTH_TOKEN, or log in with `berth login`")
		}
		return c, nil
	}
	if a.fsm == nil {
		return c, nil // a worker: the server it passes the call to checks the token
	}
	tok, err := a.lookupToken(ctx, c.raw)
	if err != nil {
		return nil, err
	}
	c.token = tok
	return c, nil
}

// lookupToken finds an ACL token in the local state by its secret. A
// token this replica does not hold is looked for again once the replica
// has caught up with the leader (a server restarting, or behind, would
// otherwise refuse a token made a moment ago).
func (a *Agent) lookupToken(ctx context.Context, raw string) (*api.ACLToken, error) {
	t, err := security.ParseACLToken(raw)
	if err != nil {
		return nil, status.Errorf(codes.Unauthenticated, "%v", err)
	}
	r, err := a.fsm.View().Get("ACLToken", "", t.ID)
	if err != nil {
		if err := a.linearize(ctx); err != nil {
			return nil, status.Errorf(codes.Unavailable, "ACL token %s: this server cannot check it now: %v", t.ID, err)
		}
		if r, err = a.fsm.View().Get("ACLToken", "", t.ID); err != nil {
			return nil, status.Errorf(codes.Unauthenticated, "ACL token %s is unknown or revoked", t.ID)
		}
	}
	if tok, ok := a.tokens.get(raw, r.Revision); ok && !api.Expired(tok.Spec.ExpirationTime, a.cfg.Now()) {
		return tok, nil
	}
	tok := new(api.ACLToken)
	if err := json.Unmarshal(r.Object, tok); err != nil {
		return nil, status.Errorf(codes.Internal, "ACL token %s: %v", t.ID, err)
	}
	if !security.SecretMatches(t.Secret, tok.Spec.SecretHash) {
		return nil, status.Errorf(codes.Unauthenticated, "ACL token %s: wrong secret", t.ID)
	}
	if api.Expired(tok.Spec.ExpirationTime, a.cfg.Now()) {
		return nil, status.Errorf(codes.Unauthenticated, "ACL token %s expired at %s", t.ID, tok.Spec.ExpirationTime)
	}
	a.tokens.put(raw, r.Revision, tok)
	return tok, nil
}

// tokenCache keeps the ACL tokens checked lately, by the token as sent and
// the revision of its object: a hit skips decoding and hashing, and any
// change of the token (a revocation, an update) misses.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]cachedToken
}

type cachedToken struct {
	rev uint64
	tok *api.ACLToken
}

func (c *tokenCache) get(raw string, rev uint64) (*api.ACLToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[raw]
	return e.tok, ok && e.rev == rev
}

func (c *tokenCache) put(raw string, rev uint64, tok *api.ACLToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= 1024 {
		c.m = map[string]cachedToken{} // only valid tokens get here: few
	}
	c.m[raw] = cachedToken{rev: rev, tok: tok}
}

// gate decides whether a call may go on: on a server by the caller's
// rights (req is the request, or the first message of a stream); on a
// worker, users' calls go to a server, which decides.
func (a *Agent) gate(c *caller, method string, req any) error {
	if c.open || a.fsm == nil {
		return nil
	}
	return a.authorize(c, method, req)
}

// unaryAuth is the interceptor that authenticates and authorizes unary
// calls.
func (a *Agent) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	c, err := a.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	if a.relayed(c, info.FullMethod) {
		return a.relayUnary(ctx, info.FullMethod, req)
	}
	if err := a.gate(c, info.FullMethod, req); err != nil {
		return nil, err
	}
	return handler(context.WithValue(ctx, callerKey{}, c), req)
}

// streamAuth authenticates a stream at once and authorizes it on its
// first message.
func (a *Agent) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	c, err := a.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	if a.relayed(c, info.FullMethod) {
		return a.pass(ss, info.FullMethod)
	}
	return handler(srv, &gatedStream{ServerStream: ss, a: a, c: c, method: info.FullMethod, ctx: context.WithValue(ss.Context(), callerKey{}, c)})
}

type gatedStream struct {
	grpc.ServerStream
	a       *Agent
	c       *caller
	method  string
	ctx     context.Context
	checked bool
}

func (s *gatedStream) Context() context.Context { return s.ctx }

func (s *gatedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if !s.checked {
		s.checked = true
		if err := s.a.gate(s.c, s.method, m); err != nil {
			return err
		}
	}
	return nil
}

// SendMsg refuses to answer a stream whose first message was not
// authorized (a handler that sends before it receives).
func (s *gatedStream) SendMsg(m any) error {
	if !s.checked {
		if err := s.a.gate(s.c, s.method, nil); err != nil {
			return err
		}
		s.checked = true
	}
	return s.ServerStream.SendMsg(m)
}

// denied is a PermissionDenied naming what was missing.
func (c *caller) denied(format string, args ...any) error {
	who := "this token"
	if c.token != nil {
		who = fmt.Sprintf("token %s (%s", c.token.Metadata.Name, c.token.Spec.Role)
		if len(c.token.Spec.Namespaces) > 0 {
			who += ", namespaces " + strings.Join(c.token.Spec.Namespaces, ",")
		}
		who += ")"
	}
	return status.Errorf(codes.PermissionDenied, "%s: %s", who, fmt.Sprintf(format, args...))
}

// authorize checks the caller's rights on a server.
func (a *Agent) authorize(c *caller, method string, req any) error {
	if slices.Contains(agentMethods, method) {
		if c.agent() {
			return nil
		}
		return c.denied("%s is for agents only", method)
	}
	if c.admin() {
		return nil
	}
	if c.token == nil {
		// A worker passing a user's call without its token, or a client
		// certificate: not an agent's own call.
		return status.Error(codes.Unauthenticated, "no ACL token")
	}
	switch r := req.(type) {
	case *pb.GetRequest:
		if r.Ref == nil {
			return nil // the handler says what is wrong
		}
		return c.may(false, r.Ref.Kind, orDefault(r.Ref.Namespace))
	case *pb.ListRequest:
		return c.may(false, r.Kind, r.Namespace)
	case *pb.WatchRequest:
		return c.may(false, r.Kind, r.Namespace)
	case *pb.WriteRequest:
		return nil // each object is checked as the write decodes it (checkWrite)
	case *pb.DeleteRequest:
		for _, ref := range r.Refs {
			if err := c.may(true, ref.Kind, orDefault(ref.Namespace)); err != nil {
				return err
			}
		}
		return nil
	case *pb.LogsRequest:
		return c.may(false, "Pod", orDefault(r.Namespace))
	case *pb.ExecInput:
		if r.Start == nil {
			return c.denied("exec needs its start message first")
		}
		return c.may(true, "Pod", orDefault(r.Start.Namespace))
	}
	switch method {
	case pb.Cluster_Info_FullMethodName, pb.Cluster_Members_FullMethodName, pb.Cluster_Peers_FullMethodName,
		pb.Cluster_ReadIndex_FullMethodName, pb.Cluster_StateDigest_FullMethodName,
		pb.Workloads_ImageList_FullMethodName, pb.Workloads_PodMetrics_FullMethodName,
		pb.Security_WhoAmI_FullMethodName:
		return nil
	case pb.Workloads_ImageLoad_FullMethodName:
		if c.token.Spec.Role == api.RoleOperator && len(c.token.Spec.Namespaces) == 0 {
			return nil
		}
		return c.denied("loading images onto every node needs an admin token or an operator token of every namespace")
	}
	return c.denied("%s needs an admin token", method)
}

func orDefault(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

// may checks a read or a write of kind in namespace ns ("" for every
// namespace, or a cluster-scoped kind).
func (c *caller) may(write bool, kind, ns string) error {
	verb := "reading"
	if write {
		verb = "writing"
	}
	if kind == "" {
		// A watch of every kind.
		if len(c.token.Spec.Namespaces) > 0 && (ns == "" || !slices.Contains(c.token.Spec.Namespaces, ns)) {
			return c.denied("watching every kind needs a token of every namespace")
		}
		return nil
	}
	info, ok := api.LookupKind(kind)
	if !ok {
		if info, ok = api.ResolveResource(kind); !ok {
			return nil // the handler says the kind is unknown
		}
	}
	if info.APIVersion == api.APIVersionBerth {
		return c.denied("%s %s objects needs an admin token", verb, info.Kind)
	}
	if write && c.token.Spec.Role == api.RoleReadOnly {
		return c.denied("%s %s objects needs an operator or admin token", verb, info.Kind)
	}
	if !info.Namespaced {
		if write {
			return c.denied("%s %s objects (cluster-wide) needs an admin token", verb, info.Kind)
		}
		return nil
	}
	if scope := c.token.Spec.Namespaces; len(scope) > 0 {
		if ns == "" {
			return c.denied("%s %s of every namespace: name one of %s", verb, info.Plural, strings.Join(scope, ", "))
		}
		if !slices.Contains(scope, ns) {
			return c.denied("%s %s in namespace %q: not one of its namespaces", verb, info.Plural, ns)
		}
	}
	return nil
}

// checkWrite checks the caller's right to write one decoded object: the
// kind and namespace, then admit.
func (a *Agent) checkWrite(c *caller, obj api.Object) error {
	if c == nil || c.admin() {
		return nil
	}
	if err := c.may(true, obj.GetTypeMeta().Kind, obj.GetObjectMeta().Namespace); err != nil {
		return err
	}
	return a.admit(c, obj)
}

// checkWrites is checkWrite for every object of a write a follower passes
// to the leader (which takes it as the follower's own).
func (a *Agent) checkWrites(c *caller, req *pb.WriteRequest) error {
	if c == nil || c.admin() {
		return nil
	}
	for i, raw := range req.Objects {
		obj, err := api.DecodeObject(raw)
		if err != nil {
			return nil // the leader words the error
		}
		if err := a.checkWrite(c, obj); err != nil {
			if len(req.Objects) > 1 {
				return fmt.Errorf("document %d: %w", i+1, err)
			}
			return err
		}
	}
	return nil
}

// admit refuses pods that reach beyond their container unless the caller
// is an admin: privileged mode, added capabilities, host paths outside
// the allowed ones.
func (a *Agent) admit(c *caller, obj api.Object) error {
	var spec *api.PodSpec
	prefix := "spec."
	switch o := obj.(type) {
	case *api.Pod:
		spec = &o.Spec
	case *api.Deployment:
		spec, prefix = &o.Spec.Template.Spec, "spec.template.spec."
	case *api.ReplicaSet:
		spec, prefix = &o.Spec.Template.Spec, "spec.template.spec."
	case *api.StatefulSet:
		spec, prefix = &o.Spec.Template.Spec, "spec.template.spec."
	default:
		return nil
	}
	for i, ctr := range spec.Containers {
		p := fmt.Sprintf("%scontainers[%d].securityContext", prefix, i)
		if ctr.SecurityContext.IsPrivileged() {
			return c.denied("%s.privileged: a privileged container needs an admin token", p)
		}
		if sc := ctr.SecurityContext; sc != nil && sc.Capabilities != nil && len(sc.Capabilities.Add) > 0 {
			return c.denied("%s.capabilities.add: adding capabilities needs an admin token", p)
		}
	}
	for i, v := range spec.Volumes {
		if v.HostPath != nil && !a.hostPathAllowed(v.HostPath.Path) {
			return c.denied("%svolumes[%d].hostPath: %q is outside the allowed host paths (%s); it needs an admin token",
				prefix, i, v.HostPath.Path, strings.Join(a.cfg.AllowedHostPaths, ", "))
		}
	}
	return nil
}

// hostPathAllowed reports whether a non-admin may mount path: it lies
// under one of --allowed-host-paths.
func (a *Agent) hostPathAllowed(path string) bool {
	path = filepath.Clean(path)
	for _, allowed := range a.cfg.AllowedHostPaths {
		allowed = filepath.Clean(allowed)
		if path == allowed || strings.HasPrefix(path, allowed+"/") {
			return true
		}
	}
	return false
}
