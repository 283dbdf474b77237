package client

import (
	"context"
	"time"

	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc"
)

// JoinToken is a new join token: Token is shown once.
type JoinToken struct {
	Token, ID string
	Expires   string // RFC 3339; empty: never
}

// CreateJoinToken makes a join token for agents of role "worker" or
// "server", valid for ttl (0: no expiry) and uses joins (0: no limit). It
// needs an admin token.
func (c *Client) CreateJoinToken(ctx context.Context, role string, ttl time.Duration, uses int, description string) (*JoinToken, error) {
	var resp *pb.TokenCreateResponse
	err := c.do(ctx, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = pb.NewSecurityClient(conn).TokenCreate(ctx, &pb.TokenCreateRequest{
			Role: role, TtlSeconds: int64(ttl / time.Second), Uses: int32(uses), Description: description,
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &JoinToken{Token: resp.Token, ID: resp.Id, Expires: resp.Expires}, nil
}

// CreateACLToken makes an ACL token of role admin, operator or read-only,
// limited to namespaces (none: every one), valid for ttl (0: no expiry).
// It returns the token (shown once) and its ID.
func (c *Client) CreateACLToken(ctx context.Context, role string, namespaces []string, ttl time.Duration, description string) (token, id string, err error) {
	var resp *pb.ACLCreateResponse
	err = c.do(ctx, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = pb.NewSecurityClient(conn).ACLCreate(ctx, &pb.ACLCreateRequest{
			Role: role, Namespaces: namespaces, TtlSeconds: int64(ttl / time.Second), Description: description,
		})
		return err
	})
	if err != nil {
		return "", "", err
	}
	return resp.Token, resp.Id, nil
}

// Identity is who the cluster takes the caller for.
type Identity struct {
	CertRole, CertName string
	TokenID, Role      string
	Namespaces         []string
}

// WhoAmI asks the cluster who the caller is.
func (c *Client) WhoAmI(ctx context.Context) (*Identity, error) {
	var resp *pb.WhoAmIResponse
	err := c.do(ctx, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = pb.NewSecurityClient(conn).WhoAmI(ctx, &pb.WhoAmIRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Identity{CertRole: resp.CertRole, CertName: resp.CertName, TokenID: resp.TokenId, Role: resp.Role, Namespaces: resp.Namespaces}, nil
}

// RotateKeyring adds a key-encryption key for Secrets and re-wraps every
// Secret's data key with it; it returns the new key's ID and how many
// Secrets were re-wrapped. It needs an admin token.
func (c *Client) RotateKeyring(ctx context.Context) (string, int, error) {
	var resp *pb.KeyringRotateResponse
	err := c.do(ctx, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = pb.NewSecurityClient(conn).KeyringRotate(ctx, &pb.KeyringRotateRequest{})
		return err
	})
	if err != nil {
		return "", 0, err
	}
	return resp.KeyId, int(resp.Secrets), nil
}

// Login gets a client certificate for an ACL token from the server at
// addr, trusting only a CA whose certificate verifies with tc (the CLI
// pins the CA's fingerprint); csr is the DER request for the client's key.
func Login(ctx context.Context, addr string, creds grpc.DialOption, token string, csr []byte) (certPEM, caPEM []byte, role string, namespaces []string, err error) {
	conn, err := grpc.NewClient(addr, creds)
	if err != nil {
		return nil, nil, "", nil, err
	}
	defer conn.Close()
	resp, err := pb.NewSecurityClient(conn).Login(ctx, &pb.LoginRequest{Token: token, Csr: csr})
	if err != nil {
		return nil, nil, "", nil, wrap(err)
	}
	return resp.CertPem, resp.CaPem, resp.Role, resp.Namespaces, nil
}
