package deploy

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testcluster"
	"github.com/berth-dev/berth/internal/testcontainerd"
	"github.com/berth-dev/berth/internal/testimage"
	"github.com/berth-dev/berth/internal/testpods"
)

func TestMain(m *testing.M) { os.Exit(testcontainerd.Main(m)) }

const script = "../../deploy/netns/cluster.sh"

// hosts are the script's default hosts: 3 servers and 2 workers.
var hosts = []string{"s1", "s2", "s3", "w1", "w2"}

// TestNetnsCluster runs `cluster.sh up`, then `smoke` (a Deployment and a
// NodePort Service, reached from every host by its virtual IP and node
// ports, and from a pod by its DNS name), and always `down`, after which
// nothing of the cluster may be left: namespaces (the hosts' and the
// pods'), links, iptables rules, processes, containerd namespaces, files.
// It uses a prefix and a subnet of its own, so it runs beside other tests
// and other such clusters.
func TestNetnsCluster(t *testing.T) {
	bin := testcluster.Binary(t)
	sock := testcontainerd.Start(t)
	image := testpods.WriteImage(t, testimage.Ref)
	dir := filepath.Join(t.TempDir(), "cluster")
	prefix := fmt.Sprintf("bd%04x", rand.IntN(1<<16))
	opts := []string{"--prefix", prefix, "--subnet", freeSubnet(t), "--dir", dir, "--bin", bin,
		"--containerd", sock, "--image", image}

	t.Cleanup(func() {
		// The hosts' pod bridges (made with a node's first pod) name the
		// pods' network namespaces.
		bridges := podBridges(t, prefix)
		if !t.Failed() && len(bridges) < 3 {
			t.Errorf("pod bridges %v: want one on each of the 3 nodes that ran pods", bridges)
		}
		if err := runScript(t, 2*time.Minute, append(opts, "down")...); err != nil {
			t.Errorf("down: %v", err)
		}
		for _, h := range hosts {
			if b, err := os.ReadFile(filepath.Join(dir, h, "agent.log")); err == nil && t.Failed() {
				t.Logf("--- log of %s ---\n%s", h, tail(b, 3000))
			}
		}
		if left := leftovers(t, prefix, dir, sock, bridges); len(left) > 0 {
			t.Errorf("left behind after down:\n%s", strings.Join(left, "\n"))
		}
	})
	start := time.Now()
	if err := runScript(t, 3*time.Minute, append(opts, "up")...); err != nil {
		t.Fatalf("up: %v", err)
	}
	t.Logf("up took %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if err := runScript(t, 3*time.Minute, append(opts, "smoke")...); err != nil {
		t.Fatalf("smoke: %v", err)
	}
	t.Logf("smoke took %v", time.Since(start).Round(time.Millisecond))
}

// runScript runs cluster.sh with args and logs what it printed.
func runScript(t *testing.T, d time.Duration, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The agents it starts write to their own logs; should one hold the
	// output open anyway, do not wait for it forever.
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	t.Logf("cluster.sh %s:\n%s", args[len(args)-1], out.String())
	return err
}

// podBridges are the bridges in the hosts' namespaces: each agent's pod
// bridge.
func podBridges(t *testing.T, prefix string) []string {
	t.Helper()
	var names []string
	for _, h := range hosts {
		out, err := exec.Command("ip", "-n", prefix+"-"+h, "-o", "link", "show", "type", "bridge").Output()
		if err != nil {
			continue // no such host
		}
		for line := range strings.Lines(string(out)) {
			if f := strings.Fields(line); len(f) > 1 {
				names = append(names, strings.TrimSuffix(f[1], ":"))
			}
		}
	}
	return names
}

// leftovers lists what of the cluster is still on the machine.
func leftovers(t *testing.T, prefix, dir, sock string, bridges []string) []string {
	t.Helper()
	var left []string
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(out)) {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.HasPrefix(name, prefix+"-") || slices.ContainsFunc(bridges, func(b string) bool { return strings.HasPrefix(name, b+"-") }) {
			left = append(left, "network namespace "+name)
		}
	}
	out, err = exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 1 {
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			if name == prefix+"br" || slices.ContainsFunc(hosts, func(h string) bool { return name == prefix+h }) {
				left = append(left, "link "+name)
			}
		}
	}
	for _, table := range []string{"filter", "nat", "raw"} {
		out, err := exec.Command("iptables", "-w", "-t", table, "-S").Output()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(out)) {
			if strings.Contains(line, "berth-netns:"+prefix+" ") || strings.Contains(line, `berth-netns:`+prefix+`"`) {
				left = append(left, "iptables -t "+table+" "+strings.TrimSpace(line))
			}
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(dir)) {
			left = append(left, fmt.Sprintf("process %s: %s", filepath.Base(filepath.Dir(p)), bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
		}
	}
	out, err = exec.Command("ctr", "-a", sock, "namespaces", "ls", "-q").Output()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, prefix+"-") {
			left = append(left, "containerd namespace "+strings.TrimSpace(line))
		}
	}
	for _, p := range []string{dir, "/run/berth-netns/" + prefix + ".env"} {
		if _, err := os.Stat(p); err == nil {
			left = append(left, "file "+p)
		}
	}
	return left
}

// freeSubnet picks a /24 in 10.252.0.0–10.254.255.0 (clear of testnet's
// 10.200–10.250 and testcluster's 10.100–10.199) that no address or route
// of the machine touches.
func freeSubnet(t *testing.T) string {
	t.Helper()
	for range 64 {
		prefix := fmt.Sprintf("10.%d.%d.", 252+rand.IntN(3), rand.IntN(256))
		addrs, err1 := exec.Command("ip", "-4", "-o", "addr", "show").Output()
		routes, err2 := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
		if err1 != nil || err2 != nil {
			t.Fatalf("ip: %v %v", err1, err2)
		}
		if !bytes.Contains(addrs, []byte(prefix)) && !bytes.Contains(routes, []byte(prefix)) {
			return prefix + "0/24"
		}
	}
	t.Fatal("no free /24 in 10.252.0.0–10.254.255.0")
	return ""
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
