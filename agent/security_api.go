package agent

import (
	"context"
	"errors"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/controller"
	"github.com/berth-dev/berth/fsm"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"github.com/berth-dev/berth/security"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// securityServer implements the Security service on servers.
type securityServer struct {
	pb.UnimplementedSecurityServer
	a *Agent
}

func (s *securityServer) JoinCluster(ctx context.Context, req *pb.JoinClusterRequest) (*pb.JoinClusterResponse, error) {
	a := s.a
	if !a.node.IsLeader() {
		resp := new(pb.JoinClusterResponse)
		return resp, a.forward(ctx, pb.Security_JoinCluster_FullMethodName, req, resp)
	}
	tok, err := security.ParseJoinToken(req.Token)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	if fp := a.creds.fingerprint(); tok.CAFingerprint != fp {
		return nil, status.Errorf(codes.Unauthenticated, "join token is for the cluster whose CA is %s; this cluster's CA is %s", tok.CAFingerprint, fp)
	}
	role := security.Role(req.Role)
	if role != security.RoleWorker && role != security.RoleServer {
		return nil, status.Errorf(codes.InvalidArgument, "join: role %q is not worker or server", req.Role)
	}
	if msg := api.CheckNodeName(req.Name); msg != "" {
		return nil, status.Errorf(codes.InvalidArgument, "join: name %q %s", req.Name, msg)
	}
	for attempt := 0; ; attempt++ {
		r, err := a.fsm.View().Get("JoinToken", "", tok.ID)
		if err != nil {
			return nil, status.Errorf(codes.Unauthenticated, "join token %s is unknown or revoked", tok.ID)
		}
		obj, err := api.DecodeStored("JoinToken", r.Object)
		if err != nil {
			return nil, toStatus(err)
		}
		jt := obj.(*api.JoinToken)
		switch {
		case !security.SecretMatches(tok.Secret, jt.Spec.SecretHash):
			return nil, status.Errorf(codes.Unauthenticated, "join token %s: wrong secret", tok.ID)
		case api.Expired(jt.Spec.ExpirationTime, a.cfg.Now()):
			return nil, status.Errorf(codes.Unauthenticated, "join token %s expired at %s", tok.ID, jt.Spec.ExpirationTime)
		case jt.Spec.Uses > 0 && jt.Spec.Used >= jt.Spec.Uses:
			return nil, status.Errorf(codes.PermissionDenied, "join token %s is used up (%d of %d uses)", tok.ID, jt.Spec.Used, jt.Spec.Uses)
		case jt.Spec.Role != string(role):
			if role == security.RoleServer {
				return nil, status.Errorf(codes.PermissionDenied, "join token %s is a worker token: a server needs one made with `berth token create --role server`", tok.ID)
			}
			return nil, status.Errorf(codes.PermissionDenied, "join token %s is a server token: start the agent with --server, or use a worker token", tok.ID)
		}
		cert, err := a.creds.signer.Sign(req.Csr, req.Name, role, nil, nil, time.Now(), a.creds.life)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "join: %v", err)
		}
		jt.Spec.Used++
		jt.Metadata.ResourceVersion = ""
		op, err := fsm.ObjectOp(fsm.VerbUpdate, jt)
		if err != nil {
			return nil, toStatus(err)
		}
		op.ResourceVersion = r.Revision
		if _, err := a.node.Apply(ctx, &fsm.Command{Type: fsm.CmdWrite, Time: a.now(), Ops: []fsm.Op{op}}); err != nil {
			if errors.Is(err, fsm.ErrConflict) && attempt < 5 {
				continue // another join used it meanwhile: check again
			}
			return nil, toStatus(err)
		}
		a.log.Info("agent joined with a token", "name", req.Name, "role", role, "token", tok.ID)
		resp := &pb.JoinClusterResponse{CertPem: append(cert, a.creds.caPEM...), CaPem: a.creds.caPEM, GossipKey: a.creds.gossip}
		if role == security.RoleServer {
			resp.CaKeyPem = a.creds.signer.KeyPEM()
		}
		return resp, nil
	}
}

