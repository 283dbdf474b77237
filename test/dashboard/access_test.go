package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/internal/testcluster"
	"github.com/berth-dev/berth/security"
)

// Must show: the dashboard's API takes the gRPC API's ACL tokens and
// rights: no token is a 401, a token of namespace team-a reading default
// (or every namespace) is a 403 that names what is missing, and its own
// namespace and cluster-wide nodes are a 200; Secrets are never served;
// `berth dashboard` reaches it over TLS; the page carries a Content Security Policy and no
// inline script; the watch stream sends a change as it happens; a worker
// serves no dashboard.
func TestDashboardAccess(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Servers: 1})
	base := "http://" + c.Nodes[0].HTTPAddr()
	admin := c.Creds.Token
	cl := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	scoped, _, err := cl.CreateACLToken(ctx, api.RoleReadOnly, []string{"team-a"}, 0, "dashboard test")
	if err != nil {
		t.Fatal(err)
	}

	// The page itself needs no token, and loads nothing but its own files.
	page := get(t, base+"/", "")
	if page.code != http.StatusOK || !strings.Contains(page.body, `<script src="/ui/app.js"`) {
		t.Fatalf("GET /: %d\n%s", page.code, page.body)
	}
	csp := page.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("GET /: Content-Security-Policy %q", csp)
	}
	for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(page.body, -1) {
		if !strings.Contains(m, ` src="/ui/`) {
			t.Fatalf("GET /: a script not from the dashboard's own files: %s", m)
		}
	}
	for _, f := range []string{"/ui/app.js", "/ui/style.css", "/ui/favicon.svg"} {
		if a := get(t, base+f, ""); a.code != http.StatusOK || a.header.Get("Content-Security-Policy") == "" {
			t.Fatalf("GET %s: %d", f, a.code)
		}
	}

	expect(t, "no token", get(t, base+"/ui/api/list/Pod", ""), http.StatusUnauthorized, "no ACL token", "Authorization: Bearer")
	unknown, err := security.NewACLToken()
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "a token the cluster does not know", get(t, base+"/ui/api/cluster", unknown.String()), http.StatusUnauthorized, "unknown or revoked")
	expect(t, "team-a's token reading default", get(t, base+"/ui/api/list/Pod?namespace=default", scoped), http.StatusForbidden,
		"namespace \"default\"", "team-a")
	expect(t, "team-a's token reading every namespace", get(t, base+"/ui/api/list/Deployment", scoped), http.StatusForbidden, "team-a")
	expect(t, "team-a's token watching default", get(t, base+"/ui/api/watch?w=Pod/default/0", scoped), http.StatusForbidden, "team-a")
	expect(t, "a Secret", get(t, base+"/ui/api/list/Secret?namespace=default", admin), http.StatusNotFound, "does not serve Secret")
	expect(t, "an ACL token", get(t, base+"/ui/api/list/ACLToken", admin), http.StatusNotFound, "does not serve ACLToken")
	for _, path := range []string{"/ui/api/list/Pod?namespace=team-a", "/ui/api/list/Node"} {
		if a := get(t, base+path, scoped); a.code != http.StatusOK {
			t.Fatalf("team-a's token: GET %s: %d %s", path, a.code, a.body)
		}
	}

	// Who the token is, and the servers.
	var info struct {
		Leader  string `json:"leader"`
		Servers []struct {
			ID           string `json:"id"`
			State        string `json:"state"`
			AppliedIndex uint64 `json:"appliedIndex"`
			CommitIndex  uint64 `json:"commitIndex"`
		} `json:"servers"`
		You struct {
			Role       string   `json:"role"`
			Namespaces []string `json:"namespaces"`
		} `json:"you"`
	}
	a := get(t, base+"/ui/api/cluster", scoped)
	if err := json.Unmarshal([]byte(a.body), &info); err != nil || a.code != http.StatusOK {
		t.Fatalf("GET /ui/api/cluster: %d %s (%v)", a.code, a.body, err)
	}
	if info.You.Role != api.RoleReadOnly || strings.Join(info.You.Namespaces, ",") != "team-a" ||
		len(info.Servers) != 1 || info.Servers[0].State != "Leader" || info.Servers[0].CommitIndex == 0 || info.Servers[0].AppliedIndex == 0 {
		t.Fatalf("GET /ui/api/cluster: %s", a.body)
	}

	// A change shows on the watch stream as it happens.
	var list struct {
		Revision uint64            `json:"revision"`
		Items    []json.RawMessage `json:"items"`
	}
	if a := get(t, base+"/ui/api/list/Service?namespace=default", admin); json.Unmarshal([]byte(a.body), &list) != nil || a.code != http.StatusOK {
		t.Fatalf("list services: %d %s", a.code, a.body)
	}
	events := watch(ctx, t, base+"/ui/api/watch?w=Service/default/"+strconv.FormatUint(list.Revision, 10), admin)
	svc := &api.Service{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Service"}, Metadata: api.ObjectMeta{Name: "watched", Namespace: "default"},
		Spec: api.ServiceSpec{Selector: map[string]string{"app": "x"}, Ports: []api.ServicePort{{Port: 80}}}}
	if _, err := cl.Apply(ctx, svc); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.Type != "ADDED" || ev.Kind != "Service" || ev.Object.Metadata.Name != "watched" {
			t.Fatalf("the first event of the watch: %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch stream sent nothing within 10s of a new Service")
	}

	// From another machine, `berth dashboard` passes the page's calls to
	// a server over TLS (a token in clear from another machine is refused:
	// agent's TestDashboardTokenInClear).
	viaProxy(t, c, admin)

	// A worker holds no state: it points to the servers.
	w := c.AddWorker(t)
	testcluster.Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get("http://" + w.HTTPAddr() + "/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			return fmt.Errorf("GET / of a worker: %d", resp.StatusCode)
		}
		return nil
	})
}

