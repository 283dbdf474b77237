package security

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// handshakeResult is what each side of a test connection saw.
type handshakeResult struct {
	serverErr   error
	clientErr   error
	serverState tls.ConnectionState
	clientState tls.ConnectionState
}

// handshake connects a client with ccfg to a server with scfg over
// loopback TCP. The server writes one byte after its handshake and the
// client reads it, so a client certificate refused by a TLS 1.3 server
// (which the client learns of only after its own handshake) shows up as a
// client error too.
func handshake(t *testing.T, scfg, ccfg *tls.Config) handshakeResult {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	type serverSide struct {
		err   error
		state tls.ConnectionState
	}
	done := make(chan serverSide, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			done <- serverSide{err: err}
			return
		}
		defer raw.Close()
		_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
		conn := tls.Server(raw, scfg)
		if err := conn.Handshake(); err != nil {
			done <- serverSide{err: err}
			return
		}
		_, err = conn.Write([]byte{1})
		done <- serverSide{err: err, state: conn.ConnectionState()}
	}()

	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	conn := tls.Client(raw, ccfg)
	var res handshakeResult
	res.clientErr = conn.Handshake()
	if res.clientErr == nil {
		res.clientState = conn.ConnectionState()
		_, res.clientErr = io.ReadFull(conn, make([]byte, 1))
	}
	s := <-done
	res.serverErr, res.serverState = s.err, s.state
	return res
}

