package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	pb "github.com/berth-dev/berth/proto/berthpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// maxMessageBytes bounds one message; the server's limit is the same.
const maxMessageBytes = 64 << 20

// Option configures a Client.
type Option func(*Client)

// WithTimeout sets how long a call may take, retries included, when its
// context has no deadline (default 30 s).
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithUnreachableTimeout sets how long a call goes on when no server can be
// connected to at all (default 5 s): a wrong address fails fast, a cluster
// whose servers restart is waited for.
func WithUnreachableTimeout(d time.Duration) Option { return func(c *Client) { c.unreachable = d } }

// WithAttemptTimeout bounds one try against one server (default 5 s), so
// that a paused server does not hold a call.
func WithAttemptTimeout(d time.Duration) Option { return func(c *Client) { c.attempt = d } }

// Client talks to a Berth cluster. It is safe for concurrent use.
type Client struct {
	addrs       []string
	tls         *tls.Config
	token       string
	timeout     time.Duration
	attempt     time.Duration
	unreachable time.Duration

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
	next  int // the address to try first
	// leader is the leader's API address as the last answer named it, if it
	// is one of addrs: calls go there first and save a forwarding hop.
	leader string
}

// New returns a client of the servers at addrs (host:port of their API).
// It does not connect until the first call.
func New(addrs []string, opts ...Option) (*Client, error) {
	if len(addrs) == 0 {
		return nil, errors.New("client: no server address")
	}
	c := &Client{addrs: addrs, timeout: 30 * time.Second, attempt: 5 * time.Second, unreachable: 5 * time.Second, conns: map[string]*grpc.ClientConn{}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Close closes the connections.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = map[string]*grpc.ClientConn{}
	return nil
}

func (c *Client) conn(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn, ok := c.conns[addr]; ok {
		return conn, nil
	}
	creds := insecure.NewCredentials()
	if c.tls != nil {
		creds = credentials.NewTLS(c.tls)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithChainUnaryInterceptor(c.learnLeader),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)),
	}
	if c.token != "" && c.tls != nil {
		opts = append(opts, grpc.WithPerRPCCredentials(tokenCreds(c.token)))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("client: %s: %w", addr, err)
	}
	c.conns[addr] = conn
	return conn, nil
}

// leaderTrailer is the trailer in which servers name the leader's API
// address.
const leaderTrailer = "berth-leader"

// learnLeader remembers the leader a server names in its answer.
func (c *Client) learnLeader(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	var md metadata.MD
	err := invoker(ctx, method, req, reply, cc, append(opts, grpc.Trailer(&md))...)
	// Only an address the client was given: a client of one server stays
	// with it.
	if v := md.Get(leaderTrailer); len(v) > 0 && err == nil && slices.Contains(c.addrs, v[0]) {
		c.mu.Lock()
		c.leader = v[0]
		c.mu.Unlock()
	}
	return err
}

// notConnected reports whether err is a failure to connect, not an answer.
func notConnected(err error) bool {
	s, _ := status.FromError(err)
	return s.Code() == codes.Unavailable && strings.Contains(s.Message(), "connection error")
}

// retryable reports whether another try may succeed: the server was not
// reachable, had no leader, or did not answer in time.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// do runs fn against the servers in turn until it succeeds, fails for good,
// or the call's time runs out.
func (c *Client) do(ctx context.Context, fn func(ctx context.Context, conn *grpc.ClientConn) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	backoff := 20 * time.Millisecond
	var unreachableSince time.Time
	for {
		conn, err := c.conn(c.pick())
		if err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, c.attempt)
		err = fn(actx, conn)
		cancel()
		if err == nil || !retryable(err) {
			return wrap(err)
		}
		if ctx.Err() != nil {
			return wrap(err)
		}
		if !notConnected(err) {
			unreachableSince = time.Time{}
		} else if unreachableSince.IsZero() {
			unreachableSince = time.Now()
		} else if time.Since(unreachableSince) > c.unreachable {
			return c.unreachableError(err)
		}
		if !c.moveOn(ctx, &backoff) {
			return wrap(err)
		}
	}
}

