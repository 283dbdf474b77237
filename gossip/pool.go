package gossip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Member states, as the pool sees them.
const (
	StateAlive = "alive"
	StateDead  = "dead" // stopped answering probes: crashed, paused or cut off
	StateLeft  = "left" // left gracefully
)

// Config configures a gossip pool.
type Config struct {
	Name     string
	BindAddr string
	Port     int
	// AdvertiseAddr is the address others reach this agent at (BindAddr if
	// empty).
	AdvertiseAddr string
	// Key, 32 bytes, encrypts gossip (AES-256-GCM). Agents with another key
	// cannot join.
	Key []byte
	// Meta is what this agent announces; its Generation is set by the pool.
	Meta      Meta
	Inventory *Inventory

	// Failure detection (memberlist's SWIM with Lifeguard). Defaults are
	// tuned for a LAN: a member that stops answering is declared dead
	// about 1.5 s later, under 3 s in 99 cases of 100 (BenchmarkDetection).
	ProbeInterval time.Duration // 300ms
	ProbeTimeout  time.Duration // 150ms
	// SuspicionMult: a suspect has SuspicionMult × max(1, log10(members))
	// × ProbeInterval to refute before it is declared dead (2). From 3 on,
	// memberlist waits longer (up to twice that) unless other members
	// confirm the suspicion.
	SuspicionMult int
	// RejoinInterval is how often the agent re-joins members it knows
	// that are not alive in its view, so that the pool heals after a
	// partition longer than memberlist remembers the dead (5s).
	RejoinInterval time.Duration
	// ReconnectTimeout is how long a dead member is re-joined before it is
	// forgotten (72h).
	ReconnectTimeout time.Duration

	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.ProbeInterval == 0 {
		c.ProbeInterval = 300 * time.Millisecond
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = 150 * time.Millisecond
	}
	if c.SuspicionMult == 0 {
		c.SuspicionMult = 2
	}
	if c.RejoinInterval == 0 {
		c.RejoinInterval = 5 * time.Second
	}
	if c.ReconnectTimeout == 0 {
		c.ReconnectTimeout = 72 * time.Hour
	}
	if c.AdvertiseAddr == "" {
		c.AdvertiseAddr = c.BindAddr
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Member is one agent as this one sees it.
type Member struct {
	Name  string
	Addr  string // gossip address, host:port
	State string
	Since time.Time // when State last changed
	Meta  Meta
	// Inventory is the member's inventory as last received (nil: not yet),
	// of InventoryGeneration.
	Inventory           *Inventory
	InventoryGeneration uint64

	ip   net.IP
	port uint16
}

// Pool is this agent's membership of the gossip pool.
type Pool struct {
	cfg Config
	log *slog.Logger
	ml  *memberlist.Memberlist

	mu      sync.Mutex
	meta    Meta
	inv     *Inventory
	members map[string]*Member
	asked   map[string]time.Time // inventory asked of a member, when
	changed chan struct{}

	// probeFailures counts probes that no member answered (stats.go).
	probeFailures atomic.Uint64

	stop chan struct{}
	wg   sync.WaitGroup
}

// Start opens the pool's sockets (UDP and TCP on Port) and begins
// gossiping, alone until Join.
func Start(cfg Config) (*Pool, error) {
	cfg.defaults()
	if cfg.Name == "" {
		return nil, errors.New("gossip: a node name is needed")
	}
	p := &Pool{
		cfg: cfg, log: cfg.Logger.With("component", "gossip"),
		meta: cfg.Meta, inv: cfg.Inventory,
		members: map[string]*Member{}, asked: map[string]time.Time{},
		changed: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	p.meta.Generation = uint64(time.Now().UnixNano())
	if _, err := p.meta.encode(); err != nil {
		return nil, err
	}

	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.Name
	mc.BindAddr = cfg.BindAddr
	mc.BindPort = cfg.Port
	if cfg.Port != 0 {
		// With port 0 memberlist advertises what it bound.
		mc.AdvertiseAddr, mc.AdvertisePort = cfg.AdvertiseAddr, cfg.Port
	}
	mc.ProbeInterval = cfg.ProbeInterval
	mc.ProbeTimeout = cfg.ProbeTimeout
	mc.SuspicionMult = cfg.SuspicionMult
	// Without confirmations from other members a suspect gets twice the
	// least suspicion timeout: detection stays bounded in small pools.
	mc.SuspicionMaxTimeoutMult = 2
	mc.TCPTimeout = 5 * time.Second
	mc.PushPullInterval = 15 * time.Second
	// A member that comes back on a new address (a restarted agent) takes
	// its name over as soon as the old incarnation is dead.
	mc.DeadNodeReclaimTime = time.Millisecond
	mc.Delegate = (*delegate)(p)
	mc.Events = (*events)(p)
	mc.Conflict = (*events)(p)
	mc.Logger = log.New(&logBridge{log: p.log, probeFailed: &p.probeFailures}, "", 0)
	if len(cfg.Key) > 0 {
		if len(cfg.Key) != 32 {
			return nil, fmt.Errorf("gossip: the key is %d bytes, want 32", len(cfg.Key))
		}
		kr, err := memberlist.NewKeyring(nil, cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("gossip: key: %w", err)
		}
		mc.Keyring = kr
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: %w", err)
	}
	p.ml = ml
	p.wg.Add(1)
	go p.loop()
	return p, nil
}

// Addr is this agent's gossip address.
func (p *Pool) Addr() string {
	n := p.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Join contacts members at the gossip addresses and merges their view of
// the pool into this one. It returns how many it reached.
func (p *Pool) Join(addrs []string) (int, error) {
	n, err := p.ml.Join(addrs)
	if err != nil && n == 0 {
		msg := err.Error()
		if strings.Contains(msg, "crypt") || strings.Contains(msg, "keys") {
			return 0, fmt.Errorf("gossip: cannot join %v: %w (do all agents have the same --gossip-key?)", addrs, err)
		}
		return 0, fmt.Errorf("gossip: cannot join %v: %w", addrs, err)
	}
	return n, nil
}

// Changes is signalled (coalesced) whenever a member's state, metadata or
// inventory changes.
func (p *Pool) Changes() <-chan struct{} { return p.changed }

// Members lists every member this agent knows, also the dead and the left
// ones it still remembers, by name.
func (p *Pool) Members() []Member {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Member, 0, len(p.members))
	for _, m := range p.members {
		if m.State == "" {
			continue // an inventory that came before its member
		}
		c := *m
		if c.Name == p.cfg.Name {
			c.Inventory, c.InventoryGeneration = p.inv, p.meta.Generation
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Alive lists the gossip addresses of the members alive in this agent's
// view.
func (p *Pool) Alive() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.members {
		if m.State == StateAlive {
			out = append(out, m.Addr)
		}
	}
	sort.Strings(out)
	return out
}

// Meta returns what this agent announces.
func (p *Pool) Meta() Meta {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.meta
}

// SetInventory announces a new inventory, if it differs from the current
// one: the generation grows, the metadata is gossiped and the inventory is
// sent to every server.
func (p *Pool) SetInventory(inv *Inventory) error {
	p.mu.Lock()
	if p.inv != nil && p.inv.Equal(inv) {
		p.mu.Unlock()
		return nil
	}
	p.inv = inv
	p.meta.Generation++
	p.mu.Unlock()
	if err := p.ml.UpdateNode(5 * time.Second); err != nil {
		return fmt.Errorf("gossip: announce inventory: %w", err)
	}
	for _, m := range p.Members() {
		if m.State == StateAlive && m.Meta.HasRole(RoleServer) && m.Name != p.cfg.Name {
			p.sendInventory(m)
		}
	}
	return nil
}

// Leave tells the pool that this agent goes, waits up to timeout for the
// word to spread, and closes the sockets.
func (p *Pool) Leave(timeout time.Duration) error {
	p.mu.Lock()
	p.meta.Leaving = true
	p.mu.Unlock()
	if err := p.ml.UpdateNode(timeout / 2); err != nil {
		p.log.Debug("announce leaving", "err", err)
	}
	err := p.ml.Leave(timeout / 2)
	p.Shutdown()
	return err
}

// Shutdown closes the sockets without a word to the pool (as a crash
// would).
func (p *Pool) Shutdown() {
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	_ = p.ml.Shutdown()
	p.wg.Wait()
}

func (p *Pool) notify() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// ownInventory is this agent's inventory message.
func (p *Pool) ownInventory() ([]byte, error) {
	p.mu.Lock()
	msg := inventoryMsg{Name: p.cfg.Name, Generation: p.meta.Generation, Inventory: p.inv}
	p.mu.Unlock()
	return encodeMsg(msgInventory, msg)
}

// sendInventory sends this agent's inventory to a member, over TCP.
func (p *Pool) sendInventory(to Member) {
	b, err := p.ownInventory()
	if err != nil {
		p.log.Error("encode inventory", "err", err)
		return
	}
	go func() {
		if err := p.ml.SendReliable(to.node(), b); err != nil {
			p.log.Debug("send inventory", "to", to.Name, "err", err)
		}
	}()
}

func (m *Member) node() *memberlist.Node {
	return &memberlist.Node{Name: m.Name, Addr: m.ip, Port: m.port}
}

// memberLocked returns the record of a member, new if none; p.mu is held.
func (p *Pool) memberLocked(name string) *Member {
	m, ok := p.members[name]
	if !ok {
		m = &Member{Name: name}
		p.members[name] = m
	}
	return m
}

// receiveInventory keeps a member's inventory if it is newer than the one
// held.
func (p *Pool) receiveInventory(msg inventoryMsg) {
	if msg.Name == "" || msg.Inventory == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// A member not met yet (the inventory came first) keeps it for when it is.
	m := p.memberLocked(msg.Name)
	if msg.Generation < m.InventoryGeneration {
		return
	}
	m.Inventory, m.InventoryGeneration = msg.Inventory, msg.Generation
	p.notify()
}

// loop asks members for inventories this server lacks, and re-joins
// members that are not alive in this agent's view.
func (p *Pool) loop() {
	defer p.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastRejoin := time.Now()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		if p.meta.HasRole(RoleServer) {
			p.askStale()
		}
		if time.Since(lastRejoin) >= p.cfg.RejoinInterval {
			lastRejoin = time.Now()
			p.rejoin()
		}
	}
}

// askStale asks alive members whose announced generation is newer than
// the inventory held for their inventory (at most every two seconds each).
func (p *Pool) askStale() {
	want, err := encodeMsg(msgWant, p.cfg.Name)
	if err != nil {
		return
	}
	now := time.Now()
	var ask []Member
	p.mu.Lock()
	for _, m := range p.members {
		if m.State == StateAlive && m.Name != p.cfg.Name && m.Meta.Generation > m.InventoryGeneration &&
			now.Sub(p.asked[m.Name]) > 2*time.Second {
			p.asked[m.Name] = now
			ask = append(ask, *m)
		}
	}
	p.mu.Unlock()
	for _, m := range ask {
		if err := p.ml.SendReliable(m.node(), want); err != nil {
			p.log.Debug("ask inventory", "of", m.Name, "err", err)
		}
	}
}

// rejoin contacts remembered members that are dead in this agent's view
// (memberlist stops gossiping to the dead after a while and never merges
// two halves of a healed partition by itself), and forgets those dead for
// longer than ReconnectTimeout.
func (p *Pool) rejoin() {
	var addrs []string
	p.mu.Lock()
	for name, m := range p.members {
		if m.State != StateDead || m.Addr == "" || name == p.cfg.Name {
			continue
		}
		if time.Since(m.Since) > p.cfg.ReconnectTimeout {
			delete(p.members, name)
			continue
		}
		addrs = append(addrs, m.Addr)
	}
	p.mu.Unlock()
	if len(addrs) == 0 {
		return
	}
	var wg sync.WaitGroup
	for _, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n, err := p.ml.Join([]string{a}); err == nil && n > 0 {
				p.log.Info("re-joined", "addr", a)
			}
		}()
	}
	wg.Wait()
}

// delegate is the pool as memberlist's Delegate.
type delegate Pool

func (d *delegate) NodeMeta(limit int) []byte {
	p := (*Pool)(d)
	p.mu.Lock()
	defer p.mu.Unlock()
	b, err := p.meta.encode()
	if err != nil || len(b) > limit {
		p.log.Error("node metadata too large", "err", err)
		return nil
	}
	return b
}

func (d *delegate) NotifyMsg(b []byte) {
	p := (*Pool)(d)
	if len(b) < 2 {
		return
	}
	body := bytes.Clone(b[1:])
	switch b[0] {
	case msgInventory:
		var msg inventoryMsg
		if err := json.Unmarshal(body, &msg); err != nil {
			p.log.Warn("bad inventory message", "err", err)
			return
		}
		p.receiveInventory(msg)
	case msgWant:
		var from string
		if err := json.Unmarshal(body, &from); err != nil {
			return
		}
		p.mu.Lock()
		m, ok := p.members[from]
		var to Member
		if ok {
			to = *m
		}
		p.mu.Unlock()
		if ok && to.State == StateAlive {
			p.sendInventory(to)
		}
	}
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState is this agent's own inventory: a joining agent and the member
// it contacts exchange theirs at once, and push/pull repairs what was lost.
func (d *delegate) LocalState(join bool) []byte {
	b, err := (*Pool)(d).ownInventory()
	if err != nil {
		return nil
	}
	return b
}

func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	if len(buf) < 2 || buf[0] != msgInventory {
		return
	}
	var msg inventoryMsg
	if err := json.Unmarshal(buf[1:], &msg); err == nil {
		(*Pool)(d).receiveInventory(msg)
	}
}

// events is the pool as memberlist's EventDelegate and ConflictDelegate.
type events Pool

func (e *events) NotifyJoin(n *memberlist.Node) {
	p := (*Pool)(e)
	m := p.update(n, StateAlive)
	if m != nil && m.Name != p.cfg.Name && m.Meta.HasRole(RoleServer) {
		p.sendInventory(*m)
	}
}

func (e *events) NotifyLeave(n *memberlist.Node) {
	state := StateDead
	if meta, err := decodeMeta(n.Meta); err == nil && meta.Leaving {
		state = StateLeft
	}
	(*Pool)(e).update(n, state)
}

func (e *events) NotifyUpdate(n *memberlist.Node) { (*Pool)(e).update(n, "") }

func (e *events) NotifyConflict(existing, other *memberlist.Node) {
	(*Pool)(e).log.Warn("name conflict: another agent uses this name on another address; it is accepted once the old one is dead",
		"name", existing.Name, "known", existing.Address(), "other", other.Address())
}

// update records a member's address, metadata and (unless "") state; it
// returns a copy of the record.
func (p *Pool) update(n *memberlist.Node, state string) *Member {
	meta, err := decodeMeta(n.Meta)
	if err != nil {
		p.log.Warn("member without valid metadata", "name", n.Name, "err", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.memberLocked(n.Name)
	if err == nil {
		m.Meta = meta
	}
	m.ip, m.port = slices.Clone(n.Addr), n.Port
	m.Addr = net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	if state != "" && state != m.State {
		if m.State != "" || state != StateAlive {
			p.log.Info("member "+state, "name", n.Name, "addr", m.Addr)
		}
		m.State, m.Since = state, time.Now()
	}
	p.notify()
	c := *m
	return &c
}

// logBridge turns memberlist's log lines ("[ERR] memberlist: ...") into
// structured records at their level, and counts the failed probes it
// reports (memberlist counts them nowhere else).
type logBridge struct {
	log         *slog.Logger
	probeFailed *atomic.Uint64
}

func (b *logBridge) Write(line []byte) (int, error) {
	s := strings.TrimSpace(string(line))
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo, "[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			level, s = l, strings.TrimSpace(rest)
			break
		}
	}
	s = strings.TrimPrefix(s, "memberlist: ")
	if b.probeFailed != nil && strings.HasPrefix(s, "Suspect ") && strings.HasSuffix(s, probeFailedSuffix) {
		b.probeFailed.Add(1)
	}
	b.log.Log(context.Background(), level, s)
	return len(line), nil
}
