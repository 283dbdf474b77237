package netsvc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"
)

// IngressConfig configures an Ingress.
type IngressConfig struct {
	// HTTPAddr is the plain listener's address, "IP:port" or ":port";
	// "" runs none. It serves HTTP/1.1 and h2c (prior knowledge).
	HTTPAddr string
	// HTTPSAddr is the TLS listener's address; "" runs none. It serves
	// HTTP/2 and HTTP/1.1 by ALPN.
	HTTPSAddr string
	Logger    *slog.Logger
}

// The ingress's fixed limits.
const (
	ingressReadHeaderTimeout = 10 * time.Second
	ingressIdleTimeout       = 120 * time.Second
	ingressShutdownGrace     = 5 * time.Second
	ingressDialTimeout       = 5 * time.Second
	// ingressMaxTries is how many endpoints one request may dial.
	ingressMaxTries = 3
	// ingressDownFor keeps an endpoint whose dial failed last in the
	// order of its backend for a while.
	ingressDownFor = 5 * time.Second
	// ingressDefaultCN names the certificate served to unknown names.
	ingressDefaultCN = "berth-ingress-default"
)

var (
	errIngressStarted = errors.New("netsvc: ingress already started")
	errIngressClosed  = errors.New("netsvc: ingress closed")
)

// Ingress is the HTTP and HTTPS reverse proxy of a node: it routes each
// request by host and path, as the Ingresses of the newest State say, to
// a ready endpoint of a Service.
//
// Update swaps the routing atomically: requests in flight and open
// connections (keep-alive, HTTP/2, upgraded ones) keep going; each new
// request is routed by the newest table.
type Ingress struct {
	cfg   IngressConfig
	log   *slog.Logger
	now   func() time.Time
	table atomic.Pointer[ingressTable]
	// upstream is shared by every table, so connections to the
	// endpoints are reused across Updates.
	upstream    *http.Transport
	bufs        *ingressBufferPool
	errLog      *log.Logger // the proxies' and server's, at debug level
	defaultCert *tls.Certificate
	certErr     error
	// counts are what Stats reports (stats.go).
	counts ingressCounts

	updateMu sync.Mutex
	certs    ingressCertCache // guarded by updateMu

	mu      sync.Mutex // guards the fields below
	srv     *http.Server
	lnHTTP  net.Listener
	lnHTTPS net.Listener
	started bool
	closed  bool
	cancel  context.CancelFunc // ends the requests' base context
	wg      sync.WaitGroup     // the serving goroutines
}

// NewIngress returns an Ingress that routes nothing (every request 404)
// until the first Update; Start serves it.
func NewIngress(cfg IngressConfig) *Ingress {
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	lg = lg.With("component", "ingress")
	g := &Ingress{
		cfg:  cfg,
		log:  lg,
		now:  time.Now,
		bufs: &ingressBufferPool{},
	}
	g.errLog = slog.NewLogLogger(lg.Handler(), slog.LevelDebug)
	g.certs.log = lg
	g.defaultCert, g.certErr = ingressSelfSigned(ingressDefaultCN, g.now())
	g.upstream = g.newUpstream()
	g.table.Store(buildIngressTable(nil, ingressBuild{log: lg}))
	return g
}

// newUpstream returns the transport to the endpoints: HTTP/1.1 with
// keep-alive, no proxy from the environment, bodies passed as they are.
// A failed dial is returned as an *ingressDialError, which is safe to
// retry on another endpoint: nothing was sent.
func (g *Ingress) newUpstream() *http.Transport {
	// No TCP keep-alive probes: idle connections are closed after
	// IdleConnTimeout anyway, and each probe setting is a system call
	// on every dial (most backends close after each response).
	d := &net.Dialer{Timeout: ingressDialTimeout, KeepAlive: -1}
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &ingressDialError{err}
			}
			return c, nil
		},
		Protocols:             protos,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ExpectContinueTimeout: time.Second,
	}
}

// ingressDialError is a failed dial to an endpoint.
type ingressDialError struct{ err error }

func (e *ingressDialError) Error() string { return e.err.Error() }
func (e *ingressDialError) Unwrap() error { return e.err }

