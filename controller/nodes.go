package controller

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/fsm"
)

// Member is what the gossip pool says of one agent, in the api's terms.
type Member struct {
	Name  string
	State string // alive, dead or left (the gossip package's states)
	// Node holds what the agent announces: labels, capacity, allocatable,
	// addresses, GPUs and node info. Nil until its inventory has arrived.
	Node *api.Node
}

// Gossip member states the lifecycle acts on.
const (
	MemberAlive = "alive"
	MemberDead  = "dead"
	MemberLeft  = "left"
)

// Annotations the lifecycle keeps on the nodes it manages.
const (
	// AnnotationManaged marks a Node kept from gossip. A Node registered
	// through the API without it is static: its status stays as written
	// (simulated nodes, in tests and benchmarks).
	AnnotationManaged = "berth.dev/managed-by"
	managedByGossip   = "gossip"
	// AnnotationAgentLabels lists the label keys the agent set, so that a
	// label it stops announcing is removed while users' labels stay.
	AnnotationAgentLabels = "berth.dev/agent-labels"
)

// Reasons of the Ready condition.
const (
	ReasonNodeReady         = "NodeReady"
	ReasonNodeStatusUnknown = "NodeStatusUnknown"
	ReasonNodeLeft          = "NodeLeft"
)

// NodesConfig configures the node lifecycle.
type NodesConfig struct {
	FSM      *fsm.FSM
	Proposer Proposer
	Logger   *slog.Logger
	Now      func() time.Time
	// Members returns the leader's gossip view; Changes is signalled when
	// it changes.
	Members func() []Member
	Changes <-chan struct{}
	// Resync is how often the view is reconciled without a change (5s).
	Resync time.Duration
	// PodCIDR is the cluster's pod range; each gossip node is given the
	// next free subnet of NodeMaskBits (24) in Spec.PodCIDR. Empty: none.
	PodCIDR      string
	NodeMaskBits int
	// Events records nodes registered and their Ready changes (nil:
	// nothing).
	Events Recorder
}

// Nodes is the leader's node lifecycle: it keeps a Node object per gossip
// member, its labels, capacity and GPUs as the agent announces them, and
// its Ready condition from the member's health. Gossip is a hint; the
// Node, written through Raft, is the truth that the scheduler and users
// see. Conditions change only here, on the leader, so a new leader
// reconciles at once what its predecessor did not record.
type Nodes struct {
	cfg NodesConfig
	log *slog.Logger

	mu    sync.Mutex
	stats NodesStats
	// cidrs is the pod subnet allocator of one Reconcile round.
	cidrs *cidrAllocator
}

// NodesStats counts what the lifecycle wrote.
type NodesStats struct {
	Created, Updated, Conflicts uint64
}

