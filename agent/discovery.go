package agent

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/berth-dev/berth/gossip"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"github.com/berth-dev/berth/raft"
)

// discovery brings a server into a cluster, Nomad-style:
//
//   - A server with Raft state just starts: it is a member already.
//   - With no join addresses and bootstrap-expect ≤ 1, it bootstraps alone.
//   - Otherwise it asks every address it knows (Info, introducing itself)
//     and learns the servers those know. If one of them is in a cluster,
//     it joins that cluster (or waits, when the cluster's configuration
//     names it already: the leader will reach it). If none is, and it
//     knows bootstrap-expect servers, the first bootstrap-expect of them
//     by ID bootstrap together with the same configuration.
//
// A server with an empty data dir that can reach a running cluster never
// bootstraps a second one.
type discovery struct {
	a    *Agent
	self *pb.ServerInfo

	mu   sync.Mutex
	seen map[string]*pb.ServerInfo // by ID, servers met while not in a cluster
}

func newDiscovery(a *Agent, self *pb.ServerInfo) *discovery {
	return &discovery{a: a, self: self, seen: map[string]*pb.ServerInfo{self.Id: self}}
}

func (d *discovery) meet(s *pb.ServerInfo) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s.Id != "" && s.ApiAddr != "" {
		d.seen[s.Id] = s
	}
}

func (d *discovery) apiAddrOf(id string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.seen[id]; ok {
		return s.ApiAddr
	}
	return ""
}

// known lists the servers to tell a caller about: the Raft configuration
// when in a cluster, otherwise those met so far.
func (d *discovery) known(inCluster bool) []*pb.ServerInfo {
	if inCluster {
		servers, err := d.a.node.Servers()
		if err == nil {
			api := map[string]string{}
			for _, r := range d.a.fsm.View().Servers() {
				api[r.ID] = r.APIAddr
			}
			var out []*pb.ServerInfo
			for _, s := range servers {
				addr := api[s.ID]
				if addr == "" {
					addr = d.apiAddrOf(s.ID)
				}
				out = append(out, &pb.ServerInfo{Id: s.ID, RaftAddr: s.Addr, ApiAddr: addr})
			}
			return out
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*pb.ServerInfo
	for _, s := range d.seen {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Id < out[j].Id })
	return out
}

func (d *discovery) run(ctx context.Context) {
	cfg := d.a.cfg
	if d.a.node.HasState() {
		d.a.log.Info("raft state found, rejoining the cluster")
		d.keepRegistered(ctx)
		return
	}
	if len(cfg.Join) == 0 && cfg.BootstrapExpect <= 1 {
		if err := d.a.node.Bootstrap([]raft.Server{{ID: d.self.Id, Addr: d.self.RaftAddr}}); err != nil {
			d.a.log.Error("bootstrap", "err", err)
		}
		d.keepRegistered(ctx)
		return
	}
	for ctx.Err() == nil {
		if d.step(ctx) {
			break
		}
		sleep(ctx, time.Second)
	}
	d.keepRegistered(ctx)
}

// step asks every known address once; it reports whether this server is
// now in a cluster, or on its way.
func (d *discovery) step(ctx context.Context) bool {
	addrs := append([]string{}, d.a.cfg.Join...)
	for _, s := range d.known(false) {
		if s.Id != d.self.Id && !slices.Contains(addrs, s.ApiAddr) {
			addrs = append(addrs, s.ApiAddr)
		}
	}
	for _, addr := range addrs {
		info, err := d.a.info(ctx, addr, d.self)
		if err != nil {
			d.a.log.Debug("discovery", "addr", addr, "err", err)
			continue
		}
		if !info.InCluster && len(info.Roles) > 0 && !slices.Contains(info.Roles, gossip.RoleServer) {
			continue // a worker that knows no server yet: not a peer to bootstrap with
		}
		if !info.InCluster {
			d.meet(info.Self)
			for _, s := range info.Known {
				d.meet(s)
			}
			continue
		}
		for _, s := range info.Known {
			if s.Id == d.self.Id {
				// Configured already: the leader will replicate to us.
				return true
			}
		}
		if err := d.join(ctx, addr); err != nil {
			d.a.log.Warn("join", "addr", addr, "err", err)
			continue
		}
		d.a.log.Info("joined the cluster", "via", addr)
		return true
	}
	expect := d.a.cfg.BootstrapExpect
	if expect <= 0 || d.a.node.HasState() {
		return d.a.node.HasState()
	}
	peers := d.known(false)
	if len(peers) < expect {
		return false
	}
	peers = peers[:expect]
	var servers []raft.Server
	for _, p := range peers {
		servers = append(servers, raft.Server{ID: p.Id, Addr: p.RaftAddr})
	}
	if !slices.ContainsFunc(servers, func(s raft.Server) bool { return s.ID == d.self.Id }) {
		return false // more servers than expected; wait for their cluster and join it
	}
	d.a.log.Info("bootstrapping", "servers", len(servers))
	if err := d.a.node.Bootstrap(servers); err != nil {
		d.a.log.Error("bootstrap", "err", err)
	}
	return true
}

func (d *discovery) join(ctx context.Context, addr string) error { return d.callJoin(ctx, addr, false) }

func (d *discovery) callJoin(ctx context.Context, addr string, registerOnly bool) error {
	conn, err := d.a.conns.get(addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = pb.NewClusterClient(conn).Join(ctx, &pb.JoinRequest{Server: d.self, RegisterOnly: registerOnly})
	return err
}

// keepRegistered makes sure the state names this server's current API
// address, so that followers forward to it when it leads; it asks the
// leader through Join (register only: a removed server stays removed).
func (d *discovery) keepRegistered(ctx context.Context) {
	for ctx.Err() == nil {
		registered := false
		for _, r := range d.a.fsm.View().Servers() {
			if r.ID == d.self.Id && r.APIAddr == d.self.ApiAddr && r.RaftAddr == d.self.RaftAddr {
				registered = true
			}
		}
		if registered {
			sleep(ctx, 5*time.Second)
			continue
		}
		if !d.a.node.IsLeader() {
			if addr, err := d.a.leaderAPI(); err == nil {
				if err := d.callJoin(ctx, addr, true); err != nil {
					d.a.log.Debug("register", "err", err)
				}
			}
		}
		sleep(ctx, time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
