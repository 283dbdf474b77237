package netsvc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
)

// ingTS is a creation timestamp, age minutes after a fixed instant.
func ingTS(age int) string {
	return time.Date(2025, 1, 1, 0, age, 0, 0, time.UTC).Format(time.RFC3339)
}

// ingRef is a backend of Service svc by port: an int is a number, a
// string a name.
func ingRef(svc string, port any) api.IngressBackend {
	sb := &api.IngressServiceBackend{Name: svc}
	switch p := port.(type) {
	case int:
		sb.Port.Number = int32(p)
	case string:
		sb.Port.Name = p
	default:
		panic(fmt.Sprintf("ingRef: port %T", port))
	}
	return api.IngressBackend{Service: sb}
}

func ingPath(path, pathType, svc string, port any) api.HTTPIngressPath {
	return api.HTTPIngressPath{Path: path, PathType: pathType, Backend: ingRef(svc, port)}
}

func ingRule(host string, paths ...api.HTTPIngressPath) api.IngressRule {
	return api.IngressRule{Host: host, HTTP: &api.HTTPIngressRuleValue{Paths: paths}}
}

func ingObj(ns, name string, age int, spec api.IngressSpec) *api.Ingress {
	return &api.Ingress{
		Metadata: api.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: ingTS(age)},
		Spec:     spec,
	}
}

// ingSvc is a Service with ports; without any, the one TCP port "http" 80.
func ingSvc(ns, name string, ports ...api.ServicePort) *api.Service {
	if len(ports) == 0 {
		ports = []api.ServicePort{{Name: "http", Port: 80}}
	}
	return &api.Service{
		Metadata: api.ObjectMeta{Namespace: ns, Name: name},
		Spec:     api.ServiceSpec{Ports: ports},
	}
}

// ingState collects Services, Endpoints, Ingresses and Secrets into a State.
func ingState(objs ...any) *State {
	s := &State{
		Services:  map[string]*api.Service{},
		Endpoints: map[string]*api.Endpoints{},
		Ingresses: map[string]*api.Ingress{},
		Secrets:   map[string]*api.Secret{},
	}
	for _, o := range objs {
		switch o := o.(type) {
		case *api.Service:
			s.Services[Key(o.Metadata.Namespace, o.Metadata.Name)] = o
		case *api.Endpoints:
			s.Endpoints[Key(o.Metadata.Namespace, o.Metadata.Name)] = o
		case *api.Ingress:
			s.Ingresses[Key(o.Metadata.Namespace, o.Metadata.Name)] = o
		case *api.Secret:
			s.Secrets[Key(o.Metadata.Namespace, o.Metadata.Name)] = o
		default:
			panic(fmt.Sprintf("ingState: %T", o))
		}
	}
	return s
}

// ingOneEndpoint is the Endpoints of a Service with one ready address on
// its port "http".
func ingOneEndpoint(ns, name, ip string) *api.Endpoints {
	return &api.Endpoints{
		Metadata: api.ObjectMeta{Namespace: ns, Name: name},
		Subsets: []api.EndpointSubset{{
			Addresses: []api.EndpointAddress{{IP: ip}},
			Ports:     []api.EndpointPort{{Name: "http", Port: 8080}},
		}},
	}
}

