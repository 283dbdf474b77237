package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func etcdSystem(bin string) system {
	return system{
		name:      "etcd",
		start:     func(ctx context.Context, dir string) (*cluster, error) { return startEtcd(ctx, bin, dir) },
		newPutter: etcdPutter,
	}
}

// startEtcd starts a 3-member etcd cluster and waits until every member
// answers and knows a leader.
func startEtcd(ctx context.Context, bin, dir string) (*cluster, error) {
	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	c := &cluster{}
	var initial []string
	for i := range 3 {
		c.addrs = append(c.addrs, "127.0.0.1:"+strconv.Itoa(ports[2*i]))
		initial = append(initial, fmt.Sprintf("e%d=http://127.0.0.1:%d", i+1, ports[2*i+1]))
	}
	for i := range 3 {
		name := fmt.Sprintf("e%d", i+1)
		client := "http://" + c.addrs[i]
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])
		p, err := startProc("etcd "+name, filepath.Join(dir, "etcd-"+name+".log"), bin,
			"--name", name, "--data-dir", filepath.Join(dir, "etcd-"+name),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new", "--initial-cluster-token", "bench",
			"--logger", "zap", "--log-level", "warn")
		if err != nil {
			c.stop()
			return nil, err
		}
		c.procs = append(c.procs, p)
	}
	if err := waitEtcdLeader(ctx, c); err != nil {
		c.dumpLogs(stderr)
		c.stop()
		return nil, err
	}
	return c, nil
}

func waitEtcdLeader(ctx context.Context, c *cluster) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, addr := range c.addrs {
		cl, err := newEtcdClient(addr)
		if err != nil {
			return err
		}
		err = poll(ctx, c, func() bool {
			sctx, scancel := context.WithTimeout(ctx, time.Second)
			defer scancel()
			st, err := cl.Status(sctx, addr)
			return err == nil && st.Leader != 0
		})
		cl.Close()
		if err != nil {
			return fmt.Errorf("waiting for %s to know a leader: %w", addr, err)
		}
	}
	return nil
}

func newEtcdClient(addr string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   []string{addr},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
}

// etcdPutter returns client i: its own client of member i mod 3, so that
// the clients spread over the members round robin.
func etcdPutter(c *cluster, i int) (putFunc, func(), error) {
	cl, err := newEtcdClient(c.addrs[i%len(c.addrs)])
	if err != nil {
		return nil, nil, err
	}
	put := func(ctx context.Context, key, value string) error {
		_, err := cl.Put(ctx, key, value)
		return err
	}
	return put, func() { cl.Close() }, nil
}
