package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/controller"
	"github.com/berth-dev/berth/fsm"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// resourceServer implements the Resources service.
type resourceServer struct {
	pb.UnimplementedResourcesServer
	a *Agent
}

func (s *resourceServer) Apply(ctx context.Context, req *pb.WriteRequest) (*pb.WriteResponse, error) {
	return s.write(ctx, pb.Resources_Apply_FullMethodName, fsm.VerbApply, req)
}

func (s *resourceServer) Create(ctx context.Context, req *pb.WriteRequest) (*pb.WriteResponse, error) {
	return s.write(ctx, pb.Resources_Create_FullMethodName, fsm.VerbCreate, req)
}

func (s *resourceServer) Update(ctx context.Context, req *pb.WriteRequest) (*pb.WriteResponse, error) {
	return s.write(ctx, pb.Resources_Update_FullMethodName, fsm.VerbUpdate, req)
}

func (s *resourceServer) write(ctx context.Context, method string, verb fsm.Verb, req *pb.WriteRequest) (*pb.WriteResponse, error) {
	c := callerOf(ctx)
	if !s.a.node.IsLeader() {
		if err := s.a.checkWrites(c, req); err != nil {
			return nil, err
		}
		resp := new(pb.WriteResponse)
		return resp, s.a.forward(ctx, method, req, resp)
	}
	if len(req.Objects) == 0 {
		return nil, status.Error(codes.InvalidArgument, "no objects to write")
	}
	cmd := &fsm.Command{Type: fsm.CmdWrite, RequestID: req.RequestId, Time: s.a.now()}
	plain := map[int]map[string][]byte{} // Secrets' values before sealing, by op
	for i, raw := range req.Objects {
		op, err := writeOp(verb, raw, func(obj api.Object) error {
			if err := s.a.checkWrite(c, obj); err != nil {
				return err
			}
			if sec, ok := obj.(*api.Secret); ok {
				plain[i] = sec.Data
				return s.a.seal(ctx, sec)
			}
			return nil
		})
		if err != nil {
			if len(req.Objects) > 1 {
				err = fmt.Errorf("document %d: %w", i+1, err)
			}
			return nil, toStatus(err)
		}
		cmd.Ops = append(cmd.Ops, op)
		if op.Kind == "Service" {
			cmd.ServiceNet = &s.a.cfg.ServiceNet
		}
	}
	return s.commit(ctx, cmd, plain)
}

// writeOp checks one object, has prepare change it (a Secret is sealed),
// and turns it into an Op. The leader stamps a UID, used if the object is
// created.
func writeOp(verb fsm.Verb, raw []byte, prepare func(api.Object) error) (fsm.Op, error) {
	obj, err := api.DecodeObject(raw)
	if err != nil {
		return fsm.Op{}, err
	}
	if err := prepare(obj); err != nil {
		return fsm.Op{}, err
	}
	m := obj.GetObjectMeta()
	var rv uint64
	if m.ResourceVersion != "" {
		rv, err = strconv.ParseUint(m.ResourceVersion, 10, 64)
		if err != nil {
			return fsm.Op{}, fmt.Errorf("%s: %w: metadata.resourceVersion %q is not a number", api.Describe(obj), api.ErrInvalid, m.ResourceVersion)
		}
	}
	// Server-set fields are the server's: what the client sent is dropped.
	m.UID, m.CreationTimestamp, m.Generation, m.ResourceVersion = "", "", 0, ""
	op, err := fsm.ObjectOp(verb, obj)
	op.UID, op.ResourceVersion = controller.NewUID(), rv
	return op, err
}

// commit applies a write; plain holds the values of the Secrets it wrote,
// by op, for the answer.
func (s *resourceServer) commit(ctx context.Context, cmd *fsm.Command, plain map[int]map[string][]byte) (*pb.WriteResponse, error) {
	res, err := s.a.node.Apply(ctx, cmd)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.WriteResponse{Revision: res.Index}
	for i, r := range res.Results {
		var p map[string][]byte
		if r.Action != fsm.ActionDeleted {
			p = plain[i]
		}
		obj, err := s.a.present(ctx, cmd.Ops[i].Kind, r.Object, p)
		if err != nil {
			return nil, err
		}
		resp.Results = append(resp.Results, &pb.WriteResult{Action: string(r.Action), Object: obj})
	}
	return resp, nil
}

