package netsvc

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
)

// ingLogWriter writes to t.Log until the test ends: the ingress may log
// from its connections' goroutines after that.
type ingLogWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *ingLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func ingLogger(t testing.TB) *slog.Logger {
	w := &ingLogWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// ingBackend is an endpoint: an httptest server on 127.0.0.1.
type ingBackend struct {
	name string
	srv  *httptest.Server
	port int32
	hits atomic.Int64
}

// ingStartBackend starts a backend that serves h, or by default answers
// its name with what it received echoed in Echo-* headers.
func ingStartBackend(t testing.TB, name string, h http.HandlerFunc) *ingBackend {
	b := &ingBackend{name: name}
	if h == nil {
		h = b.echo
	}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(b.srv.Close)
	b.port = int32(b.srv.Listener.Addr().(*net.TCPAddr).Port)
	return b
}

func (b *ingBackend) echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h := w.Header()
	h.Set("Echo-Host", r.Host)
	h.Set("Echo-Body", string(body))
	h.Set("Echo-Proto", r.Proto)
	for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port", "X-Real-Ip"} {
		h.Set("Echo-"+k, r.Header.Get(k))
	}
	_, _ = io.WriteString(w, b.name)
}

// ingDeadPort returns a port of 127.0.0.1 that nothing listens on.
func ingDeadPort(t testing.TB) int32 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := int32(ln.Addr().(*net.TCPAddr).Port)
	_ = ln.Close()
	return port
}

// ingEndpoints is the Endpoints of ns/name: one subset per port of
// 127.0.0.1, the port named portName; ready ones, then not-ready ones.
func ingEndpoints(ns, name, portName string, ready []int32, notReady ...int32) *api.Endpoints {
	eps := &api.Endpoints{Metadata: api.ObjectMeta{Namespace: ns, Name: name}}
	for i, port := range append(ready, notReady...) {
		ss := api.EndpointSubset{Ports: []api.EndpointPort{{Name: portName, Port: port}}}
		addr := []api.EndpointAddress{{IP: "127.0.0.1"}}
		if i < len(ready) {
			ss.Addresses = addr
		} else {
			ss.NotReadyAddresses = addr
		}
		eps.Subsets = append(eps.Subsets, ss)
	}
	return eps
}

// ingPorts returns the ports of backends.
func ingPorts(bs ...*ingBackend) []int32 {
	var ports []int32
	for _, b := range bs {
		ports = append(ports, b.port)
	}
	return ports
}

// ingStart starts an ingress on 127.0.0.1 serving s, closed at the end
// of the test.
func ingStart(t testing.TB, s *State) *Ingress {
	g := NewIngress(IngressConfig{HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0", Logger: ingLogger(t)})
	g.Update(s)
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Error(err)
		}
	})
	return g
}

// ingClient returns a client of its own transport.
func ingClient(t testing.TB, tr *http.Transport) *http.Client {
	if tr == nil {
		tr = &http.Transport{}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

type ingResp struct {
	code  int
	body  string
	h     http.Header
	proto int
}

// ingDo sends method to base+path with Host host.
func ingDo(t testing.TB, c *http.Client, method, base, host, path, body string) ingResp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s (Host %s): %v", method, base, path, host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s%s (Host %s): body: %v", method, base, path, host, err)
	}
	return ingResp{resp.StatusCode, string(b), resp.Header, resp.ProtoMajor}
}

func ingGet(t testing.TB, c *http.Client, base, host, path string) ingResp {
	t.Helper()
	return ingDo(t, c, http.MethodGet, base, host, path, "")
}

