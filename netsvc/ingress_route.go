package netsvc

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/api"
)

// ingressTable is the routing of one State: built by buildIngressTable,
// never changed after, read by every request and TLS handshake.
//
// A request is matched against the paths of its exact host, then of the
// wildcard host one label above it, then of the rules without a host;
// the first of those that has a matching path wins, else the default
// backend, else nothing (404).
type ingressTable struct {
	exact    map[string]*ingressPaths // by host
	wildcard map[string]*ingressPaths // by the host less its first label
	anyHost  *ingressPaths
	fallback *ingressBackend // spec.defaultBackend of the oldest Ingress with one
	certs    ingressCerts
	// backends are all of the table's backends by key, to carry each
	// round-robin position to the next table.
	backends map[string]*ingressBackend
}

// route returns the backend of a request for host (lower case, no port)
// and path, or nil when nothing matches.
func (t *ingressTable) route(host, path string) *ingressBackend {
	if b := t.exact[host].match(path); b != nil {
		return b
	}
	if i := strings.IndexByte(host, '.'); i > 0 {
		if b := t.wildcard[host[i+1:]].match(path); b != nil {
			return b
		}
	}
	if b := t.anyHost.match(path); b != nil {
		return b
	}
	return t.fallback
}

// ingressPaths are the paths of one host, from every Ingress; where two
// Ingresses name the same path and type, the oldest one's is kept.
type ingressPaths struct {
	exact map[string]*ingressBackend
	// prefix is keyed by the path without its trailing slashes ("" for
	// "/"), so that a request path is looked up element by element.
	prefix map[string]*ingressBackend
}

// match returns the backend of the longest path that matches; an Exact
// path that matches is always the longest (the whole request path).
func (p *ingressPaths) match(path string) *ingressBackend {
	if p == nil {
		return nil
	}
	if b, ok := p.exact[path]; ok {
		return b
	}
	if len(p.prefix) == 0 {
		return nil
	}
	q := strings.TrimRight(path, "/")
	for {
		if b, ok := p.prefix[q]; ok {
			return b
		}
		if q == "" {
			return nil
		}
		i := strings.LastIndexByte(q, '/')
		if i < 0 {
			i = 0
		}
		q = q[:i]
	}
}

// ingressBackend is a Service port of an Ingress backend and its ready
// endpoints, shared by every path of the table that names it.
type ingressBackend struct {
	key   string   // "namespace/service:port"
	addrs []string // "ip:port" of the ready endpoints
	// reason says why addrs is empty.
	reason string
	// next is the round-robin position.
	next atomic.Uint64
	// downUntil holds, per endpoint, the Unix nanoseconds until which a
	// failed dial keeps it last in the order.
	downUntil []atomic.Int64
	// handler proxies to the endpoints (nil in route-only tables).
	handler http.Handler
}

// ingressCerts are the certificates of the spec.tls entries by host.
type ingressCerts struct {
	exact    map[string]*tls.Certificate
	wildcard map[string]*tls.Certificate // by the host less "*."
}

// lookup returns the certificate for the server name sni (lower case),
// or nil.
func (c *ingressCerts) lookup(sni string) *tls.Certificate {
	if sni == "" {
		return nil
	}
	if cert, ok := c.exact[sni]; ok {
		return cert
	}
	if i := strings.IndexByte(sni, '.'); i > 0 {
		return c.wildcard[sni[i+1:]]
	}
	return nil
}

// ingressBuild holds what building a table needs beside the State.
type ingressBuild struct {
	log *slog.Logger
	// prev is the table being replaced, or nil.
	prev *ingressTable
	// certs parses the TLS Secrets; nil builds no certificates.
	certs *ingressCertCache
	// handler makes the proxy of a backend; nil makes none.
	handler func(*ingressBackend) http.Handler
}

