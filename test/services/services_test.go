package services

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/internal/testcluster"
	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/internal/testpods"
)

// server is a pod's script: httpd on 8080 whose pages / and /api/ are
// the pod's name,
// and /cgi-bin/who, which names the pod, the client's address and the
// X-Forwarded-For and -Proto headers it got.
const server = `
          mkdir -p /tmp/www/cgi-bin /tmp/www/api
          hostname > /tmp/www/index.html
          hostname > /tmp/www/api/index.html
          cat > /tmp/www/cgi-bin/who <<'EOF'
          #!/bin/sh
          printf 'Content-Type: text/plain\r\n\r\n%s %s xff=%s proto=%s\n' "$(hostname)" "$REMOTE_ADDR" "$HTTP_X_FORWARDED_FOR" "$HTTP_X_FORWARDED_PROTO"
          EOF
          chmod +x /tmp/www/cgi-bin/who
          exec httpd -f -p 8080 -h /tmp/www`

// deployment is a Deployment of n pods of server on the role=web nodes,
// spread, with a readiness probe, and a Service of its name (port 80 to
// the pods' port named http).
func deployment(name string, n int, svcType string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[2]d
  selector:
    matchLabels: {app: %[1]s}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: %[1]s}
      annotations: {berth.dev/scheduling-strategy: spread}
    spec:
      nodeSelector: {role: web}
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: %[4]s
        ports: [{name: http, containerPort: 8080}]
        command:
        - sh
        - -c
        - |%[5]s
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  type: %[3]s
  selector: {app: %[1]s}
  ports:
  - {name: http, port: 80, targetPort: http}
