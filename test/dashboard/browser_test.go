package dashboard

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/internal/testpods"
	"github.com/chromedp/chromedp"
)

// webManifest is a Deployment of httpd that asks for CPU and memory (so
// the nodes' bars move), its Service and an Ingress.
const webManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: ` + testimage.Ref + `
        command: [httpd, -f, -p, "80", -h, /www]
        resources:
          requests: {cpu: 250m, memory: 96Mi}
        readinessProbe:
          httpGet: {path: /, port: 80}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {port: 80, targetPort: 80}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  rules:
  - host: web.example.test
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service: {name: web, port: {number: 80}}
`

// Must show: the page, opened with the admin token in its address, lists
// the servers with their Raft roles, the nodes with their usage and the
// Deployment with its replicas; scaling the Deployment through the Go
// client shows on the page without a reload (the watch stream); the
// token leaves the address bar; nothing throws and the Content Security
// Policy blocks nothing.
func TestDashboardFollowsTheCluster(t *testing.T) {
	t.Parallel()
	// Each node announces two (pretended) GPUs: their bar shows too.
	c := testpods.Start(t, 3, 0, []string{"--fake-gpus", "2:NVIDIA-H100-80GB"})
	cl := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	objs, err := api.DecodeDocuments([]byte(webManifest))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Apply(ctx, objs...); err != nil {
		t.Fatal(err)
	}

	tab := browser(t)
	var mu sync.Mutex
	var console []string
	messages := chromedp.Console(tab) // subscribes now: nothing is lost
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			console = append(console, m.String())
			mu.Unlock()
		}
	}()
	// With no token the page asks for one, and says why it refuses one.
	base := "http://" + c.Nodes[0].HTTPAddr() + "/"
	if err := chromedp.Do(tab, chromedp.Navigate(base)); err != nil {
		t.Fatalf("open the dashboard: %v", err)
	}
	waitFor(t, tab, "the sign-in form", `!document.querySelector('#login').hidden && document.querySelector('#app').hidden`)
	if err := chromedp.Do(tab,
		chromedp.SendKeys(chromedp.CSS(`#token`), "bthacl-wrong"),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tab, "why it refuses a malformed token", `!document.querySelector('#login').hidden && document.querySelector('#login-error').textContent.includes('ACL token')`)
	screenshot(t, tab, "login")

	// The admin token in the address signs in.
	if err := chromedp.Do(tab, chromedp.Navigate("about:blank"), chromedp.Navigate(base+"#token="+c.Creds.Token)); err != nil {
		t.Fatalf("open the dashboard: %v", err)
	}

	// The overview: three servers, one leader; three Ready nodes; web with
	// its two replicas ready.
	waitFor(t, tab, "three servers, one of them the leader", `(() => {
		const rows = document.querySelectorAll('#servers tbody tr[data-id]');
		const leaders = [...rows].filter(r => r.textContent.includes('Leader')).length;
		const followers = [...rows].filter(r => r.textContent.includes('Follower')).length;
		return rows.length === 3 && leaders === 1 && followers === 2;
	})()`)
	waitFor(t, tab, "three Ready nodes with CPU, memory and GPU bars", `(() => {
		const nodes = document.querySelectorAll('#nodes .node');
		return nodes.length === 3 && [...nodes].every(n => n.textContent.includes('Ready') && n.querySelectorAll('.bar').length >= 3 &&
			n.textContent.includes('NVIDIA-H100-80GB'));
	})()`)
	waitFor(t, tab, "deployment web with 2 of 2 replicas ready", rolloutIs("default/web", 2, 2))
	if hash := eval[string](t, tab, `location.hash`); hash != "" {
		t.Fatalf("the token stays in the address bar: %q", hash)
	}
	if text := eval[string](t, tab, `document.querySelector('#servers tbody').textContent`); !strings.Contains(text, c.Nodes[0].Name) {
		t.Fatalf("the servers table does not name %s: %s", c.Nodes[0].Name, text)
	}
	// 2 × 250m of CPU shows on the nodes' bars.
	waitFor(t, tab, "the pods' CPU requests on the nodes' bars", `(() => {
		const heads = [...document.querySelectorAll('#nodes .usage-head')].map(h => h.textContent);
		return heads.filter(h => h.startsWith('CPU250m /')).length === 2 || heads.some(h => h.startsWith('CPU500m /'));
	})()`)

	// Scale up through the Go client; the page follows without a reload.
	eval[bool](t, tab, `(window.berthNoReload = true)`)
	scale(ctx, t, cl, "web", 4)
	waitFor(t, tab, "deployment web desired 4", `document.querySelector('#rollouts-overview tr[data-key="default/web"] .desired')?.textContent === '4'`)
	waitFor(t, tab, "deployment web with 4 of 4 replicas ready", rolloutIs("default/web", 4, 4))
	if !eval[bool](t, tab, `window.berthNoReload === true`) {
		t.Fatal("the page reloaded")
	}
	screenshot(t, tab, "overview")

	// The other tabs: four pods of web, each with a node and an IP; the
	// Service with four endpoints; the Ingress's rule.
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(`#tabs button[data-tab="workloads"]`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tab, "four running pods of web with a node and an IP", `(() => {
		const rows = [...document.querySelectorAll('#pods tbody tr[data-key^="default/web-"]')];
		return rows.length === 4 && rows.every(r => r.cells[2].textContent === 'Running' && r.cells[5].textContent !== '–' && /\d+\.\d+\.\d+\.\d+/.test(r.cells[6].textContent));
	})()`)
	screenshot(t, tab, "workloads")
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(`#tabs button[data-tab="network"]`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tab, "service web with 4 endpoints", `document.querySelector('#services tr[data-key="default/web"] .endpoints')?.textContent === '4'`)
	waitFor(t, tab, "ingress web routing its host to web:80", `(() => {
		const r = document.querySelector('#ingresses tr[data-key="default/web"]');
		return !!r && r.textContent.includes('web.example.test') && r.textContent.includes('web:80');
	})()`)
	screenshot(t, tab, "network")
	if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(`#tabs button[data-tab="events"]`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tab, "events of deployment web", `[...document.querySelectorAll('#events tbody tr[data-key]')].some(r => r.textContent.includes('deployment/web'))`)
	screenshot(t, tab, "events")

	// A read-only token of namespace default sees the same, in a tab of
	// its own (session storage is per tab): it lists and watches each kind
	// in its namespace, nodes cluster-wide.
	scoped, _, err := cl.CreateACLToken(ctx, api.RoleReadOnly, []string{"default"}, 0, "dashboard test")
	if err != nil {
		t.Fatal(err)
	}
	tab2, closeTab2 := chromedp.NewContext(tab)
	defer closeTab2()
	if err := chromedp.Do(tab2, chromedp.Navigate(base+"#token="+scoped)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tab2, "a read-only token of default: three nodes and web", `document.querySelector('#who').textContent === 'read-only · default'
		&& document.querySelectorAll('#nodes .node').length === 3 && document.querySelector('#live').classList.contains('live')`)
	waitFor(t, tab2, "web 4 of 4 to the read-only token", rolloutIs("default/web", 4, 4))

	mu.Lock()
	defer mu.Unlock()
	for _, m := range console {
		if strings.Contains(m, "status of 401") {
			continue // the malformed token's answer, as the browser logs it
		}
		if strings.Contains(m, "exception") || strings.Contains(m, "Content Security Policy") || strings.HasPrefix(m, "error") {
			t.Errorf("the page's console: %s", m)
		}
	}
}

