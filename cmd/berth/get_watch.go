package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// runWatch is get --watch, as kubectl's: the objects as they are (not
// with --watch-only), then each change, until interrupted. The list is
// bounded by --timeout; the watch is not.
func (o *getOptions) runWatch(cmd *cobra.Command, r getRequest) error {
	timeout, err := commandTimeout(cmd)
	if err != nil {
		return err
	}
	c, closeClient, err := newClient(cmd)
	if err != nil {
		return err
	}
	defer closeClient()
	ctx, stop := watchContext(cmd)
	defer stop()

	var listOpts, watchOpts []client.ReadOption
	if o.selector != "" {
		listOpts = append(listOpts, client.LabelSelector(o.selector))
		watchOpts = append(watchOpts, client.LabelSelector(o.selector))
	}
	if o.stale {
		listOpts = append(listOpts, client.Stale())
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	objs, rev, err := c.List(lctx, r.info.Kind, r.namespace, listOpts...)
	var allocated map[string]api.Resources
	if err == nil {
		allocated, err = o.allocated(lctx, c, r)
	}
	cancel()
	if err != nil {
		return userError(err)
	}
	return o.stream(cmd, r, objs, allocated, c.Watch(ctx, r.info.Kind, r.namespace, rev, watchOpts...), rev, time.Now)
}

// stream prints what runWatch listed, then the events until they end;
// now is the clock of the AGE columns.
func (o *getOptions) stream(cmd *cobra.Command, r getRequest, objs []api.Object, allocated map[string]api.Resources, events <-chan client.Event, rev uint64, now func() time.Time) error {
	if r.name != "" {
		obj := findNamed(objs, r.name)
		if obj == nil {
			return fmt.Errorf("%s %q not found", resourceName(r.info.Kind), r.name)
		}
		objs = []api.Object{obj}
	}
	out := cmd.OutOrStdout()
	s := &objectStream{
		w: out, format: o.output, name: r.name, kind: r.info.Kind, withEvents: o.watchEvents,
		table: o.tableOptions(r, time.Time{}, allocated, useColor(out)), now: now,
	}
	if r.info.Kind == "Event" {
		objs = slices.Clone(objs)
		sortEvents(objs)
	}
	if !o.watchOnly {
		if len(objs) == 0 && (o.output == outTable || o.output == outWide) {
			fmt.Fprintln(cmd.ErrOrStderr(), noResources(r.namespace))
		}
		if err := s.list(objs); err != nil {
			return err
		}
	}
	return forEachEvent(events, rev, s.event)
}

// noResources is get's message for an empty list.
func noResources(ns string) string {
	if ns != "" {
		return fmt.Sprintf("No resources found in %s namespace.", ns)
	}
	return "No resources found"
}

// objectStream prints get --watch: objects in one format as they come,
// a table's rows in columns as wide as the widest cell printed so far
// (the rows above are not redrawn: a wider cell shifts the rest of its
// row and of the rows after it).
type objectStream struct {
	w          io.Writer
	format     string // table, wide, yaml, json or name
	kind       string
	name       string // only this object; "" for all
	withEvents bool   // an EVENT column, or {type, object} documents
	table      tableOptions
	now        func() time.Time

	widths  []int // the columns' widths, once the header is printed
	printed int   // the documents printed, for yaml's separators
}

// list prints the objects as they are, each as an ADDED change.
func (s *objectStream) list(objs []api.Object) error {
	evs := make([]client.Event, len(objs))
	for i, obj := range objs {
		evs[i] = client.Event{Type: "ADDED", Object: obj}
	}
	return s.print(evs)
}

// event prints one change of the watch; others' changes are skipped when
// the stream follows one object.
func (s *objectStream) event(ev client.Event) error {
	if s.name != "" && ev.Object.GetObjectMeta().Name != s.name {
		return nil
	}
	return s.print([]client.Event{ev})
}

func (s *objectStream) print(evs []client.Event) error {
	if len(evs) == 0 {
		return nil
	}
	switch s.format {
	case outTable, outWide:
		return s.rows(evs)
	case outName:
		var b strings.Builder
		for _, ev := range evs {
			if s.withEvents {
				b.WriteString(ev.Type + " ")
			}
			b.WriteString(objectName(ev.Object) + "\n")
		}
		_, err := io.WriteString(s.w, b.String())
		return err
	}
	for _, ev := range evs {
		if err := s.document(ev); err != nil {
			return err
		}
	}
	return nil
}

// rows prints the events as table rows, with the header before the
// first ones.
func (s *objectStream) rows(evs []client.Event) error {
	opts := s.table
	opts.now = s.now()
	t := kindTable(s.kind, opts)
	if s.withEvents {
		t.prependColumn("EVENT")
	}
	header := s.widths == nil
	if !header {
		t.rows = t.rows[1:]
	}
	for _, ev := range evs {
		row := tableRow(ev.Object, opts)
		if s.withEvents {
			row = append([]string{ev.Type}, row...)
		}
		t.add(row...)
	}
	widths := t.widths()
	for i := range min(len(widths), len(s.widths)) {
		widths[i] = max(widths[i], s.widths[i])
	}
	s.widths = widths
	var b strings.Builder
	for i, row := range t.rows {
		writeRow(&b, row, widths, opts.color && !(header && i == 0), t.styled)
	}
	_, err := io.WriteString(s.w, b.String())
	return err
}

// watchDocument is one change of --output-watch-events in json or yaml.
type watchDocument struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// document prints one object as json or yaml (a "---" line between two
// yaml documents), or with --output-watch-events, the change around it.
func (s *objectStream) document(ev client.Event) error {
	raw, err := api.Encode(ev.Object)
	if err != nil {
		return err
	}
	if s.withEvents {
		if raw, err = json.Marshal(watchDocument{Type: ev.Type, Object: raw}); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if s.format == outYAML {
		y, err := yaml.JSONToYAML(raw)
		if err != nil {
			return err
		}
		if s.printed > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(y)
	} else {
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return err
		}
		buf.WriteByte('\n')
	}
	s.printed++
	_, err = buf.WriteTo(s.w)
	return err
}
