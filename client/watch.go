package client

import (
	"context"
	"time"

	"github.com/berth-dev/berth/api"
	pb "github.com/berth-dev/berth/proto/berthpb"
)

// Event is one change seen by a watch. A watch that ends for good sends a
// last Event with Err set (IsCompacted(Err): list again).
type Event struct {
	// Type is ADDED, MODIFIED or DELETED.
	Type     string
	Kind     string
	Revision uint64
	Object   api.Object
	Err      error
}

// Watch streams every change of kind ("" for every kind) in namespace ns
// ("" for all) after revision from (0: from now), in commit order. When a
// server goes away the watch resumes on another from the last revision
// seen, so no change is missed or repeated. The channel closes when ctx
// ends or after an Event with Err.
func (c *Client) Watch(ctx context.Context, kind, ns string, from uint64, opts ...ReadOption) <-chan Event {
	o := readOpts(opts)
	out := make(chan Event, 64)
	go func() {
		defer close(out)
		pos := &watchPos{done: from}
		backoff := 20 * time.Millisecond
		for ctx.Err() == nil {
			err := c.watchOnce(ctx, &pb.WatchRequest{Kind: kind, Namespace: ns, LabelSelector: o.selector}, pos, out)
			if ctx.Err() != nil {
				return
			}
			if err != nil && !retryable(err) {
				select {
				case out <- Event{Err: wrap(err)}:
				case <-ctx.Done():
				}
				return
			}
			c.mu.Lock()
			c.next++
			c.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Second)
		}
	}()
	return out
}

// watchPos is how far a watch has come. Several events may share a
// revision (a multi-document apply), and a stream may break between them:
// so the position is the last revision seen whole, plus how many events of
// the next one were delivered already. Every server sends a revision's
// events in the same order, so a resumed watch skips exactly those.
type watchPos struct {
	done    uint64 // every event up to this revision was delivered
	partial uint64 // the revision being delivered, or 0
	n       int    // events of partial delivered
}

// watchOnce follows one server until its stream breaks.
func (c *Client) watchOnce(ctx context.Context, req *pb.WatchRequest, pos *watchPos, out chan<- Event) error {
	c.mu.Lock()
	addr := c.addrs[c.next%len(c.addrs)]
	c.mu.Unlock()
	conn, err := c.conn(addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req.Revision = pos.done
	stream, err := pb.NewResourcesClient(conn).Watch(ctx, req)
	if err != nil {
		return err
	}
	skip := pos.n // events of pos.partial this server will send again
	for {
		ev, err := stream.Recv()
		if err != nil {
			return err
		}
		if ev.Type == "BOOKMARK" {
			if ev.Revision >= pos.partial && ev.Revision > pos.done {
				pos.done, pos.partial, pos.n = ev.Revision, 0, 0
			}
			continue
		}
		if ev.Revision == pos.partial && skip > 0 {
			skip--
			continue
		}
		obj, err := Decode(ev.Object)
		if err != nil {
			return err
		}
		select {
		case out <- Event{Type: ev.Type, Kind: ev.Kind, Revision: ev.Revision, Object: obj}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if ev.Revision != pos.partial {
			if pos.partial != 0 {
				pos.done = pos.partial
			}
			pos.partial, pos.n = ev.Revision, 0
		}
		pos.n++
	}
}

func sleepCtx(ctx context.Context) error {
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
