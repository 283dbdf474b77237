package gossip

import (
	"testing"
	"time"
)

// Stats count the members by state and the probes a crashed member left
// unanswered.
func TestPoolStats(t *testing.T) {
	s := startPool(t, "s1", server, nil)
	a := startPool(t, "a", worker, nil)
	b := startPool(t, "b", worker, nil)
	for _, p := range []*Pool{a, b} {
		if _, err := p.Join([]string{s.Addr()}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "3 alive", func() bool { return s.Stats().Members[StateAlive] == 3 })
	if st := s.Stats(); st.ProbeFailures != 0 || st.Members[StateDead] != 0 || st.Members[StateLeft] != 0 {
		t.Fatalf("a healthy pool: %+v", st)
	}

	a.Shutdown() // a crash: probes of it go unanswered
	if err := b.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "one alive, one dead, one left", func() bool {
		m := s.Stats().Members
		return m[StateAlive] == 1 && m[StateDead] == 1 && m[StateLeft] == 1
	})
	if st := s.Stats(); st.ProbeFailures == 0 {
		t.Fatalf("a crashed member was declared dead without a failed probe: %+v", st)
	}
}
