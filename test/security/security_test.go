// Package security tests Berth's defences with real agents: mutual TLS on
// every listener, join tokens, ACL tokens, Secrets encrypted at rest and
// certificate renewal.
package security

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/testcluster"
	"github.com/berth-dev/berth/internal/testcreds"
	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/internal/testpods"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"github.com/berth-dev/berth/security"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// podCluster is one server and one worker that run pods; the Raft log
// snapshots often, so that Secrets reach snapshot files too.
func podCluster(t *testing.T) *testcluster.Cluster {
	t.Helper()
	return testpods.Start(t, 1, 1, []string{"--raft-snapshot-threshold", "16", "--raft-trailing-logs", "8", "--raft-snapshot-interval", "1s"})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// tlsTo dials addr with a TLS configuration and reports the handshake's
// outcome.
func handshake(addr string, tc *tls.Config) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, tc)
	if err != nil {
		return err
	}
	defer conn.Close()
	// TLS 1.3: the server checks the client's certificate after the
	// client's handshake ends; its verdict arrives with the first read.
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	if err == nil || isTimeout(err) {
		return nil
	}
	return err
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestListenersRefuseStrangers is must-show 1: a client without a
// certificate, with one of another CA, or with an expired one is refused
// by the API (server and worker), the internal node service and Raft; a
// plain TCP connection to the Raft port learns nothing.
func TestListenersRefuseStrangers(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Servers: 1})
	w := c.AddWorker(t)
	s := c.Nodes[0]
	cr := c.Creds
	testcluster.Eventually(t, 20*time.Second, func() error {
		conn, err := net.Dial("tcp", w.APIAddr())
		if err == nil {
			conn.Close()
		}
		return err
	})
	pool := x509.NewCertPool()
	pool.AddCert(cr.CA.Cert)

	other, err := testcreds.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	otherCert, otherKey, err := other.CA.Issue("s1", security.RoleServer, nil, nil, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expiredCert, expiredKey, err := cr.CA.Issue("s1", security.RoleServer, nil, nil, time.Now().Add(-2*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	workerCert, workerKey, err := cr.CA.Issue("w9", security.RoleWorker, nil, nil, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair := func(c, k []byte) []tls.Certificate {
		kp, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{kp}
	}
	base := &tls.Config{RootCAs: pool, ServerName: client.ServerName, MinVersion: tls.VersionTLS13}
	with := func(certs []tls.Certificate) *tls.Config { c := base.Clone(); c.Certificates = certs; return c }
	raftAddr := net.JoinHostPort(s.IP, fmt.Sprint(s.RaftPort))

	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
	}{
		{"no certificate", nil},
		{"another CA", pair(otherCert, otherKey)},
		{"expired", pair(expiredCert, expiredKey)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := handshake(raftAddr, with(tc.certs)); err == nil {
				t.Errorf("raft port accepted a client with %s", tc.name)
			} else {
				t.Logf("raft: %v", err)
			}
			for _, addr := range []string{s.APIAddr(), w.APIAddr()} {
				conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(with(tc.certs))))
				if err != nil {
					t.Fatal(err)
				}
				cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err = pb.NewResourcesClient(conn).Get(cctx, &pb.GetRequest{Ref: &pb.ObjectRef{Kind: "Namespace", Name: "default"}})
				_, ierr := pb.NewNodesClient(conn).ReportPods(cctx, &pb.ReportPodsRequest{})
				cancel()
				conn.Close()
				for what, err := range map[string]error{"API": err, "internal node service": ierr} {
					// Refused by the API's check (no certificate) or by the
					// TLS handshake (a certificate that does not verify).
					switch code := status.Code(err); {
					case code == codes.Unauthenticated && tc.certs == nil:
					case code == codes.Unavailable && tc.certs != nil && !strings.Contains(err.Error(), "connection refused"):
					default:
						t.Errorf("%s at %s answered a client with %s: %v", what, addr, tc.name, err)
					}
				}
				t.Logf("%s: %v", addr, err)
			}
		})
	}
	t.Run("worker certificate on raft", func(t *testing.T) {
		if err := handshake(raftAddr, with(pair(workerCert, workerKey))); err == nil {
			t.Error("raft accepted a worker's certificate")
		}
	})
	t.Run("client certificate without token", func(t *testing.T) {
		cfg := cr.Config(nil)
		cfg.Token = ""
		opts, err := cfg.Options()
		if err != nil {
			t.Fatal(err)
		}
		cl, err := client.New([]string{s.APIAddr()}, append(opts, client.WithTimeout(5*time.Second))...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		_, err = cl.Get(ctx(t), "Namespace", "", "default")
		if err == nil || !strings.Contains(err.Error(), "no ACL token") {
			t.Errorf("get without a token: %v", err)
		}
	})
	t.Run("admin cannot call the internal node service", func(t *testing.T) {
		conn, err := grpc.NewClient(s.APIAddr(), grpc.WithTransportCredentials(credentials.NewTLS(mustTLS(t, cr.Config(nil)))),
			grpc.WithPerRPCCredentials(bearer(cr.Token)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = pb.NewNodesClient(conn).ReportPods(ctx(t), &pb.ReportPodsRequest{})
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "agents only") {
			t.Errorf("ReportPods with an admin token: %v", err)
		}
	})
	t.Run("plain TCP to raft learns nothing", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", raftAddr, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// What hashicorp/raft's transport reads: a type byte, then msgpack.
		conn.Write([]byte{0x00, 0x80, 0x81, 0xa4, 'T', 'e', 'r', 'm', 0x01})
		conn.SetDeadline(time.Now().Add(3 * time.Second))
		b, _ := io.ReadAll(conn)
		// At most a TLS alert record (type 21) comes back.
		if len(b) > 0 && b[0] != 21 {
			t.Errorf("raft port answered plain TCP with %d bytes: %q", len(b), b)
		}
		if bytes.Contains(b, []byte("Term")) || bytes.Contains(b, []byte(c.Nodes[0].Name)) {
			t.Errorf("raft port leaked %q", b)
		}
		t.Logf("raft port answered plain TCP with %d bytes %x", len(b), b)
	})
	t.Run("the gossip key came with the join", func(t *testing.T) {
		// testcluster gives no --gossip-key: the worker gossips with the
		// key the servers derive from the CA, which its join carried.
		testcluster.Eventually(t, 20*time.Second, func() error {
			out := testcluster.MustCLI(t, s.APIAddr(), "members")
			if !strings.Contains(out, "w1 ") || strings.Count(out, "alive") != 2 {
				return fmt.Errorf("members:\n%s", out)
			}
			return nil
		})
	})
}

