package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
)

// parsedCmd finds the command args name in a fresh root command and parses
// its flags as Execute would, without running it.
func parsedCmd(t *testing.T, args ...string) *cobra.Command {
	t.Helper()
	cmd, rest, err := newRootCmd().Find(args)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func agentFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// flagText is the value of a flag of cmd as text (a repeatable flag's
// items joined by "|").
func flagText(t *testing.T, cmd *cobra.Command, name string) string {
	t.Helper()
	f := cmd.Flags().Lookup(name)
	if f == nil {
		t.Fatalf("no flag %q", name)
	}
	if s, ok := f.Value.(interface{ GetSlice() []string }); ok {
		return strings.Join(s.GetSlice(), "|")
	}
	return f.Value.String()
}

func TestAgentConfigSetsFlags(t *testing.T) {
	file := `# a server of three
name: s1
data-dir: /var/lib/berth
server: true
"bind": 10.0.0.1
api-port: 7500
join: [10.0.0.1:7400, 10.0.0.2:7400]
label: [zone=a, gpu=yes]
node-down-grace: 3s
raft-snapshot-threshold: 18446744073709551615
containerd-socket: ""
insecure-registry: reg.local:5000
`
	tests := []struct {
		name string
		file string
		args []string // on the command line, after agent --config FILE
		want map[string]string
	}{
		{"every kind of value", file, nil, map[string]string{
			"name": "s1", "data-dir": "/var/lib/berth", "server": "true", "bind": "10.0.0.1", "api-port": "7500",
			"join": "10.0.0.1:7400,10.0.0.2:7400", "label": "zone=a|gpu=yes", "node-down-grace": "3s",
			"raft-snapshot-threshold": "18446744073709551615", "containerd-socket": "",
			"insecure-registry": "reg.local:5000", "raft-port": "7401", "dev": "false",
		}},
		{"the command line wins", file, []string{"--data-dir", "/srv/berth", "--label", "zone=b", "--server=false"}, map[string]string{
			"data-dir": "/srv/berth", "label": "zone=b", "server": "false", "name": "s1",
		}},
		{"join in its comma form", "join: 10.0.0.1:7400,10.0.0.2:7400\n", nil, map[string]string{
			"join": "10.0.0.1:7400,10.0.0.2:7400",
		}},
		{"an empty file", "# nothing\n", nil, map[string]string{"data-dir": "", "api-port": "7400"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := agentFile(t, "agent.yaml", tt.file)
			cmd := parsedCmd(t, append([]string{"agent", "--config", path}, tt.args...)...)
			if err := applyAgentConfig(cmd, path, nil); err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.want {
				if got := flagText(t, cmd, k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestAgentConfigErrors(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"unknown key", "name: a\ndatadir: /x\n", `agent.yaml:2: unknown key "datadir" (the keys are the flags of ` + "`berth agent`"},
		{"a client flag", "addr: 10.0.0.1:7400\n", `agent.yaml:1: unknown key "addr"`},
		{"help", "help: true\n", `agent.yaml:1: unknown key "help"`},
		{"a number refused", "name: a\n\napi-port: seventy\n", `agent.yaml:3: api-port: invalid argument "seventy" for "--api-port" flag: strconv.ParseInt: parsing "seventy": invalid syntax`},
		{"a bool refused", "server: maybe\n", `agent.yaml:1: server: invalid argument "maybe" for "--server" flag: strconv.ParseBool`},
		{"a duration refused", "node-down-grace: 10\n", `agent.yaml:1: node-down-grace: invalid argument "10" for "--node-down-grace" flag: time: missing unit in duration "10"`},
		{"a list for a single value", "api-port: [1, 2]\n", `agent.yaml:1: api-port: invalid argument "1,2"`},
		{"a mapping", "label: {zone: a}\n", "agent.yaml:1: label: want a value, not a mapping"},
		{"a nested list", "label: [[a]]\n", "agent.yaml:1: label: list item: want a value"},
		{"no value", "data-dir:\n", `agent.yaml:1: data-dir: no value (write "" for an empty one)`},
		{"the file names another", "config: other.yaml\n", "agent.yaml:1: config: a config file cannot name another"},
		{"not a mapping", "- name: a\n", "agent.yaml: want a mapping of flag names to values"},
		{"a key twice", "name: a\nname: b\n", `already set in map`},
		{"not YAML", "name: [a\n", "agent config "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := agentFile(t, "agent.yaml", tt.file)
			err := applyAgentConfig(parsedCmd(t, "agent", "--config", path), path, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming %s and saying %q", err, path, tt.want)
			}
		})
	}
	// A missing file, through the whole command.
	_, _, err := run(t, "", "agent", "--config", "/nonexistent/agent.yaml")
	if err == nil || !strings.Contains(err.Error(), "--config: open /nonexistent/agent.yaml") {
		t.Fatalf("missing file: %v", err)
	}
}

// TestAgentConfigThroughCommand runs `berth agent --config` to its first
// check of the values: the file's are used, the command line's win.
func TestAgentConfigThroughCommand(t *testing.T) {
	path := agentFile(t, "agent.yaml", "server: true\ndata-dir: /tmp/x\npod-cidr: not-a-cidr\n")
	_, _, err := run(t, "", "agent", "--config", path)
	if err == nil || !strings.Contains(err.Error(), `--pod-cidr: "not-a-cidr" is not a CIDR`) {
		t.Fatalf("got %v, want the file's pod-cidr refused", err)
	}
	_, _, err = run(t, "", "agent", "--config", path, "--pod-cidr", "10.1.0.0/16", "--service-cidr", "bad")
	if err == nil || !strings.Contains(err.Error(), `--service-cidr: "bad"`) {
		t.Fatalf("got %v, want the command line's pod-cidr used", err)
	}
	path = agentFile(t, "agent.yaml", "data-dir: /tmp/x\nbogus: 1\n")
	_, _, err = run(t, "", "agent", "--config", path)
	if err == nil || !strings.Contains(err.Error(), path+`:2: unknown key "bogus"`) {
		t.Fatalf("got %v", err)
	}
}

// TestConfigFlagShadowing checks how cobra resolves `--config`: under
// `berth agent` (and `agent purge`) the command's own flag takes it, in
// whatever position; every other command keeps the global one, the
// client's credentials.
func TestConfigFlagShadowing(t *testing.T) {
	for _, args := range [][]string{
		{"agent", "--config", "a.yaml"},
		{"--config", "a.yaml", "agent"},
		{"agent", "purge", "--config", "a.yaml"},
	} {
		cmd := parsedCmd(t, args...)
		if cmd.LocalFlags().Lookup("config") == nil {
			t.Fatalf("%v: %s has no --config of its own", args, cmd.CommandPath())
		}
		if got := flagText(t, cmd, "config"); got != "a.yaml" {
			t.Errorf("%v: %s --config = %q", args, cmd.CommandPath(), got)
		}
		if got := cmd.Root().PersistentFlags().Lookup("config").Value.String(); got != "" {
			t.Errorf("%v: the global --config took %q", args, got)
		}
	}
	cmd := parsedCmd(t, "get", "--config", "creds.json")
	if got := configPath(cmd); got != "creds.json" {
		t.Errorf("berth get --config: credentials from %q", got)
	}
}

func TestAgentPurgeReadsAgentConfig(t *testing.T) {
	path := agentFile(t, "agent.yaml", "server: true\nname: s1\ndata-dir: /var/lib/b\ncontainerd-namespace: ns1\nlabel: [a=b]\n")
	cmd := parsedCmd(t, "agent", "purge", "--config", path, "--name", "s9")
	if err := applyAgentConfig(cmd, path, func(k string) bool { return k == "server" || k == "label" }); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"name": "s9", "data-dir": "/var/lib/b", "containerd-namespace": "ns1"} {
		if got := flagText(t, cmd, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// Through the command: the agent's keys pass, others do not.
	path = agentFile(t, "agent.yaml", "server: true\nbogus: 1\n")
	_, _, err := run(t, "", "agent", "purge", "--config", path)
	if err == nil || !strings.Contains(err.Error(), path+`:2: unknown key "bogus"`) {
		t.Fatalf("got %v", err)
	}
}

// envAgentArgs makes TestAgentProcess run the berth command with these
// arguments (a JSON list) in a process of its own.
const envAgentArgs = "BERTH_TEST_AGENT_ARGS"

// TestAgentProcess is not a test: it is the berth binary for
// TestAgentDevWithConfig, which starts this test binary again with
// envAgentArgs set.
func TestAgentProcess(t *testing.T) {
	args := os.Getenv(envAgentArgs)
	if args == "" {
		return
	}
	var list []string
	if err := json.Unmarshal([]byte(args), &list); err != nil {
		t.Fatal(err)
	}
	root := newRootCmd()
	root.SetArgs(list)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestAgentDevWithConfig runs `berth agent --dev --config FILE` for real:
// the agent takes its data dir and ports from the file, and writes the
// CLI's credentials where the CLI reads them ($BERTH_CONFIG), not over
// the file.
func TestAgentDevWithConfig(t *testing.T) {
	dir := t.TempDir()
	api, raft, gossip := freePort(t), freePort(t), freePort(t)
	text := fmt.Sprintf("data-dir: %s\napi-port: %d\nraft-port: %d\ngossip-port: %d\nhttp-port: 0\n"+
		"containerd-socket: \"\"\ningress-http-port: 0\ningress-https-port: 0\nlog-level: warn\n",
		filepath.Join(dir, "data"), api, raft, gossip)
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(dir, "client", "config")
	cmd := exec.Command(os.Args[0], "-test.run=^TestAgentProcess$")
	args, _ := json.Marshal([]string{"agent", "--dev", "--config", path})
	cmd.Env = append(os.Environ(), envAgentArgs+"="+string(args),
		"BERTH_CONFIG="+creds, "HOME="+dir)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	var cfg *client.Config
	for {
		var err error
		if cfg, err = client.LoadConfig(creds); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the agent exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no client credentials within 60s")
		}
	}
	if want := []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(api))}; !slices.Equal(cfg.Servers, want) || cfg.Token == "" || cfg.Cert == "" {
		t.Errorf("credentials name servers %v (want %v), token set %v, certificate set %v", cfg.Servers, want, cfg.Token != "", cfg.Cert != "")
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != text {
		t.Errorf("the agent's file changed: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		t.Errorf("data dir of the file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".berth", "config")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("~/.berth/config written, though BERTH_CONFIG names another: %v", err)
	}
	if !strings.Contains(logs.String(), "admin credentials for the CLI written to "+creds) {
		t.Error("the log does not say where the credentials went")
	}
	// The CLI finds the agent through those credentials.
	t.Setenv("BERTH_CONFIG", creds)
	t.Setenv("BERTH_ADDR", "")
	if out, _, err := run(t, "", "raft", "leader"); err != nil || !strings.Contains(out, net.JoinHostPort("127.0.0.1", strconv.Itoa(api))) {
		t.Errorf("berth raft leader with the --dev credentials: %q, %v", out, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("the agent ended with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("the agent still runs 30s after SIGTERM")
	}
}

// freePort is a TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestAgentConfigExample reads deploy/agent.yaml.example as it is, and
// with every commented-out key in (the first of each name): each is a
// flag of the agent and its value one the flag takes.
func TestAgentConfigExample(t *testing.T) {
	const example = "../../deploy/agent.yaml.example"
	raw, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	if err := applyAgentConfig(parsedCmd(t, "agent"), example, nil); err != nil {
		t.Fatalf("as it is: %v", err)
	}
	keyRE := regexp.MustCompile(`^# ([a-z][a-z-]*): `)
	var all []string
	seen := map[string]bool{}
	for line := range strings.Lines(string(raw)) {
		if m := keyRE.FindStringSubmatch(line); m != nil && !seen[m[1]] {
			seen[m[1]] = true
			line = line[2:]
		}
		all = append(all, line)
	}
	if len(seen) < 10 {
		t.Fatalf("only %d commented-out keys found: %v", len(seen), seen)
	}
	path := agentFile(t, "agent.yaml", strings.Join(all, ""))
	if err := applyAgentConfig(parsedCmd(t, "agent"), path, nil); err != nil {
		t.Fatalf("with every key: %v", err)
	}
}
