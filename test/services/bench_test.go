package services

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/internal/testnet"
)

// BenchmarkServicePaths measures the same small page (busybox httpd, an
// identical pod per path, all on w1) through every path a client has, with wrk from w3, a node
// that runs no pod of it: direct to the pod's IP, the Service's virtual
// IP (kernel DNAT), the node port of w2 (another node that runs no pod:
// DNAT, masquerade and one more hop), the ingress of w3, and Debian's
// nginx on w3 as a reverse proxy to the same pod, the anchor for the
// ingress. It prints requests per second, p99 latency and the ratios.
// BERTH_BENCH_DURATION sets each run (5s), BERTH_BENCH_PATHS the paths
// and their order (direct,vip,nodeport,ingress,nginx).
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
	dur := 5 * time.Second
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
	// One identical pod per path, all on w1: busybox httpd closes every
	// connection, so each request leaves a TIME_WAIT behind, and a path
	// that reused another's (client, pod) pairs would measure their
	// recycling, not itself.
	e.apply(b, fmt.Sprintf(`apiVersion: apps/v1
kind: StatefulSet
metadata: {name: bench}
spec:
  serviceName: bench
  replicas: 5
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: bench}}
  template:
    metadata: {labels: {app: bench}}
    spec:
      nodeSelector: {role: web}
      containers:
      - name: web
        image: %s
        command: [sh, -c, 'mkdir -p /tmp/www && hostname > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www']
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: vip}
spec:
  selector: {statefulset.kubernetes.io/pod-name: bench-1}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: np}
spec:
  type: NodePort
  selector: {statefulset.kubernetes.io/pod-name: bench-2}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: ing}
spec:
  selector: {statefulset.kubernetes.io/pod-name: bench-3}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ing}
spec:
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: ing, port: {number: 80}}}}
`, testimage.Ref))
	pods := map[string]*api.Pod{}
	for _, p := range e.waitPods(b, "bench", 5) {
		pods[p.Metadata.Name] = p
	}
	for _, svc := range []string{"vip", "np", "ing"} {
		e.waitEndpoints(b, svc, 1)
	}
	svcs := map[string]*api.Service{}
	for _, name := range []string{"vip", "np"} {
		obj, err := e.cl.Get(context.Background(), "Service", "default", name)
		if err != nil {
			b.Fatal(err)
		}
		svcs[name] = obj.(*api.Service)
	}
	w2, w3 := e.workers[1], e.workers[2]
	// The client's ports: all of them, for as many connections as can be;
	// and every node forgets a closed connection after 10 s, not 120 s,
	// so that the hundred thousand connections of a run do not fill its
	// connection tracking table.
	for _, cmd := range [][]string{{"w3", "net.ipv4.ip_local_port_range=1024 65535"},
		{"all", "net.netfilter.nf_conntrack_tcp_timeout_time_wait=10"}} {
		for _, w := range e.workers {
			if cmd[0] == "all" || w.Name() == cmd[0] {
				if out, err := w.Command("sysctl", "-w", cmd[1]).CombinedOutput(); err != nil {
					b.Fatalf("sysctl: %v: %s", err, out)
				}
			}
		}
	}

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
`, dir, pods["bench-4"].Status.PodIP)), 0o644)
	nginx := w3.Command("nginx", "-c", conf, "-p", dir)
	if out, err := w3.Command("nginx", "-t", "-c", conf, "-p", dir).CombinedOutput(); err != nil {
		b.Fatalf("nginx -t: %v\n%s", err, out)
	}
	if err := nginx.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nginx.Process.Kill(); nginx.Wait() })

	paths := []struct{ name, url, pod string }{
		{"direct", fmt.Sprintf("http://%s:8080/", pods["bench-0"].Status.PodIP), "bench-0"},
		{"vip", fmt.Sprintf("http://%s/", svcs["vip"].Spec.ClusterIP), "bench-1"},
		{"nodeport", fmt.Sprintf("http://%s:%d/", w2.IP(), svcs["np"].Spec.Ports[0].NodePort), "bench-2"},
		{"ingress", fmt.Sprintf("http://%s:80/", w3.IP()), "bench-3"},
		{"nginx", fmt.Sprintf("http://%s:8081/", w3.IP()), "bench-4"},
	}
	for _, p := range paths {
		if out, err := curl(b, w3, p.url); err != nil || out != p.pod {
			b.Fatalf("%s: %s answers %q (%v)", p.name, p.url, out, err)
		}
	}
	b.ResetTimer()
	res := map[string]wrkResult{}
	order := paths
	if s := os.Getenv("BERTH_BENCH_PATHS"); s != "" {
		order = nil
		for _, name := range strings.Split(s, ",") {
			i := slices.IndexFunc(paths, func(p struct{ name, url, pod string }) bool { return p.name == name })
			if i < 0 {
				b.Fatalf("BERTH_BENCH_PATHS: no path %q", name)
			}
			order = append(order, paths[i])
		}
	}
	for range b.N {
		for _, p := range order {
			wrk(b, w3, p.url, time.Second) // warm up
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

// wrk runs wrk in host against url for d: 2 threads, 8 connections
// (busybox httpd listens with a backlog of 9: more would measure its
// dropped SYNs and their 1 s retransmission).
func wrk(tb testing.TB, host *testnet.Host, url string, d time.Duration) wrkResult {
	tb.Helper()
	out, err := host.Command("wrk", "-t2", "-c8", "-d"+strconv.Itoa(int(d.Seconds()))+"s", "--latency", url).CombinedOutput()
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
	for line := range strings.Lines(s) {
		if strings.Contains(line, "Socket errors") || strings.Contains(line, "Non-2xx") {
			tb.Logf("wrk %s %v: %s", url, d, strings.TrimSpace(line))
		}
	}
	return r
}