func TestIngressRouting(t *testing.T) {
	a, b := ingStartBackend(t, "a", nil), ingStartBackend(t, "b", nil)
	m1, m2 := ingStartBackend(t, "m1", nil), ingStartBackend(t, "m2", nil)
	sleepy := ingStartBackend(t, "sleepy", nil)
	multi := ingSvc("web", "multi", api.ServicePort{Name: "http", Port: 80}, api.ServicePort{Name: "admin", Port: 8080})
	multiEps := ingEndpoints("web", "multi", "http", ingPorts(m1))
	multiEps.Subsets = append(multiEps.Subsets, ingEndpoints("web", "multi", "admin", ingPorts(m2)).Subsets...)
	s := ingState(
		ingSvc("web", "a"), ingEndpoints("web", "a", "http", ingPorts(a)),
		ingSvc("web", "b"), ingEndpoints("web", "b", "http", ingPorts(b)),
		multi, multiEps,
		ingSvc("web", "sleepy"), ingEndpoints("web", "sleepy", "http", nil, sleepy.port),
		ingObj("web", "site", 0, api.IngressSpec{Rules: []api.IngressRule{
			ingRule("one.test",
				ingPath("/", api.PathTypePrefix, "a", 80),
				ingPath("/b", api.PathTypePrefix, "b", "http"),
				ingPath("/exact", api.PathTypeExact, "b", 80)),
			ingRule("two.test",
				ingPath("/", api.PathTypePrefix, "b", 80),
				ingPath("/a", api.PathTypePrefix, "a", 80),
				ingPath("/a/deeper", api.PathTypePrefix, "b", 80)),
			ingRule("*.wild.test", ingPath("/", api.PathTypePrefix, "a", 80)),
			ingRule("ports.test",
				ingPath("/num", api.PathTypePrefix, "multi", 8080),
				ingPath("/name", api.PathTypePrefix, "multi", "http")),
			ingRule("broken.test",
				ingPath("/nosvc", api.PathTypePrefix, "ghost", 80),
				ingPath("/noport", api.PathTypePrefix, "a", 81),
				ingPath("/noready", api.PathTypePrefix, "sleepy", 80)),
		}}),
	)
	g := ingStart(t, s)
	c := ingClient(t, nil)
	base := "http://" + g.HTTPAddr()

	for _, tc := range []struct {
		host, path string
		code       int
		body       string
	}{
		{"one.test", "/", 200, "a"},
		{"one.test", "/b", 200, "b"},
		{"one.test", "/b/c", 200, "b"},
		{"one.test", "/bc", 200, "a"}, // "/b" matches by elements
		{"one.test", "/exact", 200, "b"},
		{"one.test", "/exact/", 200, "a"}, // Exact is exact
		{"ONE.test:80", "/b", 200, "b"},
		{"two.test", "/", 200, "b"},
		{"two.test", "/a/x", 200, "a"},
		{"two.test", "/a/deeper/x", 200, "b"}, // the longest prefix
		{"x.wild.test", "/", 200, "a"},
		{"x.y.wild.test", "/", 404, "404 page not found\n"}, // one label only
		{"wild.test", "/", 404, "404 page not found\n"},
		{"ports.test", "/num", 200, "m2"},  // port 8080, "admin"
		{"ports.test", "/name", 200, "m1"}, // port "http", 80
		{"nowhere.test", "/", 404, "404 page not found\n"},
		{"broken.test", "/nosvc", 503, "503 service unavailable\n"},
		{"broken.test", "/noport", 503, "503 service unavailable\n"},
		{"broken.test", "/noready", 503, "503 service unavailable\n"},
	} {
		r := ingGet(t, c, base, tc.host, tc.path)
		if r.code != tc.code || r.body != tc.body {
			t.Errorf("GET %s%s: %d %q, want %d %q", tc.host, tc.path, r.code, r.body, tc.code, tc.body)
		}
	}
	if n := sleepy.hits.Load(); n != 0 {
		t.Errorf("a not-ready endpoint got %d requests", n)
	}
}

func TestIngressDefaultBackend(t *testing.T) {
	a, b, d := ingStartBackend(t, "a", nil), ingStartBackend(t, "b", nil), ingStartBackend(t, "d", nil)
	s := ingState(
		ingSvc("ns1", "a"), ingEndpoints("ns1", "a", "http", ingPorts(a)),
		ingSvc("ns1", "d"), ingEndpoints("ns1", "d", "http", ingPorts(d)),
		ingSvc("ns2", "b"), ingEndpoints("ns2", "b", "http", ingPorts(b)),
		ingObj("ns2", "younger", 5, api.IngressSpec{
			DefaultBackend: &[]api.IngressBackend{ingRef("b", 80)}[0],
			Rules:          []api.IngressRule{ingRule("b.test", ingPath("/", api.PathTypePrefix, "b", 80))},
		}),
		ingObj("ns1", "older", 1, api.IngressSpec{
			DefaultBackend: &[]api.IngressBackend{ingRef("d", 80)}[0],
			Rules:          []api.IngressRule{ingRule("a.test", ingPath("/app", api.PathTypePrefix, "a", 80))},
		}),
	)
	g := ingStart(t, s)
	c := ingClient(t, nil)
	base := "http://" + g.HTTPAddr()
	for _, tc := range []struct{ host, path, want string }{
		{"a.test", "/app", "a"},
		{"a.test", "/", "d"}, // no path of the host matches
		{"b.test", "/x", "b"},
		{"unknown.test", "/", "d"}, // the oldest Ingress's default
	} {
		if r := ingGet(t, c, base, tc.host, tc.path); r.code != 200 || r.body != tc.want {
			t.Errorf("GET %s%s: %d %q, want %q", tc.host, tc.path, r.code, r.body, tc.want)
		}
	}
}

