package agent

import (
	"cmp"
	"context"
	"maps"
	"net"
	"slices"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/controller"
	"github.com/berth-dev/berth/gossip"
	pb "github.com/berth-dev/berth/proto/berthpb"
)

// Labels that name an agent's roles, as Kubernetes' node-role labels do.
const (
	LabelRoleServer = "node-role.kubernetes.io/server"
	LabelRoleWorker = "node-role.kubernetes.io/worker"
)

// roles are this agent's gossip roles: every agent runs pods; servers also
// hold the Raft quorum.
func (c *Config) roles() []string {
	if c.Server {
		return []string{gossip.RoleServer, gossip.RoleWorker}
	}
	return []string{gossip.RoleWorker}
}

// startGossip measures the inventory and opens the gossip pool.
func (a *Agent) startGossip(apiAddr, raftAddr string) error {
	cfg := a.cfg
	ic := cfg.Inventory
	ic.Name, ic.DataDir, ic.Version = cfg.Name, cfg.DataDir, Version
	ic.Labels = maps.Clone(ic.Labels)
	if ic.Labels == nil {
		ic.Labels = map[string]string{}
	}
	for _, r := range cfg.roles() {
		ic.Labels["node-role.kubernetes.io/"+r] = ""
	}
	if cfg.Node.ContainerdSocket != "" {
		// The leader waits out the longer of its lease and this node's
		// before it replaces the node's stateful pods (fence.go).
		ic.Labels[api.LabelFenceLease] = cmp.Or(cfg.Node.FenceLease, controller.DefaultFenceLease).String()
	}
	inv, err := gossip.MeasureInventory(ic)
	if err != nil {
		return err
	}
	meta := gossip.Meta{Roles: cfg.roles(), API: apiAddr, Version: Version}
	if cfg.Server {
		meta.Raft = raftAddr
	}
	g := cfg.Gossip
	g.Name, g.BindAddr, g.Port, g.Key = cfg.Name, cfg.BindAddr, cfg.GossipPort, cfg.GossipKey
	g.Meta, g.Inventory, g.Logger = meta, inv, a.log
	pool, err := gossip.Start(g)
	if err != nil {
		return err
	}
	a.pool, a.inventory = pool, ic
	return nil
}

// InventoryInterval is how often an agent measures its machine again (a
// GPU that appeared or failed, a disk that grew); a change is announced.
const InventoryInterval = 30 * time.Second

// remeasure keeps the announced inventory current.
func (a *Agent) remeasure(ctx context.Context) {
	t := time.NewTicker(InventoryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		inv, err := gossip.MeasureInventory(a.inventory)
		if err == nil {
			err = a.pool.SetInventory(inv)
		}
		if err != nil {
			a.log.Warn("inventory", "err", err)
		}
	}
}

// joinGossip joins the pool through API addresses of members: those given
// with --join and, on a server, those of the servers recorded in the state
// (a whole cluster restarted without --join finds itself again). Each
// answers with the gossip addresses of the members it sees. It tries until
// one member is reached, and again whenever this agent finds itself alone;
// otherwise the pool's own re-join of the members it remembers keeps the
// agent in.
func (a *Agent) joinGossip(ctx context.Context) {
	delay := 200 * time.Millisecond
	for ctx.Err() == nil {
		if len(a.pool.Alive()) > 1 {
			delay = 200 * time.Millisecond
			sleep(ctx, 5*time.Second)
			continue
		}
		seeds := slices.Clone(a.cfg.Join)
		if a.fsm != nil {
			for _, s := range a.fsm.View().Servers() {
				if s.ID != a.cfg.Name && s.APIAddr != "" && !slices.Contains(seeds, s.APIAddr) {
					seeds = append(seeds, s.APIAddr)
				}
			}
		}
		var addrs []string
		for _, j := range seeds {
			info, err := a.info(ctx, j, nil)
			if err != nil {
				a.log.Debug("gossip join: info", "addr", j, "err", err)
				continue
			}
			if g := info.GetSelf().GetGossipAddr(); g != "" && g != a.pool.Addr() {
				addrs = append(addrs, g)
			}
			for _, g := range info.GossipAddrs {
				if g != a.pool.Addr() && !slices.Contains(addrs, g) {
					addrs = append(addrs, g)
				}
			}
		}
		if len(addrs) > 0 {
			n, err := a.pool.Join(addrs)
			if err == nil {
				a.log.Info("joined the gossip pool", "reached", n)
				continue
			}
			a.log.Error("gossip join", "err", err)
		}
		sleep(ctx, delay)
		delay = min(2*delay, 5*time.Second)
	}
}

// info asks the agent at an API address about itself; caller introduces
// a server looking for peers (nil otherwise).
func (a *Agent) info(ctx context.Context, addr string, caller *pb.ServerInfo) (*pb.InfoResponse, error) {
	conn, err := a.conns.get(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return pb.NewClusterClient(conn).Info(ctx, &pb.InfoRequest{Caller: caller})
}

// members is the leader's gossip view for the node lifecycle.
func (a *Agent) members() []controller.Member {
	ms := a.pool.Members()
	out := make([]controller.Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, controller.Member{Name: m.Name, State: m.State, Node: memberNode(&m)})
	}
	return out
}

// memberNode is the Node a member announces, nil until its inventory has
// arrived.
func memberNode(m *gossip.Member) *api.Node {
	inv := m.Inventory
	if inv == nil {
		return nil
	}
	n := &api.Node{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Node"}}
	n.Metadata.Name = m.Name
	n.Metadata.Labels = maps.Clone(inv.Labels)
	n.Status.Capacity, n.Status.Allocatable = inv.Capacity, inv.Allocatable
	n.Status.GPUs, n.Status.NodeInfo = inv.GPUs, inv.NodeInfo
	if host, _, err := net.SplitHostPort(m.Meta.API); err == nil {
		n.Status.Addresses = append(n.Status.Addresses, api.NodeAddress{Type: "InternalIP", Address: host})
	}
	return n
}

// servers lists the API addresses of the servers alive in the gossip view,
// this agent's last good one first.
func (a *Agent) servers() []string {
	var out []string
	for _, m := range a.pool.Members() {
		if m.State == gossip.StateAlive && m.Meta.HasRole(gossip.RoleServer) && m.Meta.API != "" {
			out = append(out, m.Meta.API)
		}
	}
	if good := a.goodServer.Load(); good != nil {
		if i := slices.Index(out, *good); i > 0 {
			out[0], out[i] = out[i], out[0]
		}
	}
	return out
}

// gossipInfo fills the gossip part of an Info answer.
func (a *Agent) gossipInfo(resp *pb.InfoResponse) {
	resp.GossipAddrs = a.pool.Alive()
	resp.Roles = a.cfg.roles()
}

// membersResponse is this agent's raw gossip view.
func (a *Agent) membersResponse() *pb.MembersResponse {
	resp := &pb.MembersResponse{Self: a.cfg.Name}
	for _, m := range a.pool.Members() {
		resp.Members = append(resp.Members, &pb.Member{
			Name: m.Name, Addr: m.Addr, State: m.State, Roles: m.Meta.Roles,
			ApiAddr: m.Meta.API, RaftAddr: m.Meta.Raft, Version: m.Meta.Version,
			Generation: m.Meta.Generation, InventoryGeneration: m.InventoryGeneration,
			Since: m.Since.UTC().Format(time.RFC3339),
		})
	}
	return resp
}
