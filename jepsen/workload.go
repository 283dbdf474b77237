package jepsen

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
)

// env is what every workload of a run shares.
type env struct {
	c    *Cluster
	h    *History
	seed int64
	logf func(format string, args ...any)
	// stale makes the register's reads stale (the negative control).
	stale bool
	// perServer is how many client workers each workload runs per server.
	perServer int
}

// opTimeout bounds one operation, retries included: an operation that
// does not finish in time is Unknown.
const opTimeout = 2 * time.Second

// outcome sorts an error: nil is OK; an answer that says for certain the
// operation did not happen is Fail; anything else (a timeout, no leader, a
// broken connection) is Unknown.
func outcome(err error) Outcome {
	switch {
	case err == nil:
		return OK
	case client.IsConflict(err), client.IsAlreadyExists(err), client.IsNotFound(err), client.IsInvalid(err):
		return Fail
	}
	return Unknown
}

// errText is err's message, or "".
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// workers runs n workers until ctx ends; worker i gets a client bound to
// server i mod len(servers) (one address only, as Jepsen binds each
// client to a node) and a random source drawn from the run's seed.
func (e *env) workers(ctx context.Context, n int, salt uint64, work func(ctx context.Context, id int, node string, cl *client.Client, rng *rand.Rand)) {
	var wg sync.WaitGroup
	for i := range n {
		s := e.c.Servers[i%len(e.c.Servers)]
		cl, err := e.c.Client([]string{s.APIAddr()}, client.WithTimeout(opTimeout),
			client.WithAttemptTimeout(time.Second), client.WithUnreachableTimeout(time.Second))
		if err != nil {
			panic(err) // one address is never refused
		}
		wg.Go(func() {
			defer cl.Close()
			work(ctx, i, s.Name, cl, newRand(e.seed, salt<<32|uint64(i)))
		})
	}
	wg.Wait()
}

// pace waits a little between a worker's operations.
func pace(ctx context.Context, rng *rand.Rand) bool {
	return sleepCtx(ctx, time.Duration(5+rng.IntN(15))*time.Millisecond)
}

// labelled returns a ConfigMap of the run's in namespace default.
func labelled(name, workload string, data map[string]string) *api.ConfigMap {
	cm := &api.ConfigMap{Metadata: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"jepsen": workload}}, Data: data}
	api.Default(cm)
	return cm
}
