package security

import (
	"bytes"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"
)

// newTestCA makes a CA valid for a day from now.
func newTestCA(t *testing.T) *CA {
	t.Helper()
	ca, err := NewCA(time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

func TestNewCA(t *testing.T) {
	now := time.Now()
	ca, err := NewCA(now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := ca.Cert
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("CA constraints: IsCA=%v valid=%v MaxPathLen=%d zero=%v", c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.Subject.CommonName != "berth cluster CA" || len(c.Subject.Organization) != 1 || c.Subject.Organization[0] != "berth" {
		t.Errorf("CA subject = %v", c.Subject)
	}
	want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	if c.KeyUsage != want {
		t.Errorf("KeyUsage = %v, want %v", c.KeyUsage, want)
	}
	if !c.NotBefore.Equal(now.Add(-time.Minute).Truncate(time.Second)) {
		t.Errorf("NotBefore = %v, want %v", c.NotBefore, now.Add(-time.Minute))
	}
	if !c.NotAfter.Equal(now.Add(time.Hour).Truncate(time.Second)) {
		t.Errorf("NotAfter = %v, want %v", c.NotAfter, now.Add(time.Hour))
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %v is not a positive 128-bit number", c.SerialNumber)
	}
	if fp := ca.Fingerprint(); len(fp) != 64 || strings.ToLower(fp) != fp {
		t.Errorf("Fingerprint = %q, want 64 lowercase hex", fp)
	}
	if _, err := NewCA(now, 0); err == nil {
		t.Error("NewCA with zero life succeeded")
	}
}

func TestIssueVerifies(t *testing.T) {
	ca := newTestCA(t)
	ips := []net.IP{net.ParseIP("10.0.0.7")}
	certPEM, keyPEM, err := ca.Issue("node-1", RoleServer, ips, []string{"node-1.example"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseKeyPEM(keyPEM); err != nil {
		t.Fatalf("ParseKeyPEM of the issued key: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "berth", KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("Verify for usage %v: %v", usage, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "node-1.example"}); err != nil {
		t.Errorf("Verify for the DNS SAN given: %v", err)
	}
	if len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(ips[0]) {
		t.Errorf("IP SANs = %v, want %v", cert.IPAddresses, ips)
	}
	other := newTestCA(t)
	otherPool := x509.NewCertPool()
	otherPool.AddCert(other.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: otherPool}); err == nil {
		t.Error("certificate verified against another CA")
	}
	name, role, ok := Identity(cert)
	if !ok || name != "node-1" || role != RoleServer {
		t.Errorf("Identity = %q, %q, %v; want node-1, server, true", name, role, ok)
	}
	if len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "berth" {
		t.Errorf("O = %v, want [berth]", cert.Subject.Organization)
	}
}

func TestIdentityUnknownRole(t *testing.T) {
	ca := newTestCA(t)
	if _, _, ok := Identity(ca.Cert); ok {
		t.Error("Identity of the CA certificate (no OU) is ok")
	}
	if _, _, ok := Identity(nil); ok {
		t.Error("Identity(nil) is ok")
	}
}

func TestLoadCARoundTrip(t *testing.T) {
	ca := newTestCA(t)
	got, err := LoadCA(ca.CertPEM, ca.KeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	if got.Fingerprint() != ca.Fingerprint() {
		t.Errorf("fingerprint after LoadCA = %s, want %s", got.Fingerprint(), ca.Fingerprint())
	}
	if !bytes.Equal(got.CertPEM, ca.CertPEM) {
		t.Error("CertPEM changed by LoadCA")
	}
	// The loaded CA can sign, and its certificates verify against the original.
	certPEM, _, err := got.Issue("w", RoleWorker, nil, nil, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := ParseCertPEM(certPEM)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("certificate of the loaded CA does not verify: %v", err)
	}
}

func TestLoadCAErrors(t *testing.T) {
	ca := newTestCA(t)
	other := newTestCA(t)
	if _, err := LoadCA(ca.CertPEM, other.KeyPEM()); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("LoadCA with a mismatched key: err = %v, want one saying it does not match", err)
	}
	leafPEM, leafKey, err := ca.Issue("n", RoleServer, nil, nil, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(leafPEM, leafKey); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Errorf("LoadCA of a leaf: err = %v, want one saying it is not a CA", err)
	}
	if _, err := LoadCA([]byte("junk"), ca.KeyPEM()); err == nil {
		t.Error("LoadCA of junk succeeded")
	}
	if _, err := ReadCA("/nonexistent/ca.crt", "/nonexistent/ca.key"); err == nil || !strings.Contains(err.Error(), "/nonexistent/ca.crt") {
		t.Errorf("ReadCA of a missing file: err = %v, want it to name the file", err)
	}
}

func TestSignRejects(t *testing.T) {
	ca := newTestCA(t)
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := NewCSR(key, "n")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := ca.Sign(csr, "n", RoleWorker, nil, nil, now, time.Hour); err != nil {
		t.Fatalf("Sign of a good CSR: %v", err)
	}

	bad := bytes.Clone(csr)
	bad[len(bad)-1] ^= 0x01 // the last byte is inside the signature
	if _, err := ca.Sign(bad, "n", RoleWorker, nil, nil, now, time.Hour); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("Sign of a CSR with a bad signature: err = %v, want a signature error", err)
	}
	if _, err := ca.Sign(csr, "n", Role("admin"), nil, nil, now, time.Hour); err == nil || !strings.Contains(err.Error(), "unknown role") {
		t.Errorf("Sign with an unknown role: err = %v", err)
	}
	if _, err := ca.Sign(csr, "", RoleWorker, nil, nil, now, time.Hour); err == nil {
		t.Error("Sign with an empty name succeeded")
	}
	if _, err := ca.Sign(csr, "n", RoleWorker, nil, nil, now, 0); err == nil {
		t.Error("Sign with zero life succeeded")
	}
	if _, err := ca.Sign([]byte("junk"), "n", RoleWorker, nil, nil, now, time.Hour); err == nil {
		t.Error("Sign of junk succeeded")
	}
}

func TestKeyPEMRoundTrip(t *testing.T) {
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseKeyPEM(KeyPEM(key))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(key) {
		t.Error("key changed by KeyPEM/ParseKeyPEM")
	}
	if _, err := ParseKeyPEM([]byte("junk")); err == nil {
		t.Error("ParseKeyPEM of junk succeeded")
	}
}

func TestRenewAt(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	na := nb.Add(90 * 24 * time.Hour)
	span := na.Sub(nb)
	lo, hi := nb.Add(span/2), nb.Add(span*8/10)
	var minSeen, maxSeen time.Time
	for i := 0; i < 1000; i++ {
		r := RenewAt(nb, na)
		if r.Before(lo) || !r.Before(hi) {
			t.Fatalf("RenewAt = %v, want in [%v, %v)", r, lo, hi)
		}
		if minSeen.IsZero() || r.Before(minSeen) {
			minSeen = r
		}
		if r.After(maxSeen) {
			maxSeen = r
		}
	}
	// 1000 uniform draws cover most of the window.
	if minSeen.Sub(lo) > span/20 || hi.Sub(maxSeen) > span/20 {
		t.Errorf("draws span [%v, %v], too narrow for [%v, %v)", minSeen, maxSeen, lo, hi)
	}
	// Tiny spans stay inside too.
	for _, d := range []time.Duration{1, 2, 3, 5, 10} {
		for i := 0; i < 50; i++ {
			r := RenewAt(nb, nb.Add(d)).Sub(nb)
			if float64(r) < 0.5*float64(d) || (d > 2 && float64(r) >= 0.8*float64(d)) {
				t.Fatalf("RenewAt span %d = %d", d, r)
			}
		}
	}
	if got := RenewAt(na, nb); !got.Equal(na) {
		t.Errorf("RenewAt of an inverted span = %v, want %v", got, na)
	}
}

func TestGossipKey(t *testing.T) {
	ca := newTestCA(t)
	k1, err := ca.GossipKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != 32 {
		t.Fatalf("GossipKey is %d bytes, want 32", len(k1))
	}
	loaded, err := LoadCA(ca.CertPEM, ca.KeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	k2, err := loaded.GossipKey()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1, k2) {
		t.Error("GossipKey differs after LoadCA of the same PEMs")
	}
	k3, err := newTestCA(t).GossipKey()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(k1, k3) {
		t.Error("two CAs derive the same gossip key")
	}
}
