package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// The HTTP port (--http-port, 7403 by default) is the operator's: it
// serves Prometheus metrics, the health checks and, on servers, the web
// dashboard. /healthz answers while the process runs; /readyz answers 200
// once the agent can do its job (a server: Raft has a leader and its
// replica has caught up with what it knew of the log; a worker: it has
// reached a server) and 503 with the reason before.

// startHTTP opens the HTTP port; it is served until ctx ends.
func (a *Agent) startHTTP(ctx context.Context) error {
	if a.cfg.HTTPPort <= 0 {
		return nil
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(a.cfg.HTTPBind(), strconv.Itoa(a.cfg.HTTPPort)))
	if err != nil {
		return fmt.Errorf("agent: http listener (--http-port): %w", err)
	}
	a.httpLis = lis
	srv := &http.Server{Handler: a.httpMux(), ReadHeaderTimeout: 10 * time.Second}
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server stopped", "err", err)
		}
	}()
	go func() {
		defer a.wg.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
	}()
	return nil
}

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