func (s *resourceServer) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.WriteResponse, error) {
	if !s.a.node.IsLeader() {
		resp := new(pb.WriteResponse)
		return resp, s.a.forward(ctx, pb.Resources_Delete_FullMethodName, req, resp)
	}
	if len(req.Refs) == 0 {
		return nil, status.Error(codes.InvalidArgument, "nothing to delete")
	}
	cmd := &fsm.Command{Type: fsm.CmdWrite, RequestID: req.RequestId, Time: s.a.now()}
	for _, ref := range req.Refs {
		info, err := kindOf(ref.Kind)
		if err != nil {
			return nil, err
		}
		ns := ref.Namespace
		if !info.Namespaced {
			ns = ""
		} else if ns == "" {
			ns = "default"
		}
		cmd.Ops = append(cmd.Ops, fsm.Op{Verb: fsm.VerbDelete, Kind: info.Kind, Namespace: ns, Name: ref.Name, ResourceVersion: ref.ResourceVersion})
	}
	return s.commit(ctx, cmd, nil)
}

func kindOf(kind string) (api.KindInfo, error) {
	info, ok := api.LookupKind(kind)
	if !ok {
		info, ok = api.ResolveResource(kind)
	}
	if !ok {
		return info, status.Errorf(codes.InvalidArgument, "unknown kind %q", kind)
	}
	return info, nil
}

// readView returns the local state after a linearizable barrier, or at
// once for a stale read.
func (s *resourceServer) readView(ctx context.Context, stale bool) (*fsm.View, error) {
	if !stale {
		if err := s.a.linearize(ctx); err != nil {
			return nil, toStatus(err)
		}
	}
	return s.a.fsm.View(), nil
}

func (s *resourceServer) Get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	if req.Ref == nil {
		return nil, status.Error(codes.InvalidArgument, "get needs an object reference")
	}
	info, err := kindOf(req.Ref.Kind)
	if err != nil {
		return nil, err
	}
	v, err := s.readView(ctx, req.Stale)
	if err != nil {
		return nil, err
	}
	ns := namespaceFor(info, req.Ref.Namespace)
	r, err := v.Get(info.Kind, ns, req.Ref.Name)
	if err != nil {
		return nil, toStatus(err)
	}
	obj, err := s.a.present(ctx, info.Kind, r.Object, nil)
	if err != nil {
		return nil, err
	}
	return &pb.GetResponse{Object: obj, Revision: v.Revision()}, nil
}

func namespaceFor(info api.KindInfo, ns string) string {
	if !info.Namespaced {
		return ""
	}
	if ns == "" {
		return "default"
	}
	return ns
}

func (s *resourceServer) List(ctx context.Context, req *pb.ListRequest) (*pb.ListResponse, error) {
	c := callerOf(ctx)
	limit := int(req.Limit)
	if limit < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "list: limit %d is negative", req.Limit)
	}
	if c == nil || !c.agent() || limit > 0 {
		// Users get pages; agents, which list to watch on, the whole list.
		if limit == 0 || limit > MaxListPage {
			limit = MaxListPage
		}
	}
	var recs []*fsm.Record
	var rev uint64
	if req.Continue != "" {
		var err error
		if recs, rev, err = s.a.lists.take(req.Continue, listKey(c, req)); err != nil {
			return nil, err
		}
	} else {
		info, err := kindOf(req.Kind)
		if err != nil {
			return nil, err
		}
		sel, err := api.ParseSelector(req.LabelSelector)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		v, err := s.readView(ctx, req.Stale)
		if err != nil {
			return nil, err
		}
		if recs, err = v.List(info.Kind, req.Namespace, sel); err != nil {
			return nil, toStatus(err)
		}
		rev = v.Revision()
	}
	resp := &pb.ListResponse{Revision: rev}
	if limit > 0 && len(recs) > limit {
		resp.Continue = s.a.lists.put(recs[limit:], rev, listKey(c, req))
		recs = recs[:limit]
	}
	for _, r := range recs {
		obj, err := s.a.present(ctx, r.Kind, r.Object, nil)
		if err != nil {
			return nil, err
		}
		resp.Objects = append(resp.Objects, obj)
	}
	return resp, nil
}

