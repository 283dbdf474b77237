package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
)

// eventsOptions are the flags of `berth events`.
type eventsOptions struct {
	namespace string
	all       bool
	follow    bool
	forObject string
}

func newEventsCmd() *cobra.Command {
	var o eventsOptions
	cmd := &cobra.Command{
		Use:   "events [-f] [-n NS | -A] [--for KIND/NAME]",
		Short: "Show what happened in the cluster, oldest first; -f follows new Events as they happen",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			match, err := eventFilter(o.forObject)
			if err != nil {
				return err
			}
			ns := o.namespace
			if o.all {
				ns = ""
			}
			c, closeClient, err := newClient(cmd)
			if err != nil {
				return err
			}
			defer closeClient()
			ctx, stop := watchContext(cmd)
			defer stop()
			objs, rev, err := c.List(ctx, "Event", ns)
			if err != nil {
				return userError(err)
			}
			evs := eventsOf(objs, match)
			w := cmd.OutOrStdout()
			p := &eventRows{w: w, now: time.Now, namespaces: o.all, color: useColor(w)}
			if len(evs) == 0 && !o.follow {
				where := "namespace " + ns
				if o.all {
					where = "any namespace"
				}
				fmt.Fprintf(w, "No events found in %s.\n", where)
				return nil
			}
			for _, e := range evs {
				p.print(e)
			}
			if !o.follow {
				return nil
			}
			return forEachEvent(c.Watch(ctx, "Event", ns, rev), rev, func(ev client.Event) error {
				if e, ok := ev.Object.(*api.Event); ok && ev.Type != "DELETED" && match(e) {
					p.print(e)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.namespace, "namespace", "n", "default", "namespace of the Events")
	f.BoolVarP(&o.all, "all-namespaces", "A", false, "Events of every namespace")
	f.BoolVarP(&o.follow, "follow", "f", false, "then print new Events as they happen, until interrupted")
	f.BoolVarP(&o.follow, "watch", "w", false, "the same as --follow")
	f.StringVar(&o.forObject, "for", "", "only the Events of one object, KIND/NAME (e.g. pod/web-0, deployment/web)")
	return cmd
}

// eventFilter returns the test of --for KIND/NAME.
func eventFilter(forObject string) (func(*api.Event) bool, error) {
	if forObject == "" {
		return func(*api.Event) bool { return true }, nil
	}
	kind, name, ok := strings.Cut(forObject, "/")
	if !ok || name == "" {
		return nil, fmt.Errorf("--for: %q is not KIND/NAME, such as pod/web-0", forObject)
	}
	info, err := resolveKind(kind)
	if err != nil {
		return nil, fmt.Errorf("--for: %w", err)
	}
	return func(e *api.Event) bool { return e.InvolvedObject.Kind == info.Kind && e.InvolvedObject.Name == name }, nil
}

// eventsOf returns the Events among objs that match, oldest first.
func eventsOf(objs []api.Object, match func(*api.Event) bool) []*api.Event {
	objs = slices.DeleteFunc(slices.Clone(objs), func(o api.Object) bool {
		e, ok := o.(*api.Event)
		return !ok || !match(e)
	})
	sortEvents(objs)
	out := make([]*api.Event, len(objs))
	for i, o := range objs {
		out[i] = o.(*api.Event)
	}
	return out
}

// eventRows prints Events one line each, with get events' columns in
// fixed widths, so that lines printed as they come stay aligned.
type eventRows struct {
	w          io.Writer
	now        func() time.Time
	namespaces bool // a NAMESPACE column
	color      bool
	header     bool
}

// eventWidths are the widths of the columns of eventRows but the last.
var eventWidths = []int{20, 10, 20, 40}

func (p *eventRows) print(e *api.Event) {
	widths, styled := eventWidths, map[int]bool{1: true}
	row := eventColumns(e, false, p.now())
	header := eventHeader(false)
	if p.namespaces {
		widths, styled = append([]int{16}, widths...), map[int]bool{2: true}
		row = append([]string{e.Metadata.Namespace}, row...)
		header = append([]string{"NAMESPACE"}, header...)
	}
	var b strings.Builder
	if !p.header {
		p.header = true
		writeRow(&b, header, widths, false, nil)
	}
	writeRow(&b, row, widths, p.color, styled)
	io.WriteString(p.w, b.String())
}

// describeEvents writes the Events section of `describe`, as kubectl
// does: the object's Events, oldest first.
func describeEvents(w io.Writer, evs []*api.Event, now time.Time) error {
	if len(evs) == 0 {
		_, err := fmt.Fprintln(w, "Events:  <none>")
		return err
	}
	fmt.Fprintln(w, "Events:")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  Type\tReason\tAge\tFrom\tMessage")
	fmt.Fprintln(tw, "  ----\t------\t----\t----\t-------")
	for _, e := range evs {
		// LAST SEEN, TYPE, REASON, OBJECT, SOURCE, MESSAGE, ... of get -o wide
		c := eventColumns(e, true, now)
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c[1], c[2], c[0], c[4], c[5])
	}
	return tw.Flush()
}

// objectEvents returns the Events of one object, oldest first: those
// naming its kind and name and, when both know it, its UID.
func objectEvents(objs []api.Object, obj api.Object) []*api.Event {
	md := obj.GetObjectMeta()
	kind := obj.GetTypeMeta().Kind
	return eventsOf(objs, func(e *api.Event) bool {
		ref := e.InvolvedObject
		return ref.Kind == kind && ref.Name == md.Name && (ref.UID == "" || md.UID == "" || ref.UID == md.UID)
	})
}
