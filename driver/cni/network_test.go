package cni

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// testNet makes a Network with its own bridge, pod subnet and data dir,
// purged at the end; it checks that nothing of it is left.
func testNet(t *testing.T, cluster string, sub int) *Network {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	br := "bt" + hex.EncodeToString(b)
	prefix := strings.TrimSuffix(cluster, ".0.0/16")
	nw, err := New(Config{Bridge: br, PodCIDR: fmt.Sprintf("%s.%d.0/24", prefix, sub), ClusterCIDR: cluster, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nw.Purge(context.Background()); err != nil {
			t.Errorf("purge: %v", err)
		}
		if _, err := net.InterfaceByName(br); err == nil {
			t.Errorf("bridge %s left", br)
		}
		for _, table := range []string{"filter", "nat"} {
			out, _ := exec.Command("iptables", "-w", "-t", table, "-S").Output()
			if strings.Contains(string(out), "berth:"+br) {
				t.Errorf("rules of %s left in %s", br, table)
			}
		}
		if out, _ := exec.Command("ip", "netns").Output(); strings.Contains(string(out), br+"-") {
			t.Errorf("namespaces of %s left: %s", br, out)
		}
	})
	if err := nw.EnsureHost(context.Background()); err != nil {
		t.Fatal(err)
	}
	return nw
}

func randomCluster() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(100))
	return fmt.Sprintf("10.%d.0.0/16", 100+n.Int64())
}

func inNS(t *testing.T, sb Sandbox, args ...string) *exec.Cmd {
	t.Helper()
	return exec.Command("nsenter", append([]string{"--net=" + sb.NetNS, "/bin/busybox"}, args...)...)
}

func TestPodsReachEachOtherAndTheHost(t *testing.T) {
	ctx := context.Background()
	cluster := randomCluster()
	a, b := testNet(t, cluster, 1), testNet(t, cluster, 2)
	pa, err := a.Setup(ctx, "pod-a-0000000000001", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Setup again returns the same sandbox.
	if again, err := a.Setup(ctx, "pod-a-0000000000001", nil); err != nil || again.IP != pa.IP {
		t.Fatalf("second setup: %+v %v (first %+v)", again, err, pa)
	}
	hostPort := 20000 + int(time.Now().UnixNano()%10000)
	pb, err := b.Setup(ctx, "pod-b-0000000000002", []PortMapping{{HostPort: int32(hostPort), ContainerPort: 80, Protocol: "tcp"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(pa.IP, strings.TrimSuffix(a.cfg.PodCIDR, "0/24")) || !strings.HasPrefix(pb.IP, strings.TrimSuffix(b.cfg.PodCIDR, "0/24")) {
		t.Fatalf("addresses %s and %s outside %s and %s", pa.IP, pb.IP, a.cfg.PodCIDR, b.cfg.PodCIDR)
	}
	// Another node's subnet via this machine's address: no route needed.
	if err := a.SetRoutes(ctx, []Route{{CIDR: b.cfg.PodCIDR, Via: "127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	www := t.TempDir()
	if err := os.WriteFile(www+"/index.html", []byte("from b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := inNS(t, pb, "httpd", "-f", "-p", "80", "-h", www)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })

	// Pod a (on its own bridge) reaches pod b by IP.
	var out []byte
	for range 50 {
		if out, err = inNS(t, pa, "wget", "-qO-", "http://"+pb.IP+"/").CombinedOutput(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if string(out) != "from b\n" {
		t.Fatalf("pod a to pod b: %v %q", err, out)
	}
	// The host reaches pod b on its IP and on the host port (loopback too).
	for _, url := range []string{"http://" + pb.IP + "/", fmt.Sprintf("http://127.0.0.1:%d/", hostPort)} {
		c := http.Client{Timeout: 3 * time.Second}
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "from b\n" {
			t.Fatalf("%s: %q", url, body)
		}
	}
	if sbs, err := b.Sandboxes(); err != nil || len(sbs) != 1 || sbs[0].IP != pb.IP {
		t.Fatalf("sandboxes: %+v %v", sbs, err)
	}
	// host-local keeps a file per address it gave out.
	lease := a.cfg.DataDir + "/ipam/" + a.cfg.Name + "-" + a.cfg.Bridge + "/" + pa.IP
	if _, err := os.Stat(lease); err != nil {
		t.Fatalf("no lease for %s: %v", pa.IP, err)
	}
	// Teardown releases the address (the next pod may take it), twice is fine.
	for range 2 {
		if err := a.Teardown(ctx, "pod-a-0000000000001"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(pa.NetNS); err == nil {
		t.Fatal("namespace left after teardown")
	}
	if _, err := os.Stat(lease); !os.IsNotExist(err) {
		t.Fatalf("lease %s still held after teardown: %v", lease, err)
	}
	if pc, err := a.Setup(ctx, "pod-c-0000000000003", nil); err != nil || pc.IP == "" {
		t.Fatalf("a new pod after the teardown: %+v %v", pc, err)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []Config{
		{Bridge: "this-name-is-too-long", PodCIDR: "10.1.1.0/24", ClusterCIDR: "10.1.0.0/16", DataDir: "/tmp"},
		{Bridge: "b", PodCIDR: "nope", ClusterCIDR: "10.1.0.0/16", DataDir: "/tmp"},
		{Bridge: "b", PodCIDR: "10.1.1.0/24", ClusterCIDR: "10.1.0.0/16"},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
