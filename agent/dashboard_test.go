package agent

import (
	"crypto/tls"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestLoopback(t *testing.T) {
	for remote, want := range map[string]bool{
		"127.0.0.1:5000":        true,
		"127.8.9.10:1":          true,
		"[::1]:443":             true,
		"[::ffff:127.0.0.1]:80": true,
		"10.0.0.1:5000":         false,
		"[2001:db8::1]:80":      false,
		"192.0.2.7:1":           false,
		"localhost:80":          false, // RemoteAddr is always an IP
		"garbage":               false,
	} {
		if got := loopback(remote); got != want {
			t.Errorf("loopback(%q) = %v, want %v", remote, got, want)
		}
	}
}

func TestUIErrorOf(t *testing.T) {
	for code, want := range map[codes.Code]int{
		codes.Unauthenticated:   http.StatusUnauthorized,
		codes.PermissionDenied:  http.StatusForbidden,
		codes.InvalidArgument:   http.StatusBadRequest,
		codes.NotFound:          http.StatusNotFound,
		codes.OutOfRange:        http.StatusGone,
		codes.ResourceExhausted: http.StatusTooManyRequests,
		codes.Unavailable:       http.StatusServiceUnavailable,
		codes.Internal:          http.StatusInternalServerError,
	} {
		e := uiErrorOf(status.Error(code, "why"))
		if e.code != want || e.msg != "why" {
			t.Errorf("%v: %d %q, want %d %q", code, e.code, e.msg, want, "why")
		}
	}
}

// The page loads only files that are embedded, and no inline script.
func TestDashboardFilesEmbedded(t *testing.T) {
	page, err := fs.ReadFile(uiFiles, "ui/index.html")
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(string(page), -1)
	if len(refs) < 3 {
		t.Fatalf("index.html refers to %d files", len(refs))
	}
	for _, m := range refs {
		name, ok := strings.CutPrefix(m[1], "/ui/")
		if !ok {
			t.Errorf("index.html refers to %s, not a file of its own", m[1])
			continue
		}
		if _, err := fs.Stat(uiFiles, "ui/"+name); err != nil {
			t.Errorf("index.html refers to %s: %v", m[1], err)
		}
	}
	inline := regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`)
	handler := regexp.MustCompile(`<[^>]*\son[a-z]+\s*=`)
	if inline.Match(page) || handler.Match(page) {
		t.Error("index.html has an inline script or event handler: the Content Security Policy would block it")
	}
}

// A worker holds no state: it serves no dashboard, and says where it is.
func TestWorkerServesNoDashboard(t *testing.T) {
	mux := http.NewServeMux()
	(&Agent{}).dashboardRoutes(mux)
	for _, path := range []string{"/", "/ui/api/list/Pod"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "server") {
			t.Errorf("GET %s of a worker: %d %s", path, rec.Code, rec.Body)
		}
	}
}

// A token sent in clear from another machine is refused, with the
// address to use instead; the same request over TLS, or from this
// machine, is answered.
func TestDashboardTokenInClear(t *testing.T) {
	s := newServer(t, "d", 0)
	s.start(t)
	waitFor(t, "the node registered", func() bool {
		_, err := s.a.fsm.Get("Node", "", "d")
		return err == nil
	})
	mux := s.a.httpMux()
	get := func(remote string, secure bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "http://10.0.0.5:7403/ui/api/list/Node", nil)
		req.RemoteAddr = remote
		req.Header.Set("Authorization", "Bearer "+credsOf(t).Token)
		if secure {
			req.TLS = &tls.ConnectionState{HandshakeComplete: true}
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	if rec := get("10.0.0.9:40000", false); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "https://10.0.0.5:7403/") {
		t.Fatalf("a token in clear from another machine: %d %s", rec.Code, rec.Body)
	}
	for _, c := range []struct {
		remote string
		secure bool
	}{{"10.0.0.9:40000", true}, {"127.0.0.1:40000", false}} {
		if rec := get(c.remote, c.secure); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"name":"d"`) {
			t.Fatalf("from %s (TLS %v): %d %s", c.remote, c.secure, rec.Code, rec.Body)
		}
	}
}