// watchEvent is one event of the dashboard's watch stream.
type watchEvent struct {
	Type   string `json:"type"`
	Kind   string `json:"kind"`
	Object struct {
		Metadata api.ObjectMeta `json:"metadata"`
	} `json:"object"`
}

// watch opens the watch stream at url and sends its events on the
// channel, until ctx ends.
func watch(ctx context.Context, t *testing.T, url, token string) <-chan watchEvent {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan watchEvent, 16)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var ev watchEvent
			if json.Unmarshal([]byte(data), &ev) == nil {
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// viaProxy runs `berth dashboard` with the cluster's admin config and
// reads the nodes through it; pointed at a port that speaks no TLS, it
// answers 502: it never sends the token in clear.
func viaProxy(t *testing.T, c *testcluster.Cluster, token string) {
	t.Helper()
	s1 := c.Nodes[0]
	start := func(server string) string {
		listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(testcluster.FreePort(t)))
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, testcluster.Binary(t), "--addr", s1.APIAddr(), "dashboard", "--listen", listen, "--server", server)
		cmd.Env = append(os.Environ(), "BERTH_CONFIG="+testcluster.ConfigFor(s1.APIAddr()))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); _ = cmd.Wait() })
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || !strings.Contains(line, "http://"+listen+"/#token="+token) {
			t.Fatalf("berth dashboard printed %q (%v)", line, err)
		}
		return "http://" + listen
	}
	base := start(s1.HTTPAddr())
	if a := get(t, base+"/ui/api/list/Node", token); a.code != http.StatusOK || !strings.Contains(a.body, `"name":"`+s1.Name+`"`) {
		t.Fatalf("the nodes through berth dashboard: %d %s", a.code, a.body)
	}
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("berth dashboard sent %s %s in clear", r.Method, r.URL)
	}))
	defer plain.Close()
	base = start(plain.Listener.Addr().String())
	if a := get(t, base+"/ui/api/list/Node", token); a.code != http.StatusBadGateway || !strings.Contains(a.body, "TLS handshake") {
		t.Fatalf("berth dashboard to a port without TLS: %d %s", a.code, a.body)
	}
}
