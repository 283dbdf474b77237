package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/api"
)

// eventHeader is the header of get events, kubectl's: the last time
// first, then what happened to which object. Wide adds the reporter,
// the first time, the count and the Event's own name.
func eventHeader(wide bool) []string {
	if wide {
		return []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT", "NAME"}
	}
	return []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}
}

// eventColumns are an Event's cells under eventHeader. LAST SEEN reads
// "5m" for an Event seen once and "5m (x3 over 20m)" for one repeated,
// as kubectl events writes it.
func eventColumns(e *api.Event, wide bool, now time.Time) []string {
	last := humanAge(eventTime(e), now)
	first := humanAge(cmp.Or(e.FirstTimestamp, eventTime(e)), now)
	if e.Count > 1 {
		last = fmt.Sprintf("%s (x%d over %s)", last, e.Count, first)
	}
	ref := e.InvolvedObject
	object := "<none>"
	if ref.Kind != "" || ref.Name != "" {
		object = strings.ToLower(ref.Kind) + "/" + ref.Name
	}
	// A message is one line in a table.
	msg := strings.Join(strings.Fields(e.Message), " ")
	if !wide {
		return []string{last, e.Type, e.Reason, object, msg}
	}
	source := e.Source.Component
	if e.Source.Host != "" {
		source += ", " + e.Source.Host
	}
	return []string{last, e.Type, e.Reason, object, orNone(source), msg, first, fmt.Sprint(max(e.Count, 1)), e.Metadata.Name}
}

// eventTime is when an Event last happened: its last time, else its
// first, else when it was made.
func eventTime(e *api.Event) string {
	return cmp.Or(e.LastTimestamp, e.FirstTimestamp, e.Metadata.CreationTimestamp)
}

// sortEvents orders a list of Events by when they last happened, oldest
// first (the newest is the last line, next to the prompt), then by name.
func sortEvents(objs []api.Object) {
	at := func(o api.Object) time.Time {
		e, ok := o.(*api.Event)
		if !ok {
			return time.Time{}
		}
		t, _ := time.Parse(time.RFC3339, eventTime(e))
		return t
	}
	slices.SortStableFunc(objs, func(a, b api.Object) int {
		if c := at(a).Compare(at(b)); c != 0 {
			return c
		}
		return strings.Compare(a.GetObjectMeta().Name, b.GetObjectMeta().Name)
	})
}
