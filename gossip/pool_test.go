package gossip

import (
	"bytes"
	"github.com/berth-dev/berth/internal/testlog"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
)

// syncBuffer is a log a test reads while others write it.
type syncBuffer = testlog.Buffer

func testInventory(cpu string) *Inventory {
	return &Inventory{
		Capacity:    api.ResourceList{api.ResourceCPU: api.Quantity(cpu), api.ResourceMemory: "8Gi"},
		Allocatable: api.ResourceList{api.ResourceCPU: api.Quantity(cpu), api.ResourceMemory: "8Gi"},
		Labels:      map[string]string{api.LabelHostname: "x"},
	}
}

// startPool starts a pool on a free loopback port; it is shut down when
// the test ends.
func startPool(t *testing.T, name string, roles []string, mutate func(*Config)) *Pool {
	t.Helper()
	cfg := Config{
		Name: name, BindAddr: "127.0.0.1", Meta: Meta{Roles: roles, API: "127.0.0.1:1"},
		Inventory: testInventory("2"), RejoinInterval: time.Second,
		Logger: slog.New(slog.NewTextHandler(&syncBuffer{}, nil)),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Shutdown)
	return p
}

func member(p *Pool, name string) (Member, bool) {
	for _, m := range p.Members() {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func stateOf(p *Pool, name string) string {
	m, _ := member(p, name)
	return m.State
}

var (
	server = []string{RoleServer, RoleWorker}
	worker = []string{RoleWorker}
)

// Members learn each other, metadata travels, and a server holds every
// member's inventory, also after it changes.
func TestPoolMembershipAndInventory(t *testing.T) {
	s := startPool(t, "s1", server, nil)
	w1 := startPool(t, "w1", worker, nil)
	w2 := startPool(t, "w2", worker, func(c *Config) { c.Inventory = testInventory("8") })
	if _, err := w1.Join([]string{s.Addr()}); err != nil {
		t.Fatal(err)
	}
	if _, err := w2.Join([]string{w1.Addr()}); err != nil { // through another worker
		t.Fatal(err)
	}
	for _, p := range []*Pool{s, w1, w2} {
		eventually(t, 5*time.Second, p.cfg.Name+" sees 3 alive", func() bool { return len(p.Alive()) == 3 })
	}
	eventually(t, 5*time.Second, "server has w2's inventory", func() bool {
		m, ok := member(s, "w2")
		return ok && m.Inventory != nil && m.Inventory.Capacity[api.ResourceCPU] == "8" && m.Meta.HasRole(RoleWorker) && !m.Meta.HasRole(RoleServer)
	})
	if m, _ := member(s, "s1"); m.Inventory == nil || m.InventoryGeneration != m.Meta.Generation {
		t.Fatalf("own member: %+v", m)
	}

	gen := w2.Meta().Generation
	if err := w2.SetInventory(testInventory("8")); err != nil || w2.Meta().Generation != gen {
		t.Fatalf("an unchanged inventory bumped the generation: %v", err)
	}
	if err := w2.SetInventory(testInventory("16")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "server has w2's new inventory", func() bool {
		m, _ := member(s, "w2")
		return m.Inventory.Capacity[api.ResourceCPU] == "16" && m.InventoryGeneration == gen+1 && m.Meta.Generation == gen+1
	})
}

// A crashed member is declared dead within a few seconds; one that leaves
// gracefully is "left" at once; a restarted one is alive again.
func TestPoolFailureDetection(t *testing.T) {
	s := startPool(t, "s1", server, nil)
	a := startPool(t, "a", worker, nil)
	b := startPool(t, "b", worker, nil)
	for _, p := range []*Pool{a, b} {
		if _, err := p.Join([]string{s.Addr()}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "3 alive", func() bool { return len(s.Alive()) == 3 })

	start := time.Now()
	a.Shutdown() // as a crash: no word to the pool
	eventually(t, 10*time.Second, "crashed member dead", func() bool { return stateOf(s, "a") == StateDead })
	t.Logf("crash detected in %v", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	if err := b.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "member left", func() bool { return stateOf(s, "b") == StateLeft })
	t.Logf("leave seen in %v", time.Since(start).Round(time.Millisecond))

	// The crashed agent comes back on another port: accepted under its name.
	a2 := startPool(t, "a", worker, nil)
	if _, err := a2.Join([]string{s.Addr()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "restarted member alive on its new address", func() bool {
		m, _ := member(s, "a")
		return m.State == StateAlive && m.Addr == a2.Addr()
	})
}

// After memberlist has forgotten the dead (GossipToTheDeadTime), the
// periodic re-join merges the pool again.
func TestPoolRejoinsAfterPartition(t *testing.T) {
	s := startPool(t, "s1", server, nil)
	w := startPool(t, "w1", worker, nil)
	if _, err := w.Join([]string{s.Addr()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "2 alive", func() bool { return len(s.Alive()) == 2 })
	// Restart the server on the same port with no memory of w1: only w1's
	// re-join can bring them together again.
	addr := s.Addr()
	s.Shutdown()
	eventually(t, 10*time.Second, "w1 sees s1 dead", func() bool { return stateOf(w, "s1") == StateDead })
	port := s.ml.LocalNode().Port
	s2 := startPool(t, "s1", server, func(c *Config) { c.Port = int(port) })
	if s2.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", s2.Addr(), addr)
	}
	eventually(t, 10*time.Second, "pool merged by re-join", func() bool {
		return stateOf(s2, "w1") == StateAlive && stateOf(w, "s1") == StateAlive
	})
}

// Agents with different keys cannot join, and say why.
func TestPoolKeys(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	other := bytes.Repeat([]byte{2}, 32)
	s := startPool(t, "s1", server, func(c *Config) { c.Key = key })
	good := startPool(t, "good", worker, func(c *Config) { c.Key = key })
	if _, err := good.Join([]string{s.Addr()}); err != nil {
		t.Fatalf("same key: %v", err)
	}
	bad := startPool(t, "bad", worker, func(c *Config) { c.Key = other })
	_, err := bad.Join([]string{s.Addr()})
	if err == nil || !strings.Contains(err.Error(), "--gossip-key") {
		t.Fatalf("other key joined or said nothing useful: %v", err)
	}
	none := startPool(t, "none", worker, nil)
	if _, err := none.Join([]string{s.Addr()}); err == nil {
		t.Fatal("an agent without a key joined an encrypted pool")
	}
	time.Sleep(500 * time.Millisecond)
	if _, ok := member(s, "bad"); ok {
		t.Fatal("the server lists the agent with the wrong key")
	}
	if _, err := Start(Config{Name: "short", BindAddr: "127.0.0.1", Key: key[:16], Meta: Meta{Roles: worker}}); err == nil || !strings.Contains(err.Error(), "16 bytes, want 32") {
		t.Fatalf("short key: %v", err)
	}
}

func TestMetaLimit(t *testing.T) {
	m := Meta{Roles: server, API: strings.Repeat("a", 600)}
	if _, err := m.encode(); err == nil || !strings.Contains(err.Error(), "more than memberlist's 512") {
		t.Fatalf("oversized metadata: %v", err)
	}
}
