package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/driver"
	"github.com/berth-dev/berth/fsm"
	"github.com/berth-dev/berth/netsvc"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Every node that runs pods serves Services (package netsvc): the kernel
// rules of their virtual IPs and node ports, DNS on the pod bridge's
// gateway address (the nameserver of every pod's resolv.conf), and the
// ingress on --ingress-http-port and --ingress-https-port. They follow a
// mirror of the cluster's Services, Endpoints, Ingresses and TLS Secrets,
// kept by one list-and-watch per kind.

// DefaultClusterDomain is the DNS domain of Services unless
// --cluster-domain says another.
const DefaultClusterDomain = "cluster.local"

// services is a node's Service serving.
type services struct {
	k       *kubelet
	gateway string // the pod bridge's address: DNS listens there
	proxy   *netsvc.Proxy
	dns     serverSlot
	ingress serverSlot

	mu      sync.Mutex
	objs    map[string]map[string]api.Object // kind → namespace/name → object
	listed  map[string]bool                  // kinds listed once
	changed chan struct{}
}

// mirroredKinds are the kinds a node's Service serving follows.
var mirroredKinds = []string{"Service", "Endpoints", "Ingress", "Secret"}

// startServices starts the proxy, DNS and ingress of the node, and the
// mirror that feeds them; they stop when ctx ends.
func (k *kubelet) startServices(ctx context.Context, podSubnet string) error {
	p, err := netip.ParsePrefix(podSubnet)
	if err != nil {
		return err
	}
	s := &services{k: k, gateway: p.Masked().Addr().Next().String(),
		objs: map[string]map[string]api.Object{}, listed: map[string]bool{}, changed: make(chan struct{}, 1)}
	for _, kind := range mirroredKinds {
		s.objs[kind] = map[string]api.Object{}
	}
	log := k.log.With("part", "services")
	if s.proxy, err = netsvc.NewProxy(netsvc.ProxyConfig{Tag: k.net.Bridge(), PodSubnet: podSubnet, NodeName: k.name, Logger: log}); err != nil {
		return err
	}
	if err := s.proxy.Start(ctx); err != nil {
		return err
	}
	// DNS and the ingress bind ports something else may hold: the node
	// runs its pods and Services without them, and tries again.
	s.dns.start(ctx, k, log, "cluster DNS", func() (server, error) {
		d, err := netsvc.NewDNS(netsvc.DNSConfig{Addr: net.JoinHostPort(s.gateway, strconv.Itoa(k.cfg.DNSPort)),
			Domain: k.cfg.ClusterDomain, Logger: log})
		if err != nil {
			return nil, err
		}
		if err := d.Start(); err != nil {
			return nil, fmt.Errorf("on %s: %w", s.gateway, err)
		}
		log.Info("serving cluster DNS", "addr", d.Addr())
		return d, nil
	}, s.kick)
	if k.cfg.IngressHTTPPort > 0 || k.cfg.IngressHTTPSPort > 0 {
		s.ingress.start(ctx, k, log, "ingress", func() (server, error) {
			ic := netsvc.IngressConfig{Logger: log}
			if k.cfg.IngressHTTPPort > 0 {
				ic.HTTPAddr = ":" + strconv.Itoa(k.cfg.IngressHTTPPort)
			}
			if k.cfg.IngressHTTPSPort > 0 {
				ic.HTTPSAddr = ":" + strconv.Itoa(k.cfg.IngressHTTPSPort)
			}
			g := netsvc.NewIngress(ic)
			if err := g.Start(); err != nil {
				return nil, fmt.Errorf("(--ingress-http-port, --ingress-https-port): %w", err)
			}
			log.Info("serving the ingress", "http", g.HTTPAddr(), "https", g.HTTPSAddr())
			return g, nil
		}, s.kick)
	}
	k.svc = s
	for _, kind := range mirroredKinds {
		k.wg.Go(func() { s.mirror(ctx, kind) })
	}
	k.wg.Go(func() {
		s.publish(ctx)
		// The kernel rules stay when the agent stops, as kube-proxy's
		// do: Services keep working through a restart, and `berth agent
		// purge` removes them.
		s.dns.close()
		s.ingress.close()
	})
	return nil
}

// server is the DNS server or the ingress.
type server interface {
	Update(*netsvc.State)
	Close() error
}

