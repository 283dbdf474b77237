package e2e

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/testcluster"
)

// A register is one ConfigMap's value and resourceVersion. Reads, writes
// and compare-and-set (an update naming a resourceVersion) go through
// different servers while the leader is killed and restarted; Porcupine
// checks that the history is linearizable.

type regState struct {
	value string
	rv    uint64 // 0: not known (after a write whose answer was lost)
}

type regIn struct {
	op     string // read, write, cas
	value  string
	expect uint64
}

type regOut struct {
	unknown  bool // the answer was lost: it may or may not have happened
	conflict bool // a cas whose resourceVersion was stale
	value    string
	rv       uint64
}

var registerModel = porcupine.Model{
	Init: func() interface{} { return regState{value: "init"} },
	Step: func(st, in, out interface{}) (bool, interface{}) {
		s, i, o := st.(regState), in.(regIn), out.(regOut)
		rvMatches := func(rv uint64) bool { return s.rv == 0 || s.rv == rv }
		switch i.op {
		case "read":
			if o.unknown {
				return true, s
			}
			return o.value == s.value && rvMatches(o.rv), regState{value: o.value, rv: o.rv}
		case "write":
			if o.unknown {
				return true, regState{value: i.value}
			}
			return s.rv == 0 || o.rv > s.rv, regState{value: i.value, rv: o.rv}
		case "cas":
			switch {
			case o.unknown:
				if rvMatches(i.expect) {
					return true, regState{value: i.value}
				}
				return true, s
			case o.conflict:
				return s.rv == 0 || s.rv != i.expect, s
			default:
				return rvMatches(i.expect) && (s.rv == 0 || o.rv > s.rv), regState{value: i.value, rv: o.rv}
			}
		}
		return false, s
	},
	DescribeOperation: func(in, out interface{}) string { return fmt.Sprintf("%+v -> %+v", in, out) },
}

func TestRegisterLinearizable(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Servers: 3})
	ctx := ctxT(t, 120*time.Second)
	setup := c.Client(t)
	res := mustApply(t, ctx, setup, configMap("register", map[string]string{"v": "init"}))
	initRV, _ := strconv.ParseUint(res[0].Object.GetObjectMeta().ResourceVersion, 10, 64)
	model := registerModel
	model.Init = func() interface{} { return regState{value: "init", rv: initRV} }

	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	var mu sync.Mutex
	var history []porcupine.Operation
	record := func(id int, in regIn, call int64, out regOut) {
		ret := now()
		if out.unknown {
			ret = math.MaxInt64
		}
		mu.Lock()
		history = append(history, porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out, Return: ret})
		mu.Unlock()
	}

	const clients, opsEach = 6, 120
	var wg sync.WaitGroup
	for id := 0; id < clients; id++ {
		// Even clients know every server (and follow the leader); odd ones
		// talk to one server only, so reads run on followers too.
		var cl *client.Client
		if id%2 == 0 {
			cl = c.Client(t, client.WithTimeout(20*time.Second))
		} else {
			cl = c.Nodes[id%3].Client(t, client.WithTimeout(20*time.Second))
		}
		wg.Add(1)
		go func(id int, cl *client.Client, rng *rand.Rand) {
			defer wg.Done()
			var lastRV uint64 = initRV
			for i := 0; i < opsEach && ctx.Err() == nil; i++ {
				opCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
				call := now()
				switch rng.Intn(3) {
				case 0:
					in := regIn{op: "read"}
					obj, err := cl.Get(opCtx, "ConfigMap", "default", "register")
					if err != nil {
						record(id, in, call, regOut{unknown: true})
					} else {
						cm := obj.(*api.ConfigMap)
						rv, _ := strconv.ParseUint(cm.Metadata.ResourceVersion, 10, 64)
						lastRV = rv
						record(id, in, call, regOut{value: cm.Data["v"], rv: rv})
					}
				case 1:
					in := regIn{op: "write", value: fmt.Sprintf("w%d-%d", id, i)}
					out := regOut{unknown: true}
					if r, err := cl.Apply(opCtx, configMap("register", map[string]string{"v": in.value})); err == nil {
						out = regOut{rv: r[0].Revision}
					}
					record(id, in, call, out)
				case 2:
					in := regIn{op: "cas", value: fmt.Sprintf("c%d-%d", id, i), expect: lastRV}
					obj := configMap("register", map[string]string{"v": in.value})
					obj.Metadata.ResourceVersion = strconv.FormatUint(lastRV, 10)
					out := regOut{unknown: true}
					r, err := cl.Update(opCtx, obj)
					switch {
					case err == nil:
						out = regOut{rv: r[0].Revision}
					case client.IsConflict(err):
						out = regOut{conflict: true}
					}
					record(id, in, call, out)
				}
				cancel()
			}
		}(id, cl, rand.New(rand.NewSource(int64(id))))
	}

	// The nemesis: kill the leader mid-run, bring it back.
	time.Sleep(700 * time.Millisecond)
	leader := c.WaitLeader(t)
	leader.Kill(t)
	time.Sleep(time.Second)
	leader.Start(t)
	wg.Wait()

	unknown := 0
	for _, op := range history {
		if op.Output.(regOut).unknown {
			unknown++
		}
	}
	t.Logf("%d operations, %d with a lost answer", len(history), unknown)
	if unknown > len(history)/4 {
		t.Fatalf("%d of %d operations failed: the cluster was unavailable too long", unknown, len(history))
	}
	switch porcupine.CheckOperationsTimeout(model, history, 60*time.Second) {
	case porcupine.Ok:
	case porcupine.Illegal:
		t.Fatal("the history is not linearizable")
	default:
		t.Fatal("the linearizability check did not finish in 60 s")
	}
}
