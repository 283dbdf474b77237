package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// The dashboard's data API. Lists and watches go through the Resources
// service's List and Watch, as a gRPC call of the same token would, with
// stale reads: the page shows this server's replica.

// uiKind resolves the kind a request names, refusing those the dashboard
// does not show.
func uiKind(name string) (string, error) {
	info, err := kindOf(name)
	if err != nil {
		return "", &uiError{http.StatusNotFound, fmt.Sprintf("unknown kind %q", name)}
	}
	if !slices.Contains(dashboardKinds, info.Kind) {
		return "", &uiError{http.StatusNotFound, fmt.Sprintf("the dashboard does not serve %s objects (only %s)",
			info.Kind, strings.Join(dashboardKinds, ", "))}
	}
	return info.Kind, nil
}

// uiResources is what the page sums into a node's usage bars: a pod's
// requests, or a node's allocatable, as the scheduler counts them.
type uiResources struct {
	MilliCPU int64 `json:"milliCPU"`
	Memory   int64 `json:"memory"`
	GPU      int64 `json:"gpu"`
	Pods     int64 `json:"pods"`
}

// resourcesOf returns a Pod's requests or a Node's allocatable, and its
// "namespace/name" (nil for other kinds, or an object that does not
// decode).
func resourcesOf(kind string, raw []byte) (string, *uiResources) {
	var r api.Resources
	var m *api.ObjectMeta
	switch kind {
	case "Pod":
		p := new(api.Pod)
		if json.Unmarshal(raw, p) != nil {
			return "", nil
		}
		r, m = p.Requests(), &p.Metadata
	case "Node":
		n := new(api.Node)
		if json.Unmarshal(raw, n) != nil {
			return "", nil
		}
		r, m = n.Allocatable(), &n.Metadata
	default:
		return "", nil
	}
	return m.Namespace + "/" + m.Name, &uiResources{MilliCPU: r.MilliCPU, Memory: r.Memory, GPU: r.GPU, Pods: r.Pods}
}

// uiListAnswer is a list of one kind at one revision; Resources holds
// resourcesOf each Pod or Node, by "namespace/name".
type uiListAnswer struct {
	Revision  uint64                  `json:"revision"`
	Items     []json.RawMessage       `json:"items"`
	Resources map[string]*uiResources `json:"resources,omitempty"`
}

