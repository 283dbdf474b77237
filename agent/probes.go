package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/driver"
)

// probeState follows one probe of one running container.
type probeState struct {
	container string // the container ID it counts for
	next      time.Time
	ok        bool
	succ      int32
	fail      int32
}

// probe runs the container's due probes and returns when the next one is
// due. A liveness probe failing FailureThreshold times in a row stops the
// container (the restart policy decides what comes next); a readiness
// probe sets the container's Ready.
func (w *podWorker) probe(ctx context.Context, p *api.Pod, c *api.Container, cs *driver.ContainerStatus, st *ctrState) time.Duration {
	next := 10 * time.Second
	if c.LivenessProbe != nil {
		pr := api.ProbeDefaults(*c.LivenessProbe)
		ok, due := w.runProbe(ctx, p, c, cs, &pr, &st.live, "Liveness")
		if due && !ok && st.live.fail >= pr.FailureThreshold {
			w.log.Info("liveness probe failed; restarting the container", "container", c.Name, "failures", st.live.fail)
			w.event(p, api.EventNormal, "Killing", "Container %s failed liveness probe, will be restarted", c.Name)
			st.live = probeState{}
			if err := w.k.rt.StopContainer(ctx, cs.ID, grace(p)); err != nil {
				w.log.Warn("stop container", "container", c.Name, "err", err)
			}
			w.k.refresh(ctx, w.uid, cs.ID)
			return 50 * time.Millisecond
		}
		next = min(next, time.Until(st.live.next))
	}
	if c.ReadinessProbe != nil {
		pr := api.ProbeDefaults(*c.ReadinessProbe)
		w.runProbe(ctx, p, c, cs, &pr, &st.ready, "Readiness")
		next = min(next, time.Until(st.ready.next))
	}
	return max(next, 10*time.Millisecond)
}

// runProbe runs a probe if it is due and counts the result.
// what ("Liveness", "Readiness") names it in the Event of a failure.
func (w *podWorker) runProbe(ctx context.Context, p *api.Pod, c *api.Container, cs *driver.ContainerStatus, pr *api.Probe, s *probeState, what string) (ok, due bool) {
	if s.container != cs.ID {
		*s = probeState{container: cs.ID, next: cs.StartedAt.Add(time.Duration(pr.InitialDelaySeconds) * time.Second)}
	}
	if time.Now().Before(s.next) {
		return s.ok, false
	}
	s.next = time.Now().Add(time.Duration(pr.PeriodSeconds) * time.Second)
	err := w.check(ctx, p, c, cs, pr)
	if err == nil {
		s.succ, s.fail = s.succ+1, 0
		if s.succ >= pr.SuccessThreshold {
			s.ok = true
		}
		return true, true
	}
	s.succ, s.fail = 0, s.fail+1
	if s.fail >= pr.FailureThreshold {
		s.ok = false
	}
	w.log.Debug("probe failed", "container", c.Name, "err", err)
	w.event(p, api.EventWarning, "Unhealthy", "%s probe failed: %v", what, err)
	return false, true
}

// check runs one probe once.
func (w *podWorker) check(ctx context.Context, p *api.Pod, c *api.Container, cs *driver.ContainerStatus, pr *api.Probe) error {
	timeout := time.Duration(pr.TimeoutSeconds) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	host := ""
	if w.sandbox != nil {
		host = w.sandbox.IP
	}
	switch {
	case pr.Exec != nil:
		code, err := w.k.rt.Exec(ctx, cs.ID, driver.ExecSpec{Cmd: pr.Exec.Command, Stdout: io.Discard, Stderr: io.Discard})
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("exit code %d", code)
		}
		return nil
	case pr.HTTPGet != nil:
		g := pr.HTTPGet
		port, err := probePort(c, g.Port)
		if err != nil {
			return err
		}
		if g.Host != "" {
			host = g.Host
		}
		scheme := "http"
		if g.Scheme == "HTTPS" {
			scheme = "https"
		}
		path := g.Path
		if path == "" {
			path = "/"
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+path, nil)
		if err != nil {
			return err
		}
		for _, h := range g.HTTPHeaders {
			req.Header.Add(h.Name, h.Value)
		}
		req.Header.Set("User-Agent", "berth-probe")
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP status %d", resp.StatusCode)
		}
		return nil
	case pr.TCPSocket != nil:
		port, err := probePort(c, pr.TCPSocket.Port)
		if err != nil {
			return err
		}
		if pr.TCPSocket.Host != "" {
			host = pr.TCPSocket.Host
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	}
	return fmt.Errorf("probe has no handler")
}

// probePort resolves a probe's port, by number or by the container port's
// name.
func probePort(c *api.Container, p api.IntOrString) (int, error) {
	if p.StrVal == "" {
		return int(p.IntVal), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("port %q is not a port of container %s", p.StrVal, c.Name)
}