func TestIngressRouteMatch(t *testing.T) {
	var objs []any
	for i, svc := range []string{"root", "api", "apiexact", "v1", "foo", "new", "other", "other2",
		"wild", "any", "dflt", "only", "tie-a", "tie-b", "v2"} {
		objs = append(objs, ingSvc("default", svc), ingOneEndpoint("default", svc, fmt.Sprintf("10.0.0.%d", i+1)))
	}
	objs = append(objs,
		ingObj("default", "one", 1, api.IngressSpec{
			DefaultBackend: &[]api.IngressBackend{ingRef("dflt", 80)}[0],
			Rules: []api.IngressRule{
				ingRule("foo.example.com",
					ingPath("/", api.PathTypePrefix, "root", 80),
					ingPath("/api", api.PathTypePrefix, "api", "http"),
					ingPath("/api", api.PathTypeExact, "apiexact", 80),
					ingPath("/api/v1/", api.PathTypePrefix, "v1", 80),
					ingPath("/api/v2", api.PathTypeImplementationSpecific, "v2", 80),
					ingPath("/foo", api.PathTypePrefix, "foo", 80)),
				ingRule("*.example.com", ingPath("/", api.PathTypePrefix, "wild", 80)),
				ingRule("", ingPath("/any", api.PathTypePrefix, "any", 80)),
			},
		}),
		// Younger: loses the ties, adds its new path.
		ingObj("default", "two", 2, api.IngressSpec{
			DefaultBackend: &[]api.IngressBackend{ingRef("other2", 80)}[0],
			Rules: []api.IngressRule{
				ingRule("foo.example.com",
					ingPath("/api/", api.PathTypePrefix, "other", 80),
					ingPath("/new", api.PathTypePrefix, "new", 80)),
				ingRule("only.example.com", ingPath("/only", api.PathTypeExact, "only", 80)),
			},
		}),
		// The same age: the name decides.
		ingObj("default", "tie-b", 3, api.IngressSpec{Rules: []api.IngressRule{
			ingRule("tie.example.com", ingPath("/", api.PathTypePrefix, "tie-b", 80))}}),
		ingObj("default", "tie-a", 3, api.IngressSpec{Rules: []api.IngressRule{
			ingRule("tie.example.com", ingPath("/", api.PathTypePrefix, "tie-a", 80))}}),
	)
	tab := buildIngressTable(ingState(objs...), ingressBuild{log: slog.New(slog.DiscardHandler)})

	for _, tc := range []struct {
		host, path, want string
	}{
		{"foo.example.com", "/", "root"},
		{"foo.example.com", "/x", "root"},
		{"foo.example.com", "/api", "apiexact"}, // Exact beats Prefix at the same length
		{"foo.example.com", "/api/", "api"},     // Exact "/api" does not match "/api/"
		{"foo.example.com", "/api/x", "api"},
		{"foo.example.com", "/api/v1", "v1"}, // the rule's trailing slash is ignored
		{"foo.example.com", "/api/v1/", "v1"},
		{"foo.example.com", "/api/v1/users/7", "v1"}, // the longest prefix wins
		{"foo.example.com", "/api/v10", "api"},       // by elements, not characters
		{"foo.example.com", "/api/v2/x", "v2"},       // ImplementationSpecific is Prefix
		{"foo.example.com", "/foo", "foo"},
		{"foo.example.com", "/foo/", "foo"},
		{"foo.example.com", "/foo/bar", "foo"},
		{"foo.example.com", "/foobar", "root"},
		{"foo.example.com", "/new/x", "new"}, // a younger Ingress adds paths
		{"foo.example.com", "/any", "root"},  // host rules before the rules without host
		{"FOO.Example.COM:8080", "/foo", "foo"},
		{"foo.example.com.", "/foo", "foo"},
		{"bar.example.com", "/x", "wild"},
		{"bar.example.com:443", "/", "wild"},
		{"a.b.example.com", "/x", "dflt"}, // one label only
		{"a.b.example.com", "/any/x", "any"},
		{"example.com", "/", "dflt"},
		{"other.org", "/any", "any"},
		{"other.org", "/anything", "dflt"},
		{"only.example.com", "/only", "only"},
		{"only.example.com", "/other", "wild"}, // no exact-host path: the wildcard's
		{"tie.example.com", "/", "tie-a"},
		{"[::1]:80", "/any", "any"},
	} {
		got := ""
		if b := tab.route(ingressHost(tc.host), tc.path); b != nil {
			got = b.key
		}
		if want := "default/" + tc.want + ":"; len(got) < len(want) || got[:len(want)] != want {
			t.Errorf("route(%q, %q) = %q, want %s...", tc.host, tc.path, got, want)
		}
	}

	empty := buildIngressTable(ingState(objs[:2]...), ingressBuild{log: slog.New(slog.DiscardHandler)})
	if b := empty.route("foo.example.com", "/"); b != nil {
		t.Errorf("a table without Ingresses routes to %s", b.key)
	}
}

