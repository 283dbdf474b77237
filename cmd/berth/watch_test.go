package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"google.golang.org/grpc/codes"
)

func events(evs ...client.Event) <-chan client.Event {
	ch := make(chan client.Event, len(evs))
	for _, ev := range evs {
		ch <- ev
	}
	close(ch)
	return ch
}

func TestStreamEventsTable(t *testing.T) {
	var buf bytes.Buffer
	ch := events(
		client.Event{Type: "ADDED", Kind: "ConfigMap", Revision: 12, Object: configMap("default", "web", time.Second)},
		client.Event{Type: "DELETED", Kind: "ConfigMap", Revision: 1234567, Object: configMap("prod", "db", time.Second)},
	)
	if err := streamEvents(&buf, ch, outTable, true, 0); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"REVISION   EVENT      NAMESPACE            NAME\n" +
		"12         ADDED      default              web\n" +
		"1234567    DELETED    prod                 db\n"
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}

	buf.Reset()
	ch = events(client.Event{Type: "MODIFIED", Kind: "Namespace", Revision: 3, Object: namespace("prod", time.Second)})
	if err := streamEvents(&buf, ch, outTable, false, 0); err != nil {
		t.Fatal(err)
	}
	want = "" +
		"REVISION   EVENT      NAME\n" +
		"3          MODIFIED   prod\n"
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestStreamEventsJSON(t *testing.T) {
	var buf bytes.Buffer
	ns := namespace("prod", 0)
	ns.Metadata = api.ObjectMeta{Name: "prod"}
	ch := events(client.Event{Type: "ADDED", Kind: "Namespace", Revision: 9, Object: ns})
	if err := streamEvents(&buf, ch, outJSON, false, 0); err != nil {
		t.Fatal(err)
	}
	want := `{"type":"ADDED","revision":9,"object":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"prod"},"spec":{},"status":{"phase":"Active"}}}` + "\n"
	if buf.String() != want {
		t.Fatalf("got  %s\nwant %s", buf.String(), want)
	}
}

func TestStreamEventsErrors(t *testing.T) {
	compacted := &client.Error{Code: codes.OutOfRange, Message: "revision 5 is compacted"}
	ch := events(client.Event{Err: compacted})
	err := streamEvents(&bytes.Buffer{}, ch, outTable, true, 5)
	if want := "revision 5 is compacted; list again and watch from the list's revision"; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	ch = events(client.Event{Err: &client.Error{Code: codes.InvalidArgument, Message: "unknown kind"}})
	if err := streamEvents(&bytes.Buffer{}, ch, outJSON, true, 0); err == nil || err.Error() != "unknown kind" {
		t.Fatalf("error %v", err)
	}
}
