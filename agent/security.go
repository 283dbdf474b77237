package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	pb "github.com/berth-dev/berth/proto/berthpb"
	"github.com/berth-dev/berth/security"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Lifetimes of the cluster's certificates unless Config says otherwise.
const (
	DefaultCALifetime   = 10 * 365 * 24 * time.Hour
	DefaultCertLifetime = 30 * 24 * time.Hour
)

// The files of an agent's identity, in DataDir/tls.
const (
	caFile        = "ca.pem"
	caKeyFile     = "ca-key.pem" // servers only
	nodeCertFile  = "node.pem"   // the agent's certificate, then the CA's
	nodeKeyFile   = "node-key.pem"
	gossipKeyFile = "gossip.key" // workers: the key servers derive from the CA's
)

// creds are an agent's identity: the cluster's CA, its own certificate
// (renewed before it expires) and, on servers, the CA's key.
type creds struct {
	dir    string
	ca     *x509.Certificate
	caPEM  []byte
	signer *security.CA // servers only
	kp     *security.Keypair
	role   security.Role
	gossip []byte
	life   time.Duration
	// ips and dns name a server besides "berth": where it is reached,
	// so that a browser that trusts the cluster's CA accepts
	// https://ADDRESS:7403/ (the dashboard).
	ips []net.IP
	dns []string
}

// serverNames are the addresses and names a server's certificate carries:
// its bind and HTTP addresses (unless they are every address), and its
// name when that is a host name.
func serverNames(cfg *Config) (ips []net.IP, dns []string) {
	for _, s := range []string{cfg.BindAddr, cfg.HTTPBindAddr} {
		if ip := net.ParseIP(s); ip != nil && !ip.IsUnspecified() && !slices.ContainsFunc(ips, ip.Equal) {
			ips = append(ips, ip)
		}
	}
	if cfg.Name != "" && strings.Trim(strings.ToLower(cfg.Name), "abcdefghijklmnopqrstuvwxyz0123456789.-") == "" {
		dns = append(dns, strings.ToLower(cfg.Name))
	}
	return ips, dns
}

// namesCurrent reports whether the certificate carries every address and
// name the server should have.
func (c *creds) namesCurrent() bool {
	leaf := c.kp.Leaf()
	for _, ip := range c.ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	for _, d := range c.dns {
		if !slices.Contains(leaf.DNSNames, d) {
			return false
		}
	}
	return true
}

// fingerprint is the CA's, as join tokens carry it.
func (c *creds) fingerprint() string { return security.Fingerprint(c.ca) }

