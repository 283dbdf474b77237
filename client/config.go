package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Config is what a client needs to reach a cluster: where its servers
// are, which CA to trust, its own certificate, and its ACL token. The CLI
// keeps one in ~/.berth/config (written by `berth login` and by
// `berth agent --dev`).
type Config struct {
	Servers []string `json:"servers"`
	// CA is the cluster CA's certificate, Cert the client's certificate
	// (and the CA's), Key its private key: PEM.
	CA    string `json:"ca"`
	Cert  string `json:"cert"`
	Key   string `json:"key"`
	Token string `json:"token,omitempty"`
}

// ServerName is the name every Berth agent's certificate carries.
const ServerName = "berth"

// DefaultConfigPath is $BERTH_CONFIG, else ~/.berth/config.
func DefaultConfigPath() string {
	if p := os.Getenv("BERTH_CONFIG"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".berth", "config")
	}
	return filepath.Join(home, ".berth", "config")
}

// LoadConfig reads a client configuration file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("client config %s: %w", path, err)
	}
	return &c, nil
}

// Save writes the configuration (mode 0600, its folder 0700).
func (c *Config) Save(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// TLS is the client's TLS configuration: the cluster's CA as the only
// root, and the client's certificate.
func (c *Config) TLS() (*tls.Config, error) {
	if c.CA == "" {
		return nil, errors.New("client config: no CA certificate (log in with `berth login`)")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(c.CA)) {
		return nil, errors.New("client config: the CA certificate is not PEM")
	}
	tc := &tls.Config{RootCAs: pool, ServerName: ServerName, MinVersion: tls.VersionTLS13}
	if c.Cert != "" || c.Key != "" {
		kp, err := tls.X509KeyPair([]byte(c.Cert), []byte(c.Key))
		if err != nil {
			return nil, fmt.Errorf("client config: certificate and key: %w", err)
		}
		tc.Certificates = []tls.Certificate{kp}
	}
	return tc, nil
}

// Options are the client options of the configuration: its TLS and its
// token.
func (c *Config) Options() ([]Option, error) {
	tc, err := c.TLS()
	if err != nil {
		return nil, err
	}
	opts := []Option{WithTLS(tc)}
	if c.Token != "" {
		opts = append(opts, WithToken(c.Token))
	}
	return opts, nil
}

// WithTLS makes the client speak TLS with this configuration (its
// certificate and the cluster's CA). Without it the client connects in
// clear, which Berth's agents refuse.
func WithTLS(tc *tls.Config) Option { return func(c *Client) { c.tls = tc } }

// WithToken sends an ACL token with every call.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// tokenCreds sends the ACL token as gRPC metadata.
type tokenCreds string

func (t tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

func (tokenCreds) RequireTransportSecurity() bool { return true }