// pick is the server the next try goes to: the leader when known.
func (c *Client) pick() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader != "" {
		return c.leader
	}
	return c.addrs[c.next%len(c.addrs)]
}

// moveOn makes the next try go to the next server, after a back-off that
// doubles up to a second; false when ctx ended meanwhile.
func (c *Client) moveOn(ctx context.Context, backoff *time.Duration) bool {
	c.mu.Lock()
	if c.leader == "" {
		c.next++
	}
	c.leader = ""
	c.mu.Unlock()
	t := time.NewTimer(*backoff)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	*backoff = min(*backoff*2, time.Second)
	return true
}

// unreachableError says that no server could be connected to, with the
// last reason in a few words ("connection refused", not gRPC's whole
// story).
func (c *Client) unreachableError(err error) error {
	why := status.Convert(err).Message()
	if i := strings.LastIndex(why, ": "); i >= 0 {
		why = strings.Trim(why[i+2:], `"`)
	}
	return &Error{Code: codes.Unavailable, Message: fmt.Sprintf("cannot reach any server of %s (%s)", strings.Join(c.addrs, ","), why)}
}

// WriteRetryWindow is how long after its first try a write is retried. The
// servers remember a request ID for a minute of the leader's time
// (fsm.RequestTTL); retrying later could apply a write twice, so after this
// window a write whose answer was lost fails as unavailable (its outcome
// unknown), even if the call's timeout is longer.
const WriteRetryWindow = 45 * time.Second

// writeCtx bounds a write's retries by WriteRetryWindow (and by the
// client's timeout when ctx has no deadline).
func (c *Client) writeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	d := WriteRetryWindow
	if _, ok := ctx.Deadline(); !ok && c.timeout < d {
		d = c.timeout
	}
	return context.WithTimeout(ctx, d)
}

// NewRequestID returns a random ID for a write.
func NewRequestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// Result is the outcome of one object's write.
type Result struct {
	// Action is created, configured, unchanged or deleted.
	Action string
	// Object is the object as stored. When a retried write was applied
	// already, it is the object as it is now (nil if it is gone).
	Object api.Object
	// Revision is the revision of the write.
	Revision uint64
}

// Apply creates or replaces every object, all or nothing.
func (c *Client) Apply(ctx context.Context, objs ...api.Object) ([]Result, error) {
	return c.write(ctx, objs, func(cl pb.ResourcesClient) writeFn { return cl.Apply })
}

// Create creates every object, all or nothing; one that exists fails the
// whole call (IsAlreadyExists).
func (c *Client) Create(ctx context.Context, objs ...api.Object) ([]Result, error) {
	return c.write(ctx, objs, func(cl pb.ResourcesClient) writeFn { return cl.Create })
}

// Update replaces every object, all or nothing. An object whose
// metadata.resourceVersion is set fails with a conflict (IsConflict) if it
// has changed since.
func (c *Client) Update(ctx context.Context, objs ...api.Object) ([]Result, error) {
	return c.write(ctx, objs, func(cl pb.ResourcesClient) writeFn { return cl.Update })
}

type writeFn func(context.Context, *pb.WriteRequest, ...grpc.CallOption) (*pb.WriteResponse, error)

