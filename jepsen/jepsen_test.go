package jepsen

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testcluster"
)

// The smoke that `make test` runs: each workload under one kind of fault,
// and the two negative controls, which must fail. `make jepsen` runs the
// whole matrix (cmd/berth-jepsen).

// seed is BERTH_JEPSEN_SEED, or drawn from the clock; it is logged, and
// setting it replays the schedule.
func seed(t *testing.T) int64 {
	if s := os.Getenv("BERTH_JEPSEN_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("BERTH_JEPSEN_SEED=%q: %v", s, err)
		}
		return n
	}
	return time.Now().UnixNano() % 1_000_000
}

// run runs cfg with a report folder that is kept, and named, only when the
// test fails.
func run(t *testing.T, cfg Config) *Report {
	t.Helper()
	dir, err := os.MkdirTemp("", "berth-jepsen-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("report kept in %s (report.html, history.jsonl, nodes/*.log); replay with BERTH_JEPSEN_SEED=%d", dir, cfg.Seed)
			return
		}
		os.RemoveAll(dir)
	})
	cfg.Dir, cfg.Seed, cfg.Logf = dir, seed(t), t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("%s: %v", cfg.Name(), err)
	}
	return r
}

func verdict(t *testing.T, r *Report, checker string) Verdict {
	t.Helper()
	for _, v := range r.Verdicts {
		if strings.HasPrefix(v.Checker, checker) {
			return v
		}
	}
	t.Fatalf("no %s verdict in %+v", checker, r.Verdicts)
	return Verdict{}
}

// Register, set and watch on one cluster of 3 while its leader is killed
// again and again: every checker passes, after faults were injected.
func TestSmokeKillLeader(t *testing.T) {
	r := run(t, Config{Binary: testcluster.Binary(t), Servers: 3, Nemesis: "kill-leader", Duration: 12 * time.Second})
	if r.Faults == 0 {
		t.Fatal("no fault was injected")
	}
	for _, v := range r.Verdicts {
		if !v.Valid {
			t.Errorf("%s: %s\n%s", v.Checker, v.Summary, strings.Join(v.Details, "\n"))
		}
	}
	for _, w := range Workloads {
		if v := verdict(t, r, w); v.Valid {
			t.Logf("%s: %s", v.Checker, v.Summary)
		}
	}
}

// Negative control: stale reads while the leader is cut off from the
// others must be judged not linearizable; if the checker passes them, it
// is broken. The cluster itself stays correct (it converges).
func TestStaleReadsAreCaught(t *testing.T) {
	r := run(t, Config{Binary: testcluster.Binary(t), Servers: 3, Nemesis: "partition-leader", Workloads: []string{"register"}, Stale: true, Duration: 12 * time.Second})
	if v := verdict(t, r, "register"); v.Valid {
		t.Fatalf("the linearizability checker passed stale reads under a leader partition: %s", v.Summary)
	} else {
		t.Logf("caught, as it must be: %s", v.Summary)
	}
	if v := verdict(t, r, "convergence"); !v.Valid {
		t.Fatalf("convergence: %s", v.Summary)
	}
}

// Negative control: a build that acknowledges writes before they commit
// loses acknowledged writes when its leader is cut off; the set checker
// must say so.
func TestLossyBuildIsCaught(t *testing.T) {
	r := run(t, Config{Binary: lossyBinary(t), Servers: 3, Nemesis: "partition-leader", Workloads: []string{"set"}, Duration: 12 * time.Second})
	v := verdict(t, r, "set")
	if v.Valid {
		t.Fatalf("the set checker passed a build that acknowledges before commit: %s", v.Summary)
	}
	if !strings.Contains(v.Summary, " lost") || strings.Contains(v.Summary, "; 0 lost") {
		t.Fatalf("the set checker failed, but not for lost writes: %s", v.Summary)
	}
	t.Logf("caught, as it must be: %s", v.Summary)
}

// lossyBinary is $BERTH_LOSSY_BIN, or berth built with -tags jepsenlossy.
func lossyBinary(t *testing.T) string {
	if p := os.Getenv("BERTH_LOSSY_BIN"); p != "" {
		return p
	}
	out := filepath.Join(t.TempDir(), "berth-lossy")
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "build", "-tags", "jepsenlossy", "-o", out, "./cmd/berth")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags jepsenlossy: %v\n%s", err, b)
	}
	return out
}