// Start binds the listeners and serves them until Close.
func (g *Ingress) Start() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.closed:
		return errIngressClosed
	case g.started:
		return errIngressStarted
	case g.certErr != nil:
		return fmt.Errorf("netsvc: ingress default certificate: %w", g.certErr)
	}
	var lns []net.Listener
	for _, addr := range []string{g.cfg.HTTPAddr, g.cfg.HTTPSAddr} {
		if addr == "" {
			lns = append(lns, nil)
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				if l != nil {
					_ = l.Close()
				}
			}
			return fmt.Errorf("netsvc: ingress listen %s: %w", addr, err)
		}
		lns = append(lns, ln)
	}
	g.started = true
	g.lnHTTP, g.lnHTTPS = lns[0], lns[1]

	base, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           http.HandlerFunc(g.serveHTTP),
		ReadHeaderTimeout: ingressReadHeaderTimeout,
		IdleTimeout:       ingressIdleTimeout,
		Protocols:         protos,
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			NextProtos:     []string{"h2", "http/1.1"},
			GetCertificate: g.getCertificate,
		},
		ErrorLog:    g.errLog,
		BaseContext: func(net.Listener) context.Context { return base },
		ConnState:   g.counts.connState,
	}
	g.srv = srv
	if ln := g.lnHTTP; ln != nil {
		g.wg.Go(func() { g.serve(ln, func() error { return srv.Serve(ln) }) })
	}
	if ln := g.lnHTTPS; ln != nil {
		g.wg.Go(func() { g.serve(ln, func() error { return srv.ServeTLS(ln, "", "") }) })
	}
	return nil
}

// serve runs one listener's loop until the server is closed.
func (g *Ingress) serve(ln net.Listener, run func() error) {
	if err := run(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		g.log.Error("serving stopped", "addr", ln.Addr().String(), "err", err)
	}
}

// HTTPAddr returns the address the plain listener is bound to; "" before
// Start or without one.
func (g *Ingress) HTTPAddr() string { return g.addr(&g.lnHTTP) }

// HTTPSAddr returns the address the TLS listener is bound to; "" before
// Start or without one.
func (g *Ingress) HTTPSAddr() string { return g.addr(&g.lnHTTPS) }

func (g *Ingress) addr(ln *net.Listener) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if *ln != nil {
		return (*ln).Addr().String()
	}
	return ""
}

// Update routes the requests from now on by s. It may be called before
// Start, and from any goroutine.
func (g *Ingress) Update(s *State) {
	g.updateMu.Lock()
	defer g.updateMu.Unlock()
	t := buildIngressTable(s, ingressBuild{
		log:     g.log,
		prev:    g.table.Load(),
		certs:   &g.certs,
		handler: g.newProxy,
	})
	g.table.Store(t)
}

// Close stops accepting, lets the requests in flight finish for a short
// while, then closes every connection, upgraded ones included.
func (g *Ingress) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	srv, cancel := g.srv, g.cancel
	g.mu.Unlock()
	if srv == nil {
		g.upstream.CloseIdleConnections()
		return nil
	}
	ctx, stop := context.WithTimeout(context.Background(), ingressShutdownGrace)
	err := srv.Shutdown(ctx)
	stop()
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	cancel()
	if cerr := srv.Close(); err == nil {
		err = cerr
	}
	g.wg.Wait()
	g.upstream.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("netsvc: ingress close: %w", err)
	}
	return nil
}

// serveHTTP routes one request.
func (g *Ingress) serveHTTP(w http.ResponseWriter, r *http.Request) {
	b := g.table.Load().route(ingressHost(r.Host), r.URL.Path)
	switch {
	case b == nil:
		g.counts.notFound.Add(1)
		http.Error(w, "404 page not found", http.StatusNotFound)
	case len(b.addrs) == 0 || b.handler == nil:
		g.counts.unavailable.Add(1)
		g.log.Debug("backend unavailable", "backend", b.key, "reason", b.reason)
		http.Error(w, "503 service unavailable", http.StatusServiceUnavailable)
	default:
		g.counts.routed.Add(1)
		b.handler.ServeHTTP(w, r)
	}
}

// getCertificate picks the certificate by SNI, else the default one.
func (g *Ingress) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := g.table.Load().certs.lookup(ingressHost(hello.ServerName)); c != nil {
		return c, nil
	}
	return g.defaultCert, nil
}

