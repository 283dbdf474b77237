package deptest

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/berth-dev/berth"

// allowed lists, for each package, the packages of ours it may depend on
// (directly or not). Generated protobuf code is "proto/berthpb".
var allowed = map[string][]string{
	"api":                     {},
	"proto/berthpb":           {},
	"security":                {},
	"fsm":                     {"api"},
	"raft":                    {"fsm", "api"},
	"gossip":                  {"api"},
	"scheduler":               {"api"},
	"driver":                  {"api", "driver/logfile"},
	"driver/logfile":          {},
	"driver/cni":              {},
	"driver/volume":           {"api", "driver", "driver/logfile"},
	"controller":              {"api", "fsm", "scheduler"},
	"netsvc":                  {"api"},
	"client":                  {"api", "proto/berthpb"},
	"agent":                   {"api", "proto/berthpb", "fsm", "raft", "gossip", "scheduler", "controller", "driver", "driver/logfile", "driver/cni", "driver/volume", "netsvc", "security"},
	"cmd/berth":               {"api", "proto/berthpb", "fsm", "raft", "gossip", "scheduler", "controller", "driver", "driver/logfile", "driver/cni", "driver/volume", "netsvc", "agent", "client", "security"},
	"jepsen":                  {"api", "proto/berthpb", "client", "internal/testcluster", "internal/testnet", "internal/stats", "internal/testcreds", "security"},
	"jepsen/cmd/berth-jepsen": {"jepsen", "api", "proto/berthpb", "client", "internal/testnet", "internal/stats", "internal/testcreds", "security"},
	"internal/stats":          {},
}

func TestImportDirection(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	for pkg, ok := range allowed {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./"+pkg)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			rel, ours := strings.CutPrefix(dep, module+"/")
			if !ours || rel == pkg {
				continue
			}
			if !slices.Contains(ok, rel) {
				t.Errorf("%s depends on %s, which DESIGN.md's import direction forbids", pkg, rel)
			}
		}
	}
}
