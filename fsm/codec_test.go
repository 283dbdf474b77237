package fsm

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/berth-dev/berth/api"
	"pgregory.net/rapid"
)

func TestCodecRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		str := rapid.StringN(0, 20, -1)
		c := &Command{
			Type:      CommandType(str.Draw(t, "type")),
			RequestID: str.Draw(t, "req"),
			Time:      str.Draw(t, "time"),
		}
		if rapid.Bool().Draw(t, "server") {
			c.Server = &ServerRecord{ID: str.Draw(t, "id"), RaftAddr: str.Draw(t, "raft"), APIAddr: str.Draw(t, "api")}
		}
		for i := rapid.IntRange(0, 3).Draw(t, "ops"); i > 0; i-- {
			op := Op{
				Verb: Verb(str.Draw(t, "verb")), Kind: str.Draw(t, "kind"), Namespace: str.Draw(t, "ns"),
				Name: str.Draw(t, "name"), UID: str.Draw(t, "uid"), ResourceVersion: rapid.Uint64().Draw(t, "rv"),
			}
			if rapid.Bool().Draw(t, "meta") {
				op.Meta = &api.ObjectMeta{Name: op.Name, Labels: rapid.MapOfN(str, str, 0, 3).Draw(t, "labels")}
			}
			if rapid.Bool().Draw(t, "body") {
				op.Body, _ = json.Marshal(map[string]string{"k": str.Draw(t, "v")})
			}
			c.Ops = append(c.Ops, op)
		}
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeCommand(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalize(got), normalize(c)) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, c)
		}
		// Every truncation is an error, never a panic or a wrong command.
		for i := 0; i < len(b); i++ {
			if _, err := DecodeCommand(b[:i]); err == nil {
				t.Fatalf("a command cut at %d of %d bytes decoded", i, len(b))
			}
		}
	})
}

// normalize makes empty labels and nil labels compare equal (JSON drops
// both).
func normalize(c *Command) *Command {
	out := *c
	out.Ops = append([]Op(nil), c.Ops...)
	for i := range out.Ops {
		if m := out.Ops[i].Meta; m != nil && len(m.Labels) == 0 {
			mm := *m
			mm.Labels = nil
			out.Ops[i].Meta = &mm
		}
	}
	return &out
}
