package jepsen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/client"
)

// The nemeses: each injects one kind of fault, again and again, on a
// seeded schedule. "mixed" draws a kind for every fault;
// "partition-mixed" draws among the partitions.
var (
	Partitions = []string{"partition-halves", "partition-leader", "partition-ring", "partition-bridge", "drop-oneway"}
	Nemeses    = append(slices.Clone(Partitions), "kill-random", "kill-leader", "pause-random", "pause-leader", "restart-all", "membership")
)

// ValidNemesis reports whether kind names a nemesis (or "none", "mixed",
// "partition-mixed").
func ValidNemesis(kind string) bool {
	return kind == "none" || kind == "mixed" || kind == "partition-mixed" || slices.Contains(Nemeses, kind)
}

// Schedule is when faults come and go: each fault lasts between FaultMin
// and FaultMax, with between HealMin and HealMax of calm before it.
type Schedule struct {
	FaultMin, FaultMax time.Duration
	HealMin, HealMax   time.Duration
}

// step is one fault of a schedule, all drawn from the seed before the
// fault: the same seed gives the same steps.
type step struct {
	Calm, Hold time.Duration // before the fault, and its length
	Kind       string
	// Order is a permutation of the servers' indexes: the servers the
	// fault picks, first to last.
	Order []int
	// Coin: a drop-oneway or membership fault takes the leader rather
	// than Order's first.
	Coin bool
}

// plan draws a run's steps from its seed.
type plan struct {
	rng     *rand.Rand
	kind    string
	servers int
	sched   Schedule
}

func newPlan(seed int64, kind string, servers int, sched Schedule) *plan {
	return &plan{rng: newRand(seed, 0), kind: kind, servers: servers, sched: sched}
}

func (p *plan) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(p.rng.Int64N(int64(hi-lo)))
}

func (p *plan) next() step {
	st := step{Calm: p.between(p.sched.HealMin, p.sched.HealMax), Hold: p.between(p.sched.FaultMin, p.sched.FaultMax), Kind: p.kind}
	switch p.kind {
	case "mixed":
		st.Kind = Nemeses[p.rng.IntN(len(Nemeses))]
	case "partition-mixed":
		st.Kind = Partitions[p.rng.IntN(len(Partitions))]
	}
	st.Order = p.rng.Perm(p.servers)
	st.Coin = p.rng.IntN(2) == 0
	return st
}