func mustTLS(t *testing.T, cfg *client.Config) *tls.Config {
	tc, err := cfg.TLS()
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return true }

// joinAttempt starts a worker (or a server) agent that joins with a token
// and returns its exit error and output once it exits (within 20 s).
func joinAttempt(t *testing.T, c *testcluster.Cluster, name, token string, server bool) (string, error) {
	t.Helper()
	args := []string{"agent", "--name", name, "--data-dir", filepath.Join(t.TempDir(), name), "--bind", "127.0.0.1",
		"--api-port", fmt.Sprint(testcluster.FreePort(t)), "--gossip-port", fmt.Sprint(testcluster.FreePort(t)),
		"--containerd-socket", "", "--http-port", "0", "--join", c.Nodes[0].APIAddr(), "--token", token}
	if server {
		args = append(args, "--server", "--raft-port", fmt.Sprint(testcluster.FreePort(t)))
	}
	cmd := exec.Command(testcluster.Binary(t), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(20 * time.Second):
		cmd.Process.Signal(syscall.SIGTERM)
		<-done
		return out.String(), nil
	}
}

// TestJoinTokens is must-show 2: wrong, foreign, wrong-role, expired and
// used-up tokens are refused and nothing joins; a good one joins.
func TestJoinTokens(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Servers: 1})
	cl := c.Client(t)
	newToken := func(role string, ttl time.Duration, uses int) string {
		tok, err := cl.CreateJoinToken(ctx(t), role, ttl, uses, "test")
		if err != nil {
			t.Fatal(err)
		}
		return tok.Token
	}
	good := newToken("worker", time.Hour, 1)
	parsed, err := security.ParseJoinToken(good)
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcreds.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	foreign := security.JoinToken{CAFingerprint: other.CA.Fingerprint(), ID: parsed.ID, Secret: parsed.Secret}.String()
	wrong := security.JoinToken{CAFingerprint: parsed.CAFingerprint, ID: parsed.ID, Secret: strings.Repeat("a", len(parsed.Secret))}.String()
	expired := newToken("worker", time.Second, 0)
	time.Sleep(1500 * time.Millisecond)
	workerForServer := newToken("worker", time.Hour, 0)

	for _, tc := range []struct {
		name, token string
		server      bool
		want        string
	}{
		{"wrong secret", wrong, false, "wrong secret"},
		{"another cluster's CA", foreign, false, "fingerprint"},
		{"worker token for a server", workerForServer, true, "worker token"},
		{"expired", expired, false, "expired"},
		{"malformed", "SWMTKN-1-nope", false, "join token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "bad-" + strings.ReplaceAll(tc.name, " ", "-")
			name = strings.ReplaceAll(name, "'", "")
			out, err := joinAttempt(t, c, name, tc.token, tc.server)
			if err == nil {
				t.Fatalf("the agent did not fail:\n%s", out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("want %q in the refusal:\n%s", tc.want, out)
			}
			if strings.Contains(testcluster.MustCLI(t, c.Nodes[0].APIAddr(), "members"), name) {
				t.Errorf("%s joined the gossip pool", name)
			}
		})
	}
	t.Run("used up", func(t *testing.T) {
		w := c.AddWorker(t, "--token", good) // the last --token wins
		testcluster.Eventually(t, 20*time.Second, func() error {
			if !strings.Contains(testcluster.MustCLI(t, c.Nodes[0].APIAddr(), "members"), w.Name) {
				return fmt.Errorf("%s has not joined", w.Name)
			}
			return nil
		})
		out, err := joinAttempt(t, c, "second", good, false)
		if err == nil || !strings.Contains(out, "used up") {
			t.Errorf("a second join with a one-use token: %v\n%s", err, out)
		}
		ls := testcluster.MustCLI(t, c.Nodes[0].APIAddr(), "token", "ls")
		if !strings.Contains(ls, parsed.ID) || !strings.Contains(ls, "1/1") {
			t.Errorf("token ls:\n%s", ls)
		}
	})
	t.Run("server token", func(t *testing.T) {
		tok := newToken("server", time.Hour, 1)
		p, _ := security.ParseJoinToken(tok)
		s := c.AddServer(t, "--token", tok) // the token wins over the CA files
		testcluster.Eventually(t, 30*time.Second, func() error {
			peers := testcluster.MustCLI(t, c.Nodes[0].APIAddr(), "raft", "peers")
			if !strings.Contains(peers, s.Name) {
				return fmt.Errorf("raft peers:\n%s", peers)
			}
			return nil
		})
		// The new server has the CA's key: it signs its own certificate.
		if _, err := os.Stat(filepath.Join(s.DataDir, "tls", "ca-key.pem")); err != nil {
			t.Error(err)
		}
		if !strings.Contains(testcluster.MustCLI(t, s.APIAddr(), "get", "namespace", "default"), "default") {
			t.Error("the new server does not answer")
		}
		for _, line := range strings.Split(testcluster.MustCLI(t, c.Nodes[0].APIAddr(), "token", "ls"), "\n") {
			if strings.HasPrefix(line, p.ID+" ") && !strings.Contains(line, "1/1") {
				t.Errorf("the server token was not used: %s", line)
			}
		}
	})
	t.Run("revoked", func(t *testing.T) {
		tok := newToken("worker", time.Hour, 0)
		p, _ := security.ParseJoinToken(tok)
		testcluster.MustCLI(t, c.Nodes[0].APIAddr(), "token", "revoke", p.ID)
		out, err := joinAttempt(t, c, "revoked", tok, false)
		if err == nil || !strings.Contains(out, "unknown or revoked") {
			t.Errorf("join with a revoked token: %v\n%s", err, out)
		}
	})
}

