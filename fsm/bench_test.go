package fsm

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// BenchmarkApply measures one write command (a 256-byte ConfigMap) through
// decode, apply and commit, over a keyspace of 1,000 objects.
func BenchmarkApply(b *testing.B) {
	f := New(Options{})
	f.ApplyCommand(1, &Command{Time: t0, Ops: []Op{mkOp(VerbCreate, "Namespace", nsObj("default"), "ns")}})
	val := strings.Repeat("v", 256)
	// Every write changes its object and has its own request ID, as real
	// ones do.
	cmds := make([][]byte, b.N)
	for i := range cmds {
		name := fmt.Sprintf("key%d", i%1000)
		cmd := &Command{Type: CmdWrite, Time: t0, RequestID: fmt.Sprint("req", i), Ops: []Op{mkOp(VerbApply, "ConfigMap", cm(name, "default", map[string]string{"v": val, "i": fmt.Sprint(i)}), "u")}}
		cmds[i], _ = cmd.Encode()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := f.ApplyEntry(uint64(i+2), cmds[i]); res.Err != nil || res.Results[0].Action == ActionUnchanged {
			b.Fatal(res.Err)
		}
	}
}

// BenchmarkSnapshot writes a snapshot of 10,000 objects.
func BenchmarkSnapshot(b *testing.B) {
	f := New(Options{})
	f.ApplyCommand(1, &Command{Time: t0, Ops: []Op{mkOp(VerbCreate, "Namespace", nsObj("default"), "ns")}})
	for i := 0; i < 10000; i++ {
		name := fmt.Sprintf("key%d", i)
		write(f, uint64(i+2), mkOp(VerbCreate, "ConfigMap", cm(name, "default", map[string]string{"v": "x"}), "u"))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.Snapshot().WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyPlan measures committing a plan: one op is one binding,
// re-checked against its node and written, in plans of 1,000 onto 100
// nodes of 64 CPUs, each holding 10 pods once a plan is in (the pods are
// deleted between plans, untimed). ns/op is per binding.
func BenchmarkApplyPlan(b *testing.B) {
	f := New(Options{})
	f.ApplyCommand(1, &Command{Time: t0, Ops: []Op{mkOp(VerbCreate, "Namespace", nsObj("default"), "ns")}})
	index := uint64(2)
	var ops []Op
	for i := range 100 {
		n := testNode(fmt.Sprintf("n%d", i), "64", "256Gi", 0)
		n.Status.Allocatable["pods"] = "1000000"
		op, _ := ObjectOp(VerbCreate, n)
		ops = append(ops, op)
	}
	write(f, index, ops...)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 1000 {
		b.StopTimer()
		ops = ops[:0]
		var p Plan
		for j := i; j < i+1000; j++ {
			op, _ := ObjectOp(VerbCreate, testPod(fmt.Sprint("p", j), "1m", "1Mi", 0))
			op.UID = fmt.Sprint("u", j)
			ops = append(ops, op)
			p.Binds = append(p.Binds, Bind{Namespace: "default", Name: op.Name, UID: op.UID, Node: fmt.Sprintf("n%d", j%100)})
		}
		index++
		write(f, index, ops...)
		cmd, _ := (&Command{Type: CmdPlan, Time: t0, Plan: &p}).Encode()
		index++
		b.StartTimer()
		if res := f.ApplyEntry(index, cmd); res.Err != nil || len(res.Rejected) > 0 {
			b.Fatal(res.Err, len(res.Rejected), "rejected")
		}
		b.StopTimer()
		for j := range ops {
			ops[j] = Op{Verb: VerbDelete, Kind: "Pod", Namespace: "default", Name: ops[j].Name}
		}
		index++
		write(f, index, ops...)
		b.StartTimer()
	}
}