`, name, n, svcType, testimage.Ref, server)
}

// Must show 1 to 5 on one cluster: 4 workers, each in a network namespace
// of its own (w1-w3 run the web pods, w4 none), a client host outside the
// cluster, every node serving the ingress on ports 80 and 443.
func TestServices(t *testing.T) {
	t.Parallel()
	web := []string{"--label", "role=web", "--ingress-http-port", "80", "--ingress-https-port", "443"}
	edge := []string{"--label", "role=edge", "--ingress-http-port", "80", "--ingress-https-port", "443"}
	e := start(t, web, web, web, edge)
	w4 := e.workers[3]
	e.apply(t, deployment("web", 3, "NodePort"))
	pods := e.waitReady(t, "web", 3)
	obj, err := e.cl.Get(context.Background(), "Service", "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	svc := obj.(*api.Service)
	vip, nodePort := svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort
	t.Logf("service web: %s, node port %d", vip, nodePort)
	if !strings.HasPrefix(e.berth(t, "get", "endpoints", "web"), "NAME") {
		t.Error("berth get endpoints web prints no table")
	}
	desc := e.berth(t, "describe", "service", "web")
	for _, p := range pods {
		if !strings.Contains(desc, p.Status.PodIP+":8080") {
			t.Errorf("describe service web lacks the endpoint %s:8080:\n%s", p.Status.PodIP, desc)
		}
	}

	// 1. 300 requests to the virtual IP, from a node with none of the
	// pods, reach all 3 pods, each at least 20%.
	t.Run("vip", func(t *testing.T) {
		rs := loadgen(t, w4, loadConfig{URL: "http://" + vip + "/", Requests: 300})()
		hits := map[string]int{}
		for _, r := range rs {
			if !r.OK {
				t.Fatalf("request failed: %s", r.Err)
			}
			hits[r.Body]++
		}
		t.Logf("300 requests to %s: %v", vip, hits)
		for _, p := range pods {
			if n := hits[p.Metadata.Name]; n < 60 {
				t.Errorf("pod %s got %d of 300 (< 20%%)", p.Metadata.Name, n)
			}
		}
	})

	// 2. DNS from inside pods: the Service's short and full names, a
	// StatefulSet pod's own name; and pod-to-Service traffic keeps the
	// client pod's address.
	t.Run("dns", func(t *testing.T) {
		e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeSelector: {role: edge}
  containers:
  - {name: c, image: %s, command: [sleep, "3600"]}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: http, port: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      nodeSelector: {role: web}
      terminationGracePeriodSeconds: 1
      containers:
      - name: db
        image: %s
        command: [sh, -c, 'mkdir -p /tmp/www && hostname > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www']
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
`, testimage.Ref, testimage.Ref))
		e.waitReady(t, "db", 2)
		var clientIP string
		testcluster.Eventually(t, 60*time.Second, func() error {
			obj, err := e.cl.Get(context.Background(), "Pod", "default", "client")
			if err != nil {
				return err
			}
			if p := obj.(*api.Pod); p.Status.Phase != api.PodRunning || p.Status.PodIP == "" {
				return fmt.Errorf("client pod %s", p.Status.Phase)
			}
			clientIP = obj.(*api.Pod).Status.PodIP
			return nil
		})
		inPod := func(pod string, args ...string) string {
			t.Helper()
			out, errs, code := testcluster.CLI(t, e.api, "", append([]string{"exec", pod, "--"}, args...)...)
			if code != 0 {
				t.Errorf("in %s: %s: exit %d: %s%s", pod, strings.Join(args, " "), code, out, errs)
			}
			return strings.TrimSpace(out)
		}
		names := map[string]bool{}
		for _, p := range pods {
			names[p.Metadata.Name] = true
		}
		for _, url := range []string{"http://web/", "http://web.default.svc.cluster.local/", "http://web.default/"} {
			if got := inPod("client", "wget", "-qO-", url); !names[got] {
				t.Errorf("client: wget %s = %q, want a web pod's name", url, got)
			}
		}
		who := inPod("client", "wget", "-qO-", "http://web/cgi-bin/who")
		// httpd listens on IPv6 and writes IPv4 clients mapped.
		if f := strings.Fields(who); len(f) < 2 || strings.Trim(strings.TrimPrefix(f[1], "[::ffff:"), "]") != clientIP {
			t.Errorf("web saw the client as %q, want the client pod's own address %s", who, clientIP)
		}
		if got := inPod("db-1", "wget", "-qO-", "http://db-0.db:8080/"); got != "db-0" {
			t.Errorf("db-1: wget http://db-0.db:8080/ = %q, want db-0", got)
		}
		if got := inPod("db-0", "wget", "-qO-", "http://db-0.db.default.svc.cluster.local:8080/"); got != "db-0" {
			t.Errorf("db-0 by its own name: %q", got)
		}
		if got := inPod("db-0", "hostname"); got != "db-0" {
			t.Errorf("db-0's hostname is %q", got)
		}
		// Names outside the cluster go to the host's resolvers; one that
		// does not exist fails, and one in the cluster domain that does
		// not exist fails at once too.
		if out, _, code := testcluster.CLI(t, e.api, "", "exec", "client", "--", "nslookup", "nosuch.default.svc.cluster.local"); code == 0 && !strings.Contains(out, "NXDOMAIN") && !strings.Contains(out, "can't find") {
			t.Errorf("nslookup of a missing service succeeded:\n%s", out)
		}
	})

	// 3. The node port answers on every node's address, w4 included,
	// which runs none of the pods; from a host outside the cluster.
	t.Run("nodeport", func(t *testing.T) {
		for _, w := range e.workers {
			for range 5 {
				out, err := curl(t, e.client, fmt.Sprintf("http://%s:%d/", w.IP(), nodePort))
				if err != nil {
					t.Fatalf("node port on %s: %v: %s", w.Name(), err, out)
				}
				names := map[string]bool{}
				for _, p := range pods {
					names[p.Metadata.Name] = true
				}
				if !names[out] {
					t.Fatalf("node port on %s answered %q", w.Name(), out)
				}
			}
		}
	})

	// 4. Ingress: two hosts and two paths to two Services, on every
	// node; HTTPS with a Secret's certificate, chosen by SNI.
	t.Run("ingress", func(t *testing.T) {
		e.apply(t, deployment("api", 1, "ClusterIP"))
		e.waitReady(t, "api", 1)
		dir := t.TempDir()
		caPEM, crtPEM, keyPEM := certs(t, "a.test")
		os.WriteFile(filepath.Join(dir, "ca.pem"), caPEM, 0o644)
		e.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: a-tls}
type: kubernetes.io/tls
data:
  tls.crt: %s
  tls.key: %s
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: routes}
spec:
  tls:
  - {hosts: [a.test], secretName: a-tls}
  rules:
  - host: a.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {name: http}}}}
  - host: b.test
    http:
      paths:
      - {path: /cgi-bin/who, pathType: Exact, backend: {service: {name: api, port: {number: 80}}}}