func TestIngressRoundRobin(t *testing.T) {
	bs := []*ingBackend{ingStartBackend(t, "r0", nil), ingStartBackend(t, "r1", nil), ingStartBackend(t, "r2", nil)}
	notReady := ingStartBackend(t, "not-ready", nil)
	s := ingState(
		ingSvc("ns", "rr"), ingEndpoints("ns", "rr", "http", ingPorts(bs...), notReady.port),
		ingObj("ns", "rr", 0, api.IngressSpec{Rules: []api.IngressRule{
			ingRule("", ingPath("/", api.PathTypePrefix, "rr", 80))}}),
	)
	g := ingStart(t, s)
	c := ingClient(t, nil)
	for range 30 {
		if r := ingGet(t, c, "http://"+g.HTTPAddr(), "rr.test", "/"); r.code != 200 {
			t.Fatalf("GET: %d %q", r.code, r.body)
		}
	}
	for _, b := range bs {
		if n := b.hits.Load(); n != 10 {
			t.Errorf("%s got %d of 30 requests, want 10", b.name, n)
		}
	}
	if n := notReady.hits.Load(); n != 0 {
		t.Errorf("the not-ready endpoint got %d requests", n)
	}
}

func TestIngressDeadEndpoint(t *testing.T) {
	live := []*ingBackend{ingStartBackend(t, "live0", nil), ingStartBackend(t, "live1", nil)}
	// The dead endpoint is first: the first request dials it.
	ports := append([]int32{ingDeadPort(t)}, ingPorts(live...)...)
	s := ingState(
		ingSvc("ns", "svc"), ingEndpoints("ns", "svc", "http", ports),
		ingSvc("ns", "gone"), ingEndpoints("ns", "gone", "http", []int32{ingDeadPort(t), ingDeadPort(t)}),
		ingObj("ns", "ing", 0, api.IngressSpec{Rules: []api.IngressRule{ingRule("",
			ingPath("/", api.PathTypePrefix, "svc", 80),
			ingPath("/gone", api.PathTypePrefix, "gone", 80))}}),
	)
	g := ingStart(t, s)
	c := ingClient(t, nil)
	base := "http://" + g.HTTPAddr()
	for i := range 30 {
		// A POST first: its body survives the retry.
		method, body := http.MethodGet, ""
		if i%2 == 0 {
			method, body = http.MethodPost, "payload "+strconv.Itoa(i)
		}
		r := ingDo(t, c, method, base, "svc.test", "/", body)
		if r.code != 200 || r.h.Get("Echo-Body") != body {
			t.Fatalf("%s %d: %d %q, body seen %q", method, i, r.code, r.body, r.h.Get("Echo-Body"))
		}
	}
	for _, b := range live {
		if b.hits.Load() == 0 {
			t.Errorf("%s got no request", b.name)
		}
	}
	if r := ingGet(t, c, base, "svc.test", "/gone"); r.code != http.StatusBadGateway {
		t.Errorf("GET with every endpoint dead: %d %q, want 502", r.code, r.body)
	}
}

