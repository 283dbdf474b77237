package agent

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
)

// The HTTP port answers /healthz at once and /readyz once the server has
// a leader, in plain HTTP and, on the same port, in HTTPS with a
// certificate of the cluster's CA.
func TestHTTPPortHealthAndTLS(t *testing.T) {
	s := newServer(t, "h", 0)
	s.cfg.HTTPPort = freePort(t)
	s.start(t)
	base := "http://" + s.a.HTTPAddr()
	get := func(c *http.Client, url string) (int, string) {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(http.DefaultClient, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	waitFor(t, "/readyz 200", func() bool {
		code, _ := get(http.DefaultClient, base+"/readyz")
		return code == 200
	})

	pem, err := os.ReadFile(credsOf(t).CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	secure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "berth"}}}
	if code, body := get(secure, "https://"+s.a.HTTPAddr()+"/readyz"); code != 200 || body != "ok\n" {
		t.Fatalf("https /readyz = %d %q", code, body)
	}
	// A client that does not trust the cluster's CA is refused.
	if _, err := http.Get("https://" + s.a.HTTPAddr() + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("https without the CA: err = %v, want a certificate error", err)
	}
}

// A server's certificate names its address, so that a browser that
// trusts the cluster's CA opens https://ADDRESS:PORT/ without a warning.
func TestServerCertificateNamesItsAddress(t *testing.T) {
	s := newServer(t, "n1", 0)
	s.cfg.HTTPPort = freePort(t)
	s.start(t)
	pem, err := os.ReadFile(credsOf(t).CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	// No ServerName: the client checks the address it dialled.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get("https://" + s.a.HTTPAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if dns := resp.TLS.PeerCertificates[0].DNSNames; !slices.Contains(dns, "n1") || !slices.Contains(dns, "berth") {
		t.Fatalf("DNS names %v, want n1 and berth", dns)
	}
}
