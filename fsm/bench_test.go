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