// serverSlot holds a server once it has started.
type serverSlot struct {
	mu     sync.Mutex
	srv    server
	closed bool
}

// start starts the server, trying again every 10 s until it does or ctx
// ends (saying why once a minute); ready is called once a retry made it.
func (sl *serverSlot) start(ctx context.Context, k *kubelet, log *slog.Logger, what string, start func() (server, error), ready func()) {
	srv, err := start()
	if err == nil {
		sl.srv = srv
		return
	}
	log.Error(what+" not served; trying again every 10 s", "err", err)
	k.wg.Go(func() {
		said := time.Now()
		for sleepCtx(ctx, 10*time.Second) {
			srv, err := start()
			if err != nil {
				if time.Since(said) >= time.Minute {
					log.Error(what+" still not served", "err", err)
					said = time.Now()
				}
				continue
			}
			sl.mu.Lock()
			if sl.closed {
				srv.Close()
			} else {
				sl.srv = srv
			}
			sl.mu.Unlock()
			ready()
			return
		}
	})
}

func (sl *serverSlot) update(st *netsvc.State) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.srv != nil {
		sl.srv.Update(st)
	}
}

func (sl *serverSlot) close() {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.closed = true
	if sl.srv != nil {
		sl.srv.Close()
	}
}

// mirror lists one kind, then follows its watch; after a compaction or a
// lost stream it lists again.
func (s *services) mirror(ctx context.Context, kind string) {
	for ctx.Err() == nil {
		resp, err := s.k.res.List(ctx, &pb.ListRequest{Kind: kind, Stale: true})
		if err != nil {
			sleepCtx(ctx, time.Second)
			continue
		}
		objs := map[string]api.Object{}
		for _, raw := range resp.Objects {
			if obj, key, ok := decodeMirrored(kind, raw); ok {
				objs[key] = obj
			}
		}
		s.mu.Lock()
		s.objs[kind] = objs
		s.listed[kind] = true
		s.mu.Unlock()
		s.kick()
		err = s.watch(ctx, kind, resp.Revision)
		if ctx.Err() == nil && err != nil {
			s.k.log.Debug("watch ended", "kind", kind, "err", err)
			sleepCtx(ctx, 200*time.Millisecond)
		}
	}
}

func (s *services) watch(ctx context.Context, kind string, rev uint64) error {
	stream, err := s.k.res.Watch(ctx, &pb.WatchRequest{Kind: kind, Revision: rev})
	if err != nil {
		return err
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			if status.Code(err) == codes.OutOfRange {
				return nil // compacted: list again
			}
			return err
		}
		if len(ev.Object) == 0 {
			continue
		}
		obj, key, ok := decodeMirrored(kind, ev.Object)
		s.mu.Lock()
		switch {
		case ev.Type == string(fsm.EventDeleted):
			delete(s.objs[kind], keyOf(ev.Object))
		case ok:
			s.objs[kind][key] = obj
		default: // a Secret that is not (or no longer) TLS
			delete(s.objs[kind], keyOf(ev.Object))
		}
		s.mu.Unlock()
		s.kick()
	}
}

func keyOf(raw []byte) string {
	var m struct {
		Metadata api.ObjectMeta `json:"metadata"`
	}
	_ = json.Unmarshal(raw, &m)
	return netsvc.Key(m.Metadata.Namespace, m.Metadata.Name)
}

// decodeMirrored decodes an object the node serves: Secrets only of type
// kubernetes.io/tls.
func decodeMirrored(kind string, raw []byte) (api.Object, string, bool) {
	obj, err := api.DecodeStored(kind, raw)
	if err != nil {
		return nil, "", false
	}
	if sec, ok := obj.(*api.Secret); ok && sec.Type != api.SecretTypeTLS {
		return nil, "", false
	}
	m := obj.GetObjectMeta()
	return obj, netsvc.Key(m.Namespace, m.Name), true
}