// issueKeypair issues a certificate of ca and returns it as a Keypair whose
// chain holds the leaf and the CA.
func issueKeypair(t *testing.T, ca *CA, name string, role Role, now time.Time, life time.Duration) *Keypair {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(name, role, nil, nil, now, life)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := NewKeypair(append(certPEM, ca.CertPEM...), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	srv := issueKeypair(t, ca, "server-1", RoleServer, time.Now(), time.Hour)
	cli := issueKeypair(t, ca, "worker-1", RoleWorker, time.Now(), time.Hour)

	res := handshake(t, ServerConfig(ca.Cert, srv, tls.RequireAndVerifyClientCert), ClientConfig(ca.Cert, cli))
	if res.serverErr != nil || res.clientErr != nil {
		t.Fatalf("handshake: server %v, client %v", res.serverErr, res.clientErr)
	}
	if res.serverState.Version != tls.VersionTLS13 {
		t.Errorf("version = %x, want TLS 1.3", res.serverState.Version)
	}
	name, role, ok := PeerIdentity(res.serverState)
	if !ok || name != "worker-1" || role != RoleWorker {
		t.Errorf("PeerIdentity = %q, %q, %v; want worker-1, worker, true", name, role, ok)
	}
	if got := res.clientState.PeerCertificates[0].Subject.CommonName; got != "server-1" {
		t.Errorf("client saw server %q, want server-1", got)
	}
}

func TestClientWithoutCertificate(t *testing.T) {
	ca := newTestCA(t)
	srv := issueKeypair(t, ca, "server-1", RoleServer, time.Now(), time.Hour)

	res := handshake(t, ServerConfig(ca.Cert, srv, tls.VerifyClientCertIfGiven), ClientConfig(ca.Cert, nil))
	if res.serverErr != nil || res.clientErr != nil {
		t.Fatalf("VerifyClientCertIfGiven without a client certificate: server %v, client %v", res.serverErr, res.clientErr)
	}
	if _, _, ok := PeerIdentity(res.serverState); ok {
		t.Error("PeerIdentity is ok without a client certificate")
	}

	res = handshake(t, ServerConfig(ca.Cert, srv, tls.RequireAndVerifyClientCert), ClientConfig(ca.Cert, nil))
	if res.serverErr == nil {
		t.Error("RequireAndVerifyClientCert accepted a client without a certificate")
	}
}

func TestClientFromAnotherCARefused(t *testing.T) {
	ca := newTestCA(t)
	other := newTestCA(t)
	srv := issueKeypair(t, ca, "server-1", RoleServer, time.Now(), time.Hour)
	cli := issueKeypair(t, other, "intruder", RoleServer, time.Now(), time.Hour)

	res := handshake(t, ServerConfig(ca.Cert, srv, tls.RequireAndVerifyClientCert), ClientConfig(ca.Cert, cli))
	if res.serverErr == nil {
		t.Fatal("server accepted a client certificate of another CA")
	}
	if res.clientErr == nil {
		t.Error("client saw no error although the server refused it")
	}
}

func TestServerFromAnotherCARefused(t *testing.T) {
	ca := newTestCA(t)
	other := newTestCA(t)
	srv := issueKeypair(t, other, "server-1", RoleServer, time.Now(), time.Hour)

	res := handshake(t, ServerConfig(other.Cert, srv, tls.NoClientCert), ClientConfig(ca.Cert, nil))
	var unknown x509.UnknownAuthorityError
	if !errors.As(res.clientErr, &unknown) {
		t.Fatalf("client error = %v, want x509.UnknownAuthorityError", res.clientErr)
	}
}

func TestExpiredClientRefused(t *testing.T) {
	ca, err := NewCA(time.Now().Add(-48*time.Hour), 96*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv := issueKeypair(t, ca, "server-1", RoleServer, time.Now(), time.Hour)
	cli := issueKeypair(t, ca, "worker-1", RoleWorker, time.Now().Add(-2*time.Hour), time.Hour)

	res := handshake(t, ServerConfig(ca.Cert, srv, tls.RequireAndVerifyClientCert), ClientConfig(ca.Cert, cli))
	if res.serverErr == nil || !strings.Contains(res.serverErr.Error(), "expired") {
		t.Fatalf("server error = %v, want one about an expired certificate", res.serverErr)
	}
}

func TestPinnedConfig(t *testing.T) {
	ca := newTestCA(t)
	srv := issueKeypair(t, ca, "server-1", RoleServer, time.Now(), time.Hour)
	scfg := ServerConfig(ca.Cert, srv, tls.VerifyClientCertIfGiven)

	cfg, accepted := PinnedConfig(ca.Fingerprint())
	if accepted() != nil {
		t.Error("accepted CA before any handshake")
	}
	res := handshake(t, scfg, cfg)
	if res.serverErr != nil || res.clientErr != nil {
		t.Fatalf("pinned handshake: server %v, client %v", res.serverErr, res.clientErr)
	}
	if got := accepted(); got == nil || Fingerprint(got) != ca.Fingerprint() {
		t.Errorf("accepted CA = %v, want the CA with fingerprint %s", got, ca.Fingerprint())
	}
	if len(res.serverState.PeerCertificates) != 0 {
		t.Error("pinned client sent a certificate")
	}

	wrong := newTestCA(t).Fingerprint()
	cfg, accepted = PinnedConfig(wrong)
	res = handshake(t, scfg, cfg)
	if res.clientErr == nil {
		t.Fatal("pinned client accepted a server whose CA has another fingerprint")
	}
	msg := res.clientErr.Error()
	if !strings.Contains(msg, "server's CA fingerprint is "+ca.Fingerprint()) || !strings.Contains(msg, "the token expects "+wrong) {
		t.Errorf("error %q does not name both fingerprints", msg)
	}
	if accepted() != nil {
		t.Error("a refused handshake recorded a CA")
	}
}

func TestPinnedConfigRejectsForgedLeaf(t *testing.T) {
	// A server that sends the genuine CA certificate but a leaf signed by
	// another CA must be refused even though the fingerprint matches.
	ca := newTestCA(t)
	forger := newTestCA(t)
	certPEM, keyPEM, err := forger.Issue("server-1", RoleServer, nil, nil, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewKeypair(append(certPEM, ca.CertPEM...), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cfg, accepted := PinnedConfig(ca.Fingerprint())
	res := handshake(t, ServerConfig(ca.Cert, srv, tls.NoClientCert), cfg)
	if res.clientErr == nil || !strings.Contains(res.clientErr.Error(), "does not verify") {
		t.Fatalf("client error = %v, want a verification failure", res.clientErr)
	}
	if accepted() != nil {
		t.Error("a refused handshake recorded a CA")
	}
}

func TestKeypairSetSwaps(t *testing.T) {
	ca := newTestCA(t)
	srv := issueKeypair(t, ca, "first", RoleServer, time.Now(), time.Hour)
	scfg := ServerConfig(ca.Cert, srv, tls.NoClientCert)

	res := handshake(t, scfg, ClientConfig(ca.Cert, nil))
	if res.clientErr != nil {
		t.Fatal(res.clientErr)
	}
	if got := res.clientState.PeerCertificates[0].Subject.CommonName; got != "first" {
		t.Fatalf("first handshake saw %q, want first", got)
	}

	certPEM, keyPEM, err := ca.Issue("second", RoleServer, nil, nil, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Set(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	if srv.Leaf().Subject.CommonName != "second" {
		t.Errorf("Leaf after Set = %q, want second", srv.Leaf().Subject.CommonName)
	}
	gotCert, gotKey := srv.PEM()
	if string(gotCert) != string(certPEM) || string(gotKey) != string(keyPEM) {
		t.Error("PEM does not return what was Set")
	}
	res = handshake(t, scfg, ClientConfig(ca.Cert, nil))
	if res.clientErr != nil {
		t.Fatal(res.clientErr)
	}
	if got := res.clientState.PeerCertificates[0].Subject.CommonName; got != "second" {
		t.Errorf("handshake after Set saw %q, want second", got)
	}
}

func TestKeypairSetRejectsMismatch(t *testing.T) {
	ca := newTestCA(t)
	certA, keyA, err := ca.Issue("a", RoleServer, nil, nil, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, keyB, err := ca.Issue("b", RoleServer, nil, nil, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := NewKeypair(certA, keyA)
	if err != nil {
		t.Fatal(err)
	}
	if err := kp.Set(certA, keyB); err == nil {
		t.Fatal("Set accepted a key that does not match the certificate")
	}
	if err := kp.Set([]byte("junk"), keyA); err == nil {
		t.Fatal("Set accepted junk")
	}
	if kp.Leaf().Subject.CommonName != "a" {
		t.Error("a failed Set changed the keypair")
	}
	if _, err := NewKeypair(certA, keyB); err == nil {
		t.Error("NewKeypair accepted a mismatched key")
	}
}