// uiList answers GET /ui/api/list/KIND?namespace=NS: every object of the
// kind (in NS, or every namespace), page after page of the same snapshot.
func (a *Agent) uiList(w http.ResponseWriter, r *http.Request, c *caller) error {
	kind, err := uiKind(r.PathValue("kind"))
	if err != nil {
		return err
	}
	req := &pb.ListRequest{Kind: kind, Namespace: r.URL.Query().Get("namespace"), Stale: true}
	if err := a.authorize(c, pb.Resources_List_FullMethodName, req); err != nil {
		return err
	}
	ctx := context.WithValue(r.Context(), callerKey{}, c)
	rs := &resourceServer{a: a}
	ans := uiListAnswer{Items: []json.RawMessage{}}
	for {
		resp, err := rs.List(ctx, req)
		if err != nil {
			return err
		}
		ans.Revision = resp.Revision
		for _, obj := range resp.Objects {
			ans.Items = append(ans.Items, obj)
			if key, res := resourcesOf(kind, obj); res != nil {
				if ans.Resources == nil {
					ans.Resources = map[string]*uiResources{}
				}
				ans.Resources[key] = res
			}
		}
		if resp.Continue == "" {
			break
		}
		req.Continue = resp.Continue
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// maxUIWatches bounds the watches one dashboard stream carries.
const maxUIWatches = 32

// uiWatchEvent is one message of the watch stream: a change of an object
// (ADDED, MODIFIED, DELETED), the servers' state (CLUSTER), or why a
// watch ended (ERROR: the page lists again).
type uiWatchEvent struct {
	Type      string          `json:"type"`
	Kind      string          `json:"kind,omitempty"`
	Namespace string          `json:"namespace,omitempty"` // the watch's ("" for every namespace)
	Revision  uint64          `json:"revision,omitempty"`
	Object    json.RawMessage `json:"object,omitempty"`
	Resources *uiResources    `json:"resources,omitempty"`
	Cluster   *uiClusterState `json:"cluster,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// uiWatch answers GET /ui/api/watch?w=KIND/NS/REV&...[&cluster=1] with a
// stream of Server-Sent Events: every change of each watched kind in its
// namespace after its revision (the list's), and with cluster=1 the
// servers' state every two seconds. Each w is one Resources.Watch, with
// the caller's rights; the stream ends when any of them does.
func (a *Agent) uiWatch(w http.ResponseWriter, r *http.Request, c *caller) error {
	q := r.URL.Query()
	specs := q["w"]
	if len(specs) == 0 || len(specs) > maxUIWatches {
		return &uiError{http.StatusBadRequest, fmt.Sprintf("name 1 to %d watches as w=KIND/NAMESPACE/REVISION", maxUIWatches)}
	}
	var reqs []*pb.WatchRequest
	for _, s := range specs {
		parts := strings.Split(s, "/")
		if len(parts) != 3 {
			return &uiError{http.StatusBadRequest, fmt.Sprintf("watch %q: want KIND/NAMESPACE/REVISION", s)}
		}
		kind, err := uiKind(parts[0])
		if err != nil {
			return err
		}
		rev, err := strconv.ParseUint(parts[2], 10, 64)
		if err != nil {
			return &uiError{http.StatusBadRequest, fmt.Sprintf("watch %q: the revision is not a number", s)}
		}
		req := &pb.WatchRequest{Kind: kind, Namespace: parts[1], Revision: rev}
		if err := a.authorize(c, pb.Resources_Watch_FullMethodName, req); err != nil {
			return err
		}
		reqs = append(reqs, req)
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	out := &sseWriter{w: w, rc: rc}
	if err := out.comment("watching"); err != nil {
		return nil
	}

	ctx, cancel := context.WithCancel(context.WithValue(r.Context(), callerKey{}, c))
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	rs := &resourceServer{a: a}
	for _, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			err := rs.Watch(req, &uiWatchStream{ctx: ctx, out: out, ns: req.Namespace})
			if err != nil && ctx.Err() == nil {
				_ = out.send(&uiWatchEvent{Type: "ERROR", Kind: req.Kind, Namespace: req.Namespace, Error: uiErrorOf(err).msg})
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		a.uiStreamCluster(ctx, out, q.Get("cluster") == "1")
	}()
	<-ctx.Done()
	return nil
}

// uiStreamCluster keeps the stream alive (a comment every 15 s) and, if
// asked, sends the servers' state every 2 s, until ctx ends or a write
// fails.
func (a *Agent) uiStreamCluster(ctx context.Context, out *sseWriter, cluster bool) {
	every := 15 * time.Second
	if cluster {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var err error
		if cluster {
			err = out.send(&uiWatchEvent{Type: "CLUSTER", Cluster: a.uiClusterState(ctx)})
		} else {
			err = out.comment("keep-alive")
		}
		if err != nil {
			return
		}
	}
}

// sseWriter writes Server-Sent Events from several goroutines, one whole
// event at a time, each flushed at once.
type sseWriter struct {
	mu sync.Mutex
	w  io.Writer
	rc *http.ResponseController
}

func (s *sseWriter) send(ev *uiWatchEvent) error {
	b, err := json.Marshal(ev) // one line: encoding/json compacts objects
	if err != nil {
		return err
	}
	return s.write("data: " + string(b) + "\n\n")
}

func (s *sseWriter) comment(text string) error { return s.write(": " + text + "\n\n") }

func (s *sseWriter) write(text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := io.WriteString(s.w, text); err != nil {
		return err
	}
	return s.rc.Flush()
}

// uiWatchStream carries one Resources.Watch into the dashboard's event
// stream: its changes become events, its bookmarks are dropped (the page
// lists again rather than resume).
type uiWatchStream struct {
	ctx context.Context
	out *sseWriter
	ns  string
}

var _ pb.Resources_WatchServer = (*uiWatchStream)(nil)

func (s *uiWatchStream) Send(ev *pb.WatchEvent) error {
	if ev.Type == "BOOKMARK" {
		return nil
	}
	_, res := resourcesOf(ev.Kind, ev.Object)
	return s.out.send(&uiWatchEvent{Type: ev.Type, Kind: ev.Kind, Namespace: s.ns, Revision: ev.Revision, Object: ev.Object, Resources: res})
}

func (s *uiWatchStream) Context() context.Context { return s.ctx }

func (s *uiWatchStream) SendMsg(m any) error {
	ev, ok := m.(*pb.WatchEvent)
	if !ok {
		return fmt.Errorf("dashboard watch: cannot send a %T", m)
	}
	return s.Send(ev)
}

func (s *uiWatchStream) RecvMsg(any) error            { return io.EOF }
func (s *uiWatchStream) SetHeader(metadata.MD) error  { return nil }
func (s *uiWatchStream) SendHeader(metadata.MD) error { return nil }
func (s *uiWatchStream) SetTrailer(metadata.MD)       {}

// uiServer is one Raft server as the dashboard shows it: its role and
// indexes as it answered them, or why it did not.
type uiServer struct {
	ID           string `json:"id"`
	APIAddr      string `json:"apiAddr,omitempty"`
	Voter        bool   `json:"voter"`
	State        string `json:"state,omitempty"` // Leader, Follower, Candidate
	AppliedIndex uint64 `json:"appliedIndex,omitempty"`
	CommitIndex  uint64 `json:"commitIndex,omitempty"`
	LastLogIndex uint64 `json:"lastLogIndex,omitempty"`
	Error        string `json:"error,omitempty"`
}

// uiClusterState is the servers of the cluster, as this one sees them.
type uiClusterState struct {
	Self    string     `json:"self"` // the server answering
	Leader  string     `json:"leader"`
	Servers []uiServer `json:"servers"`
	Time    string     `json:"time"`
}

// uiIdentity is what the caller's token may see.
type uiIdentity struct {
	Token      string   `json:"token"`
	Role       string   `json:"role"`
	Namespaces []string `json:"namespaces"` // empty: every namespace
}

// uiCluster answers GET /ui/api/cluster: the servers and the caller.
func (a *Agent) uiCluster(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := a.authorize(c, pb.Cluster_Peers_FullMethodName, &pb.PeersRequest{}); err != nil {
		return err
	}
	you := uiIdentity{Token: c.token.Metadata.Name, Role: c.token.Spec.Role, Namespaces: c.token.Spec.Namespaces}
	if you.Namespaces == nil {
		you.Namespaces = []string{}
	}
	writeJSON(w, http.StatusOK, struct {
		*uiClusterState
		You uiIdentity `json:"you"`
	}{a.uiClusterState(r.Context()), you})
	return nil
}

// uiPeerTimeout bounds how long the dashboard waits for another server's
// state.
const uiPeerTimeout = time.Second

// uiClusterState asks every Raft server for its role and indexes (this
// one from its own Raft, the others through Cluster.Info), at once.
func (a *Agent) uiClusterState(ctx context.Context) *uiClusterState {
	st := &uiClusterState{Self: a.cfg.Name, Time: a.now()}
	st.Leader, _ = a.node.Leader()
	apiAddr := map[string]string{}
	for _, s := range a.fsm.View().Servers() {
		apiAddr[s.ID] = s.APIAddr
	}
	servers, err := a.node.Servers()
	if err != nil {
		st.Servers = []uiServer{{ID: a.cfg.Name, Error: err.Error()}}
		return st
	}
	st.Servers = make([]uiServer, len(servers))
	var wg sync.WaitGroup
	for i, p := range servers {
		s := &st.Servers[i]
		s.ID, s.APIAddr, s.Voter = p.ID, apiAddr[p.ID], p.Voter
		if p.ID == a.cfg.Name {
			rs := a.node.Status()
			s.APIAddr, s.State, s.AppliedIndex, s.CommitIndex, s.LastLogIndex = a.APIAddr(), rs.State, a.fsm.Index(), rs.CommitIndex, rs.LastIndex
			continue
		}
		if s.APIAddr == "" {
			s.Error = "its API address is not known yet"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.askServer(ctx, s)
		}()
	}
	wg.Wait()
	return st
}

// askServer fills s from the server's own answer to Cluster.Info.
func (a *Agent) askServer(ctx context.Context, s *uiServer) {
	conn, err := a.conns.get(s.APIAddr)
	if err != nil {
		s.Error = err.Error()
		return
	}
	ctx, cancel := context.WithTimeout(ctx, uiPeerTimeout)
	defer cancel()
	info, err := pb.NewClusterClient(conn).Info(ctx, &pb.InfoRequest{}, grpc.WaitForReady(false))
	if err != nil {
		s.Error = "unreachable: " + uiErrorOf(err).msg
		return
	}
	s.State, s.AppliedIndex, s.CommitIndex, s.LastLogIndex = info.State, info.AppliedIndex, info.CommitIndex, info.LastLogIndex
}
