package gossip

// probeFailedSuffix ends the line memberlist logs when a probe of a member
// got no ack, direct or indirect, and it suspects the member.
const probeFailedSuffix = "has failed, no acks received"

// Stats are the pool's numbers, for monitoring.
type Stats struct {
	// Members counts the members this agent knows by State (StateAlive,
	// StateDead, StateLeft), itself included. memberlist keeps whether a
	// member is suspect to itself: a suspect counts as alive.
	Members map[string]int
	// ProbeFailures counts this agent's probes of a member that no ack
	// answered (each makes the member suspect).
	ProbeFailures uint64
	// HealthScore is memberlist's awareness of this agent's own health: 0
	// is healthy; each missed ack or refuted suspicion raises it, and it
	// slows the agent's probes down.
	HealthScore int
}

// Stats returns the pool's numbers now.
func (p *Pool) Stats() Stats {
	s := Stats{Members: map[string]int{StateAlive: 0, StateDead: 0, StateLeft: 0},
		ProbeFailures: p.probeFailures.Load(), HealthScore: p.ml.GetHealthScore()}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.members {
		if m.State != "" {
			s.Members[m.State]++
		}
	}
	return s
}