func (s *securityServer) Login(ctx context.Context, req *pb.LoginRequest) (*pb.LoginResponse, error) {
	a := s.a
	tok, err := a.lookupToken(ctx, req.Token)
	if err != nil {
		return nil, err
	}
	cert, err := a.creds.signer.Sign(req.Csr, "acl-"+tok.Metadata.Name, security.RoleClient, nil, nil, time.Now(), a.creds.life)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "login: %v", err)
	}
	return &pb.LoginResponse{CertPem: append(cert, a.creds.caPEM...), CaPem: a.creds.caPEM, Role: tok.Spec.Role, Namespaces: tok.Spec.Namespaces}, nil
}

func (s *securityServer) RenewCertificate(ctx context.Context, req *pb.RenewCertificateRequest) (*pb.RenewCertificateResponse, error) {
	c := callerOf(ctx)
	if c == nil || !c.agent() {
		return nil, status.Error(codes.PermissionDenied, "only agents renew their certificates here; users log in again")
	}
	cert, err := s.a.creds.signer.Sign(req.Csr, c.name, c.role, nil, nil, time.Now(), s.a.creds.life)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "renew: %v", err)
	}
	return &pb.RenewCertificateResponse{CertPem: append(cert, s.a.creds.caPEM...)}, nil
}

func (s *securityServer) TokenCreate(ctx context.Context, req *pb.TokenCreateRequest) (*pb.TokenCreateResponse, error) {
	a := s.a
	if req.Role != api.JoinRoleWorker && req.Role != api.JoinRoleServer {
		return nil, status.Errorf(codes.InvalidArgument, "token: role %q is not worker or server", req.Role)
	}
	if req.TtlSeconds < 0 || req.Uses < 0 {
		return nil, status.Error(codes.InvalidArgument, "token: ttl and uses must not be negative")
	}
	tok, err := security.NewJoinToken(a.creds.fingerprint())
	if err != nil {
		return nil, toStatus(err)
	}
	jt := &api.JoinToken{
		Metadata: api.ObjectMeta{Name: tok.ID},
		Spec:     api.JoinTokenSpec{Role: req.Role, SecretHash: security.HashSecret(tok.Secret), Description: req.Description, Uses: req.Uses},
	}
	if req.TtlSeconds > 0 {
		jt.Spec.ExpirationTime = a.cfg.Now().Add(time.Duration(req.TtlSeconds) * time.Second).UTC().Format(time.RFC3339)
	}
	if err := a.createObject(ctx, jt); err != nil {
		return nil, err
	}
	return &pb.TokenCreateResponse{Token: tok.String(), Id: tok.ID, Expires: jt.Spec.ExpirationTime}, nil
}

func (s *securityServer) ACLCreate(ctx context.Context, req *pb.ACLCreateRequest) (*pb.ACLCreateResponse, error) {
	a := s.a
	tok, err := security.NewACLToken()
	if err != nil {
		return nil, toStatus(err)
	}
	t := &api.ACLToken{
		Metadata: api.ObjectMeta{Name: tok.ID},
		Spec:     api.ACLTokenSpec{Role: req.Role, Namespaces: req.Namespaces, SecretHash: security.HashSecret(tok.Secret), Description: req.Description},
	}
	if req.TtlSeconds < 0 {
		return nil, status.Error(codes.InvalidArgument, "acl: ttl must not be negative")
	}
	if req.TtlSeconds > 0 {
		t.Spec.ExpirationTime = a.cfg.Now().Add(time.Duration(req.TtlSeconds) * time.Second).UTC().Format(time.RFC3339)
	}
	if err := a.createObject(ctx, t); err != nil {
		return nil, err
	}
	return &pb.ACLCreateResponse{Token: tok.String(), Id: tok.ID}, nil
}