// newProxy returns the reverse proxy of one backend.
func (g *Ingress) newProxy(b *ingressBackend) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite:    ingressRewrite,
		Transport:  &ingressTransport{b: b, rt: g.upstream, log: g.log, now: g.now},
		BufferPool: g.bufs,
		ErrorLog:   g.errLog,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the client is gone
			}
			g.counts.badGateway.Add(1)
			g.log.Debug("backend failed", "backend", b.key, "err", err)
			http.Error(w, "502 bad gateway", http.StatusBadGateway)
		},
	}
}

// ingressRewrite makes the request to the endpoint: the original Host,
// X-Forwarded-For appended to, and X-Forwarded-Proto, -Host, -Port and
// X-Real-IP set. The URL's host is a placeholder: the transport picks
// the endpoint.
func ingressRewrite(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = "endpoint"
	pr.Out.URL.User = nil
	pr.Out.Host = pr.In.Host
	pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
	pr.SetXForwarded()
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		pr.Out.Header.Set("X-Real-IP", ip)
	} else {
		pr.Out.Header.Del("X-Real-IP")
	}
	pr.Out.Header.Del("X-Forwarded-Port")
	if a, ok := pr.In.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(a.String()); err == nil {
			pr.Out.Header.Set("X-Forwarded-Port", port)
		}
	}
}

// ingressTransport sends a request to one endpoint of a backend, the
// next in round-robin order. When the dial fails it tries the next one,
// up to ingressMaxTries endpoints: nothing was sent, so any method may be
// retried.
type ingressTransport struct {
	b   *ingressBackend
	rt  http.RoundTripper
	log *slog.Logger
	now func() time.Time
}

var _ http.RoundTripper = (*ingressTransport)(nil)

// RoundTrip implements http.RoundTripper.
func (t *ingressTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var buf [ingressMaxTries]int
	order := t.b.order(t.now().UnixNano(), buf[:0])
	if len(order) == 0 {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, errors.New("netsvc: ingress backend has no endpoints")
	}
	out := *req
	u := *req.URL
	out.URL = &u
	body := req.Body
	if len(order) > 1 && body != nil && body != http.NoBody {
		// The transport closes the body on error; keep it for the next
		// try, and close it here.
		out.Body = ingressKeepOpen{body}
	}
	var err error
	for _, i := range order {
		u.Host = t.b.addrs[i]
		var resp *http.Response
		resp, err = t.rt.RoundTrip(&out)
		if err == nil {
			return resp, nil
		}
		var de *ingressDialError
		if !errors.As(err, &de) || req.Context().Err() != nil {
			break
		}
		t.b.downUntil[i].Store(t.now().Add(ingressDownFor).UnixNano())
		t.log.Debug("endpoint dial failed", "backend", t.b.key, "endpoint", u.Host, "err", de.err)
	}
	if body != nil {
		_ = body.Close()
	}
	return nil, err
}

// order returns the endpoints to try, at most cap(dst): from the next in
// round-robin order, first those not down, then those down.
func (b *ingressBackend) order(now int64, dst []int) []int {
	n := uint64(len(b.addrs))
	if n == 0 {
		return dst
	}
	start := b.next.Add(1) - 1
	for pass := range 2 {
		for k := range n {
			i := int((start + k) % n)
			if down := b.downUntil[i].Load() > now; down != (pass == 1) {
				continue
			}
			if dst = append(dst, i); len(dst) == cap(dst) {
				return dst
			}
		}
	}
	return dst
}

// ingressKeepOpen is a request body whose Close is left to its owner.
type ingressKeepOpen struct{ io.ReadCloser }

func (ingressKeepOpen) Close() error { return nil }

// ingressBufferPool lends the proxies their copy buffers.
type ingressBufferPool struct{ p sync.Pool }

var _ httputil.BufferPool = (*ingressBufferPool)(nil)

func (p *ingressBufferPool) Get() []byte {
	if b, ok := p.p.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

func (p *ingressBufferPool) Put(b []byte) { p.p.Put(&b) }

// ingressSelfSigned returns a self-signed ECDSA certificate for cn, valid
// for ten years from now.
func ingressSelfSigned(cn string, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
