package security

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	mathrand "math/rand/v2"
	"net"
	"os"
	"time"
)

// Role is what a certificate's holder may do in the cluster. It is carried
// in the certificate's Subject OrganizationalUnit.
type Role string

// Roles carried in a certificate's Subject OrganizationalUnit.
const (
	RoleServer Role = "server" // a Raft voter
	RoleWorker Role = "worker" // an agent that runs pods only
	RoleClient Role = "client" // a CLI/user certificate
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool {
	switch r {
	case RoleServer, RoleWorker, RoleClient:
		return true
	}
	return false
}

// Names used in every certificate Berth makes.
const (
	caCommonName = "berth cluster CA"
	organization = "berth"
	// ServerName is the DNS SAN every node certificate carries and the
	// server name every dialer verifies, so addresses need not be in SANs.
	ServerName = "berth"
	gossipInfo = "berth gossip key v1"
	// clockSkew is how far before "now" certificates become valid.
	clockSkew = time.Minute
)

// CA is the cluster certificate authority: its self-signed certificate and
// private key.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
}

// NewCA makes a self-signed ECDSA P-256 CA valid from now-1min to now+life:
// CN "berth cluster CA", O "berth", a random 128-bit serial, IsCA,
// KeyUsage CertSign|CRLSign|DigitalSignature and MaxPathLen 0.
func NewCA(now time.Time, life time.Duration) (*CA, error) {
	if life <= 0 {
		return nil, fmt.Errorf("new CA: lifetime must be positive, got %v", life)
	}
	key, err := NewKey()
	if err != nil {
		return nil, fmt.Errorf("new CA: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("new CA: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: caCommonName, Organization: []string{organization}},
		NotBefore:             now.Add(-backdate(life)),
		NotAfter:              now.Add(life),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("new CA: signing the certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("new CA: parsing the new certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: encodeCertPEM(der)}, nil
}

// KeyPEM returns the CA's private key as a PKCS #8 "PRIVATE KEY" PEM block,
// the form ParseKeyPEM and LoadCA read. It returns nil if the CA has no key
// or the key cannot be marshalled.
func (ca *CA) KeyPEM() []byte {
	if ca == nil || ca.Key == nil {
		return nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// LoadCA reads a CA from its certificate and key PEMs. It checks that the
// certificate is a CA certificate and that the key belongs to it.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA: certificate: %w", err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, fmt.Errorf("load CA: certificate %q is not a CA certificate", cert.Subject.CommonName)
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA: key: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("load CA: the key does not match certificate %q (fingerprint %s)",
			cert.Subject.CommonName, Fingerprint(cert))
	}
	return &CA{Cert: cert, Key: key, CertPEM: encodeCertPEM(cert.Raw)}, nil
}

// ReadCA reads the CA certificate and key PEM files and loads them with
// LoadCA. Errors name the file at fault.
func ReadCA(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read CA key: %w", err)
	}
	ca, err := LoadCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA from %s and %s: %w", certFile, keyFile, err)
	}
	return ca, nil
}

// Fingerprint returns Fingerprint(ca.Cert).
func (ca *CA) Fingerprint() string {
	if ca == nil {
		return ""
	}
	return Fingerprint(ca.Cert)
}

// Fingerprint returns the lowercase hex SHA-256 of the certificate's DER
// bytes: 64 characters. It returns "" for a nil certificate.
func Fingerprint(cert *x509.Certificate) string {
	if cert == nil {
		return ""
	}
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// NewKey makes a new ECDSA P-256 private key.
func NewKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating an ECDSA P-256 key: %w", err)
	}
	return key, nil
}

// KeyPEM returns key as a PKCS #8 "PRIVATE KEY" PEM block, or nil for a nil
// or unusable key.
func KeyPEM(key *ecdsa.PrivateKey) []byte {
	if key == nil {
		return nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// ParseKeyPEM parses the first private key PEM block of b: PKCS #8
// "PRIVATE KEY" or SEC 1 "EC PRIVATE KEY". The key must be ECDSA.
func ParseKeyPEM(b []byte) (*ecdsa.PrivateKey, error) {
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New(`no "PRIVATE KEY" or "EC PRIVATE KEY" PEM block`)
		}
		switch block.Type {
		case "EC PRIVATE KEY":
			key, err := x509.ParseECPrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing EC private key: %w", err)
			}
			return key, nil
		case "PRIVATE KEY":
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing PKCS #8 private key: %w", err)
			}
			ec, ok := key.(*ecdsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("private key is %T, want an ECDSA key", key)
			}
			return ec, nil
		}
	}
}

// ParseCertPEM parses the first CERTIFICATE PEM block of b.
func ParseCertPEM(b []byte) (*x509.Certificate, error) {
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no CERTIFICATE PEM block")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %w", err)
		}
		return cert, nil
	}
}

// NewCSR makes a DER certificate request with Subject CN name, signed by key.
func NewCSR(key *ecdsa.PrivateKey, name string) ([]byte, error) {
	if key == nil {
		return nil, errors.New("new CSR: no key")
	}
	if name == "" {
		return nil, errors.New("new CSR: empty name")
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("new CSR for %q: %w", name, err)
	}
	return der, nil
}