// createObject validates and creates an object through Raft, from any
// server (the write goes to the leader).
func (a *Agent) createObject(ctx context.Context, obj api.Object) error {
	api.Default(obj)
	if err := api.Validate(obj); err != nil {
		return toStatus(err)
	}
	raw, err := api.Encode(obj)
	if err != nil {
		return toStatus(err)
	}
	_, err = (&resourceServer{a: a}).Create(ctx, &pb.WriteRequest{RequestId: controller.NewUID(), Objects: [][]byte{raw}})
	return err
}

func (s *securityServer) Keyring(ctx context.Context, req *pb.KeyringRequest) (*pb.KeyringResponse, error) {
	if c := callerOf(ctx); c == nil || !c.agent() || c.role != security.RoleServer {
		return nil, status.Error(codes.PermissionDenied, "the keyring is for servers only")
	}
	s.a.keys.mu.Lock()
	kr := s.a.keys.kr
	s.a.keys.mu.Unlock()
	if kr == nil {
		return nil, status.Error(codes.Unavailable, "this server has no keyring yet")
	}
	b, err := kr.Marshal()
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.KeyringResponse{Keyring: b}, nil
}

func (s *securityServer) KeyringRotate(ctx context.Context, req *pb.KeyringRotateRequest) (*pb.KeyringRotateResponse, error) {
	a := s.a
	if !a.node.IsLeader() {
		resp := new(pb.KeyringRotateResponse)
		return resp, a.forward(ctx, pb.Security_KeyringRotate_FullMethodName, req, resp)
	}
	kr, err := a.keys.get(ctx, "")
	if err != nil {
		return nil, err
	}
	a.keys.mu.Lock()
	id, err := kr.Rotate()
	if err == nil {
		err = a.keys.save(kr)
	}
	a.keys.mu.Unlock()
	if err != nil {
		return nil, toStatus(err)
	}
	n, err := a.rewrapSecrets(ctx, kr)
	if err != nil {
		return nil, toStatus(err)
	}
	a.log.Info("keyring rotated", "key", id, "secrets", n)
	return &pb.KeyringRotateResponse{KeyId: id, Secrets: int32(n)}, nil
}

func (s *securityServer) WhoAmI(ctx context.Context, req *pb.WhoAmIRequest) (*pb.WhoAmIResponse, error) {
	c := callerOf(ctx)
	if c == nil {
		return nil, status.Error(codes.Unauthenticated, "unknown caller")
	}
	resp := &pb.WhoAmIResponse{CertRole: string(c.role), CertName: c.name}
	if c.token != nil {
		resp.TokenId, resp.Role, resp.Namespaces = c.token.Metadata.Name, c.token.Spec.Role, c.token.Spec.Namespaces
	}
	return resp, nil
}

// bootstrapToken makes the cluster's first admin token, with the default
// namespace when the cluster is created: the secret given (--bootstrap-token)
// or a new one, which is logged once.
func (a *Agent) bootstrapToken() (*fsm.Op, error) {
	secret := a.cfg.BootstrapToken
	generated := secret == ""
	if generated {
		t, err := security.NewACLToken()
		if err != nil {
			return nil, err
		}
		secret = t.String()
	}
	t, err := security.ParseACLToken(secret)
	if err != nil {
		return nil, errors.New("--bootstrap-token: " + err.Error())
	}
	obj := &api.ACLToken{
		Metadata: api.ObjectMeta{Name: t.ID},
		Spec:     api.ACLTokenSpec{Role: api.RoleAdmin, SecretHash: security.HashSecret(t.Secret), Description: "bootstrap"},
	}
	api.Default(obj)
	op, err := fsm.ObjectOp(fsm.VerbCreate, obj)
	if err != nil {
		return nil, err
	}
	op.UID = controller.NewUID()
	if generated {
		a.log.Warn("the cluster's bootstrap admin token (shown once; keep it): " + secret)
	}
	return &op, nil
}
