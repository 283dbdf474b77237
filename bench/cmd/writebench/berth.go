package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/testcreds"
)

// berthSystem is a Berth cluster of bin. plain says bin is the benchmark
// build without TLS, ACLs and Secret encryption (-tags benchplain): its
// clients connect in clear. secrets makes the puts write Secrets (sealed
// by the normal build) instead of ConfigMaps.
func berthSystem(name, bin string, plain, secrets bool) system {
	return system{
		name: name,
		start: func(ctx context.Context, dir string) (*cluster, error) {
			return startBerth(ctx, bin, filepath.Join(dir, name), plain)
		},
		newPutter: func(c *cluster, i int) (putFunc, func(), error) {
			return berthPutter(c, i, secrets)
		},
	}
}

// startBerth starts three servers that bootstrap together, as
// internal/testcluster does, and waits until every one knows a leader.
func startBerth(ctx context.Context, bin, dir string, plain bool) (*cluster, error) {
	ports, err := freePorts(9)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	creds, err := testcreds.New(dir)
	if err != nil {
		return nil, err
	}
	c := &cluster{creds: creds, plain: plain}
	for i := range 3 {
		c.addrs = append(c.addrs, "127.0.0.1:"+strconv.Itoa(ports[3*i]))
	}
	for i := range 3 {
		name := fmt.Sprintf("s%d", i+1)
		args := []string{"agent", "--server", "--name", name, "--data-dir", filepath.Join(dir, "berth-"+name),
			"--bind", "127.0.0.1",
			"--api-port", strconv.Itoa(ports[3*i]), "--raft-port", strconv.Itoa(ports[3*i+1]),
			"--gossip-port", strconv.Itoa(ports[3*i+2]), "--http-port", "0",
			"--bootstrap-expect", "3", "--join", strings.Join(c.addrs, ","), "--log-level", "warn",
			"--ca-cert", creds.CACert, "--ca-key", creds.CAKey, "--bootstrap-token", creds.Token,
			"--keyring-file", filepath.Join(dir, "berth-"+name+".keyring")}
		// Extra flags for a look inside, e.g. "--cpu-profile {dir}/{name}.prof".
		args = append(args, strings.Fields(strings.NewReplacer("{name}", name, "{dir}", dir).Replace(os.Getenv("WRITEBENCH_BERTH_ARGS")))...)
		p, err := startProc("berth "+name, filepath.Join(dir, "berth-"+name+".log"), bin, args...)
		if err != nil {
			c.stop()
			return nil, err
		}
		c.procs = append(c.procs, p)
	}
	if err := waitBerthLeader(ctx, c); err != nil {
		c.dumpLogs(stderr)
		c.stop()
		return nil, err
	}
	return c, nil
}

func waitBerthLeader(ctx context.Context, c *cluster) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, addr := range c.addrs {
		cl, err := c.berthClient([]string{addr}, client.WithAttemptTimeout(time.Second))
		if err != nil {
			return err
		}
		err = poll(ctx, c, func() bool {
			info, err := cl.Info(ctx)
			return err == nil && info.LeaderID != ""
		})
		cl.Close()
		if err != nil {
			return fmt.Errorf("waiting for %s to know a leader: %w", addr, err)
		}
	}
	return nil
}

// poll calls ok every 100 ms until it returns true, the context ends or a
// process exits.
func poll(ctx context.Context, c *cluster, ok func() bool) error {
	for !ok() {
		if err := c.checkAlive(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// berthPutter returns client i: its own client whose first server is
// server i mod 3 (the others are its fallbacks), so that the clients spread
// over the servers round robin.
func berthPutter(c *cluster, i int, secrets bool) (putFunc, func(), error) {
	n := len(c.addrs)
	addrs := make([]string, n)
	for j := range n {
		addrs[j] = c.addrs[(i+j)%n]
	}
	cl, err := c.berthClient(addrs)
	if err != nil {
		return nil, nil, err
	}
	put := func(ctx context.Context, key, value string) error {
		var obj api.Object = &api.ConfigMap{
			Metadata: api.ObjectMeta{Name: key, Namespace: "default"},
			Data:     map[string]string{"v": value},
		}
		if secrets {
			obj = &api.Secret{
				Metadata: api.ObjectMeta{Name: key, Namespace: "default"},
				Data:     map[string][]byte{"v": []byte(value)},
			}
		}
		api.Default(obj)
		_, err := cl.Apply(ctx, obj)
		return err
	}
	return put, func() { cl.Close() }, nil
}

// berthClient is a client of the cluster: with the admin's credentials, or
// in clear for the build with security off.
func (c *cluster) berthClient(addrs []string, opts ...client.Option) (*client.Client, error) {
	if c.plain {
		return client.New(addrs, opts...)
	}
	return c.creds.Client(addrs, opts...)
}
