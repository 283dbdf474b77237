package agent

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The HTTP port (--http-port, 7403 by default) is the operator's: it
// serves Prometheus metrics, the health checks and, on servers, the web
// dashboard. /healthz answers while the process runs; /readyz answers 200
// once the agent can do its job (a server: Raft has a leader and its
// replica has caught up with what it knew of the log; a worker: it has
// reached a server) and 503 with the reason before.

// startHTTP opens the HTTP port; it is served until ctx ends. The port
// speaks plain HTTP and HTTPS both: a connection that opens with a TLS
// handshake gets the agent's certificate (what `berth dashboard` and
// Prometheus with the cluster CA use), any other plain HTTP.
func (a *Agent) startHTTP(ctx context.Context) error {
	if a.cfg.HTTPPort <= 0 {
		return nil
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(a.cfg.HTTPBind(), strconv.Itoa(a.cfg.HTTPPort)))
	if err != nil {
		return fmt.Errorf("agent: http listener (--http-port): %w", err)
	}
	a.httpLis = lis
	plain, secure := newChanListener(lis.Addr()), newChanListener(lis.Addr())
	// Requests end with the agent: a dashboard's open stream does not hold
	// the shutdown back.
	srv := &http.Server{Handler: a.httpMux(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx },
		// A client that gives up its handshake is not the agent's error.
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)}
	tlsCfg := a.creds.serverTLS(tls.NoClientCert)
	serve := func(l net.Listener) {
		defer a.wg.Done()
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			a.log.Error("http server stopped", "err", err)
		}
	}
	a.wg.Add(4)
	go serve(plain)
	go serve(tls.NewListener(secure, tlsCfg))
	go func() {
		defer a.wg.Done()
		sniff(lis, plain, secure)
	}()
	go func() {
		defer a.wg.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
		lis.Close()
	}()
	return nil
}

// sniff hands each connection of lis to plain or secure by its first
// byte (22 opens a TLS handshake), until lis is closed; then it closes
// both.
func sniff(lis net.Listener, plain, secure *chanListener) {
	defer plain.Close()
	defer secure.Close()
	for {
		c, err := lis.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		go func() {
			br := bufio.NewReader(c)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			first, err := br.Peek(1)
			_ = c.SetReadDeadline(time.Time{})
			if err != nil {
				c.Close()
				return
			}
			to := plain
			if first[0] == 22 {
				to = secure
			}
			to.hand(&peekedConn{Conn: c, r: br})
		}()
	}
}

// peekedConn is a connection whose first bytes were read into r.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// chanListener is a net.Listener fed by sniff.
type chanListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) hand(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.closed:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// HTTPAddr is where the HTTP port listens ("" when it is off).
func (a *Agent) HTTPAddr() string {
	if a.httpLis == nil {
		return ""
	}
	return a.httpLis.Addr().String()
}

// HTTPBind is the address the HTTP port binds: --http-bind, or the
// agent's own.
func (c *Config) HTTPBind() string {
	if c.HTTPBindAddr != "" {
		return c.HTTPBindAddr
	}
	return c.BindAddr
}

// httpMux routes the HTTP port.
func (a *Agent) httpMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.prom.handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := a.ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	a.dashboardRoutes(mux)
	return mux
}

// ready says why the agent cannot do its job yet (nil: it can).
func (a *Agent) ready() error {
	if a.node != nil {
		id, _ := a.node.Leader()
		if id == "" {
			return errors.New("raft has no leader")
		}
		if _, err := a.leaderAPI(); err != nil {
			return fmt.Errorf("the leader's API is not known yet: %w", err)
		}
	}
	if k := a.kubelet; k != nil {
		select {
		case <-k.ready:
			return nil
		default:
			return errors.New("the node agent has not reached a server yet")
		}
	}
	if a.node == nil && len(a.pool.Alive()) < 2 {
		return errors.New("no other agent reached through gossip yet")
	}
	return nil
}