// Sign issues a certificate for the DER certificate request csrDER and
// returns it as PEM. The request's signature is checked and its public key,
// which must be ECDSA P-256, is used; its subject is ignored. The
// certificate has Subject CN name, OU [role], O ["berth"]; ExtKeyUsage
// ServerAuth and ClientAuth, since every agent both dials and listens; IP
// SANs ips and DNS SANs dns plus always "berth" (ServerName); a random
// 128-bit serial; and validity from now-1min to now+life. Sign refuses an
// empty name, an unknown role and a non-positive life.
func (ca *CA) Sign(csrDER []byte, name string, role Role, ips []net.IP, dns []string, now time.Time, life time.Duration) ([]byte, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return nil, errors.New("sign: the CA has no certificate or key")
	}
	if name == "" {
		return nil, errors.New("sign: empty name")
	}
	if !role.Valid() {
		return nil, fmt.Errorf("sign %q: unknown role %q (want %q, %q or %q)", name, role, RoleServer, RoleWorker, RoleClient)
	}
	if life <= 0 {
		return nil, fmt.Errorf("sign %q: lifetime must be positive, got %v", name, life)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("sign %q: parsing the certificate request: %w", name, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("sign %q: the certificate request's signature is invalid: %w", name, err)
	}
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("sign %q: the certificate request's key is %T, want ECDSA P-256", name, csr.PublicKey)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("sign %q: %w", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         name,
			OrganizationalUnit: []string{string(role)},
			Organization:       []string{organization},
		},
		NotBefore:             now.Add(-backdate(life)),
		NotAfter:              now.Add(life),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:           append([]net.IP(nil), ips...),
		DNSNames:              dnsNames(dns),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign %q: %w", name, err)
	}
	return encodeCertPEM(der), nil
}

// Issue makes a new key and a certificate for it signed by the CA, in one
// step: NewKey, NewCSR and Sign. It returns the certificate and key PEMs.
func (ca *CA) Issue(name string, role Role, ips []net.IP, dns []string, now time.Time, life time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := NewKey()
	if err != nil {
		return nil, nil, fmt.Errorf("issue %q: %w", name, err)
	}
	csr, err := NewCSR(key, name)
	if err != nil {
		return nil, nil, fmt.Errorf("issue: %w", err)
	}
	certPEM, err = ca.Sign(csr, name, role, ips, dns, now, life)
	if err != nil {
		return nil, nil, fmt.Errorf("issue: %w", err)
	}
	return certPEM, KeyPEM(key), nil
}

// Identity returns the name (Subject CN) and role (the first Subject OU that
// is a known Role) of a verified peer certificate. ok is false if the
// certificate is nil or carries no known role.
func Identity(cert *x509.Certificate) (name string, role Role, ok bool) {
	if cert == nil {
		return "", "", false
	}
	for _, ou := range cert.Subject.OrganizationalUnit {
		if r := Role(ou); r.Valid() {
			return cert.Subject.CommonName, r, true
		}
	}
	return "", "", false
}

// backdate is how far before now a certificate of life starts, for
// clocks that run behind: clockSkew, or a tenth of a short life (so that
// RenewAt's share of the life is not mostly backdating).
func backdate(life time.Duration) time.Duration { return min(clockSkew, life/10) }

// RenewAt returns when to renew a certificate valid from notBefore to
// notAfter: notBefore + f*(notAfter-notBefore), f uniformly random in
// [0.5, 0.8). It returns notBefore if notAfter is not after notBefore.
func RenewAt(notBefore, notAfter time.Time) time.Time {
	span := notAfter.Sub(notBefore)
	if span <= 0 {
		return notBefore
	}
	lo := span - span/2 // ceil(span/2): the first instant at or past 50%
	hi := span - span/5 // ceil(0.8*span): the first instant at or past 80%
	if hi <= lo {
		return notBefore.Add(lo)
	}
	return notBefore.Add(lo + time.Duration(mathrand.Int64N(int64(hi-lo))))
}

// GossipKey derives the cluster's 32-byte gossip encryption key from the
// CA's private key with HKDF-SHA256 over the key's PKCS #8 DER bytes and
// info "berth gossip key v1", so every holder of the CA key derives the same
// one.
func (ca *CA) GossipKey() ([]byte, error) {
	if ca == nil || ca.Key == nil {
		return nil, errors.New("gossip key: the CA has no key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		return nil, fmt.Errorf("gossip key: marshalling the CA key: %w", err)
	}
	key, err := hkdf.Key(sha256.New, der, nil, gossipInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("gossip key: %w", err)
	}
	return key, nil
}

// newSerial returns a random positive serial number of at most 128 bits.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, fmt.Errorf("generating a serial number: %w", err)
	}
	if n.Sign() == 0 {
		n.SetInt64(1)
	}
	return n, nil
}

// encodeCertPEM encodes DER certificate bytes as a CERTIFICATE PEM block.
func encodeCertPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// dnsNames returns dns with ServerName added if missing and empty names and
// duplicates dropped.
func dnsNames(dns []string) []string {
	out := []string{ServerName}
	seen := map[string]bool{ServerName: true}
	for _, d := range dns {
		if d == "" || seen[d] {
			continue
		}
		seen[d] = true
		out = append(out, d)
	}
	return out
}
