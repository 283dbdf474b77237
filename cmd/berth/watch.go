package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
)

// watchOptions are the flags of watch.
type watchOptions struct {
	namespace string
	all       bool
	selector  string
	revision  uint64
	output    string
}

func newWatchCmd() *cobra.Command {
	var o watchOptions
	cmd := &cobra.Command{
		Use:   "watch KIND",
		Short: "Stream the changes of a kind's objects until interrupted",
		Args:  kindArgs("watch", 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(o.output, outTable, outJSON); err != nil {
				return err
			}
			info, err := resolveKind(args[0])
			if err != nil {
				return err
			}
			if _, err := api.ParseSelector(o.selector); err != nil {
				return err
			}
			c, closeClient, err := newClient(cmd)
			if err != nil {
				return err
			}
			defer closeClient()
			// No --timeout here: a watch runs until interrupted.
			ctx, stop := watchContext(cmd)
			defer stop()
			var opts []client.ReadOption
			if o.selector != "" {
				opts = append(opts, client.LabelSelector(o.selector))
			}
			ns := namespaceFor(info, o.namespace, o.all)
			events := c.Watch(ctx, info.Kind, ns, o.revision, opts...)
			return streamEvents(cmd.OutOrStdout(), events, o.output, info.Namespaced, o.revision)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.namespace, "namespace", "n", "default", "namespace of a namespaced kind")
	f.BoolVarP(&o.all, "all-namespaces", "A", false, "watch every namespace")
	f.StringVarP(&o.selector, "selector", "l", "", "label selector, such as app=web,tier!=db")
	f.Uint64Var(&o.revision, "revision", 0, "stream the changes after this revision (0: from now)")
	f.StringVarP(&o.output, "output", "o", outTable, "output format: table or json")
	return cmd
}

// streamEvents prints events until the channel closes (the watch's context
// ended: a normal end) or an event carries an error.
func streamEvents(w io.Writer, events <-chan client.Event, format string, namespaced bool, from uint64) error {
	p := &eventPrinter{w: w, format: format, namespaced: namespaced}
	return forEachEvent(events, from, p.print)
}

// forEachEvent hands each event to fn until the channel closes (the
// watch's context ended: a normal end), fn fails, or an event carries an
// error; from is the revision the watch started after, for the message
// of a compacted one.
func forEachEvent(events <-chan client.Event, from uint64, fn func(client.Event) error) error {
	for ev := range events {
		if ev.Err != nil {
			if client.IsCompacted(ev.Err) {
				return fmt.Errorf("revision %d is compacted; list again and watch from the list's revision", from)
			}
			return userError(ev.Err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}

// watchContext is the context of a command that runs until interrupted
// (SIGINT or SIGTERM), with no --timeout.
func watchContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}

// eventPrinter writes watch events as table lines or JSON lines. Table
// columns have fixed widths, so every line is aligned as it comes; the
// NAMESPACE column is left out for cluster-scoped kinds.
type eventPrinter struct {
	w          io.Writer
	format     string
	namespaced bool
	header     bool // the table header is written
}

// eventLine is one line of -o json.
type eventLine struct {
	Type     string          `json:"type"`
	Revision uint64          `json:"revision"`
	Object   json.RawMessage `json:"object"`
}

func (p *eventPrinter) print(ev client.Event) error {
	if p.format == outJSON {
		raw, err := api.Encode(ev.Object)
		if err != nil {
			return err
		}
		b, err := json.Marshal(eventLine{Type: ev.Type, Revision: ev.Revision, Object: raw})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.w, "%s\n", b)
		return err
	}
	if !p.header {
		p.header = true
		if err := p.row("REVISION", "EVENT", "NAMESPACE", "NAME"); err != nil {
			return err
		}
	}
	md := ev.Object.GetObjectMeta()
	return p.row(fmt.Sprint(ev.Revision), ev.Type, md.Namespace, md.Name)
}

func (p *eventPrinter) row(rev, typ, ns, name string) error {
	var err error
	if p.namespaced {
		_, err = fmt.Fprintf(p.w, "%-10s %-10s %-20s %s\n", rev, typ, ns, name)
	} else {
		_, err = fmt.Fprintf(p.w, "%-10s %-10s %s\n", rev, typ, name)
	}
	return err
}