func (s *services) kick() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// publish hands each new view to the proxy, DNS and ingress; changes that
// come within a few milliseconds of each other go as one.
func (s *services) publish(ctx context.Context) {
	// Also now and then with no change: the proxy's full sync puts back
	// rules someone else removed.
	tick := time.NewTicker(netsvc.FullSync)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.changed:
		case <-tick.C:
		}
		sleepCtx(ctx, 5*time.Millisecond)
		st := s.state()
		if st == nil {
			continue // not every kind listed yet: the rules in place stay
		}
		s.dns.update(st)
		s.ingress.update(st)
		if err := s.proxy.Update(ctx, st); err != nil && ctx.Err() == nil {
			// Again in a second, with what is newest then.
			s.k.log.Warn("service rules; trying again", "err", err)
			sleepCtx(ctx, time.Second)
			s.kick()
		}
	}
}

// state copies the mirror into a State; nil until every kind has been
// listed once (Services without their Endpoints would be rejected).
func (s *services) state() *netsvc.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.listed) < len(mirroredKinds) {
		return nil
	}
	st := &netsvc.State{Services: map[string]*api.Service{}, Endpoints: map[string]*api.Endpoints{},
		Ingresses: map[string]*api.Ingress{}, Secrets: map[string]*api.Secret{}}
	for k, o := range s.objs["Service"] {
		st.Services[k] = o.(*api.Service)
	}
	for k, o := range s.objs["Endpoints"] {
		st.Endpoints[k] = o.(*api.Endpoints)
	}
	for k, o := range s.objs["Ingress"] {
		st.Ingresses[k] = o.(*api.Ingress)
	}
	for k, o := range s.objs["Secret"] {
		st.Secrets[k] = o.(*api.Secret)
	}
	return st
}

// etcDir holds a pod's /etc/resolv.conf and /etc/hosts.
func (k *kubelet) etcDir(uid string) string { return filepath.Join(k.dir, "etc", uid) }

// podEtc writes a pod's resolv.conf (the node's DNS and the cluster's
// search domains; the node's own with dnsPolicy Default) and hosts, and
// returns their mounts.
func (k *kubelet) podEtc(p *api.Pod, podIP string) ([]driver.Mount, error) {
	dir := k.etcDir(p.Metadata.UID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	domain, ns := k.cfg.ClusterDomain, p.Metadata.Namespace
	var resolv string
	if k.svc != nil && p.Spec.DNSPolicy != api.DNSDefault {
		resolv = fmt.Sprintf("search %s.svc.%s svc.%s %s\nnameserver %s\noptions ndots:5\n", ns, domain, domain, domain, k.svc.gateway)
	} else if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		resolv = string(b)
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if podIP != "" {
		host := podHostname(p)
		if p.Spec.Subdomain != "" {
			hosts += fmt.Sprintf("%s\t%s.%s.%s.svc.%s %s\n", podIP, host, p.Spec.Subdomain, ns, domain, host)
		} else {
			hosts += podIP + "\t" + host + "\n"
		}
	}
	var mounts []driver.Mount
	for _, f := range []struct{ name, content string }{{"resolv.conf", resolv}, {"hosts", hosts}} {
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path+".tmp", []byte(f.content), 0o644); err != nil {
			return nil, err
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return nil, err
		}
		mounts = append(mounts, driver.Mount{Type: "bind", Source: path, Destination: "/etc/" + f.name, ReadOnly: true})
	}
	return mounts, nil
}

// podHostname is a pod's host name: spec.hostname, or its name.
func podHostname(p *api.Pod) string {
	if p.Spec.Hostname != "" {
		return p.Spec.Hostname
	}
	return p.Metadata.Name
}

// EndpointDrain is how long a deleted pod that was an endpoint of a
// Service keeps running (at most its termination grace period).
const EndpointDrain = 2 * time.Second

// endpointDrain is how long a deleted pod keeps running: EndpointDrain if
// it was ready and a Service's selector matches it, else 0.
func (k *kubelet) endpointDrain(p *api.Pod) time.Duration {
	if p == nil || !p.Ready() || k.svc == nil || !k.svc.selects(p) {
		return 0
	}
	return min(EndpointDrain, grace(p))
}

// selects reports whether a Service of the pod's namespace selects it.
func (s *services) selects(p *api.Pod) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.objs["Service"] {
		svc := o.(*api.Service)
		if svc.Metadata.Namespace == p.Metadata.Namespace && len(svc.Spec.Selector) > 0 &&
			api.SelectorFromSet(svc.Spec.Selector).Matches(p.Metadata.Labels) {
			return true
		}
	}
	return false
}
