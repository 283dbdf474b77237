package scheduler

import (
	"bytes"
	"maps"

	"github.com/berth-dev/berth/api"
)

// cycle is one call of Schedule.
//
// Pods with equal keys share a run: the feasible nodes a scan found for
// the first, kept in a heap by score. A placement changes only its node,
// so before a run's next pick the nodes placed on since its last pick
// are re-checked and re-scored; the other candidates stand, and a node
// found unfit stays unfit, since placements only take room. A few runs
// are kept at once, as the order interleaves pods of several keys.
type cycle struct {
	stack  *stack
	nodes  []nodeState
	pods   []podInfo
	order  []int32 // indexes into pods, in the order they are placed
	plan   *Plan
	toFind int // feasible nodes a scan looks for
	start  int // where binpack scans start: the same place each time, which packs
	next   int // where the next spread scan starts: rotating, as in Kubernetes
	// keep says to keep every placement in nodeState.added: some pod of
	// the batch has anti-affinity terms, which may select it.
	keep bool
	log  []int32  // the nodes placed on, in plan order
	runs []*run   // the runs kept, at most maxRuns
	tick int      // counts schedule calls, to find the least recently used run
	why  []string // scratch for explain
}

// maxRuns is how many runs a cycle keeps.
const maxRuns = 8

// run is the state shared by pods with one key.
type run struct {
	key      []byte
	cands    candHeap // feasible nodes found by the run's scans
	scanned  int      // nodes the run's scans have looked at
	start    int      // where its scans start
	seen     int      // len(cycle.log) when cands were last brought up to date
	failed   map[string]int
	failedAt int // len(cycle.log) when the run's last pod failed
	used     int // cycle.tick when last used
}

func newCycle(s *Scheduler, snap *Snapshot, pods []*api.Pod) *cycle {
	n := len(snap.Nodes)
	c := &cycle{stack: s.stack, nodes: make([]nodeState, n), plan: &Plan{}}
	for i := range snap.Nodes {
		ns := &c.nodes[i]
		ns.node, ns.base = snap.Nodes[i].Node, snap.Nodes[i].Usage
		ns.alloc, ns.used = ns.node.Allocatable(), ns.base.Total()
	}
	c.pods = make([]podInfo, 0, len(pods))
	for _, p := range pods {
		if p == nil || p.Spec.NodeName != "" {
			continue
		}
		c.pods = append(c.pods, newPodInfo(p))
		c.keep = c.keep || c.pods[len(c.pods)-1].anti
	}
	classify(c.pods, n)
	c.order = order(c.pods, c.nodes)
	c.plan.Placements = make([]Placement, 0, len(c.pods))
	c.toFind = s.nodesToFind(n)
	if n > 0 {
		c.start = int(mix(uint64(s.opts.Seed)) % uint64(n))
	}
	c.next = c.start
	return c
}

// schedule places one pod, or records why it fits nowhere.
func (c *cycle) schedule(p *podInfo) {
	r := c.runFor(p)
	if r.failed != nil && r.failedAt == len(c.log) {
		c.fail(p, maps.Clone(r.failed))
		return
	}
	i := c.pick(r, p)
	if i < 0 {
		r.failed, r.failedAt = c.explain(p), len(c.log)
		c.fail(p, maps.Clone(r.failed))
		return
	}
	c.place(i, p)
}

// runFor returns p's run, brought up to date, or a new one in place of
// the least recently used.
func (c *cycle) runFor(p *podInfo) *run {
	c.tick++
	var r *run
	for _, x := range c.runs {
		if bytes.Equal(x.key, p.key) {
			r = x
			break
		}
	}
	if r != nil {
		c.catchUp(r, p)
		r.used = c.tick
		return r
	}
	if len(c.runs) < maxRuns {
		r = &run{}
		c.runs = append(c.runs, r)
	} else {
		r = c.runs[0]
		for _, x := range c.runs[1:] {
			if x.used < r.used {
				r = x
			}
		}
	}
	r.cands.reset(len(c.nodes))
	r.key, r.scanned, r.seen, r.failed, r.used = p.key, 0, len(c.log), nil, c.tick
	r.start = c.start
	if p.spread {
		r.start = c.next
	}
	return r
}

// catchUp re-checks the run's candidates placed on since it last looked.
func (c *cycle) catchUp(r *run, p *podInfo) {
	for _, i := range c.log[r.seen:] {
		at := r.cands.pos[i]
		if at < 0 {
			continue
		}
		if c.fits(int(i), p) {
			r.cands.c[at].score = c.score(int(i), p)
			r.cands.fix(int(at))
		} else {
			r.cands.remove(int(at))
		}
	}
	r.seen = len(c.log)
}