func TestIngressForwardedHeaders(t *testing.T) {
	b := ingStartBackend(t, "b", nil)
	s := ingState(
		ingSvc("ns", "b"), ingEndpoints("ns", "b", "http", ingPorts(b)),
		ingObj("ns", "ing", 0, api.IngressSpec{Rules: []api.IngressRule{
			ingRule("headers.test", ingPath("/", api.PathTypePrefix, "b", 80))}}),
	)
	g := ingStart(t, s)
	c := ingClient(t, nil)
	req, err := http.NewRequest(http.MethodGet, "http://"+g.HTTPAddr()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "Headers.test:8080"
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("X-Real-IP", "198.51.100.1")
	req.Header.Set("X-Forwarded-Port", "1")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	_, port, _ := net.SplitHostPort(g.HTTPAddr())
	for k, want := range map[string]string{
		"Echo-Host":              "Headers.test:8080",
		"Echo-X-Forwarded-For":   "203.0.113.7, 127.0.0.1",
		"Echo-X-Forwarded-Proto": "http",
		"Echo-X-Forwarded-Host":  "Headers.test:8080",
		"Echo-X-Forwarded-Port":  port,
		"Echo-X-Real-Ip":         "127.0.0.1",
		"Echo-Proto":             "HTTP/1.1",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestIngressTLS(t *testing.T) {
	a, b := ingStartBackend(t, "a", nil), ingStartBackend(t, "b", nil)
	ca := ingNewCA(t)
	crtA, keyA := ca.issue(t, "a.tls.test")
	crtB, keyB := ca.issue(t, "b.tls.test")
	crtW, keyW := ca.issue(t, "*.wild.tls.test")
	s := ingState(
		ingSvc("ns", "a"), ingEndpoints("ns", "a", "http", ingPorts(a)),
		ingSvc("ns", "b"), ingEndpoints("ns", "b", "http", ingPorts(b)),
		ingTLSSecret("ns", "a", crtA, keyA),
		ingTLSSecret("ns", "b", crtB, keyB),
		ingTLSSecret("ns", "w", crtW, keyW),
		ingTLSSecret("ns", "bad", crtA, keyB), // a key of another certificate
		ingTLSSecret("other", "b", crtA, keyA),
		ingObj("ns", "tls", 0, api.IngressSpec{
			TLS: []api.IngressTLS{
				{Hosts: []string{"a.tls.test"}, SecretName: "a"},
				{Hosts: []string{"*.wild.tls.test"}, SecretName: "w"},
				{Hosts: []string{"bad.tls.test"}, SecretName: "bad"},
			},
			Rules: []api.IngressRule{
				ingRule("a.tls.test", ingPath("/", api.PathTypePrefix, "a", 80)),
				ingRule("b.tls.test", ingPath("/", api.PathTypePrefix, "b", 80)),
			},
		}),
		ingObj("ns", "tls2", 1, api.IngressSpec{TLS: []api.IngressTLS{
			{Hosts: []string{"b.tls.test"}, SecretName: "b"},
		}}),
	)
	g := ingStart(t, s)

	// peer returns the CN the ingress shows for serverName, verified
	// against the test CA when verify is set.
	peer := func(serverName string, verify bool) (string, error) {
		cfg := &tls.Config{ServerName: serverName, RootCAs: ca.pool, InsecureSkipVerify: !verify}
		conn, err := tls.Dial("tcp", g.HTTPSAddr(), cfg)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
	}
	for _, name := range []string{"a.tls.test", "B.tls.test", "x.wild.tls.test"} {
		if _, err := peer(name, true); err != nil {
			t.Errorf("SNI %s: %v", name, err)
		}
	}
	for _, name := range []string{"", "unknown.test", "bad.tls.test", "x.y.wild.tls.test", "wild.tls.test"} {
		cn, err := peer(name, false)
		if err != nil || cn != ingressDefaultCN {
			t.Errorf("SNI %q: certificate %q, %v; want the default", name, cn, err)
		}
	}
	if _, err := peer("unknown.test", true); err == nil {
		t.Error("the default certificate verified against the test CA")
	}

	// HTTPS requests: HTTP/2 by ALPN, and HTTP/1.1 for a client without it.
	for _, tc := range []struct {
		host  string
		h2    bool
		proto int
	}{{"a.tls.test", true, 2}, {"b.tls.test", false, 1}} {
		tr := &http.Transport{
			ForceAttemptHTTP2: tc.h2,
			TLSClientConfig:   &tls.Config{RootCAs: ca.pool, ServerName: tc.host},
		}
		r := ingGet(t, ingClient(t, tr), "https://"+g.HTTPSAddr(), tc.host, "/")
		_, port, _ := net.SplitHostPort(g.HTTPSAddr())
		if r.code != 200 || r.body != tc.host[:1] || r.proto != tc.proto {
			t.Errorf("GET https://%s/: %d %q HTTP/%d, want 200 %q HTTP/%d", tc.host, r.code, r.body, r.proto, tc.host[:1], tc.proto)
		}
		if p, pp, bp := r.h.Get("Echo-X-Forwarded-Proto"), r.h.Get("Echo-X-Forwarded-Port"), r.h.Get("Echo-Proto"); p != "https" || pp != port || bp != "HTTP/1.1" {
			t.Errorf("GET https://%s/: backend saw X-Forwarded-Proto %q, -Port %q over %s; want https, %s over HTTP/1.1", tc.host, p, pp, bp, port)
		}
	}
}

func TestIngressH2C(t *testing.T) {
	a := ingStartBackend(t, "a", nil)
	s := ingState(
		ingSvc("ns", "a"), ingEndpoints("ns", "a", "http", ingPorts(a)),
		ingObj("ns", "ing", 0, api.IngressSpec{Rules: []api.IngressRule{
			ingRule("", ingPath("/", api.PathTypePrefix, "a", 80))}}),
	)
	g := ingStart(t, s)
	protos := new(http.Protocols)
	protos.SetUnencryptedHTTP2(true)
	r := ingGet(t, ingClient(t, &http.Transport{Protocols: protos}), "http://"+g.HTTPAddr(), "h2c.test", "/")
	if r.code != 200 || r.body != "a" || r.proto != 2 {
		t.Errorf("h2c GET: %d %q HTTP/%d, want 200 \"a\" HTTP/2", r.code, r.body, r.proto)
	}
	if got := r.h.Get("Echo-Proto"); got != "HTTP/1.1" {
		t.Errorf("the backend got %s, want HTTP/1.1", got)
	}
}

func TestIngressUpgrade(t *testing.T) {
	echo := ingStartBackend(t, "echo", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		if brw.Flush() == nil {
			_, _ = io.Copy(conn, brw.Reader) // until the client closes
		}
	})
	s := ingState(
		ingSvc("ns", "echo"), ingEndpoints("ns", "echo", "http", ingPorts(echo)),
		ingObj("ns", "ing", 0, api.IngressSpec{Rules: []api.IngressRule{
			ingRule("ws.test", ingPath("/ws", api.PathTypeExact, "echo", 80))}}),
	)
	g := ingStart(t, s)
	conn, err := net.Dial("tcp", g.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "echo" {
		t.Fatalf("upgrade: %s, Upgrade %q", resp.Status, resp.Header.Get("Upgrade"))
	}
	for i := range 3 {
		if i == 1 {
			g.Update(ingState()) // an upgraded connection outlives its route
		}
		msg := fmt.Sprintf("message %d", i)
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("echo %d: %q, %v", i, got, err)
		}
	}
	// Close ends upgraded connections too.
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := br.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("after Close, the upgraded connection reads %d bytes, %v; want it closed", n, err)
	}
}

func TestIngressUpdateKeepsStreams(t *testing.T) {
	a, b := ingStartBackend(t, "a", nil), ingStartBackend(t, "b", nil)
	release := make(chan struct{})
	stream := ingStartBackend(t, "stream", func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		for i := range 10 {
			_, _ = fmt.Fprintf(w, "chunk %d\n", i)
			_ = rc.Flush()
			if i == 0 {
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
			}
			time.Sleep(100 * time.Millisecond) // a slow stream, about 1 s
		}
	})
	before := ingState(
		ingSvc("ns", "a"), ingEndpoints("ns", "a", "http", ingPorts(a)),
		ingSvc("ns", "stream"), ingEndpoints("ns", "stream", "http", ingPorts(stream)),
		ingObj("ns", "ing", 0, api.IngressSpec{Rules: []api.IngressRule{ingRule("",
			ingPath("/stream", api.PathTypePrefix, "stream", 80),
			ingPath("/", api.PathTypePrefix, "a", 80))}}),
	)
	// After: the stream's Service is gone and "/" goes to b.
	after := ingState(
		ingSvc("ns", "b"), ingEndpoints("ns", "b", "http", ingPorts(b)),
		ingObj("ns", "ing", 0, api.IngressSpec{Rules: []api.IngressRule{ingRule("",
			ingPath("/", api.PathTypePrefix, "b", 80))}}),
	)
	g := ingStart(t, before)
	base := "http://" + g.HTTPAddr()

	resp, err := ingClient(t, nil).Get(base + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); line != "chunk 0\n" || err != nil {
		t.Fatalf("first chunk: %q, %v", line, err)
	}

	// A keep-alive connection, open across the Update.
	c := ingClient(t, nil)
	var reused atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused.Store(i.Reused) }}
	get := func(path string) string {
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, body)
	}
	if got := get("/x"); got != "200 a" {
		t.Fatalf("before the Update: %s", got)
	}
	g.Update(after)
	for path, want := range map[string]string{"/x": "200 b", "/stream": "200 b"} {
		if got := get(path); got != want {
			t.Errorf("GET %s after the Update: %s, want %s", path, got, want)
		}
		if !reused.Load() {
			t.Error("the Update closed a keep-alive connection")
		}
	}

	close(release)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("the stream was cut: %v", err)
	}
	var want strings.Builder
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&want, "chunk %d\n", i)
	}
	if string(rest) != want.String() {
		t.Errorf("the rest of the stream: %q, want %q", rest, want.String())
	}
}

