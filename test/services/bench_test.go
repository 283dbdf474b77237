package services

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/internal/testnet"
)

// BenchmarkServicePaths measures the same small page (busybox httpd, one
// pod on w1) through every path a client has, with wrk from w3, a node
// that runs no pod of it: direct to the pod's IP, the Service's virtual
// IP (kernel DNAT), the node port of w2 (another node that runs no pod:
// DNAT, masquerade and one more hop), the ingress of w3, and Debian's
// nginx on w3 as a reverse proxy to the same pod, the anchor for the
// ingress. It prints requests per second, p99 latency and the ratios.
// Needs wrk and nginx (scripts/install-deps.sh bench).
//
//	go test -run '^$' -bench ServicePaths -benchtime 1x ./test/services/
func BenchmarkServicePaths(b *testing.B) {
	for _, tool := range []string{"wrk", "nginx"} {
		if _, err := os.Stat("/usr/bin/" + tool); err != nil {
			if _, err := os.Stat("/usr/sbin/" + tool); err != nil {
				b.Fatalf("%s is not installed: run scripts/install-deps.sh bench", tool)
			}
		}
	}
	dur := 10 * time.Second
	if s := os.Getenv("BERTH_BENCH_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		dur = d
	}
	web := []string{"--label", "role=web"}
	edge := []string{"--label", "role=edge", "--ingress-http-port", "80"}
	e := start(b, web, edge, edge)
	e.apply(b, deployment("web", 1, "NodePort"))
	e.apply(b, `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`)
	pod := e.waitReady(b, "web", 1)[0]
	obj, err := e.cl.Get(context.Background(), "Service", "default", "web")
	if err != nil {
		b.Fatal(err)
	}
	svc := obj.(*api.Service)
	w2, w3 := e.workers[1], e.workers[2]

	// nginx in w3, proxying to the pod, as an ingress controller would.
	dir := b.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`daemon off;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	upstream pods { server %[2]s:8080; }
	server {
		listen 8081;
		location / {
			proxy_pass http://pods;
			proxy_set_header Host $host;
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
			proxy_set_header X-Forwarded-Proto $scheme;
		}
	}
}
`, dir, pod.Status.PodIP)), 0o644)
	nginx := w3.Command("nginx", "-c", conf, "-p", dir)
	if out, err := w3.Command("nginx", "-t", "-c", conf, "-p", dir).CombinedOutput(); err != nil {
		b.Fatalf("nginx -t: %v\n%s", err, out)
	}
	if err := nginx.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nginx.Process.Kill(); nginx.Wait() })

	paths := []struct{ name, url string }{
		{"direct", fmt.Sprintf("http://%s:8080/", pod.Status.PodIP)},
		{"vip", fmt.Sprintf("http://%s/", svc.Spec.ClusterIP)},
		{"nodeport", fmt.Sprintf("http://%s:%d/", w2.IP(), svc.Spec.Ports[0].NodePort)},
		{"ingress", fmt.Sprintf("http://%s:80/", w3.IP())},
		{"nginx", fmt.Sprintf("http://%s:8081/", w3.IP())},
	}
	for _, p := range paths {
		if out, err := curl(b, w3, p.url); err != nil || out != pod.Metadata.Name {
			b.Fatalf("%s: %s answers %q (%v)", p.name, p.url, out, err)
		}
	}
	b.ResetTimer()
	res := map[string]wrkResult{}
	for range b.N {
		for _, p := range paths {
			wrk(b, w3, p.url, 2*time.Second) // warm up
			r := wrk(b, w3, p.url, dur)
			res[p.name] = r
			b.Logf("%-9s %8.0f req/s  p99 %6.2f ms  errors %d", p.name, r.rps, r.p99.Seconds()*1000, r.errors)
		}
	}
	b.StopTimer()
	ratio := func(a, base string) string {
		return fmt.Sprintf("%.2f× throughput, p99 %.2f×", res[a].rps/res[base].rps, res[a].p99.Seconds()/res[base].p99.Seconds())
	}
	b.Logf("vip      / direct: %s (goal ≥ 0.95× throughput)", ratio("vip", "direct"))
	b.Logf("nodeport / direct: %s", ratio("nodeport", "direct"))
	b.Logf("ingress  / direct: %s", ratio("ingress", "direct"))
	b.Logf("ingress  / nginx:  %s (goal ≥ 1.0× throughput, p99 no worse)", ratio("ingress", "nginx"))
	for _, p := range paths {
		b.ReportMetric(res[p.name].rps, p.name+"-req/s")
		b.ReportMetric(res[p.name].p99.Seconds()*1000, p.name+"-p99-ms")
	}
	b.ReportMetric(res["vip"].rps/res["direct"].rps, "vip/direct")
	b.ReportMetric(res["ingress"].rps/res["nginx"].rps, "ingress/nginx")
}

type wrkResult struct {
	rps    float64
	p99    time.Duration
	errors int
}

var (
	rpsRE    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p99RE    = regexp.MustCompile(`\s99%\s+([0-9.]+)(us|ms|s)`)
	errorsRE = regexp.MustCompile(`(?:connect|read|write|timeout) (\d+)|Non-2xx or 3xx responses: (\d+)`)
)

// wrk runs wrk in host against url for d: 2 threads, 32 connections.
func wrk(tb testing.TB, host *testnet.Host, url string, d time.Duration) wrkResult {
	tb.Helper()
	out, err := host.Command("wrk", "-t2", "-c32", "-d"+strconv.Itoa(int(d.Seconds()))+"s", "--latency", url).CombinedOutput()
	if err != nil {
		tb.Fatalf("wrk %s: %v\n%s", url, err, out)
	}
	s := string(out)
	var r wrkResult
	m := rpsRE.FindStringSubmatch(s)
	p := p99RE.FindStringSubmatch(s)
	if m == nil || p == nil {
		tb.Fatalf("wrk %s: no figures in\n%s", url, s)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	v, _ := strconv.ParseFloat(p[1], 64)
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[p[2]]
	r.p99 = time.Duration(v * float64(unit))
	for _, e := range errorsRE.FindAllStringSubmatch(s, -1) {
		for _, n := range e[1:] {
			k, _ := strconv.Atoi(n)
			r.errors += k
		}
	}
	if strings.Contains(s, "Socket errors") || r.errors > 0 {
		tb.Logf("wrk %s:\n%s", url, s)
	}
	return r
}