`, base64.StdEncoding.EncodeToString(crtPEM), base64.StdEncoding.EncodeToString(keyPEM)))
		apiPod := e.pods(t, "api")[0].Metadata.Name
		// From pods to the Service: the api pod shares a node with a web
		// pod (a reply that must pass the node's DNAT although it never
		// leaves the bridge), and a web pod reaches itself (hairpin).
		for _, from := range []string{apiPod, pods[0].Metadata.Name} {
			seen := map[string]bool{}
			for range 9 {
				out, errs, code := testcluster.CLI(t, e.api, "", "exec", from, "--", "wget", "-qO-", "http://web/")
				if code != 0 {
					t.Fatalf("%s: wget http://web/: exit %d: %s%s", from, code, out, errs)
				}
				seen[strings.TrimSpace(out)] = true
			}
			t.Logf("from %s, 9 requests to web reached %d pods", from, len(seen))
		}
		for _, w := range e.workers {
			testcluster.Eventually(t, 20*time.Second, func() error {
				for _, c := range []struct {
					args []string
					want string
				}{
					{[]string{"-H", "Host: a.test", "http://" + w.IP() + "/"}, "web-"},
					{[]string{"-H", "Host: a.test", "http://" + w.IP() + "/api/"}, apiPod},
					{[]string{"-H", "Host: b.test", "http://" + w.IP() + "/cgi-bin/who"}, apiPod + " "},
					{[]string{"--cacert", filepath.Join(dir, "ca.pem"), "--resolve", "a.test:443:" + w.IP(), "https://a.test/api/"}, apiPod},
					{[]string{"--cacert", filepath.Join(dir, "ca.pem"), "--resolve", "a.test:443:" + w.IP(), "https://a.test/cgi-bin/who"}, "proto=https"},
				} {
					out, err := curl(t, e.client, c.args...)
					if err != nil || !strings.Contains(out, c.want) {
						return fmt.Errorf("%s: curl %s = %q (%v), want %q", w.Name(), strings.Join(c.args, " "), out, err, c.want)
					}
				}
				// X-Forwarded-For names the client host.
				out, _ := curl(t, e.client, "-H", "Host: b.test", "http://"+w.IP()+"/cgi-bin/who")
				if !strings.Contains(out, "xff="+e.client.IP()) {
					return fmt.Errorf("%s: X-Forwarded-For: %q, want the client %s", w.Name(), out, e.client.IP())
				}
				// A host no rule names: 404.
				if out, _ := curl(t, e.client, "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: c.test", "http://"+w.IP()+"/"); out != "404" {
					return fmt.Errorf("%s: unknown host answered %s", w.Name(), out)
				}
				return nil
			})
		}
	})

	// The rules stay while a node's agent is down: its Services keep
	// working through a restart, and the agent takes them over.
	t.Run("restart", func(t *testing.T) {
		agent := e.c.Workers[3] // w4's
		agent.Stop(t)
		rs := loadgen(t, w4, loadConfig{URL: "http://" + vip + "/", Requests: 30})()
		for _, r := range rs {
			if !r.OK {
				t.Fatalf("through the virtual IP while w4's agent is down: %s", r.Err)
			}
		}
		agent.Start(t)
		testpods.WaitNodesReady(t, e.c, 5, 30*time.Second)
		rs = loadgen(t, w4, loadConfig{URL: "http://" + vip + "/", Requests: 30})()
		for _, r := range rs {
			if !r.OK {
				t.Fatalf("through the virtual IP after w4's agent restarted: %s", r.Err)
			}
		}
	})

	// 5. A pod deleted under a steady loop of requests: failures stop
	// within 2 s; a rolling update with maxUnavailable 0 fails none.
	t.Run("churn", func(t *testing.T) {
		url := "http://" + vip + "/"
		wait := loadgen(t, w4, loadConfig{URL: url, Duration: 8 * time.Second, Pause: 5 * time.Millisecond, Loops: 4})
		time.Sleep(2 * time.Second)
		victim := e.pods(t, "web")[0].Metadata.Name
		deleted := time.Now()
		e.berth(t, "delete", "pod", victim)
		rs := wait()
		var failed []result
		for _, r := range rs {
			if !r.OK {
				failed = append(failed, r)
			}
		}
		t.Logf("pod %s deleted: %d requests, %d failed", victim, len(rs), len(failed))
		slices.SortFunc(failed, func(a, b result) int { return cmp.Compare(a.At, b.At) })
		if len(rs) < 100 {
			t.Errorf("only %d requests in 8 s", len(rs))
		}
		if len(failed) > 0 {
			last := time.Unix(0, failed[len(failed)-1].At)
			t.Logf("last failure %v after the delete: %s", last.Sub(deleted).Round(time.Millisecond), failed[len(failed)-1].Err)
			if last.Sub(deleted) > 2*time.Second {
				t.Errorf("requests still failed %v after the delete", last.Sub(deleted))
			}
		}
		e.waitReady(t, "web", 3)

		wait = loadgen(t, w4, loadConfig{URL: url, Duration: 25 * time.Second, Pause: 5 * time.Millisecond, Loops: 4})
		time.Sleep(time.Second)
		e.berth(t, "rollout", "restart", "deployment/web")
		e.berth(t, "rollout", "status", "deployment/web", "--timeout", "60s")
		rs = wait()
		failed = failed[:0]
		seen := map[string]bool{}
		for _, r := range rs {
			if !r.OK {
				failed = append(failed, r)
			}
			seen[r.Body] = true
		}
		t.Logf("rolling update under load: %d requests, %d failed, %d pods answered", len(rs), len(failed), len(seen))
		for _, r := range failed {
			t.Errorf("failed during the rolling update: %s", r.Err)
		}
		if len(seen) < 4 {
			t.Errorf("only %d pods answered during the rollout: the new ones never served", len(seen))
		}
	})
}

// certs makes a CA and a certificate for host signed by it (PEM).
func certs(t *testing.T, host string) (caPEM, crtPEM, keyPEM []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}
