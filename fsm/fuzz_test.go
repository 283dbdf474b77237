package fsm

import (
	"bytes"
	"encoding/json"
	"runtime"
	"testing"

	"github.com/berth-dev/berth/api"
)

// fuzzSeeds are commands of every type, as the leader proposes them.
func fuzzSeeds() []*Command {
	meta := &api.ObjectMeta{Name: "web", Namespace: "shop", Labels: map[string]string{"app": "web"}}
	body, _ := json.Marshal(map[string]any{"data": map[string]string{"greeting": "hello"}})
	sn := smallNet
	return []*Command{
		{Type: CmdWrite, RequestID: "req-1", Time: "2024-05-01T10:00:00Z", Ops: []Op{
			{Verb: VerbCreate, Kind: "ConfigMap", Namespace: "shop", Name: "web", Meta: meta, Body: body, UID: "uid-1"},
			{Verb: VerbDelete, Kind: "Secret", Namespace: "shop", Name: "creds", ResourceVersion: 42},
		}},
		{Type: CmdWrite, Time: "2024-05-01T10:00:00Z", ServiceNet: &sn, Ops: []Op{
			{Verb: VerbApply, Kind: "Service", Namespace: "default", Name: "web", Meta: &api.ObjectMeta{Name: "web"}, Body: []byte(`{"spec":{"ports":[{"port":80}]}}`)},
		}},
		{Type: CmdRegisterServer, Server: &ServerRecord{ID: "s1", RaftAddr: "10.0.0.1:7000", APIAddr: "10.0.0.1:7001"}},
		{Type: CmdRemoveServer, Server: &ServerRecord{ID: "s2"}},
		{Type: CmdPlan, Time: "2024-05-01T10:00:00Z", Plan: &Plan{
			Binds:   []Bind{{Namespace: "default", Name: "c", UID: "uid-c", Node: "n1", GPUs: []string{"0"}}},
			Pending: []PendingStatus{{Namespace: "default", Name: "a", UID: "uid-a", Message: "0/1 nodes fit"}},
		}},
		{Type: CmdPodStatus, Time: "2024-05-01T10:00:00Z", PodStatuses: []PodStatusReport{
			{Namespace: "default", Name: "p", UID: "u", Node: "n1", Status: api.PodStatus{Phase: api.PodRunning, PodIP: "10.0.0.2"}},
		}},
		{Type: CmdWrite, ServiceNet: &sn, PodStatuses: []PodStatusReport{}},
	}
}

// FuzzDecodeCommand: DecodeCommand never panics, and a command it accepts
// survives Encode: the bytes decode again, to a command that encodes to the
// same bytes. (The first decode may normalize: JSON drops empty label maps,
// a server flag other than 1 reads as none, so the fixed point is taken
// after one round.)
func FuzzDecodeCommand(f *testing.F) {
	for _, c := range fuzzSeeds() {
		b, err := c.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		j, err := json.Marshal(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(j)
	}
	// Length prefixes far beyond the input.
	f.Add([]byte{codecMagic, codecVersion, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{codecMagic, codecVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		enc, err := c.Encode()
		if err != nil {
			t.Fatalf("a decoded command does not encode: %v\n%+v", err, c)
		}
		again, err := DecodeCommand(enc)
		if err != nil {
			t.Fatalf("the encoding of a decoded command does not decode: %v\n%q", err, enc)
		}
		enc2, err := again.Encode()
		if err != nil {
			t.Fatalf("second encode: %v", err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encode∘decode is not stable:\n%q\n%q", enc, enc2)
		}
	})
}

// TestDecodeCommandHugeCounts: a few bytes whose length prefixes claim
// far more than they hold are refused without allocating for the claim.
func TestDecodeCommandHugeCounts(t *testing.T) {
	head := []byte{codecMagic, codecVersion, 0, 0, 0, 0} // empty type, request, time; no server
	for _, b := range [][]byte{
		{codecMagic, codecVersion, 0xff, 0xff, 0xff, 0xff, 0x0f},                  // a type of 4 GiB
		append(head, 0xff, 0xff, 0xff, 0xff, 0x0f),                                // 4 G ops
		append(head, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),  // 2^64-1 ops
		append(head, append([]byte{0x80, 0x80, 0x04}, make([]byte, 1<<16)...)...), // 64 Ki ops in 64 KiB
		append(head, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f),           // 4 GiB of meta
		append(head, 0, 0xff, 0xff, 0xff, 0xff, 0x0f),                             // 4 GiB of plan
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := DecodeCommand(b)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("% x decoded", b[:min(len(b), 16)])
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
			t.Errorf("% x...: %d bytes allocated for a %d-byte input", b[:min(len(b), 16)], n, len(b))
		}
	}
}