// NewNodes returns a node lifecycle; Run drives it.
func NewNodes(cfg NodesConfig) *Nodes {
	if cfg.Resync == 0 {
		cfg.Resync = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Nodes{cfg: cfg, log: cfg.Logger.With("controller", "nodes")}
}

// Stats returns the counts so far.
func (c *Nodes) Stats() NodesStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Run reconciles until ctx ends (leadership lost).
func (c *Nodes) Run(ctx context.Context) {
	tick := time.NewTicker(c.cfg.Resync)
	defer tick.Stop()
	backoff := 200 * time.Millisecond
	for {
		if err := c.Reconcile(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("reconcile nodes", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, c.cfg.Resync)
			continue
		}
		backoff = 200 * time.Millisecond
		select {
		case <-ctx.Done():
			return
		case <-c.cfg.Changes:
		case <-tick.C:
		}
	}
}

// Reconcile makes the stored nodes agree with the gossip view once.
func (c *Nodes) Reconcile(ctx context.Context) error {
	members := c.cfg.Members()
	seen := map[string]bool{}
	var errs []error
	recs, err := c.cfg.FSM.View().List("Node", "", api.Selector{})
	if err != nil {
		return err
	}
	if c.cfg.PodCIDR != "" {
		c.cidrs, err = newCIDRAllocator(c.cfg.PodCIDR, c.cfg.NodeMaskBits)
		if err != nil {
			return err
		}
		for _, r := range recs {
			c.cidrs.use(r.Node().Spec.PodCIDR)
		}
	}
	for _, m := range members {
		seen[m.Name] = true
		if err := c.reconcileOne(ctx, m.Name, &m); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range recs {
		if !seen[r.Name] && r.Meta.Annotations[AnnotationManaged] == managedByGossip {
			if err := c.reconcileOne(ctx, r.Name, nil); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// reconcileOne writes one node if what is stored differs from what gossip
// says; m nil means the member is unknown to gossip.
func (c *Nodes) reconcileOne(ctx context.Context, name string, m *Member) error {
	var cur *api.Node
	var rv string
	if r, err := c.cfg.FSM.Get("Node", "", name); err == nil {
		cur, rv = r.Node(), r.Meta.ResourceVersion
	}
	if cur == nil && (m == nil || m.Node == nil) {
		return nil // nothing to record until the inventory arrives
	}
	want := c.desired(cur, m)
	api.Default(want)
	if err := api.Validate(want); err != nil {
		return fmt.Errorf("node %s from gossip: %w", name, err)
	}
	if cur != nil && sameNode(cur, want) {
		return nil
	}
	if cur == nil || cur.Spec.PodCIDR != want.Spec.PodCIDR {
		c.log.Info("node pod subnet", "node", name, "podCIDR", want.Spec.PodCIDR)
	}
	verb := fsm.VerbUpdate
	if cur == nil {
		verb = fsm.VerbCreate
	}
	op, err := fsm.ObjectOp(verb, want)
	if err != nil {
		return err
	}
	if cur == nil {
		op.UID = NewUID()
	} else {
		op.ResourceVersion = parseRV(rv)
	}
	_, err = c.cfg.Proposer.Apply(ctx, &fsm.Command{Type: fsm.CmdWrite, Time: c.cfg.Now().UTC().Format(time.RFC3339), Ops: []fsm.Op{op}})
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case errors.Is(err, fsm.ErrConflict) || errors.Is(err, fsm.ErrAlreadyExists):
		c.stats.Conflicts++ // a user wrote it meanwhile: next round
		return nil
	case err != nil:
		return err
	case cur == nil:
		c.stats.Created++
		c.log.Info("node registered", "node", name, "ready", readyOf(want).Status)
		record(c.cfg.Events, event{refOf("Node", &want.Metadata), api.EventNormal, "RegisteredNode", fmt.Sprintf("Node %s event: Registered Node %s in the cluster", name, name)})
	default:
		c.stats.Updated++
		if a, b := readyOf(cur), readyOf(want); a.Status != b.Status {
			c.log.Info("node "+b.Reason, "node", name, "ready", b.Status)
			reason, typ := "NodeNotReady", api.EventWarning
			if b.Status == api.ConditionTrue {
				reason, typ = "NodeReady", api.EventNormal
			}
			record(c.cfg.Events, event{refOf("Node", &cur.Metadata), typ, reason, fmt.Sprintf("Node %s status is now: %s (%s)", name, reason, b.Message)})
		}
	}
	return nil
}

// desired is the node as it should be stored: the user's spec, labels and
// annotations as stored, the agent's labels and status from gossip, and
// the Ready condition from the member's state.
func (c *Nodes) desired(cur *api.Node, m *Member) *api.Node {
	n := &api.Node{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Node"}}
	if cur != nil {
		n.Metadata = cur.Metadata
		n.Metadata.Labels = maps.Clone(cur.Metadata.Labels)
		n.Metadata.Annotations = maps.Clone(cur.Metadata.Annotations)
		n.Spec = cur.Spec
		n.Status = cur.Status
		n.Status.Conditions = slices.Clone(cur.Status.Conditions)
	} else {
		n.Metadata.Name = m.Name
	}
	if n.Metadata.Annotations == nil {
		n.Metadata.Annotations = map[string]string{}
	}
	n.Metadata.Annotations[AnnotationManaged] = managedByGossip
	if n.Spec.PodCIDR == "" && c.cidrs != nil {
		n.Spec.PodCIDR = c.cidrs.next()
	}
	if m != nil && m.Node != nil {
		// The agent's labels replace those it set before; others stay.
		if n.Metadata.Labels == nil {
			n.Metadata.Labels = map[string]string{}
		}
		for _, k := range strings.Split(n.Metadata.Annotations[AnnotationAgentLabels], ",") {
			delete(n.Metadata.Labels, k)
		}
		keys := slices.Sorted(maps.Keys(m.Node.Metadata.Labels))
		for _, k := range keys {
			n.Metadata.Labels[k] = m.Node.Metadata.Labels[k]
		}
		n.Metadata.Annotations[AnnotationAgentLabels] = strings.Join(keys, ",")
		s := m.Node.Status
		n.Status.Capacity, n.Status.Allocatable = s.Capacity, s.Allocatable
		n.Status.Addresses, n.Status.GPUs, n.Status.NodeInfo = s.Addresses, s.GPUs, s.NodeInfo
	}
	state := ""
	if m != nil {
		state = m.State
	}
	ready := api.NodeCondition{Type: api.NodeReady}
	switch state {
	case MemberAlive:
		ready.Status, ready.Reason, ready.Message = api.ConditionTrue, ReasonNodeReady, "berth agent is answering gossip"
	case MemberLeft:
		ready.Status, ready.Reason, ready.Message = api.ConditionFalse, ReasonNodeLeft, "berth agent left the cluster"
	case MemberDead:
		ready.Status, ready.Reason, ready.Message = api.ConditionUnknown, ReasonNodeStatusUnknown, "berth agent stopped answering gossip probes"
	default:
		ready.Status, ready.Reason, ready.Message = api.ConditionUnknown, ReasonNodeStatusUnknown, "berth agent is not in the gossip pool"
	}
	i := slices.IndexFunc(n.Status.Conditions, func(c api.NodeCondition) bool { return c.Type == api.NodeReady })
	if i >= 0 && n.Status.Conditions[i].Status == ready.Status && n.Status.Conditions[i].Reason == ready.Reason {
		ready.LastTransitionTime = n.Status.Conditions[i].LastTransitionTime
	} else {
		ready.LastTransitionTime = c.cfg.Now().UTC().Format(time.RFC3339)
	}
	if i >= 0 {
		n.Status.Conditions[i] = ready
	} else {
		n.Status.Conditions = append(n.Status.Conditions, ready)
	}
	sort.SliceStable(n.Status.Conditions, func(a, b int) bool { return n.Status.Conditions[a].Type < n.Status.Conditions[b].Type })
	return n
}

// sameNode compares what the lifecycle owns of two nodes.
func sameNode(a, b *api.Node) bool {
	type owned struct {
		Labels      map[string]string
		Annotations map[string]string
		Status      api.NodeStatus
		PodCIDR     string
	}
	ja, err1 := json.Marshal(owned{a.Metadata.Labels, a.Metadata.Annotations, a.Status, a.Spec.PodCIDR})
	jb, err2 := json.Marshal(owned{b.Metadata.Labels, b.Metadata.Annotations, b.Status, b.Spec.PodCIDR})
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

func readyOf(n *api.Node) api.NodeCondition {
	for _, c := range n.Status.Conditions {
		if c.Type == api.NodeReady {
			return c
		}
	}
	return api.NodeCondition{}
}

func parseRV(s string) uint64 {
	v, _ := strconv.ParseUint(s, 10, 64)
	return v
}

// NewUID returns a random RFC 4122 version 4 UUID, for objects the leader
// creates.
func NewUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
