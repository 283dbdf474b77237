package main

import (
	"github.com/berth-dev/berth/internal/testcreds"

	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cluster is three server processes of one system and the addresses its
// clients use.
type cluster struct {
	creds *testcreds.Creds // Berth's CA and admin credentials
	plain bool             // Berth built with security off: clients in clear
	addrs []string         // client addresses, one per server
	procs []*proc
}

// proc is one server process; it dies with this program (Pdeathsig).
type proc struct {
	name, logPath string
	cmd           *exec.Cmd
	done          chan struct{}
}

func startProc(name, logPath, bin string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process with SIGTERM, then SIGKILL after a grace period.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// stop stops every process of the cluster.
func (c *cluster) stop() {
	for _, p := range c.procs {
		p.stop()
	}
}

// checkAlive returns an error if a process has ended.
func (c *cluster) checkAlive() error {
	for _, p := range c.procs {
		if p.exited() {
			return fmt.Errorf("%s exited (%v)", p.name, p.cmd.ProcessState)
		}
	}
	return nil
}

// dumpLogs writes the end of every process's log to w.
func (c *cluster) dumpLogs(w io.Writer) {
	for _, p := range c.procs {
		b, err := os.ReadFile(p.logPath)
		if err != nil {
			continue
		}
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		fmt.Fprintf(w, "--- log of %s ---\n%s\n", p.name, b)
	}
}

// cpuTicks returns the user+system CPU clock ticks used so far by all the
// cluster's processes.
func (c *cluster) cpuTicks() int64 {
	var sum int64
	for _, p := range c.procs {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "stat"))
		if err != nil {
			continue
		}
		// Fields after the ")" that closes the command name: state is
		// field 3, utime 14 and stime 15.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		sum += u + s
	}
	return sum
}

// clockTicks is USER_HZ, 100 on every Linux platform Go supports.
const clockTicks = 100

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