func TestIngressRouteBackends(t *testing.T) {
	multi := ingSvc("ns", "multi",
		api.ServicePort{Name: "http", Port: 80},
		api.ServicePort{Name: "admin", Port: 8080},
		api.ServicePort{Name: "dns", Port: 53, Protocol: "UDP"})
	multiEps := &api.Endpoints{
		Metadata: api.ObjectMeta{Namespace: "ns", Name: "multi"},
		Subsets: []api.EndpointSubset{
			{
				Addresses:         []api.EndpointAddress{{IP: "10.0.0.1"}, {IP: "fd00::2"}},
				NotReadyAddresses: []api.EndpointAddress{{IP: "10.0.0.9"}},
				Ports: []api.EndpointPort{
					{Name: "http", Port: 8080},
					{Name: "admin", Port: 9090},
					{Name: "dns", Port: 5353, Protocol: "UDP"},
				},
			},
			{Addresses: []api.EndpointAddress{{IP: "10.0.0.3"}}, Ports: []api.EndpointPort{{Name: "admin", Port: 9091}}},
		},
	}
	notReady := &api.Endpoints{
		Metadata: api.ObjectMeta{Namespace: "ns", Name: "sleepy"},
		Subsets: []api.EndpointSubset{{
			NotReadyAddresses: []api.EndpointAddress{{IP: "10.0.0.4"}},
			Ports:             []api.EndpointPort{{Name: "http", Port: 8080}},
		}},
	}
	ing := ingObj("ns", "ing", 0, api.IngressSpec{Rules: []api.IngressRule{ingRule("",
		ingPath("/num", api.PathTypeExact, "multi", 80),
		ingPath("/name", api.PathTypeExact, "multi", "admin"),
		ingPath("/udp", api.PathTypeExact, "multi", 53),
		ingPath("/noport", api.PathTypeExact, "multi", 81),
		ingPath("/nosvc", api.PathTypeExact, "ghost", 80),
		ingPath("/sleepy", api.PathTypeExact, "sleepy", 80),
	)}})
	// An Ingress of another namespace does not reach ns's Services.
	other := ingObj("elsewhere", "ing", 1, api.IngressSpec{Rules: []api.IngressRule{ingRule("",
		ingPath("/cross", api.PathTypeExact, "multi", 80))}})
	tab := buildIngressTable(ingState(multi, multiEps, ingSvc("ns", "sleepy"), notReady, ing, other),
		ingressBuild{log: slog.New(slog.DiscardHandler)})

	for _, tc := range []struct {
		path, key string
		addrs     []string
		reason    string
	}{
		{"/num", "ns/multi:80", []string{"10.0.0.1:8080", "[fd00::2]:8080"}, ""},
		{"/name", "ns/multi:admin", []string{"10.0.0.1:9090", "[fd00::2]:9090", "10.0.0.3:9091"}, ""},
		{"/udp", "ns/multi:53", nil, "no such service port"},
		{"/noport", "ns/multi:81", nil, "no such service port"},
		{"/nosvc", "ns/ghost:80", nil, "no such service"},
		{"/sleepy", "ns/sleepy:80", nil, "no ready endpoints"},
		{"/cross", "elsewhere/multi:80", nil, "no such service"},
	} {
		b := tab.route("any.host", tc.path)
		if b == nil {
			t.Errorf("%s: no route", tc.path)
			continue
		}
		if b.key != tc.key || !slices.Equal(b.addrs, tc.addrs) || b.reason != tc.reason {
			t.Errorf("%s: got %s %v %q, want %s %v %q", tc.path, b.key, b.addrs, b.reason, tc.key, tc.addrs, tc.reason)
		}
	}
}

func TestIngressBackendOrder(t *testing.T) {
	b := &ingressBackend{addrs: []string{"a", "b", "c", "d"}}
	b.downUntil = make([]atomic.Int64, len(b.addrs))
	order := func(now int64) []int {
		var buf [ingressMaxTries]int
		return b.order(now, buf[:0])
	}
	for i, want := range [][]int{{0, 1, 2}, {1, 2, 3}, {2, 3, 0}, {3, 0, 1}, {0, 1, 2}} {
		if got := order(0); !slices.Equal(got, want) {
			t.Errorf("round %d: order %v, want %v", i, got, want)
		}
	}
	// b and c are down until 100: last in the order until then.
	b.downUntil[1].Store(100)
	b.downUntil[2].Store(100)
	for i, want := range [][]int{{3, 0, 1}, {3, 0, 2}, {3, 0, 1}} {
		if got := order(50); !slices.Equal(got, want) {
			t.Errorf("down round %d: order %v, want %v", i, got, want)
		}
	}
	if got, want := order(100), []int{0, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("after down: order %v, want %v", got, want)
	}
}