// pick returns the best feasible node for p, or -1 when none fits.
func (c *cycle) pick(r *run, p *podInfo) int {
	for len(r.cands.c) == 0 {
		if r.scanned == len(c.nodes) {
			return -1
		}
		c.scan(r, p)
	}
	return int(r.cands.c[0].node)
}

// scan goes on round the nodes from where the run's last scan stopped
// until it has found toFind feasible nodes or seen every node.
func (c *cycle) scan(r *run, p *podInfo) {
	n := len(c.nodes)
	for found := 0; r.scanned < n && found < c.toFind; {
		i := r.start + r.scanned
		if i >= n {
			i -= n
		}
		r.scanned++
		if c.fits(i, p) {
			r.cands.add(cand{score: c.score(i, p), node: int32(i)})
			found++
		}
	}
	if p.spread {
		c.next = (r.start + r.scanned) % n
	}
	r.cands.init()
}

// fits reports whether node i can take p now.
func (c *cycle) fits(i int, p *podInfo) bool {
	switch p.class.verdict[i] {
	case -1:
		return false
	case 0:
		if !c.staticFits(i, p) {
			return false
		}
	}
	n := &c.nodes[i]
	for _, f := range c.stack.dynamic {
		if !f.feasible(n, p, nil) {
			return false
		}
	}
	return true
}

// staticFits runs the static stages on node i for p's class and memoises
// the outcome.
func (c *cycle) staticFits(i int, p *podInfo) bool {
	n := &c.nodes[i]
	for _, f := range c.stack.static {
		if !f.feasible(n, p, nil) {
			p.class.verdict[i] = -1
			return false
		}
	}
	var bonus int64
	for _, s := range c.stack.staticScore {
		bonus += s.score(n, p)
	}
	p.class.verdict[i], p.class.bonus[i] = 1, bonus
	return true
}

// score rates node i, which fits p.
func (c *cycle) score(i int, p *podInfo) int64 {
	n := &c.nodes[i]
	s := p.class.bonus[i]
	for _, sc := range c.stack.dynamicScore {
		s += sc.score(n, p)
	}
	return s
}

// place binds p to node i, giving it the lowest free GPUs.
func (c *cycle) place(i int, p *podInfo) {
	n := &c.nodes[i]
	var gpus []string
	if k := int(p.req.GPU); k > 0 {
		free := n.freeGPUs()
		gpus, n.gpus = free[:k:k], free[k:]
	}
	n.used = n.used.Add(p.req)
	n.added.Requested = n.added.Requested.Add(p.req)
	if c.keep || len(p.ports) > 0 {
		bound := *p.pod
		bound.Spec.NodeName = n.node.Metadata.Name
		bound.Spec.AssignedGPUs = gpus
		u := api.UsageOf(&bound)
		n.added.Pods = append(n.added.Pods, u)
		n.addedPorts = n.addedPorts || len(u.Ports) > 0
		n.addedAnti = n.addedAnti || len(u.AntiAffinity) > 0
	}
	c.log = append(c.log, int32(i))
	c.plan.Placements = append(c.plan.Placements, Placement{
		Namespace: p.pod.Metadata.Namespace, Name: p.pod.Metadata.Name,
		Node: n.node.Metadata.Name, GPUs: gpus,
	})
}

func (c *cycle) fail(p *podInfo, reasons map[string]int) {
	c.plan.Failures = append(c.plan.Failures, Failure{
		Namespace: p.pod.Metadata.Namespace, Name: p.pod.Metadata.Name,
		Message: FailureMessage(len(c.nodes), reasons), Reasons: reasons,
	})
}

// explain counts, over every node, the reasons it cannot take p.
func (c *cycle) explain(p *podInfo) map[string]int {
	reasons := map[string]int{}
	for i := range c.nodes {
		c.why = c.reasons(i, p, c.why[:0])
		for _, r := range c.why {
			reasons[r]++
		}
	}
	return reasons
}

// reasons appends to why the reasons node i cannot take p now: those of
// the first stage that fails, as api.CheckFit gives them; none when it fits.
func (c *cycle) reasons(i int, p *podInfo, why []string) []string {
	n := &c.nodes[i]
	for _, f := range c.stack.static {
		if !f.feasible(n, p, &why) {
			return why
		}
	}
	for _, f := range c.stack.dynamic {
		if !f.feasible(n, p, &why) {
			return why
		}
	}
	return why
}