// MaxListPage is the most objects one List answer holds for a user.
const MaxListPage = 500

// listKey ties a continued list to its caller and its question.
func listKey(c *caller, req *pb.ListRequest) string {
	who := ""
	if c != nil {
		who = c.key()
	}
	return strings.Join([]string{who, req.Kind, req.Namespace, req.LabelSelector}, "\x00")
}

// listCursors keep the rest of the lists being read page by page: the
// records of the snapshot the first page was read from, so every page
// comes from the same revision. A cursor lives a minute; a server keeps
// 256 at most.
type listCursors struct {
	mu sync.Mutex
	m  map[string]*listCursor
}

type listCursor struct {
	recs    []*fsm.Record
	rev     uint64
	key     string
	expires time.Time
}

func (l *listCursors) put(recs []*fsm.Record, rev uint64, key string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.m == nil {
		l.m = map[string]*listCursor{}
	}
	for t, c := range l.m {
		if now.After(c.expires) {
			delete(l.m, t)
		}
	}
	if len(l.m) >= 256 {
		for t := range l.m { // drop one: its reader lists again
			delete(l.m, t)
			break
		}
	}
	token := controller.NewUID()
	l.m[token] = &listCursor{recs: recs, rev: rev, key: key, expires: now.Add(time.Minute)}
	return token
}

func (l *listCursors) take(token, key string) ([]*fsm.Record, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.m[token]
	if !ok || c.key != key || time.Now().After(c.expires) {
		return nil, 0, status.Error(codes.OutOfRange, "list: the continue token is unknown or expired (or from another server); list again")
	}
	delete(l.m, token)
	return c.recs, c.rev, nil
}

func (s *resourceServer) Watch(req *pb.WatchRequest, stream pb.Resources_WatchServer) error {
	kind := ""
	if req.Kind != "" {
		info, err := kindOf(req.Kind)
		if err != nil {
			return err
		}
		kind = info.Kind
	}
	sel, err := api.ParseSelector(req.LabelSelector)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	ctx := stream.Context()
	c := callerOf(ctx)
	admin := c == nil || c.admin()
	if c != nil && !c.agent() {
		release, err := s.a.watches.acquire(c.key())
		if err != nil {
			return err
		}
		defer release()
	}
	rev := req.Revision
	if rev == 0 {
		rev = s.a.fsm.Index()
	}
	// A bookmark first, so the watcher knows where it starts.
	if err := stream.Send(&pb.WatchEvent{Type: "BOOKMARK", Revision: rev}); err != nil {
		return err
	}
	for {
		evs, wait, err := s.a.fsm.EventsAfter(rev, 512)
		if err != nil {
			return toStatus(err)
		}
		if wait != nil {
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		sent := false
		for _, ev := range evs {
			rev, sent = ev.Revision, false
			if kind != "" && ev.Kind != kind || req.Namespace != "" && ev.Namespace != req.Namespace || !sel.Matches(ev.Labels) {
				continue
			}
			if kind == "" && !admin && api.IsBerthKind(ev.Kind) {
				continue // tokens are for admins' eyes only
			}
			obj, err := s.a.present(ctx, ev.Kind, ev.Object, nil)
			if err != nil {
				return err
			}
			if err := stream.Send(&pb.WatchEvent{Type: string(ev.Type), Kind: ev.Kind, Revision: ev.Revision, Object: json.RawMessage(obj)}); err != nil {
				return err
			}
			sent = true
		}
		if !sent {
			// Tell a filtered watcher how far it has come, so that it can
			// resume from there rather than from a revision long gone.
			if err := stream.Send(&pb.WatchEvent{Type: "BOOKMARK", Revision: rev}); err != nil {
				return err
			}
		}
	}
}