func TestIngressHost(t *testing.T) {
	for in, want := range map[string]string{
		"example.com":       "example.com",
		"Example.COM:8443":  "example.com",
		"example.com.":      "example.com",
		"example.com.:80":   "example.com",
		"[::1]:80":          "::1",
		"[::1]":             "::1",
		"10.1.2.3:80":       "10.1.2.3",
		"":                  "",
		"a.example.com:bad": "a.example.com",
	} {
		if got := ingressHost(in); got != want {
			t.Errorf("ingressHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// ingCountHandler counts the records of each level.
type ingCountHandler struct {
	warn atomic.Int64
}

func (h *ingCountHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *ingCountHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.warn.Add(1)
	}
	return nil
}
func (h *ingCountHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *ingCountHandler) WithGroup(string) slog.Handler      { return h }

func TestIngressCertCache(t *testing.T) {
	ca := ingNewCA(t)
	crtA, keyA := ca.issue(t, "a.example.com")
	crtB, keyB := ca.issue(t, "*.wild.example.com")
	secret := func(name, rv string, crt, key []byte) *api.Secret {
		return &api.Secret{
			Metadata: api.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: rv},
			Type:     api.SecretTypeTLS,
			Data:     map[string][]byte{api.TLSCertKey: crt, api.TLSPrivateKeyKey: key},
		}
	}
	ing := ingObj("ns", "tls", 0, api.IngressSpec{TLS: []api.IngressTLS{
		{Hosts: []string{"a.example.com"}, SecretName: "a"},
		{Hosts: []string{"*.wild.example.com"}, SecretName: "wild"},
		{Hosts: []string{"bad.example.com"}, SecretName: "bad"},
		{Hosts: []string{"missing.example.com"}, SecretName: "missing"},
	}})
	counts := &ingCountHandler{}
	cache := &ingressCertCache{log: slog.New(counts)}
	build := func(objs ...any) *ingressTable {
		return buildIngressTable(ingState(objs...), ingressBuild{log: slog.New(slog.DiscardHandler), certs: cache})
	}
	bad := secret("bad", "1", []byte("not a certificate"), keyA)
	t1 := build(ing, secret("a", "1", crtA, keyA), secret("wild", "1", crtB, keyB), bad)
	for sni, want := range map[string]bool{
		"a.example.com": true, "x.wild.example.com": true, "y.x.wild.example.com": false,
		"wild.example.com": false, "bad.example.com": false, "missing.example.com": false, "": false,
	} {
		if got := t1.certs.lookup(sni) != nil; got != want {
			t.Errorf("lookup(%q) found %v, want %v", sni, got, want)
		}
	}
	if n := counts.warn.Load(); n != 1 {
		t.Errorf("%d warnings after the first build, want 1 (the bad Secret)", n)
	}

	// The same resourceVersions: the same parsed pairs, no new warning.
	t2 := build(ing, secret("a", "1", crtA, keyA), secret("wild", "1", crtB, keyB), bad)
	if t2.certs.lookup("a.example.com") != t1.certs.lookup("a.example.com") {
		t.Error("an unchanged Secret was parsed again")
	}
	if n := counts.warn.Load(); n != 1 {
		t.Errorf("%d warnings after the second build, want the bad Secret logged once", n)
	}
	// A new resourceVersion with a new pair: parsed again.
	t3 := build(ing, secret("a", "2", crtB, keyB), secret("wild", "1", crtB, keyB), bad)
	if c := t3.certs.lookup("a.example.com"); c == nil || c == t1.certs.lookup("a.example.com") {
		t.Error("a changed Secret was not parsed again")
	}
}

// ingTestCA issues the tests' certificates.
type ingTestCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func ingNewCA(t testing.TB) *ingTestCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "berth test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &ingTestCA{cert: cert, key: key, pool: pool}
}

// issue returns a PEM certificate for hosts (the first one its CN) and
// its PEM key.
func (ca *ingTestCA) issue(t testing.TB, hosts ...string) (crt, key []byte) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hosts[0]},
		DNSNames:     hosts,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &k.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func ingTLSSecret(ns, name string, crt, key []byte) *api.Secret {
	return &api.Secret{
		Metadata: api.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1"},
		Type:     api.SecretTypeTLS,
		Data:     map[string][]byte{api.TLSCertKey: crt, api.TLSPrivateKeyKey: key},
	}
}