// nemesis injects faults into a cluster and records them in a history.
type nemesis struct {
	c    *Cluster
	h    *History
	plan *plan
	max  int // faults to inject at most (0: no limit)
	logf func(format string, args ...any)

	// what the fault in force did, for heal
	cut      bool
	killed   []*Server
	paused   []*Server
	replaced *Server // removed from the quorum, to come back empty
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// run injects faults until ctx ends and returns how many it injected; the
// last one is healed before it returns.
func (n *nemesis) run(ctx context.Context) (faults int) {
	if n.plan.kind == "none" {
		<-ctx.Done()
		return 0
	}
	for n.max == 0 || faults < n.max {
		st := n.plan.next()
		if !sleepCtx(ctx, st.Calm) {
			break
		}
		f, err := n.inject(ctx, st)
		if err != nil {
			n.logf("nemesis: %s: %v", st.Kind, err)
		}
		if f == nil {
			continue
		}
		faults++
		i := n.h.Begin(*f)
		n.logf("nemesis: %s %v: %s", f.Kind, f.Targets, f.Desc)
		sleepCtx(ctx, st.Hold)
		if err := n.heal(context.Background()); err != nil {
			n.logf("nemesis: heal after %s: %v", st.Kind, err)
		}
		n.h.End(i)
	}
	return faults
}

// pick returns k servers in the step's order, or the leader first when
// leader is set (and one is known).
func (n *nemesis) pick(ctx context.Context, st step, k int, leader bool) []*Server {
	var all []*Server
	for _, i := range st.Order {
		all = append(all, n.c.Servers[i])
	}
	if leader {
		if l := n.c.Leader(ctx); l != nil {
			i := slices.Index(all, l)
			all[0], all[i] = all[i], all[0]
		}
	}
	return all[:k]
}

func names(ss []*Server) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

// inject starts one fault of the kind; nil when none could be started.
func (n *nemesis) inject(ctx context.Context, st step) (*Fault, error) {
	all := n.c.Servers
	size := len(all)
	kind := st.Kind
	switch kind {
	case "partition-halves":
		s := n.pick(ctx, st, size, false)
		a, b := s[:size/2], s[size/2:]
		return n.partition(kind, fmt.Sprintf("%v | %v", names(a), names(b)), a, [][2][]*Server{{a, b}})
	case "partition-leader":
		s := n.pick(ctx, st, size, true)
		return n.partition(kind, fmt.Sprintf("leader %s cut from %v", s[0].Name, names(s[1:])), s[:1], [][2][]*Server{{s[:1], s[1:]}})
	case "partition-ring":
		// Each server hears only its two neighbours on a ring: with 5
		// servers each sees a majority and no two see the same one. With
		// 3 servers, where everyone neighbours everyone, one link is cut
		// (a bridge).
		s := n.pick(ctx, st, size, false)
		var cuts [][2][]*Server
		for i := range s {
			for j := i + 1; j < len(s); j++ {
				if d := j - i; min(d, size-d) > 1 {
					cuts = append(cuts, [2][]*Server{{s[i]}, {s[j]}})
				}
			}
		}
		if len(cuts) == 0 {
			cuts = [][2][]*Server{{{s[0]}, {s[1]}}}
		}
		return n.partition(kind, "ring "+ringDesc(s, cuts), s, cuts)
	case "partition-bridge":
		// Two halves joined only through one server in both.
		s := n.pick(ctx, st, size, false)
		bridge := s[0]
		rest := s[1:]
		a, b := rest[:len(rest)/2], rest[len(rest)/2:]
		return n.partition(kind, fmt.Sprintf("%v | %v bridged by %s", names(a), names(b), bridge.Name), []*Server{bridge}, [][2][]*Server{{a, b}})
	case "drop-oneway":
		s := n.pick(ctx, st, size, st.Coin)
		t := s[0]
		for _, o := range s[1:] {
			if err := t.host.DropFrom(o.IP()); err != nil {
				return nil, errors.Join(err, n.heal(ctx))
			}
		}
		n.cut = true
		return &Fault{Kind: kind, Targets: []string{t.Name}, Desc: fmt.Sprintf("%s hears no one (%v), they still hear it", t.Name, names(s[1:]))}, nil
	case "kill-random", "kill-leader":
		s := n.pick(ctx, st, 1, kind == "kill-leader")[0]
		s.Kill()
		n.killed = []*Server{s}
		return &Fault{Kind: kind, Targets: []string{s.Name}, Desc: "kill -9 " + s.Name}, nil
	case "pause-random", "pause-leader":
		s := n.pick(ctx, st, 1, kind == "pause-leader")[0]
		if err := s.Pause(); err != nil {
			return nil, err
		}
		n.paused = []*Server{s}
		return &Fault{Kind: kind, Targets: []string{s.Name}, Desc: "SIGSTOP " + s.Name}, nil
	case "restart-all":
		for _, s := range all {
			s.Kill()
		}
		n.killed = slices.Clone(all)
		return &Fault{Kind: kind, Targets: names(all), Desc: "kill -9 of every server, then all start again"}, nil
	case "membership":
		s := n.pick(ctx, st, 1, st.Coin)[0]
		cl, _ := n.c.Client(n.c.Addrs(0), client.WithTimeout(5*time.Second), client.WithAttemptTimeout(2*time.Second))
		defer cl.Close()
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := cl.RemoveServer(rctx, s.Name); err != nil && n.isPeer(rctx, cl, s) {
			// Still a peer: nothing was done.
			return nil, fmt.Errorf("remove %s: %w", s.Name, err)
		}
		s.Kill()
		if err := s.Wipe(); err != nil {
			return nil, err
		}
		n.replaced = s
		return &Fault{Kind: kind, Targets: []string{s.Name}, Desc: fmt.Sprintf("%s removed from the quorum, its data wiped; it joins again empty", s.Name)}, nil
	}
	return nil, fmt.Errorf("unknown nemesis %q", kind)
}

func ringDesc(s []*Server, cuts [][2][]*Server) string {
	var parts []string
	for _, c := range cuts {
		parts = append(parts, c[0][0].Name+"-/-"+c[1][0].Name)
	}
	return fmt.Sprintf("%v, cut %s", names(s), strings.Join(parts, " "))
}

// partition cuts every pair across each of cuts, both ways.
func (n *nemesis) partition(kind, desc string, targets []*Server, cuts [][2][]*Server) (*Fault, error) {
	n.cut = true
	for _, c := range cuts {
		for _, a := range c[0] {
			for _, b := range c[1] {
				if err := errors.Join(a.host.DropFrom(b.IP()), b.host.DropFrom(a.IP())); err != nil {
					return nil, errors.Join(err, n.heal(context.Background()))
				}
			}
		}
	}
	return &Fault{Kind: kind, Targets: names(targets), Desc: desc}, nil
}

// heal undoes the fault in force: the network is whole again, paused
// servers continue, killed ones start, a removed one joins again.
func (n *nemesis) heal(ctx context.Context) error {
	var errs []error
	if n.cut {
		for _, s := range n.c.Servers {
			errs = append(errs, s.host.Heal())
		}
		n.cut = false
	}
	for _, s := range n.paused {
		errs = append(errs, s.Resume())
	}
	n.paused = nil
	for _, s := range n.killed {
		errs = append(errs, s.Start())
	}
	n.killed = nil
	if s := n.replaced; s != nil {
		n.replaced = nil
		// Empty, it joins through the others; never bootstraps.
		s.args = n.c.agentArgs(s, "--join", n.c.joinList())
		errs = append(errs, s.Start())
	}
	return errors.Join(errs...)
}

// newRand is the run's random source for one purpose (salt).
func newRand(seed int64, salt uint64) *rand.Rand { return rand.New(rand.NewPCG(uint64(seed), salt)) }

// isPeer reports whether s is in the Raft configuration (true when that
// cannot be read: the caller then assumes nothing changed).
func (n *nemesis) isPeer(ctx context.Context, cl *client.Client, s *Server) bool {
	peers, err := cl.Peers(ctx)
	if err != nil {
		return true
	}
	return slices.ContainsFunc(peers, func(p client.Peer) bool { return p.ID == s.Name })
}
