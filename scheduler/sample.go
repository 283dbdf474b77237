package scheduler

// nodesToFind returns how many feasible nodes a scan looks for among n:
// Kubernetes' numFeasibleNodesToFind.
func (s *Scheduler) nodesToFind(n int) int {
	pct := s.opts.PercentageOfNodesToScore
	if n < s.minNodes || pct >= 100 || pct < 0 {
		return n
	}
	if pct == 0 {
		pct = max(50-n/125, 5)
	}
	return max(n*pct/100, s.minNodes)
}

// mix is SplitMix64's finaliser: a seed to a well spread number.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// cand is a feasible node and its score.
type cand struct {
	score int64
	node  int32
}

// candHeap keeps the best candidate first: the highest score, then the
// lowest node index (the first name). It knows where each node is, so
// that a node whose usage changed can be re-scored or dropped.
type candHeap struct {
	c   []cand
	pos []int32 // node index -> index in c, -1 when absent
}

// reset empties the heap, for a cluster of n nodes.
func (h *candHeap) reset(n int) {
	if len(h.pos) != n {
		h.pos = make([]int32, n)
		for i := range h.pos {
			h.pos[i] = -1
		}
	} else {
		for _, x := range h.c {
			h.pos[x.node] = -1
		}
	}
	h.c = h.c[:0]
}

// add appends a candidate; init must follow before the heap is read.
func (h *candHeap) add(x cand) {
	h.pos[x.node] = int32(len(h.c))
	h.c = append(h.c, x)
}

func (h *candHeap) init() {
	for i := len(h.c)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *candHeap) before(i, j int) bool {
	a, b := h.c[i], h.c[j]
	return a.score > b.score || a.score == b.score && a.node < b.node
}

func (h *candHeap) swap(i, j int) {
	h.c[i], h.c[j] = h.c[j], h.c[i]
	h.pos[h.c[i].node] = int32(i)
	h.pos[h.c[j].node] = int32(j)
}

func (h *candHeap) up(i int) bool {
	moved := false
	for i > 0 {
		parent := (i - 1) / 2
		if !h.before(i, parent) {
			break
		}
		h.swap(i, parent)
		i, moved = parent, true
	}
	return moved
}

func (h *candHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h.c) {
			return
		}
		j := l
		if r := l + 1; r < len(h.c) && h.before(r, l) {
			j = r
		}
		if !h.before(j, i) {
			return
		}
		h.swap(i, j)
		i = j
	}
}

// fix restores the order after c[i] changed.
func (h *candHeap) fix(i int) {
	if !h.up(i) {
		h.down(i)
	}
}

// remove drops c[i].
func (h *candHeap) remove(i int) {
	last := len(h.c) - 1
	if i != last {
		h.swap(i, last)
	}
	h.pos[h.c[last].node] = -1
	h.c = h.c[:last]
	if i < last {
		h.fix(i)
	}
}