// screenshot saves a full-page PNG of the page as the artifact
// dashboard-NAME.png.
func screenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(artifactsDir(t), "dashboard-"+name+".png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the %s: %s", name, path)
}

// rolloutIs is a predicate: the rollout row of key shows ready of desired.
func rolloutIs(key string, ready, desired int) string {
	return fmt.Sprintf(`(() => {
		const r = document.querySelector('#rollouts-overview tr[data-key=%q]');
		return !!r && r.querySelector('.ready').textContent === '%d' && r.querySelector('.desired').textContent === '%d'
			&& r.querySelector('.progress-text').textContent === '%d/%d ready';
	})()`, key, ready, desired, ready, desired)
}

// waitFor waits (up to 60 s) until the JavaScript predicate holds on the
// page, and fails the test with what the page shows if it never does.
func waitFor(t *testing.T, tab context.Context, what, predicate string) {
	t.Helper()
	start := time.Now()
	for {
		left := 60*time.Second - time.Since(start)
		_, err := chromedp.Run(tab, chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(left), chromedp.WithPollingInterval(100*time.Millisecond)))
		if err == nil {
			break
		}
		// A poll does not survive a navigation: right after one, it may
		// start in the page that is going away. Poll the new one.
		if strings.Contains(err.Error(), "Cannot find context") || strings.Contains(err.Error(), "context was destroyed") {
			if time.Since(start) < 60*time.Second {
				time.Sleep(100 * time.Millisecond)
				continue
			}
		}
		text, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector('main').innerText`))
		t.Fatalf("the page never showed %s: %v\n--- the page ---\n%s", what, err, text)
	}
	t.Logf("the page shows %s (%v)", what, time.Since(start).Round(time.Millisecond))
}

// eval evaluates a JavaScript expression on the page.
func eval[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// scale sets a Deployment's replicas through the Go client.
func scale(ctx context.Context, t *testing.T, cl *client.Client, name string, replicas int32) {
	t.Helper()
	for {
		obj, err := cl.Get(ctx, "Deployment", "default", name)
		if err != nil {
			t.Fatal(err)
		}
		d := obj.(*api.Deployment)
		d.Spec.Replicas = &replicas
		if _, err := cl.Update(ctx, d); err == nil {
			return
		} else if !client.IsConflict(err) || ctx.Err() != nil {
			t.Fatalf("scale %s to %d: %v", name, replicas, err)
		}
	}
}
