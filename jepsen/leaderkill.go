package jepsen

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/berth-dev/berth/client"
)

// LeaderKill measures failover: on one cluster of the given size it kills
// the leader with SIGKILL, times how long until a write through a
// surviving server is acknowledged (a new leader that accepts writes),
// starts the old leader again, waits until the cluster is whole, and
// repeats. It returns the time of each trial.
func LeaderKill(ctx context.Context, bin, dir string, servers, trials int, logf func(string, ...any)) ([]time.Duration, error) {
	c, err := StartCluster(ctx, bin, filepath.Join(dir, "nodes"), servers)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var times []time.Duration
	for i := range trials {
		if err := c.WaitHealthy(ctx, 60*time.Second); err != nil {
			return times, fmt.Errorf("trial %d: %w", i+1, err)
		}
		leader := c.Leader(ctx)
		if leader == nil {
			return times, fmt.Errorf("trial %d: no leader", i+1)
		}
		killed := time.Now()
		leader.Kill()
		took, err := firstWrite(ctx, c, leader, i)
		if err != nil {
			return times, fmt.Errorf("trial %d: %w", i+1, err)
		}
		times = append(times, took.Sub(killed))
		if logf != nil {
			logf("leader kill %d/%d: %s killed, a write acknowledged after %v", i+1, trials, leader.Name, took.Sub(killed).Round(time.Millisecond))
		}
		if err := leader.Start(); err != nil {
			return times, err
		}
	}
	return times, nil
}

// firstWrite writes through every server but the dead one, each again and
// again, until one write is acknowledged, and returns when that was.
func firstWrite(ctx context.Context, c *Cluster, dead *Server, trial int) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	won := make(chan time.Time, len(c.Servers))
	for _, s := range c.Servers {
		if s == dead {
			continue
		}
		go func() {
			cl, _ := c.Client([]string{s.APIAddr()}, client.WithAttemptTimeout(250*time.Millisecond), client.WithUnreachableTimeout(time.Second))
			defer cl.Close()
			for ctx.Err() == nil {
				wctx, wcancel := context.WithTimeout(ctx, 250*time.Millisecond)
				_, err := cl.Apply(wctx, labelled(fmt.Sprintf("failover-%d-%s", trial, s.Name), "failover", nil))
				wcancel()
				if err == nil {
					won <- time.Now()
					return
				}
				sleepCtx(ctx, 5*time.Millisecond)
			}
		}()
	}
	select {
	case t := <-won:
		return t, nil
	case <-ctx.Done():
		return time.Time{}, fmt.Errorf("no write acknowledged within 30 s of killing %s", dead.Name)
	}
}
