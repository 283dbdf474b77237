package dashboard

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testcontainerd"
	"github.com/chromedp/chromedp"
)

func TestMain(m *testing.M) { os.Exit(testcontainerd.Main(m)) }

// chromiumPath is Debian's Chromium (apt package chromium).
const chromiumPath = "/usr/bin/chromium"

// browser starts a headless Chromium of the test's own (a fresh profile)
// and returns a context whose tab it drives; the browser is killed at the
// end of the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("no Chromium at %s (scripts/install-deps.sh installs it): %v", chromiumPath, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox, // root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1440, 1000),
		// Nothing outside can be reached: no connections of Chromium's own.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("force-color-profile", "srgb"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return ctx
}

// artifactsDir is where the tests leave files for people to look at:
// $BERTH_ARTIFACTS, or artifacts/ at the repository root.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("BERTH_ARTIFACTS")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for dir = wd; ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				break
			}
			if filepath.Dir(dir) == dir {
				t.Fatalf("no go.mod above %s", wd)
			}
		}
		dir = filepath.Join(dir, "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// answer is one HTTP answer of the dashboard's API.
type answer struct {
	code   int
	header http.Header
	body   string
}

// get asks the dashboard's API at url, with token ("" for none).
func get(t *testing.T, url, token string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return answer{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

// errorOf is the message of an error answer ({"error": ...}).
func errorOf(t *testing.T, a answer) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(a.body), &e); err != nil || e.Error == "" {
		t.Fatalf("answer %d is not an error of the API: %s", a.code, a.body)
	}
	return e.Error
}

// expect fails the test unless the answer has the status code and its
// error message holds every one of parts.
func expect(t *testing.T, what string, a answer, code int, parts ...string) {
	t.Helper()
	if a.code != code {
		t.Fatalf("%s: status %d, want %d: %s", what, a.code, code, a.body)
	}
	msg := errorOf(t, a)
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Fatalf("%s: the message %q does not say %q", what, msg, p)
		}
	}
	t.Logf("%s: %d %s", what, a.code, msg)
}
