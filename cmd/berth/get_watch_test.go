package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
)

// watchStory is a pod's life as a watch sees it after the list of a and
// b: b's replacement is added, starts running, a is deleted.
func watchStory() (listed []api.Object, evs []client.Event) {
	a, b := pod("default", "a", "n1", ""), pod("default", "b", "n2", "")
	c := pod("default", "c-with-a-long-name", "", "")
	c.Status.Phase = api.PodPending
	running := pod("default", "c-with-a-long-name", "n1", "")
	for _, p := range []*api.Pod{a, b, c, running} {
		p.TypeMeta = api.TypeMeta{APIVersion: "v1", Kind: "Pod"}
		p.Spec.Containers = []api.Container{{Name: "web", Image: "nginx"}}
	}
	return []api.Object{a, b}, []client.Event{
		{Type: "ADDED", Revision: 11, Object: c},
		{Type: "MODIFIED", Revision: 12, Object: running},
		{Type: "DELETED", Revision: 13, Object: a},
	}
}

// runGetWatch prints what get --watch would, with the flags of o.
func runGetWatch(t *testing.T, o getOptions, name string, listed []api.Object, evs []client.Event) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	r := getRequest{info: kind(t, "pods"), namespace: "default", name: name}
	err := o.stream(cmd, r, listed, nil, events(evs...), 10, func() time.Time { return now })
	return out.String(), errOut.String(), err
}

func TestGetWatch(t *testing.T) {
	listed, evs := watchStory()
	tests := []struct {
		name string
		o    getOptions
		only string // get pods NAME --watch
		want string
	}{
		// The rows keep the first table's columns until a wider cell
		// widens its column for the rows after it.
		{"table", getOptions{output: outTable}, "", "" +
			"NAME   STATUS    NODE   AGE\n" +
			"a      Running   n1     0s\n" +
			"b      Running   n2     0s\n" +
			"c-with-a-long-name   Pending   <none>   0s\n" +
			"c-with-a-long-name   Running   n1       0s\n" +
			"a                    Running   n1       0s\n"},
		{"watch only", getOptions{output: outTable, watchOnly: true}, "", "" +
			"NAME                 STATUS    NODE     AGE\n" +
			"c-with-a-long-name   Pending   <none>   0s\n" +
			"c-with-a-long-name   Running   n1       0s\n" +
			"a                    Running   n1       0s\n"},
		{"one object", getOptions{output: outTable}, "a", "" +
			"NAME   STATUS    NODE   AGE\n" +
			"a      Running   n1     0s\n" +
			"a      Running   n1     0s\n"},
		{"events", getOptions{output: outWide, watchEvents: true}, "", "" +
			"EVENT   NAME   STATUS    NODE   AGE   IP       RESTARTS   GPUS     IMAGES\n" +
			"ADDED   a      Running   n1     0s    <none>   0          <none>   nginx\n" +
			"ADDED   b      Running   n2     0s    <none>   0          <none>   nginx\n" +
			"ADDED   c-with-a-long-name   Pending   <none>   0s    <none>   0          <none>   nginx\n" +
			"MODIFIED   c-with-a-long-name   Running   n1       0s    <none>   0          <none>   nginx\n" +
			"DELETED    a                    Running   n1       0s    <none>   0          <none>   nginx\n"},
		{"name", getOptions{output: outName}, "", "pod/a\npod/b\npod/c-with-a-long-name\npod/c-with-a-long-name\npod/a\n"},
		{"name with events", getOptions{output: outName, watchEvents: true, watchOnly: true}, "",
			"ADDED pod/c-with-a-long-name\nMODIFIED pod/c-with-a-long-name\nDELETED pod/a\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runGetWatch(t, tt.o, tt.only, listed, evs)
			if err != nil {
				t.Fatal(err)
			}
			if out != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", out, tt.want)
			}
		})
	}
}

// TestGetWatchDocuments prints each object, then each change, as json
// or yaml documents, one after the other.
func TestGetWatchDocuments(t *testing.T) {
	listed, evs := watchStory()
	for _, p := range append(listed, evs[0].Object, evs[1].Object) {
		p.GetObjectMeta().CreationTimestamp, p.GetObjectMeta().UID, p.GetObjectMeta().ResourceVersion = "", "", ""
	}
	out, _, err := runGetWatch(t, getOptions{output: outYAML, watchOnly: true}, "", listed, evs[:2])
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(out, "---\n")
	if len(docs) != 2 || !strings.Contains(docs[0], "phase: Pending") || !strings.Contains(docs[1], "phase: Running") {
		t.Fatalf("yaml:\n%s", out)
	}
	back, err := api.DecodeDocuments([]byte(out))
	if err != nil || len(back) != 2 {
		t.Fatalf("decode: %v, %d objects\n%s", err, len(back), out)
	}

	out, _, err = runGetWatch(t, getOptions{output: outJSON, watchEvents: true}, "b", listed, evs)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "{\n  \"type\": \"ADDED\",\n  \"object\": {\n") || strings.Count(out, "\"type\"") != 1 {
		t.Fatalf("json of b, which never changes:\n%s", out)
	}
}

func TestGetWatchEnds(t *testing.T) {
	listed, _ := watchStory()
	_, stderr, err := runGetWatch(t, getOptions{output: outTable}, "", nil, nil)
	if err != nil || stderr != "No resources found in default namespace.\n" {
		t.Fatalf("empty list: %v, stderr %q", err, stderr)
	}
	if _, _, err := runGetWatch(t, getOptions{output: outTable}, "nosuch", listed, nil); err == nil || err.Error() != `pod "nosuch" not found` {
		t.Fatalf("watch of a missing pod: %v", err)
	}
	compacted := []client.Event{{Err: &client.Error{Code: codes.OutOfRange, Message: "compacted"}}}
	if _, _, err := runGetWatch(t, getOptions{output: outTable}, "", listed, compacted); err == nil || !strings.Contains(err.Error(), "revision 10 is compacted") {
		t.Fatalf("compacted: %v", err)
	}
}

// TestEventsWatchRows prints a watch of Events in the columns of get
// events.
func TestEventsWatchRows(t *testing.T) {
	var out bytes.Buffer
	s := &objectStream{w: &out, format: outTable, kind: "Event", now: func() time.Time { return now }}
	if err := s.event(client.Event{Type: "ADDED", Object: event("e1", api.EventWarning, "BackOff", "Back-off", time.Minute, 2)}); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"LAST SEEN           TYPE      REASON    OBJECT      MESSAGE\n" +
		"60s (x2 over 11m)   Warning   BackOff   pod/web-1   Back-off\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}
