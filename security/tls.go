package security

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
)

// Keypair holds the current certificate and key of a process. Set swaps
// them atomically (renewal), and the configs made by ServerConfig and
// ClientConfig read the current one on every handshake.
//
// The certificate PEM given to NewKeypair and Set holds the leaf first,
// followed by any further certificates of its chain. Servers pass the leaf
// and the CA certificate concatenated, so that the chain they send holds the
// CA and a joining agent using PinnedConfig can find it.
type Keypair struct {
	cur atomic.Pointer[keypairState]
}

// keypairState is one certificate and key as parsed and as given.
type keypairState struct {
	cert    *tls.Certificate
	certPEM []byte
	keyPEM  []byte
}

// NewKeypair parses a certificate chain PEM (leaf first) and the leaf's key
// PEM into a Keypair.
func NewKeypair(certPEM, keyPEM []byte) (*Keypair, error) {
	kp := &Keypair{}
	if err := kp.Set(certPEM, keyPEM); err != nil {
		return nil, err
	}
	return kp, nil
}

// Set replaces the certificate chain (leaf first) and key. If they do not
// parse or the key does not match the leaf, it returns an error and keeps
// the current ones.
func (k *Keypair) Set(certPEM, keyPEM []byte) error {
	if k == nil {
		return errors.New("keypair: nil Keypair")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("keypair: %w", err)
	}
	if cert.Leaf == nil {
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return fmt.Errorf("keypair: parsing the leaf certificate: %w", err)
		}
		cert.Leaf = leaf
	}
	k.cur.Store(&keypairState{
		cert:    &cert,
		certPEM: append([]byte(nil), certPEM...),
		keyPEM:  append([]byte(nil), keyPEM...),
	})
	return nil
}

// Leaf returns the current leaf certificate, or nil if there is none.
func (k *Keypair) Leaf() *x509.Certificate {
	if c := k.current(); c != nil {
		return c.Leaf
	}
	return nil
}

// PEM returns the certificate and key PEMs given to the last successful Set
// (or NewKeypair).
func (k *Keypair) PEM() (certPEM, keyPEM []byte) {
	if k == nil {
		return nil, nil
	}
	s := k.cur.Load()
	if s == nil {
		return nil, nil
	}
	return append([]byte(nil), s.certPEM...), append([]byte(nil), s.keyPEM...)
}

// current returns the current certificate, or nil.
func (k *Keypair) current() *tls.Certificate {
	if k == nil {
		return nil
	}
	if s := k.cur.Load(); s != nil {
		return s.cert
	}
	return nil
}

// ServerConfig returns the TLS config of a listener: TLS 1.3 at least, the
// certificate read from kp on every handshake, client certificates verified
// against ca with the given auth. Callers use tls.RequireAndVerifyClientCert
// for Raft and tls.VerifyClientCertIfGiven for the gRPC API, whose join
// method is unauthenticated. NextProtos is left for gRPC to set.
func ServerConfig(ca *x509.Certificate, kp *Keypair, auth tls.ClientAuthType) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			c := kp.current()
			if c == nil {
				return nil, errors.New("tls server: no certificate is set")
			}
			return c, nil
		},
		ClientCAs:  certPool(ca),
		ClientAuth: auth,
	}
}

// ClientConfig returns the TLS config of a dialer: TLS 1.3 at least, the
// server verified against ca with server name "berth" (every node
// certificate carries that DNS SAN), and the client certificate read from
// kp on every handshake. kp may be nil: then no client certificate is sent.
func ClientConfig(ca *x509.Certificate, kp *Keypair) *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    certPool(ca),
		ServerName: ServerName,
	}
	if kp != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if c := kp.current(); c != nil {
				return c, nil
			}
			return &tls.Certificate{}, nil // none: send no certificate
		}
	}
	return cfg
}

// PinnedConfig returns the TLS config of a joining agent that holds only a
// join token. It trusts no root store: it accepts the server only if the
// chain the server sent holds a CA certificate whose Fingerprint is
// caFingerprint and the leaf verifies against that CA for server name
// "berth". It sends no client certificate. The returned func gives the CA
// certificate accepted by the last successful handshake (nil before one).
//
// The standard verification is turned off (InsecureSkipVerify) and replaced
// by that check in VerifyConnection, which runs on every handshake,
// resumed ones included.
func PinnedConfig(caFingerprint string) (*tls.Config, func() *x509.Certificate) {
	want := strings.ToLower(strings.TrimSpace(caFingerprint))
	var accepted atomic.Pointer[x509.Certificate]
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		ServerName:         ServerName,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			ca, err := verifyPinned(cs.PeerCertificates, want)
			if err != nil {
				return err
			}
			accepted.Store(ca)
			return nil
		},
	}
	return cfg, accepted.Load
}

// verifyPinned finds the CA with fingerprint want in the chain a server
// sent and verifies the leaf against it. It returns that CA.
func verifyPinned(chain []*x509.Certificate, want string) (*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, errors.New("pinned TLS: the server sent no certificate")
	}
	var ca *x509.Certificate
	var seen []string
	for _, c := range chain {
		if !c.IsCA {
			continue
		}
		fp := Fingerprint(c)
		seen = append(seen, fp)
		if fp == want {
			ca = c
			break
		}
	}
	if ca == nil {
		got := "absent (the server sent no CA certificate)"
		if len(seen) > 0 {
			got = strings.Join(seen, ", ")
		}
		return nil, fmt.Errorf("pinned TLS: server's CA fingerprint is %s, the token expects %s", got, want)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:     certPool(ca),
		DNSName:   ServerName,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("pinned TLS: the server's certificate does not verify against CA %s: %w", want, err)
	}
	return ca, nil
}

// PeerIdentity returns the name and role of the verified client
// certificate of a server-side connection (VerifiedChains[0][0]). ok is
// false if no client certificate was verified or it carries no known role.
func PeerIdentity(cs tls.ConnectionState) (name string, role Role, ok bool) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", "", false
	}
	return Identity(cs.VerifiedChains[0][0])
}

// certPool returns a pool holding ca, or an empty pool if ca is nil.
func certPool(ca *x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	if ca != nil {
		pool.AddCert(ca)
	}
	return pool
}