func (c *Client) write(ctx context.Context, objs []api.Object, method func(pb.ResourcesClient) writeFn) ([]Result, error) {
	ctx, cancel := c.writeCtx(ctx)
	defer cancel()
	req := &pb.WriteRequest{RequestId: NewRequestID()}
	for _, o := range objs {
		b, err := api.Encode(o)
		if err != nil {
			return nil, err
		}
		req.Objects = append(req.Objects, b)
	}
	var resp *pb.WriteResponse
	err := c.do(ctx, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = method(pb.NewResourcesClient(conn))(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return results(resp)
}

func results(resp *pb.WriteResponse) ([]Result, error) {
	out := make([]Result, 0, len(resp.Results))
	for _, r := range resp.Results {
		var obj api.Object
		if len(r.Object) > 0 { // absent when a retried delete was applied already
			var err error
			if obj, err = Decode(r.Object); err != nil {
				return nil, err
			}
		}
		out = append(out, Result{Action: r.Action, Object: obj, Revision: resp.Revision})
	}
	return out, nil
}

// Ref names one object. ResourceVersion, when set, is a precondition.
type Ref struct {
	Kind, Namespace, Name string
	ResourceVersion       uint64
}

// Delete deletes every named object, all or nothing.
func (c *Client) Delete(ctx context.Context, refs ...Ref) ([]Result, error) {
	ctx, cancel := c.writeCtx(ctx)
	defer cancel()
	req := &pb.DeleteRequest{RequestId: NewRequestID()}
	for _, r := range refs {
		req.Refs = append(req.Refs, &pb.ObjectRef{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name, ResourceVersion: r.ResourceVersion})
	}
	var resp *pb.WriteResponse
	err := c.do(ctx, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = pb.NewResourcesClient(conn).Delete(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return results(resp)
}

// ReadOption tunes a read.
type ReadOption func(*readOptions)

type readOptions struct {
	stale    bool
	selector string
}

// Stale reads the answering server's replica without a linearizable
// barrier: faster, and possibly behind.
func Stale() ReadOption { return func(o *readOptions) { o.stale = true } }

// LabelSelector filters a list or watch ("app=web,tier!=db").
func LabelSelector(s string) ReadOption { return func(o *readOptions) { o.selector = s } }

func readOpts(opts []ReadOption) readOptions {
	var o readOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Get reads one object. kind is a Kind ("ConfigMap") or a resource name
// ("cm"); ns is ignored for cluster-scoped kinds and defaults to "default".
func (c *Client) Get(ctx context.Context, kind, ns, name string, opts ...ReadOption) (api.Object, error) {
	o := readOpts(opts)
	var resp *pb.GetResponse
	err := c.do(ctx, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		resp, err = pb.NewResourcesClient(conn).Get(ctx, &pb.GetRequest{Ref: &pb.ObjectRef{Kind: kind, Namespace: ns, Name: name}, Stale: o.stale})
		return err
	})
	if err != nil {
		return nil, err
	}
	return Decode(resp.Object)
}

// List reads the objects of a kind in a namespace ("" for all), sorted by
// namespace and name, and the revision they were read at.
//
// Servers answer a long list in pages, each read from the same snapshot;
// List reads them all. A page whose server was lost meanwhile makes it
// list again from the start (once).
func (c *Client) List(ctx context.Context, kind, ns string, opts ...ReadOption) ([]api.Object, uint64, error) {
	o := readOpts(opts)
	for attempt := 0; ; attempt++ {
		var out []api.Object
		var rev uint64
		req := &pb.ListRequest{Kind: kind, Namespace: ns, LabelSelector: o.selector, Stale: o.stale}
		var conn *grpc.ClientConn // later pages go where the first was read
		for {
			var resp *pb.ListResponse
			var err error
			if conn == nil {
				err = c.do(ctx, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
					resp, err = pb.NewResourcesClient(cc).List(ctx, req)
					conn = cc
					return err
				})
			} else {
				resp, err = pb.NewResourcesClient(conn).List(ctx, req)
				err = wrap(err)
			}
			if req.Continue != "" && hasCode(err, codes.OutOfRange) && attempt == 0 {
				break // the server lost the rest: list again
			}
			if err != nil {
				return nil, 0, err
			}
			if req.Continue == "" {
				rev = resp.Revision
			}
			for _, raw := range resp.Objects {
				obj, err := Decode(raw)
				if err != nil {
					return nil, 0, err
				}
				out = append(out, obj)
			}
			if resp.Continue == "" {
				return out, rev, nil
			}
			req.Continue = resp.Continue
		}
	}
}

// Decode turns an object's JSON, as the server sends it, into its api type.
func Decode(raw []byte) (api.Object, error) {
	var tm api.TypeMeta
	if err := json.Unmarshal(raw, &tm); err != nil {
		return nil, fmt.Errorf("client: decode object: %w", err)
	}
	return api.DecodeStored(tm.Kind, raw)
}