// buildIngressTable returns the routing of s. Ingresses are taken oldest
// first, so that the oldest wins every tie.
func buildIngressTable(s *State, ib ingressBuild) *ingressTable {
	t := &ingressTable{
		exact:    map[string]*ingressPaths{},
		wildcard: map[string]*ingressPaths{},
		anyHost:  &ingressPaths{},
		certs: ingressCerts{
			exact:    map[string]*tls.Certificate{},
			wildcard: map[string]*tls.Certificate{},
		},
		backends: map[string]*ingressBackend{},
	}
	if s == nil {
		s = &State{}
	}
	var secrets map[string]*api.Secret
	if ib.certs != nil {
		ib.certs.begin()
		defer ib.certs.end()
		secrets = s.Secrets
	}
	for _, ing := range ingressesByAge(s.Ingresses) {
		ns := ing.Metadata.Namespace
		if d := ing.Spec.DefaultBackend; d != nil && t.fallback == nil {
			t.fallback = t.backend(s, ib, ns, d)
		}
		for _, r := range ing.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			paths := t.pathsOf(strings.ToLower(r.Host))
			if paths == nil {
				ib.log.Debug("rule host is not valid", "ingress", Key(ns, ing.Metadata.Name), "host", r.Host)
				continue
			}
			for _, p := range r.HTTP.Paths {
				t.addPath(s, ib, ns, paths, p)
			}
		}
		if ib.certs == nil {
			continue
		}
		for _, e := range ing.Spec.TLS {
			cert := ib.certs.load(secrets, Key(ns, e.SecretName))
			if cert == nil {
				continue
			}
			for _, h := range e.Hosts {
				t.certs.add(strings.ToLower(h), cert)
			}
		}
	}
	return t
}

// pathsOf returns the paths of a rule host, made on first use; nil if
// the host is not valid.
func (t *ingressTable) pathsOf(host string) *ingressPaths {
	m := t.exact
	switch {
	case host == "":
		return t.anyHost
	case strings.HasPrefix(host, "*."):
		host, m = host[2:], t.wildcard
	}
	if host == "" || strings.ContainsAny(host, "*:/ ") {
		return nil
	}
	p := m[host]
	if p == nil {
		p = &ingressPaths{}
		m[host] = p
	}
	return p
}

// addPath adds one path of a rule unless an older Ingress has it.
func (t *ingressTable) addPath(s *State, ib ingressBuild, ns string, paths *ingressPaths, p api.HTTPIngressPath) {
	path := p.Path
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		return
	}
	var m *map[string]*ingressBackend
	switch p.PathType {
	case api.PathTypeExact:
		m = &paths.exact
	case api.PathTypePrefix, api.PathTypeImplementationSpecific, "":
		m, path = &paths.prefix, strings.TrimRight(path, "/")
	default:
		return
	}
	if _, ok := (*m)[path]; ok {
		return
	}
	b := t.backend(s, ib, ns, &p.Backend)
	if b == nil {
		return
	}
	if *m == nil {
		*m = map[string]*ingressBackend{}
	}
	(*m)[path] = b
}

// backend resolves a backend of an Ingress of namespace ns: the Service's
// port by number or name, then the Endpoints' ready addresses of that
// port's name. It is nil when the backend names no Service port at all.
func (t *ingressTable) backend(s *State, ib ingressBuild, ns string, be *api.IngressBackend) *ingressBackend {
	sb := be.Service
	if sb == nil || sb.Name == "" {
		return nil
	}
	port := sb.Port.Name
	if port == "" {
		port = strconv.Itoa(int(sb.Port.Number))
	}
	key := Key(ns, sb.Name) + ":" + port
	if b, ok := t.backends[key]; ok {
		return b
	}
	b := &ingressBackend{key: key}
	t.backends[key] = b
	svc := s.Services[Key(ns, sb.Name)]
	sp := ingressServicePort(svc, sb.Port)
	switch {
	case svc == nil:
		b.reason = "no such service"
	case sp == nil:
		b.reason = "no such service port"
	default:
		for _, a := range ReadyAddresses(s.Endpoints[Key(ns, sb.Name)], sp.Name, sp.Protocol) {
			b.addrs = append(b.addrs, net.JoinHostPort(a.IP, strconv.Itoa(int(a.Port))))
		}
		if len(b.addrs) == 0 {
			b.reason = "no ready endpoints"
		}
	}
	b.downUntil = make([]atomic.Int64, len(b.addrs))
	if ib.prev != nil {
		if old, ok := ib.prev.backends[key]; ok {
			b.next.Store(old.next.Load())
		}
	}
	if ib.handler != nil {
		b.handler = ib.handler(b)
	}
	return b
}

