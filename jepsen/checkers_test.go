package jepsen

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/berth-dev/berth/api"
)

// The checkers on hand-made histories: each must pass a correct one and
// fail a broken one.

func regOp(p int, f, key, value string, expect uint64, invoke, ret int64, out Outcome, result string, rev uint64) Op {
	return Op{Process: p, Workload: "register", F: f, Key: key, Value: value, Expect: expect, Invoke: invoke, Return: ret, Outcome: out, Result: result, Revision: rev}
}

func TestRegisterModel(t *testing.T) {
	base := []Op{
		regOp(0, "write", "k", "a", 0, 0, 10, OK, "", 5),
		regOp(1, "read", "k", "", 0, 20, 30, OK, "a", 5),
		regOp(0, "cas", "k", "b", 5, 40, 50, OK, "", 7),
		regOp(1, "cas", "k", "c", 5, 60, 70, Fail, "", 0), // stale version: conflict
		regOp(2, "write", "k", "lost", 0, 45, 0, Unknown, "", 0),
		regOp(1, "read", "k", "", 0, 80, 90, OK, "b", 7),
		regOp(2, "read", "other", "", 0, 0, 5, OK, "init", 1),
	}
	cases := []struct {
		name string
		ops  []Op
		want porcupine.CheckResult
	}{
		{"correct", base, porcupine.Ok},
		// The unknown write may take effect later: a read of it after is fine.
		{"unknown write seen later", append(slices.Clone(base), regOp(1, "read", "k", "", 0, 100, 110, OK, "lost", 9)), porcupine.Ok},
		// A read of the value the cas replaced, after the cas finished: stale.
		{"stale read", append(slices.Clone(base), regOp(1, "read", "k", "", 0, 100, 110, OK, "a", 5)), porcupine.Illegal},
		// A cas on the current version cannot conflict (without the unknown
		// write, which could explain any version).
		{"conflict on the current version", append(slices.Delete(slices.Clone(base), 4, 5), regOp(1, "cas", "k", "d", 7, 100, 110, Fail, "", 0)), porcupine.Illegal},
		// A write's version must grow.
		{"version going back", append(slices.Delete(slices.Clone(base), 4, 5), regOp(0, "write", "k", "e", 0, 100, 110, OK, "", 6)), porcupine.Illegal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := porcupine.CheckOperationsTimeout(registerModel, porcupineOps(c.ops), 10*time.Second); got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestPorcupineOps(t *testing.T) {
	got := porcupineOps([]Op{
		regOp(0, "read", "k", "", 0, 0, 10, Unknown, "", 0),    // left out
		regOp(0, "write", "k", "x", 0, 0, 10, Fail, "", 0),     // left out
		regOp(0, "write", "k", "y", 0, 20, 30, Unknown, "", 0), // never returns
	})
	if len(got) != 1 || got[0].Return != math.MaxInt64 || !got[0].Output.(regOut).unknown {
		t.Fatalf("got %+v", got)
	}
}

func TestCheckSet(t *testing.T) {
	add := func(name string, out Outcome) Op {
		return Op{Workload: "set", F: "add", Key: name, Outcome: out, Revision: 3}
	}
	ops := []Op{add("a", OK), add("b", OK), add("c", Unknown), add("d", Fail)}
	if v := checkSet(ops, []string{"a", "b", "c"}); !v.Valid {
		t.Fatalf("a correct set judged invalid: %+v", v)
	}
	if v := checkSet(ops, []string{"a", "b"}); !v.Valid {
		t.Fatalf("an unknown add that did not happen judged invalid: %+v", v)
	}
	v := checkSet(ops, []string{"a", "d", "zz"})
	if v.Valid {
		t.Fatal("lost and unexpected elements judged valid")
	}
	details := strings.Join(v.Details, "\n")
	for _, want := range []string{"b acknowledged", "d: present, its create was refused", "zz: present, never attempted"} {
		if !strings.Contains(details, want) {
			t.Errorf("details lack %q:\n%s", want, details)
		}
	}
	if !strings.Contains(v.Summary, "1 lost, 2 unexpected") {
		t.Errorf("summary: %s", v.Summary)
	}
	if v := checkSet(nil, nil); v.Valid {
		t.Fatal("a run where no add succeeded judged valid")
	}
}

// The same seed gives the same schedule; another seed another one.
func TestPlanReplays(t *testing.T) {
	steps := func(seed int64, kind string) []step {
		p := newPlan(seed, kind, 5, DefaultSchedule)
		var out []step
		for range 200 {
			out = append(out, p.next())
		}
		return out
	}
	a, b := steps(42, "mixed"), steps(42, "mixed")
	if !reflect.DeepEqual(a, b) {
		t.Fatal("seed 42 gave two different schedules")
	}
	if reflect.DeepEqual(a, steps(43, "mixed")) {
		t.Fatal("seeds 42 and 43 gave the same schedule")
	}
	kinds := map[string]bool{}
	for _, st := range a {
		kinds[st.Kind] = true
		if st.Hold < DefaultSchedule.FaultMin || st.Hold > DefaultSchedule.FaultMax || st.Calm < DefaultSchedule.HealMin || st.Calm > DefaultSchedule.HealMax {
			t.Fatalf("step out of the schedule's bounds: %+v", st)
		}
		order := slices.Clone(st.Order)
		slices.Sort(order)
		if !slices.Equal(order, []int{0, 1, 2, 3, 4}) {
			t.Fatalf("order %v is not a permutation of 5 servers", st.Order)
		}
	}
	for _, k := range Nemeses {
		if !kinds[k] {
			t.Errorf("mixed never drew %s in 200 steps", k)
		}
	}
	for _, st := range steps(1, "partition-mixed") {
		if !slices.Contains(Partitions, st.Kind) {
			t.Fatalf("partition-mixed drew %s", st.Kind)
		}
	}
}

// Replaying pod events: a node over its allocatable at any revision is
// reported, even when a later event of the same run brings it back.
func TestCheckCapacity(t *testing.T) {
	half := api.Resources{MilliCPU: 500, Memory: 1, Pods: 1}
	alloc := map[string]api.Resources{"n1": {MilliCPU: 1000, Memory: 10, Pods: 10}}
	ev := func(rev uint64, typ, name, node string) watchEvent {
		return watchEvent{Revision: rev, Type: typ, Name: name, Node: node, Requests: half}
	}
	ok := []watchEvent{
		ev(1, "ADDED", "a", ""), ev(2, "MODIFIED", "a", "n1"), ev(3, "ADDED", "b", "n1"),
		ev(4, "DELETED", "a", "n1"), ev(4, "ADDED", "c", "n1"), // one revision: delete and bind together
	}
	if got := checkCapacity(ok, alloc); len(got) != 0 {
		t.Fatalf("a node within capacity reported: %v", got)
	}
	over := append(slices.Clone(ok), ev(5, "ADDED", "d", "n1"), ev(6, "DELETED", "d", "n1"))
	got := checkCapacity(over, alloc)
	if len(got) != 1 || !strings.Contains(got[0], "revision 5: n1 holds 1500m CPU") {
		t.Fatalf("got %v, want one report of revision 5", got)
	}
	if got := checkCapacity([]watchEvent{ev(1, "ADDED", "x", "ghost")}, alloc); len(got) != 1 || !strings.Contains(got[0], "not a node") {
		t.Fatalf("a pod on an unknown node: %v", got)
	}
	if bound, peak := schedStats(over); bound != 4 || peak != 1500 {
		t.Fatalf("schedStats = %d bindings, peak %dm; want 4, 1500m", bound, peak)
	}
}

// The controllers' history checker finds a Deployment pod too many at one
// revision, and a StatefulSet pod outside its ordinals; a replacement made
// after its pod was deleted is fine.
func TestCheckControllerHistory(t *testing.T) {
	add := func(rev uint64, name, app string) watchEvent {
		return watchEvent{Revision: rev, Type: "ADDED", Name: name, App: app}
	}
	del := func(rev uint64, name string) watchEvent {
		return watchEvent{Revision: rev, Type: "DELETED", Name: name}
	}
	var ok []watchEvent
	for i := range ctrlDeploymentPods {
		ok = append(ok, add(uint64(1+i), fmt.Sprintf("web-%d", i), ctrlDeployment))
	}
	ok = append(ok, del(10, "web-0"), add(11, "web-9", ctrlDeployment), add(12, ctrlStatefulSet+"-2", ctrlStatefulSet))
	if bad, deleted, made := checkControllerHistory(ok); len(bad) != 0 || deleted != 1 || made != ctrlDeploymentPods+2 {
		t.Fatalf("a valid history: %v, %d deleted, %d made", bad, deleted, made)
	}
	extra := append(slices.Clone(ok), add(13, "web-10", ctrlDeployment))
	if bad, _, _ := checkControllerHistory(extra); len(bad) != 1 || !strings.Contains(bad[0], "revision 13: 5 pods of the Deployment") {
		t.Fatalf("a pod too many: %v", bad)
	}
	stray := append(slices.Clone(ok), add(13, ctrlStatefulSet+"-7", ctrlStatefulSet))
	if bad, _, _ := checkControllerHistory(stray); len(bad) != 1 || !strings.Contains(bad[0], "none of its ordinals") {
		t.Fatalf("a stray StatefulSet pod: %v", bad)
	}
}