// TestSecretsAtRest is must-show 3: a canary Secret value is nowhere in
// any agent's data dir (Raft log, snapshots, bolt files, pod folders on
// disk) yet reaches the pod as a file and as an environment variable.
func TestSecretsAtRest(t *testing.T) {
	c := podCluster(t)
	canary := fmt.Sprintf("canary-%d-%x", time.Now().UnixNano(), os.Getpid())
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: canary}
stringData: {value: %[1]s}
---
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  containers:
  - name: c
    image: %[2]s
    command: [sh, -c, 'sleep 3600']
    env:
    - name: CANARY
      valueFrom: {secretKeyRef: {name: canary, key: value}}
    volumeMounts: [{name: s, mountPath: /secret}]
  volumes:
  - name: s
    secret: {secretName: canary}
`, canary, testimage.Ref)
	addr := c.Nodes[0].APIAddr()
	out, errs, code := testcluster.CLI(t, addr, manifest, "apply", "-f", "-")
	if code != 0 {
		t.Fatalf("apply: %s%s", out, errs)
	}
	// Enough writes after it that the log snapshots (threshold 16).
	cl := c.Client(t)
	for i := range 40 {
		cm := &api.ConfigMap{Metadata: api.ObjectMeta{Name: fmt.Sprintf("filler-%d", i)}, Data: map[string]string{"k": "v"}}
		api.Default(cm)
		if _, err := cl.Apply(ctx(t), cm); err != nil {
			t.Fatal(err)
		}
	}
	testcluster.Eventually(t, 60*time.Second, func() error {
		out, errs, code := testcluster.CLI(t, addr, "", "exec", "reader", "--", "sh", "-c", "cat /secret/value; echo; echo $CANARY")
		if code != 0 {
			return fmt.Errorf("exec: %s%s", out, errs)
		}
		if got := strings.Fields(out); len(got) != 2 || got[0] != canary || got[1] != canary {
			return fmt.Errorf("the pod read %q", out)
		}
		return nil
	})
	// An admin sees the value; an operator sees the key without it.
	y := testcluster.MustCLI(t, addr, "get", "secret", "canary", "-o", "yaml")
	if !strings.Contains(y, base64.StdEncoding.EncodeToString([]byte(canary))) {
		t.Errorf("admin's get secret -o yaml lacks the value:\n%s", y)
	}
	opTok, _, err := cl.CreateACLToken(ctx(t), api.RoleOperator, nil, 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code = testcluster.CLI(t, addr, "", "--token", opTok, "get", "secret", "canary", "-o", "yaml")
	if code != 0 || strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(canary))) || strings.Contains(out, canary) || !strings.Contains(out, "value") {
		t.Errorf("an operator's get secret -o yaml (exit %d):\n%s%s", code, out, errs)
	}
	// A rotation re-wraps the Secret's data key; the value still opens.
	out = testcluster.MustCLI(t, addr, "keyring", "rotate")
	if !strings.Contains(out, "1 Secrets re-wrapped") {
		t.Errorf("keyring rotate: %s", out)
	}
	y = testcluster.MustCLI(t, addr, "get", "secret", "canary", "-o", "yaml")
	if !strings.Contains(y, base64.StdEncoding.EncodeToString([]byte(canary))) {
		t.Errorf("after a rotation, get secret -o yaml lacks the value:\n%s", y)
	}
	snapshots := 0
	for _, n := range c.All() {
		filepath.WalkDir(n.DataDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() {
				if p != n.DataDir && onOtherDevice(n.DataDir, p) {
					return fs.SkipDir // a tmpfs mount (Secret volumes), not the disk
				}
				if strings.Contains(p, "snapshots") {
					snapshots++
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			for _, needle := range []string{canary, base64.StdEncoding.EncodeToString([]byte(canary))} {
				if bytes.Contains(b, []byte(needle)) {
					t.Errorf("%s holds the canary (%q)", p, needle)
				}
			}
			return nil
		})
	}
	if snapshots == 0 {
		t.Error("no snapshot was written: the check did not cover snapshots")
	}
}

// onOtherDevice reports whether p is on another filesystem than root.
func onOtherDevice(root, p string) bool {
	var a, b syscall.Stat_t
	if syscall.Stat(root, &a) != nil || syscall.Stat(p, &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

// TestACL is must-show 4: a read-only token can get but not apply; a
// namespace-scoped operator cannot touch another namespace; a non-admin
// cannot create a privileged pod.
func TestACL(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Servers: 1})
	addr := c.Nodes[0].APIAddr()
	cl := c.Client(t)
	if out, errs, code := testcluster.CLI(t, addr, "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n", "apply", "-f", "-"); code != 0 {
		t.Fatalf("apply namespace: %s%s", out, errs)
	}
	ro := testcluster.MustCLI(t, addr, "acl", "create", "--role", "read-only")
	ro = strings.TrimSpace(ro)
	op, _, err := cl.CreateACLToken(ctx(t), api.RoleOperator, []string{"team-a"}, 0, "team a")
	if err != nil {
		t.Fatal(err)
	}
	cm := func(ns string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: %s}\ndata: {k: v}\n", ns)
	}
	run := func(token, stdin string, args ...string) (string, int) {
		out, errs, code := testcluster.CLI(t, addr, stdin, append([]string{"--token", token}, args...)...)
		return out + errs, code
	}
	if out, code := run(ro, "", "get", "namespace", "default"); code != 0 {
		t.Errorf("read-only get: %s", out)
	}
	if out, code := run(ro, cm("default"), "apply", "-f", "-"); code == 0 || !strings.Contains(out, "operator or admin token") {
		t.Errorf("read-only apply (exit %d): %s", code, out)
	}
	if out, code := run(op, cm("team-a"), "apply", "-f", "-"); code != 0 {
		t.Errorf("operator apply in its namespace: %s", out)
	}
	if out, code := run(op, cm("default"), "apply", "-f", "-"); code == 0 || !strings.Contains(out, `namespace "default"`) {
		t.Errorf("operator apply in another namespace (exit %d): %s", code, out)
	}
	if out, code := run(op, "", "get", "configmaps", "-n", "default"); code == 0 || !strings.Contains(out, "PermissionDenied") && !strings.Contains(out, "not one of its namespaces") {
		t.Errorf("operator list in another namespace (exit %d): %s", code, out)
	}
	if out, code := run(op, "", "acl", "create", "--role", "admin"); code == 0 || !strings.Contains(out, "admin token") {
		t.Errorf("operator made an admin token (exit %d): %s", code, out)
	}
	priv := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: priv, namespace: team-a}
spec:
  containers:
  - name: c
    image: %s
    securityContext: {privileged: true}
`, testimage.Ref)
	if out, code := run(op, priv, "apply", "-f", "-"); code == 0 || !strings.Contains(out, "securityContext.privileged") {
		t.Errorf("operator's privileged pod (exit %d): %s", code, out)
	}
	hostPath := strings.Replace(priv, "    securityContext: {privileged: true}\n", "    volumeMounts: [{name: h, mountPath: /h}]\n  volumes: [{name: h, hostPath: {path: /etc}}]\n", 1)
	if out, code := run(op, hostPath, "apply", "-f", "-"); code == 0 || !strings.Contains(out, "hostPath") {
		t.Errorf("operator's hostPath pod (exit %d): %s", code, out)
	}
	if out, code := run(c.Creds.Token, priv, "apply", "-f", "-"); code != 0 {
		t.Errorf("admin's privileged pod: %s", out)
	}
	// A revoked token stops working at once.
	id, _ := security.ParseACLToken(ro)
	testcluster.MustCLI(t, addr, "acl", "revoke", id.ID)
	if out, code := run(ro, "", "get", "namespace", "default"); code == 0 || !strings.Contains(out, "unknown or revoked") {
		t.Errorf("revoked token (exit %d): %s", code, out)
	}
	if out, code := run("bthacl-nope", "", "get", "namespace", "default"); code == 0 || !strings.Contains(out, "Unauthenticated") && !strings.Contains(out, "ACL token") {
		t.Errorf("malformed token (exit %d): %s", code, out)
	}
}