// ingressServicePort returns the TCP port of svc that p names, or nil.
func ingressServicePort(svc *api.Service, p api.ServiceBackendPort) *api.ServicePort {
	if svc == nil {
		return nil
	}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		if protoOr(sp.Protocol) != "TCP" {
			continue
		}
		if p.Name != "" && sp.Name == p.Name || p.Name == "" && sp.Port == p.Number {
			return sp
		}
	}
	return nil
}

// add serves host (a name or "*.parent") with cert unless an older
// Ingress does.
func (c *ingressCerts) add(host string, cert *tls.Certificate) {
	m := c.exact
	if strings.HasPrefix(host, "*.") {
		host, m = host[2:], c.wildcard
	}
	if host == "" || strings.Contains(host, "*") {
		return
	}
	if _, ok := m[host]; !ok {
		m[host] = cert
	}
}

// ingressesByAge returns the Ingresses oldest first (creationTimestamp,
// then namespace/name).
func ingressesByAge(m map[string]*api.Ingress) []*api.Ingress {
	type aged struct {
		ts  time.Time
		key string
		ing *api.Ingress
	}
	all := make([]aged, 0, len(m))
	for _, ing := range m {
		ts, _ := time.Parse(time.RFC3339, ing.Metadata.CreationTimestamp)
		all = append(all, aged{ts, Key(ing.Metadata.Namespace, ing.Metadata.Name), ing})
	}
	slices.SortFunc(all, func(a, b aged) int {
		if c := a.ts.Compare(b.ts); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	out := make([]*api.Ingress, len(all))
	for i, a := range all {
		out[i] = a.ing
	}
	return out
}

// ingressCertCache keeps the parsed key pairs of the TLS Secrets from one
// table to the next, so that a Secret is parsed (and, when bad, logged)
// once per resourceVersion.
type ingressCertCache struct {
	log     *slog.Logger
	entries map[string]*ingressCertEntry // by Secret key
	used    map[string]*ingressCertEntry // those of the table being built
}

type ingressCertEntry struct {
	rv       string
	crt, key []byte
	cert     *tls.Certificate // nil when the Secret is bad
}

func (c *ingressCertCache) begin() { c.used = map[string]*ingressCertEntry{} }

// end forgets the Secrets the new table does not use.
func (c *ingressCertCache) end() { c.entries, c.used = c.used, nil }

// load returns the key pair of the Secret key, or nil if there is no such
// Secret or it is not a valid kubernetes.io/tls one.
func (c *ingressCertCache) load(secrets map[string]*api.Secret, key string) *tls.Certificate {
	sec := secrets[key]
	if sec == nil {
		return nil
	}
	if e, ok := c.used[key]; ok {
		return e.cert
	}
	crt, pem := sec.Data[api.TLSCertKey], sec.Data[api.TLSPrivateKeyKey]
	e := c.entries[key]
	if e == nil || e.rv != sec.Metadata.ResourceVersion || !bytes.Equal(e.crt, crt) || !bytes.Equal(e.key, pem) {
		e = &ingressCertEntry{rv: sec.Metadata.ResourceVersion, crt: crt, key: pem}
		if sec.Type != api.SecretTypeTLS {
			c.log.Warn("secret is not of type "+api.SecretTypeTLS+"; skipped", "secret", key, "type", sec.Type)
		} else if cert, err := tls.X509KeyPair(crt, pem); err != nil {
			c.log.Warn("secret has no valid key pair; skipped", "secret", key, "err", err)
		} else {
			e.cert = &cert
		}
	}
	c.used[key] = e
	return e.cert
}

// ingressHost returns the host of a Host header or server name: lower
// case, without port, brackets or a final dot.
func ingressHost(hostport string) string {
	h := hostport
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h, ':') == i {
		h = h[:i]
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}
