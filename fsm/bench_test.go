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
	f.ApplyCommand(1, &Command{Time: t0, Ops: []Op{{Verb: VerbCreate, Kind: "Namespace", Name: "default", Object: nsObj("default"), UID: "ns"}}})
	val := strings.Repeat("v", 256)
	cmds := make([][]byte, 1000)
	for i := range cmds {
		name := fmt.Sprintf("key%d", i)
		cmd := &Command{Type: CmdWrite, Time: t0, RequestID: name, Ops: []Op{{Verb: VerbApply, Kind: "ConfigMap", Namespace: "default", Name: name, Object: cm(name, "default", map[string]string{"v": val}), UID: "u"}}}
		cmds[i], _ = cmd.Encode()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := f.ApplyEntry(uint64(i+2), cmds[i%len(cmds)]); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}

// BenchmarkSnapshot writes a snapshot of 10,000 objects.
func BenchmarkSnapshot(b *testing.B) {
	f := New(Options{})
	f.ApplyCommand(1, &Command{Time: t0, Ops: []Op{{Verb: VerbCreate, Kind: "Namespace", Name: "default", Object: nsObj("default"), UID: "ns"}}})
	for i := 0; i < 10000; i++ {
		name := fmt.Sprintf("key%d", i)
		write(f, uint64(i+2), Op{Verb: VerbCreate, Kind: "ConfigMap", Namespace: "default", Name: name, Object: cm(name, "default", map[string]string{"v": "x"}), UID: "u"})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.Snapshot().WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