// TestCertificateRenewal is must-show 5: with 6-second certificates, every
// agent renews its own several times while a client's requests all
// succeed.
func TestCertificateRenewal(t *testing.T) {
	life := []string{"--cert-lifetime", "6s"}
	c := testcluster.Start(t, testcluster.Options{Servers: 3, Args: life})
	w := c.AddWorker(t, life...)
	serials := map[string]map[string]bool{}
	var mu sync.Mutex
	pool := x509.NewCertPool()
	pool.AddCert(c.Creds.CA.Cert)
	tc := mustTLS(t, c.Creds.Config(nil))
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, n := range c.All() {
		cl := n.Client(t, client.WithTimeout(5*time.Second))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				cm := &api.ConfigMap{Metadata: api.ObjectMeta{Name: fmt.Sprintf("r%d-%d", i, k%20)}, Data: map[string]string{"k": fmt.Sprint(k)}}
				api.Default(cm)
				_, err := cl.Apply(cctx, cm)
				cancel()
				if err != nil {
					failed.Add(1)
					t.Errorf("request through %s: %v", n.Name, err)
				} else {
					ok.Add(1)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	testcluster.Eventually(t, 20*time.Second, func() error {
		conn, err := tls.Dial("tcp", w.APIAddr(), tc)
		if err == nil {
			conn.Close()
		}
		return err
	})
	deadline := time.Now().Add(16 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range c.All() {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", n.APIAddr(), tc)
			if err != nil {
				t.Errorf("dial %s: %v", n.Name, err)
				continue
			}
			leaf := conn.ConnectionState().PeerCertificates[0]
			conn.Close()
			if time.Now().After(leaf.NotAfter) {
				t.Errorf("%s presented an expired certificate", n.Name)
			}
			mu.Lock()
			if serials[n.Name] == nil {
				serials[n.Name] = map[string]bool{}
			}
			serials[n.Name][leaf.SerialNumber.String()] = true
			mu.Unlock()
		}
		time.Sleep(500 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	for _, n := range c.All() {
		if len(serials[n.Name]) < 3 {
			t.Errorf("%s presented %d certificates in 16 s of 6-second ones", n.Name, len(serials[n.Name]))
		}
	}
	t.Logf("%d requests succeeded, %d failed, while %d agents renewed (%v)", ok.Load(), failed.Load(), len(c.All()), func() map[string]int {
		m := map[string]int{}
		for k, v := range serials {
			m[k] = len(v)
		}
		return m
	}())
	if ok.Load() < 100 {
		t.Errorf("only %d requests", ok.Load())
	}
}
