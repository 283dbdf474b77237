// Package testcreds makes the credentials of a test cluster: its CA (for
// servers that bootstrap together, --ca-cert and --ca-key), the secret of
// its bootstrap admin token, and an admin client's certificate.
package testcreds

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/security"
)

// Creds are one test cluster's credentials.
type Creds struct {
	CA            *security.CA
	CACert, CAKey string // files
	Token         string // the bootstrap admin token
	cert, key     []byte // the admin client's certificate (and the CA's) and key
	clientOptions []client.Option
}

// New makes a cluster's credentials, with their files in dir.
func New(dir string) (*Creds, error) {
	ca, err := security.NewCA(time.Now(), 24*time.Hour)
	if err != nil {
		return nil, err
	}
	tok, err := security.NewACLToken()
	if err != nil {
		return nil, err
	}
	c := &Creds{CA: ca, CACert: filepath.Join(dir, "ca.pem"), CAKey: filepath.Join(dir, "ca-key.pem"), Token: tok.String()}
	if err := os.WriteFile(c.CACert, ca.CertPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.CAKey, ca.KeyPEM(), 0o600); err != nil {
		return nil, err
	}
	cert, key, err := ca.Issue("test-admin", security.RoleClient, nil, nil, time.Now(), 24*time.Hour)
	if err != nil {
		return nil, err
	}
	c.cert, c.key = append(cert, ca.CertPEM...), key
	c.clientOptions, err = c.Config(nil).Options()
	if err != nil {
		return nil, fmt.Errorf("testcreds: %w", err)
	}
	return c, nil
}

// ServerArgs are the flags that give a server the cluster's CA and the
// bootstrap admin token.
func (c *Creds) ServerArgs() []string {
	return []string{"--ca-cert", c.CACert, "--ca-key", c.CAKey, "--bootstrap-token", c.Token}
}

// Config is the admin's client configuration for servers.
func (c *Creds) Config(servers []string) *client.Config {
	return &client.Config{Servers: servers, CA: string(c.CA.CertPEM), Cert: string(c.cert), Key: string(c.key), Token: c.Token}
}

// Options are the admin client's options (its TLS and token).
func (c *Creds) Options() []client.Option { return c.clientOptions }

// Client returns a client with the admin's credentials and the options
// given.
func (c *Creds) Client(addrs []string, opts ...client.Option) (*client.Client, error) {
	return client.New(addrs, append(c.Options(), opts...)...)
}

// ClientWith returns a client of addrs with a client certificate and the
// ACL token given (another role's), as a user who logged in would have.
func (c *Creds) ClientWith(addrs []string, token string, opts ...client.Option) (*client.Client, error) {
	cfg := c.Config(addrs)
	cfg.Token = token
	o, err := cfg.Options()
	if err != nil {
		return nil, err
	}
	return client.New(addrs, append(o, opts...)...)
}
