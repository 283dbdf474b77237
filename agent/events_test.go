package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	pb "github.com/berth-dev/berth/proto/berthpb"
)

// A pod that fits nowhere gets a FailedScheduling Event from the leader's
// scheduler, through the recorder and Raft; its repeats count up on the
// same Event rather than making more.
func TestSchedulingFailureEvent(t *testing.T) {
	s := newServer(t, "ev", 0)
	s.start(t)
	res, _ := dial(t, s.addr())
	waitFor(t, "the default namespace", func() bool {
		_, err := s.a.fsm.Get("Namespace", "", "default")
		return err == nil
	})
	pod := &api.Pod{Metadata: api.ObjectMeta{Name: "huge"}, Spec: api.PodSpec{Containers: []api.Container{{
		Name: "c", Image: "busybox", Resources: api.ResourceRequirements{Requests: api.ResourceList{"cpu": "1000"}},
	}}}}
	api.Default(pod)
	b, err := api.Encode(pod)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := res.Create(ctx, &pb.WriteRequest{Objects: [][]byte{b}}); err != nil {
		t.Fatal(err)
	}
	var ev *api.Event
	waitFor(t, "a FailedScheduling event", func() bool {
		resp, err := res.List(ctx, &pb.ListRequest{Kind: "Event", Namespace: "default"})
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range resp.Objects {
			obj, err := api.DecodeStored("Event", raw)
			if err != nil {
				t.Fatal(err)
			}
			if e := obj.(*api.Event); e.Reason == "FailedScheduling" && e.InvolvedObject.Name == "huge" {
				ev = e
				return true
			}
		}
		return false
	})
	if ev.Type != api.EventWarning || ev.InvolvedObject.Kind != "Pod" || ev.InvolvedObject.UID == "" ||
		ev.Source.Component != "scheduler" || ev.Source.Host != "ev" || ev.Count < 1 || !strings.Contains(ev.Message, "available") {
		t.Fatalf("event = %+v", ev)
	}
}

// The recorder counts repeats on one Event, and the leader trims the
// history to what is recent and to a bound.
func TestRecorderAndTrim(t *testing.T) {
	s := newServer(t, "tr", 0)
	s.start(t)
	res, _ := dial(t, s.addr())
	ctx := context.Background()
	waitFor(t, "the default namespace", func() bool {
		_, err := s.a.fsm.Get("Namespace", "", "default")
		return err == nil
	})
	// Repeats of one Event make one object with its count.
	ref := api.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p", UID: "u1"}
	for range 3 {
		s.a.events.record("test", ref, api.EventWarning, "Unhealthy", "Liveness probe failed")
	}
	list := func() []*api.Event {
		resp, err := res.List(ctx, &pb.ListRequest{Kind: "Event", Namespace: "default"})
		if err != nil {
			t.Fatal(err)
		}
		var out []*api.Event
		for _, raw := range resp.Objects {
			obj, err := api.DecodeStored("Event", raw)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, obj.(*api.Event))
		}
		return out
	}
	waitFor(t, "the Event counted 3 times", func() bool {
		for _, e := range list() {
			if e.Reason == "Unhealthy" && e.Count == 3 {
				return true
			}
		}
		return false
	})
	// 10 old Events and 10 new ones: trimming to 15 within an hour keeps
	// the 10 new ones only.
	old := time.Now().Add(-2 * time.Hour).UTC()
	var objs [][]byte
	for i := range 20 {
		at := old.Add(time.Duration(i) * time.Second)
		if i >= 10 {
			at = time.Now().UTC().Add(time.Duration(i-20) * time.Second)
		}
		e := &api.Event{Metadata: api.ObjectMeta{Name: fmt.Sprintf("e%02d", i), Namespace: "default"},
			InvolvedObject: api.ObjectReference{Kind: "Pod", Name: "x"}, Reason: "Test", LastTimestamp: at.Format(time.RFC3339)}
		api.Default(e)
		b, err := api.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, b)
	}
	if _, err := res.Apply(ctx, &pb.WriteRequest{Objects: objs}); err != nil {
		t.Fatal(err)
	}
	if err := s.a.trimEventsOnce(ctx, 15, time.Hour); err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, e := range list() {
		if e.Reason == "Test" {
			kept = append(kept, e.Metadata.Name)
		}
	}
	if got := strings.Join(kept, ","); got != "e10,e11,e12,e13,e14,e15,e16,e17,e18,e19" {
		t.Fatalf("kept %s", got)
	}
	// Trimming to 4 keeps the 4 newest of all (the Unhealthy one is the
	// newest but one).
	if err := s.a.trimEventsOnce(ctx, 4, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := len(list()); n != 4 {
		t.Fatalf("%d Events after trimming to 4", n)
	}
}