// loadCreds finds or makes the agent's identity: the one kept in the data
// dir; else, with a join token, one the cluster signs; else, for a server
// that starts a cluster, a new CA (or the one --ca-cert names).
func loadCreds(ctx context.Context, cfg *Config) (c *creds, err error) {
	c = &creds{dir: filepath.Join(cfg.DataDir, "tls"), life: cfg.CertLifetime, role: security.RoleWorker}
	if cfg.Server {
		c.role = security.RoleServer
		c.ips, c.dns = serverNames(cfg)
	}
	if c.life <= 0 {
		c.life = DefaultCertLifetime
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	switch _, err := os.Stat(c.path(nodeCertFile)); {
	case err == nil:
		return c, c.load(cfg)
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("agent: %w", err)
	}
	switch {
	case cfg.Token != "":
		err = c.join(ctx, cfg)
	case cfg.Server && cfg.CACertFile != "":
		var ca *security.CA
		if ca, err = security.ReadCA(cfg.CACertFile, cfg.CAKeyFile); err == nil {
			err = c.init(cfg, ca)
		}
	case cfg.Server && len(cfg.Join) == 0 && cfg.BootstrapExpect <= 1:
		var ca *security.CA
		if ca, err = security.NewCA(time.Now(), DefaultCALifetime); err == nil {
			err = c.init(cfg, ca)
		}
	case cfg.Server:
		err = errors.New("agent: a server that joins a cluster needs a join token (--token; berth token create --role server), or the cluster's CA (--ca-cert, --ca-key) to bootstrap with --bootstrap-expect")
	default:
		err = errors.New("agent: a worker joins with a token: --token (berth token create --role worker)")
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *creds) path(name string) string { return filepath.Join(c.dir, name) }

// init makes a server's identity from the CA.
func (c *creds) init(cfg *Config, ca *security.CA) error {
	certPEM, keyPEM, err := ca.Issue(cfg.Name, security.RoleServer, c.ips, c.dns, time.Now(), c.life)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	files := map[string][]byte{caFile: ca.CertPEM, caKeyFile: ca.KeyPEM(), nodeKeyFile: keyPEM, nodeCertFile: append(certPEM, ca.CertPEM...)}
	if err := c.write(files); err != nil {
		return err
	}
	return c.load(cfg)
}

// write writes the files (the node certificate last: its presence says the
// identity is complete).
func (c *creds) write(files map[string][]byte) error {
	for _, name := range []string{caFile, caKeyFile, gossipKeyFile, nodeKeyFile, nodeCertFile} {
		b, ok := files[name]
		if !ok {
			continue
		}
		if err := security.WriteFile(c.path(name), b); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
	}
	return nil
}

// load reads the identity kept in the data dir.
func (c *creds) load(cfg *Config) error {
	var err error
	if c.caPEM, err = os.ReadFile(c.path(caFile)); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if c.ca, err = security.ParseCertPEM(c.caPEM); err != nil {
		return fmt.Errorf("agent: %s: %w", c.path(caFile), err)
	}
	certPEM, err := os.ReadFile(c.path(nodeCertFile))
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	keyPEM, err := os.ReadFile(c.path(nodeKeyFile))
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if c.kp, err = security.NewKeypair(certPEM, keyPEM); err != nil {
		return fmt.Errorf("agent: %s: %w", c.path(nodeCertFile), err)
	}
	name, role, ok := security.Identity(c.kp.Leaf())
	if !ok || name != cfg.Name {
		return fmt.Errorf("agent: %s is the certificate of %q (%s), not of %q: this data dir belongs to another agent", c.path(nodeCertFile), name, role, cfg.Name)
	}
	if cfg.Server && role != security.RoleServer {
		return fmt.Errorf("agent: %s is a worker's certificate; a worker cannot become a server (join again with a server token and an empty data dir)", c.path(nodeCertFile))
	}
	c.role = role
	if role == security.RoleServer {
		keyPEM, err := os.ReadFile(c.path(caKeyFile))
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		if c.signer, err = security.LoadCA(c.caPEM, keyPEM); err != nil {
			return fmt.Errorf("agent: %s: %w", c.path(caKeyFile), err)
		}
		if c.gossip, err = c.signer.GossipKey(); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		if time.Now().After(c.kp.Leaf().NotAfter) || !c.namesCurrent() {
			// A server signs its own: an expired certificate, or one that
			// does not name its addresses (signed when it joined, or
			// before it moved), is renewed at once.
			if err := c.renewLocal(cfg.Name); err != nil {
				return err
			}
		}
	} else {
		if c.gossip, err = os.ReadFile(c.path(gossipKeyFile)); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		if exp := c.kp.Leaf().NotAfter; time.Now().After(exp) {
			return fmt.Errorf("agent: this worker's certificate expired at %s; remove %s and join again with a new token", exp.Format(time.RFC3339), c.dir)
		}
	}
	return nil
}

// join asks the cluster for a certificate with a join token. It talks only
// to servers whose CA has the token's fingerprint, and sends nothing else
// before it has checked that.
func (c *creds) join(ctx context.Context, cfg *Config) error {
	tok, err := security.ParseJoinToken(cfg.Token)
	if err != nil {
		return fmt.Errorf("agent: --token: %w", err)
	}
	if len(cfg.Join) == 0 {
		return errors.New("agent: --token needs --join ADDR, a member's API address")
	}
	key, err := security.NewKey()
	if err != nil {
		return err
	}
	csr, err := security.NewCSR(key, cfg.Name)
	if err != nil {
		return err
	}
	var lastErr error
	for _, addr := range cfg.Join {
		tc, accepted := security.PinnedConfig(tok.CAFingerprint)
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
		if err != nil {
			lastErr = err
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := pb.NewSecurityClient(conn).JoinCluster(cctx, &pb.JoinClusterRequest{
			Token: cfg.Token, Name: cfg.Name, Role: string(c.role), Csr: csr,
		})
		cancel()
		conn.Close()
		if err != nil {
			lastErr = fmt.Errorf("join through %s: %w", addr, err)
			continue
		}
		ca := accepted()
		if ca == nil || security.Fingerprint(ca) != tok.CAFingerprint {
			return fmt.Errorf("agent: join through %s: the server's CA was not checked against the token", addr)
		}
		files := map[string][]byte{caFile: resp.CaPem, nodeKeyFile: security.KeyPEM(key), nodeCertFile: resp.CertPem}
		if c.role == security.RoleServer {
			files[caKeyFile] = resp.CaKeyPem
		} else {
			files[gossipKeyFile] = resp.GossipKey
		}
		if err := c.write(files); err != nil {
			return err
		}
		return c.load(cfg)
	}
	return fmt.Errorf("agent: could not join: %w", lastErr)
}

// serverTLS is the configuration of a listener; auth says whether a
// client certificate is required (Raft) or checked if given (the API).
func (c *creds) serverTLS(auth tls.ClientAuthType) *tls.Config {
	return security.ServerConfig(c.ca, c.kp, auth)
}

// clientTLS is the configuration of this agent's connections to others.
func (c *creds) clientTLS() *tls.Config { return security.ClientConfig(c.ca, c.kp) }

// renewLocal signs a new certificate for this server with the CA's key.
func (c *creds) renewLocal(name string) error {
	certPEM, keyPEM, err := c.signer.Issue(name, security.RoleServer, c.ips, c.dns, time.Now(), c.life)
	if err != nil {
		return fmt.Errorf("agent: renew certificate: %w", err)
	}
	return c.store(append(certPEM, c.caPEM...), keyPEM)
}

// store keeps a new certificate and starts using it: connections made from
// now on present it, those open go on.
func (c *creds) store(chainPEM, keyPEM []byte) error {
	if err := c.kp.Set(chainPEM, keyPEM); err != nil {
		return fmt.Errorf("agent: new certificate: %w", err)
	}
	return c.write(map[string][]byte{nodeKeyFile: keyPEM, nodeCertFile: chainPEM})
}

// renewLoop renews the agent's certificate at a random point between 50%
// and 80% of its life: servers sign their own, workers ask a server. A
// failed renewal is tried again a few seconds later.
func (a *Agent) renewLoop(ctx context.Context) {
	c := a.creds
	for {
		leaf := c.kp.Leaf()
		wait := time.Until(security.RenewAt(leaf.NotBefore, leaf.NotAfter))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		for ctx.Err() == nil {
			err := a.renew(ctx)
			if err == nil {
				a.log.Info("certificate renewed", "until", c.kp.Leaf().NotAfter.Format(time.RFC3339))
				break
			}
			a.log.Warn("certificate renewal", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second + rand.N(2*time.Second)):
			}
		}
	}
}

func (a *Agent) renew(ctx context.Context) error {
	c := a.creds
	if c.signer != nil {
		return c.renewLocal(a.cfg.Name)
	}
	key, err := security.NewKey()
	if err != nil {
		return err
	}
	csr, err := security.NewCSR(key, a.cfg.Name)
	if err != nil {
		return err
	}
	var lastErr error = errors.New("no server known")
	for _, addr := range append(a.servers(), a.cfg.Join...) {
		conn, err := a.conns.get(addr)
		if err != nil {
			lastErr = err
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := pb.NewSecurityClient(conn).RenewCertificate(cctx, &pb.RenewCertificateRequest{Csr: csr})
		cancel()
		if err != nil {
			lastErr = fmt.Errorf("%s: %w", addr, err)
			continue
		}
		return c.store(resp.CertPem, security.KeyPEM(key))
	}
	return lastErr
}

// CA is the cluster's certificate authority, with its key (servers only;
// nil on workers).
func (a *Agent) CA() *security.CA { return a.creds.signer }

// CAFingerprint is the SHA-256 fingerprint of the cluster's CA, which join
// tokens carry and `berth login --ca-fingerprint` checks.
func (a *Agent) CAFingerprint() string { return a.creds.fingerprint() }
