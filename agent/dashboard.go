package agent

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/berth-dev/berth/security"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The web dashboard: a page embedded in the binary (ui/: plain HTML, CSS
// and JavaScript, no build step, nothing fetched from elsewhere) and the
// JSON API it reads, both on a server's HTTP port. The API answers from
// the server's local replica through the Resources service's own List and
// Watch, with the same ACL tokens and rights as the gRPC API:
//
//	GET /ui/api/cluster              the servers: Raft role and indexes; the caller's token
//	GET /ui/api/list/KIND?namespace= {"revision":R,"items":[...]}
//	GET /ui/api/watch?w=KIND/NS/REV  Server-Sent Events: every change after REV
//
// A token travels as "Authorization: Bearer TOKEN", only over HTTPS or
// from loopback. Workers serve no dashboard: they hold no state.

//go:embed ui
var uiFiles embed.FS

// dashboardKinds are the kinds the dashboard shows, and the only ones its
// API serves: never Secrets, ConfigMaps or Berth's own kinds.
var dashboardKinds = []string{"Node", "Pod", "Deployment", "StatefulSet", "Service", "Endpoints", "Ingress", "Event"}

// dashboardCSP lets the page load only its own files and call only its
// own API: no inline script, nothing from another origin.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// dashboardRoutes adds the dashboard and its API to the HTTP port's mux.
func (a *Agent) dashboardRoutes(mux *http.ServeMux) {
	if a.fsm == nil {
		mux.Handle("GET /{$}", uiHeaders(http.HandlerFunc(workerDashboard)))
		mux.Handle("/ui/", uiHeaders(http.HandlerFunc(workerDashboard)))
		return
	}
	static, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(static)
	mux.Handle("GET /{$}", uiHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	})))
	mux.Handle("GET /ui/", uiHeaders(http.StripPrefix("/ui/", files)))
	mux.Handle("GET /ui/api/cluster", uiHeaders(a.uiAPI(a.uiCluster)))
	mux.Handle("GET /ui/api/list/{kind}", uiHeaders(a.uiAPI(a.uiList)))
	mux.Handle("GET /ui/api/watch", uiHeaders(a.uiAPI(a.uiWatch)))
}

// workerDashboard tells a visitor of a worker where the dashboard is.
func workerDashboard(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "this agent is a worker: it holds no cluster state, so it serves no dashboard; "+
		"open the HTTP port of a server instead (https://SERVER:7403/)", http.StatusNotFound)
}

// uiHeaders sets the headers every dashboard answer carries.
func uiHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", dashboardCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		if strings.HasPrefix(r.URL.Path, "/ui/api/") {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

// uiError is an answer of the dashboard's API other than 200.
type uiError struct {
	code int
	msg  string
}

func (e *uiError) Error() string { return e.msg }

// uiErrorOf turns an error of the gRPC paths (a status) into the HTTP
// answer that says the same.
func uiErrorOf(err error) *uiError {
	var ue *uiError
	if errors.As(err, &ue) {
		return ue
	}
	st := status.Convert(toStatus(err))
	code := http.StatusInternalServerError
	switch st.Code() {
	case codes.Unauthenticated:
		code = http.StatusUnauthorized
	case codes.PermissionDenied:
		code = http.StatusForbidden
	case codes.InvalidArgument:
		code = http.StatusBadRequest
	case codes.NotFound:
		code = http.StatusNotFound
	case codes.OutOfRange:
		code = http.StatusGone
	case codes.ResourceExhausted:
		code = http.StatusTooManyRequests
	case codes.Unavailable, codes.DeadlineExceeded:
		code = http.StatusServiceUnavailable
	}
	return &uiError{code: code, msg: st.Message()}
}

// writeUIError answers {"error": MESSAGE} with the error's status.
func writeUIError(w http.ResponseWriter, err error) {
	ue := uiErrorOf(err)
	if ue.code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="berth"`)
	}
	writeJSON(w, ue.code, map[string]string{"error": ue.msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// uiAPI authenticates a call of the dashboard's API before h answers it.
func (a *Agent) uiAPI(h func(http.ResponseWriter, *http.Request, *caller) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := a.uiCaller(r)
		if err == nil {
			err = h(w, r, c)
		}
		if err != nil {
			writeUIError(w, err)
		}
	})
}

// uiCaller checks a request's ACL token: it must come over HTTPS, or from
// loopback, and be one the cluster knows.
func (a *Agent) uiCaller(r *http.Request) (*caller, error) {
	if r.TLS == nil && !loopback(r.RemoteAddr) {
		return nil, &uiError{http.StatusForbidden, fmt.Sprintf(
			"ACL tokens must not travel in clear over a network: use https://%s/ (the cluster CA signs it)", r.Host)}
	}
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if raw = strings.TrimSpace(raw); !ok || raw == "" {
		return nil, &uiError{http.StatusUnauthorized,
			`no ACL token: send "Authorization: Bearer TOKEN" (the dashboard asks for it; berth acl create makes one)`}
	}
	tok, err := a.lookupToken(r.Context(), raw)
	if err != nil {
		return nil, err
	}
	return &caller{name: "dashboard", role: security.RoleClient, token: tok, raw: raw}, nil
}

// loopback reports whether a remote address ("host:port") is on this
// machine's loopback.
func loopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