func TestIngressUpdateRace(t *testing.T) {
	a, b := ingStartBackend(t, "a", nil), ingStartBackend(t, "b", nil)
	state := func(to *ingBackend, age int) *State {
		return ingState(
			ingSvc("ns", to.name), ingEndpoints("ns", to.name, "http", ingPorts(to, to)),
			ingObj("ns", "ing", age, api.IngressSpec{Rules: []api.IngressRule{ingRule("",
				ingPath("/", api.PathTypePrefix, to.name, 80))}}),
		)
	}
	states := []*State{state(a, 0), state(b, 1)}
	g := ingStart(t, states[0])
	c := ingClient(t, &http.Transport{MaxIdleConnsPerHost: 8})
	base := "http://" + g.HTTPAddr()

	ctx, cancel := context.WithCancel(context.Background())
	var updates sync.WaitGroup
	updates.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			g.Update(states[i%2])
		}
	})
	var clients sync.WaitGroup
	for range 4 {
		clients.Go(func() {
			for range 50 {
				req, err := http.NewRequest(http.MethodGet, base+"/", nil)
				if err != nil {
					t.Error(err)
					return
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != 200 || (string(body) != "a" && string(body) != "b") {
					t.Errorf("GET during Updates: %d %q", resp.StatusCode, body)
					return
				}
			}
		})
	}
	clients.Wait()
	cancel()
	updates.Wait()
}

