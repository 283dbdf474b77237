package main

import (
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
)

func TestEventsPrinting(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) string { return now.Add(-ago).Format(time.RFC3339) }
	pod := &api.Pod{TypeMeta: api.TypeMeta{Kind: "Pod"}, Metadata: api.ObjectMeta{Name: "huge", Namespace: "default", UID: "u1"}}
	evs := []api.Object{
		&api.Event{Metadata: api.ObjectMeta{Name: "b", Namespace: "default"}, InvolvedObject: api.ObjectReference{Kind: "Pod", Name: "huge", UID: "u1"},
			Type: api.EventWarning, Reason: "FailedScheduling", Message: "0/3 nodes are available: 3 Insufficient cpu.",
			Source: api.EventSource{Component: "scheduler", Host: "s1"}, FirstTimestamp: at(time.Minute), LastTimestamp: at(10 * time.Second), Count: 3},
		&api.Event{Metadata: api.ObjectMeta{Name: "a", Namespace: "default"}, InvolvedObject: api.ObjectReference{Kind: "Pod", Name: "huge", UID: "old"},
			Type: api.EventNormal, Reason: "Scheduled", FirstTimestamp: at(time.Hour), LastTimestamp: at(time.Hour), Count: 1},
		&api.Event{Metadata: api.ObjectMeta{Name: "c", Namespace: "default"}, InvolvedObject: api.ObjectReference{Kind: "Deployment", Name: "huge"},
			Type: api.EventNormal, Reason: "ScalingReplicaSet", LastTimestamp: at(time.Second), Count: 1},
	}
	// describe shows the pod's own Events (not those of an older pod of
	// the same name, nor of another kind).
	var b strings.Builder
	if err := describeEvents(&b, objectEvents(evs, pod), now); err != nil {
		t.Fatal(err)
	}
	want := "Events:\n" +
		"  Type     Reason            Age                From           Message\n" +
		"  ----     ------            ----               ----           -------\n" +
		"  Warning  FailedScheduling  10s (x3 over 60s)  scheduler, s1  0/3 nodes are available: 3 Insufficient cpu.\n"
	if got := b.String(); got != want {
		t.Errorf("describe events:\n%s\nwant:\n%s", got, want)
	}
	b.Reset()
	if err := describeEvents(&b, nil, now); err != nil || b.String() != "Events:  <none>\n" {
		t.Errorf("no events: %q %v", b.String(), err)
	}

	// berth events: oldest first, one line each, no colors off a terminal.
	match, err := eventFilter("po/huge")
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	p := &eventRows{w: &b, now: func() time.Time { return now }}
	for _, e := range eventsOf(evs, match) {
		p.print(e)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "LAST SEEN") || !strings.Contains(lines[1], "Scheduled") ||
		!strings.Contains(lines[2], "10s (x3 over 60s)") || strings.Contains(b.String(), "\x1b") {
		t.Errorf("events --for po/huge:\n%s", b.String())
	}
	for _, bad := range []string{"huge", "pod/", "nosuchkind/x"} {
		if _, err := eventFilter(bad); err == nil {
			t.Errorf("--for %q: no error", bad)
		}
	}
}