func TestIngressStart(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	g := NewIngress(IngressConfig{HTTPAddr: "127.0.0.1:0", HTTPSAddr: busy.Addr().String(), Logger: ingLogger(t)})
	if err := g.Start(); err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Errorf("Start on a busy address: %v, want an error naming %s", err, busy.Addr())
	}
	if err := g.Close(); err != nil {
		t.Errorf("Close of an ingress that did not start: %v", err)
	}

	g = NewIngress(IngressConfig{HTTPSAddr: "127.0.0.1:0", Logger: ingLogger(t)})
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	if g.HTTPAddr() != "" || g.HTTPSAddr() == "" {
		t.Errorf("addresses %q and %q, want only HTTPS", g.HTTPAddr(), g.HTTPSAddr())
	}
	if err := g.Start(); err == nil {
		t.Error("a second Start succeeded")
	}
	if err := g.Close(); err != nil {
		t.Error(err)
	}
	if err := g.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

func BenchmarkIngressProxy(b *testing.B) {
	be := ingStartBackend(b, "ok", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
	g := NewIngress(IngressConfig{HTTPAddr: "127.0.0.1:0"})
	g.Update(ingState(
		ingSvc("ns", "ok"), ingEndpoints("ns", "ok", "http", ingPorts(be)),
		ingObj("ns", "ing", 0, api.IngressSpec{Rules: []api.IngressRule{ingRule("",
			ingPath("/", api.PathTypePrefix, "ok", 80))}}),
	))
	if err := g.Start(); err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	run := func(b *testing.B, url string) {
		c := ingClient(b, &http.Transport{MaxIdleConnsPerHost: 1024})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := c.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("GET %s: %s", url, resp.Status)
					return
				}
			}
		})
	}
	b.Run("direct", func(b *testing.B) { run(b, be.srv.URL+"/") })
	b.Run("proxy", func(b *testing.B) { run(b, "http://"+g.HTTPAddr()+"/") })
}
