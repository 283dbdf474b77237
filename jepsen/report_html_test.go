package jepsen

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

const htmlMS = int64(time.Millisecond)

// sampleHTMLPage is a small run: three operations (ok, fail, unknown), two
// faults (the second lasts to the end), two verdicts.
func sampleHTMLPage() htmlPage {
	return htmlPage{
		Title:    "partition-leader, 3 servers",
		Subtitle: "seed 42 · 3 operations · 2 faults",
		Verdicts: []Verdict{
			{Checker: "register", Valid: true, Summary: "linearizable", Artifact: "register.html"},
			{Checker: "set", Valid: false, Summary: "2 acknowledged adds lost", Details: []string{"lost x1", "lost x2"}},
		},
		Ops: []Op{
			{Process: 0, Workload: "register", F: "write", Key: "r1", Value: "v1", Node: "n1",
				Invoke: 100 * htmlMS, Return: 150 * htmlMS, Outcome: OK, Revision: 7},
			{Process: 1, Workload: "register", F: "cas", Key: "r1", Value: "v2", Expect: 6, Node: "n2",
				Invoke: 200 * htmlMS, Return: 260 * htmlMS, Outcome: Fail, Error: "conflict"},
			{Process: 0, Workload: "set", F: "add", Key: "s", Value: "x1", Node: "n3",
				Invoke: 300 * htmlMS, Return: 1300 * htmlMS, Outcome: Unknown, Error: "deadline exceeded"},
		},
		Faults: []Fault{
			{Kind: "partition", Targets: []string{"n1"}, Desc: "isolate the leader", Start: 120 * htmlMS, End: 700 * htmlMS},
			{Kind: "kill", Targets: []string{"n2", "n3"}, Desc: "kill -9", Start: 900 * htmlMS},
		},
	}
}

func renderHTML(t *testing.T, p htmlPage) string {
	t.Helper()
	var b strings.Builder
	if err := writeHTML(&b, p); err != nil {
		t.Fatalf("writeHTML: %v", err)
	}
	return b.String()
}

// htmlSVGOf returns the page's SVG, from "<svg" to "</svg>".
func htmlSVGOf(t *testing.T, page string) string {
	t.Helper()
	i, j := strings.Index(page, "<svg"), strings.LastIndex(page, "</svg>")
	if i < 0 || j < i {
		t.Fatalf("no <svg>…</svg> in the page")
	}
	if strings.Count(page, "<svg") != 1 {
		t.Fatalf("want one SVG, found %d", strings.Count(page, "<svg"))
	}
	return page[i : j+len("</svg>")]
}

// htmlSVGRect is a rect of the SVG, with the title inside it or around it.
type htmlSVGRect struct {
	class      string
	x, y, w, h float64
	title      string
	inBand     bool
	bandTitle  string
}

// parseHTMLSVG parses the SVG strictly as XML and returns its rects.
func parseHTMLSVG(t *testing.T, svg string) []htmlSVGRect {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	var (
		rects  []htmlSVGRect
		stack  []xml.StartElement
		titles []string // title text, per element of the stack
		cur    *htmlSVGRect
	)
	attr := func(e xml.StartElement, name string) string {
		for _, a := range e.Attr {
			if a.Name.Local == name {
				return a.Value
			}
		}
		return ""
	}
	num := func(e xml.StartElement, name string) float64 {
		s := attr(e, name)
		if s == "" {
			return 0
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%s=%q of <%s>: %v", name, s, e.Name.Local, err)
		}
		return v
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			stack = append(stack, tok)
			titles = append(titles, "")
			if tok.Name.Local == "rect" {
				r := htmlSVGRect{class: attr(tok, "class"), x: num(tok, "x"), y: num(tok, "y"), w: num(tok, "width"), h: num(tok, "height")}
				for k, e := range stack[:len(stack)-1] {
					if attr(e, "class") == "band" {
						r.inBand = true
						r.bandTitle = titles[k]
					}
				}
				rects = append(rects, r)
				cur = &rects[len(rects)-1]
			}
		case xml.CharData:
			if n := len(stack); n >= 2 && stack[n-1].Name.Local == "title" {
				titles[n-2] += string(tok)
				if stack[n-2].Name.Local == "rect" && cur != nil {
					cur.title += string(tok)
				}
			}
		case xml.EndElement:
			if tok.Name.Local == "rect" {
				cur = nil
			}
			stack, titles = stack[:len(stack)-1], titles[:len(titles)-1]
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed elements at the end of the SVG")
	}
	return rects
}

func TestHTMLSamplePage(t *testing.T) {
	page := renderHTML(t, sampleHTMLPage())
	rects := parseHTMLSVG(t, htmlSVGOf(t, page))

	byClass := map[string][]htmlSVGRect{}
	for _, r := range rects {
		byClass[r.class] = append(byClass[r.class], r)
	}
	for _, class := range []string{"op ok", "op fail", "op unk"} {
		if n := len(byClass[class]); n != 1 {
			t.Errorf("%d bars of class %q, want 1", n, class)
		}
	}
	if n := len(byClass["op ok"]) + len(byClass["op fail"]) + len(byClass["op unk"]); n != 3 {
		t.Errorf("%d op bars, want 3", n)
	}
	if n := strings.Count(page, `<g class="band">`); n != 2 {
		t.Errorf("%d fault bands, want 2", n)
	}
	var bands []htmlSVGRect
	for _, r := range byClass["fault"] {
		if r.inBand {
			bands = append(bands, r)
		}
	}
	if len(bands) != 2 {
		t.Fatalf("%d fault rects inside bands, want 2", len(bands))
	}

	// The colours: green, orange, hatched grey.
	for _, want := range []string{".ok{fill:#2e9e44}", ".fail{fill:#f28e1c}", ".unk{fill:url(#" + hatchID + ")}", `<pattern id="` + hatchID + `"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	// Verdicts.
	for _, want := range []string{
		`<span class="badge valid">VALID</span>`,
		`<span class="badge invalid">INVALID</span>`,
		`<a href="register.html">register.html</a>`,
		"<li>lost x1</li>", "<li>lost x2</li>",
		"1 of 2 checkers found a problem",
		"<h1>partition-leader, 3 servers</h1>",
		"seed 42 · 3 operations · 2 faults",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Index(page, "<table") > strings.Index(page, "<svg") {
		t.Errorf("the verdicts should come before the timeline")
	}

	// Tooltips.
	ok := byClass["op ok"][0]
	if want := "write r1 v1 → ok rev 7 @n1, 100.0–150.0 ms"; ok.title != want {
		t.Errorf("ok title %q, want %q", ok.title, want)
	}
	fail := byClass["op fail"][0]
	if want := "cas r1 v2 (expect rev 6) → fail conflict @n2, 200.0–260.0 ms"; fail.title != want {
		t.Errorf("fail title %q, want %q", fail.title, want)
	}
	unk := byClass["op unk"][0]
	if want := "add s x1 → unknown deadline exceeded @n3, 300.0–1300.0 ms"; unk.title != want {
		t.Errorf("unknown title %q, want %q", unk.title, want)
	}

	// Geometry: the run ends at 1.3s, the last bar and the lasting fault reach the right edge.
	right := float64(marginLeft + plotWidth)
	if got := unk.x + unk.w; !htmlNear(got, right) {
		t.Errorf("last bar ends at x=%v, want %v", got, right)
	}
	if got := ok.x; !htmlNear(got, marginLeft+plotWidth*100.0/1300) {
		t.Errorf("first bar starts at x=%v", got)
	}
	var lasting, ended htmlSVGRect
	for _, b := range bands {
		switch {
		case strings.HasPrefix(b.bandTitle, "kill"):
			lasting = b
		case strings.HasPrefix(b.bandTitle, "partition"):
			ended = b
		}
	}
	if got := lasting.x + lasting.w; !htmlNear(got, right) {
		t.Errorf("the fault with End 0 ends at x=%v, want %v (band title %q)", got, right, lasting.bandTitle)
	}
	if want := "kill on n2, n3: kill -9, 900.0 ms until the end of the run"; lasting.bandTitle != want {
		t.Errorf("band title %q, want %q", lasting.bandTitle, want)
	}
	if want := "partition on n1: isolate the leader, 120.0–700.0 ms"; ended.bandTitle != want {
		t.Errorf("band title %q, want %q", ended.bandTitle, want)
	}
	if got := ended.x + ended.w; !htmlNear(got, marginLeft+plotWidth*700.0/1300) {
		t.Errorf("the partition ends at x=%v", got)
	}
	// Bands span all lanes: from the top to below the last bar.
	for _, b := range bands {
		for _, r := range rects {
			if strings.HasPrefix(r.class, "op ") && r.y+r.h > b.y+b.h {
				t.Errorf("bar at y=%v..%v sticks out of the band (y=%v..%v)", r.y, r.y+r.h, b.y, b.y+b.h)
			}
		}
	}
	// Lanes: register p0, register p1, set p0, top to bottom, workloads labelled.
	if !(ok.y < fail.y && fail.y < unk.y) {
		t.Errorf("lanes out of order: register/0 y=%v, register/1 y=%v, set/0 y=%v", ok.y, fail.y, unk.y)
	}
	for _, want := range []string{`">register</text>`, `">set</text>`, ">kill n2,n3</text>", ">partition n1</text>", ">0.0 s</text>", ">1.2 s</text>"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// A legend.
	for _, want := range []string{"ok (1)", "fail (1)", "unknown: the answer was lost (1)", "fault window (2)"} {
		if !strings.Contains(page, want) {
			t.Errorf("legend lacks %q", want)
		}
	}
	// Self-contained.
	for _, bad := range []string{"<script", "src=", "http://", "https://", "@import"} {
		if bad == "http://" {
			// The SVG namespace is a name, not a resource.
			if strings.Count(page, bad) != strings.Count(page, `xmlns="http://www.w3.org/2000/svg"`) {
				t.Errorf("page refers to an outside resource")
			}
			continue
		}
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

func htmlNear(a, b float64) bool { return a-b < 0.15 && b-a < 0.15 }

func TestHTMLEscapes(t *testing.T) {
	const evil = `<script>alert(1)</script>`
	p := htmlPage{
		Title:    evil,
		Subtitle: `a & b "quoted" 'single'`,
		Verdicts: []Verdict{{Checker: evil, Summary: evil, Details: []string{evil}, Artifact: `x"><script>alert(1)</script>.html`}},
		Ops: []Op{{Process: 3, Workload: evil, F: evil, Key: "k&<", Value: evil, Node: `"n1"`,
			Invoke: 1, Return: 2, Outcome: OK, Result: evil, Error: "bad\x00utf8\xff"}},
		Faults: []Fault{{Kind: evil, Targets: []string{evil}, Desc: evil, Start: 1, End: 2}},
	}
	page := renderHTML(t, p)
	if strings.Contains(page, "<script>") || strings.Contains(page, "alert(1)</script>") {
		t.Fatalf("page holds the value unescaped:\n%s", page)
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("page lacks the escaped value")
	}
	if !strings.Contains(page, "a &amp; b &#34;quoted&#34; &#39;single&#39;") {
		t.Errorf("subtitle not escaped")
	}
	rects := parseHTMLSVG(t, htmlSVGOf(t, page))
	var found bool
	for _, r := range rects {
		if r.class == "op ok" {
			found = true
			if !strings.Contains(r.title, evil) || !strings.Contains(r.title, `@"n1"`) || !strings.Contains(r.title, "k&<") {
				t.Errorf("tooltip %q does not read back as the values", r.title)
			}
			if !strings.Contains(r.title, "bad\uFFFDutf8\uFFFD") {
				t.Errorf("tooltip %q: NUL and invalid UTF-8 should read as U+FFFD", r.title)
			}
		}
	}
	if !found {
		t.Errorf("no op bar")
	}
}

func TestHTMLArtifactHref(t *testing.T) {
	for name, want := range map[string]string{
		"register.html":       "register.html",
		"a b.html":            "a%20b.html",
		"javascript:alert(1)": "./javascript:alert%281%29",
		"sub/x?.html":         "sub/x%3F.html",
	} {
		if got := artifactHref(name); got != want {
			t.Errorf("artifactHref(%q) = %q, want %q", name, got, want)
		}
	}
	page := renderHTML(t, htmlPage{Verdicts: []Verdict{{Checker: "c", Valid: false, Artifact: "javascript:alert(1)"}}})
	if strings.Contains(page, `href="javascript:`) {
		t.Errorf("a scheme in Artifact became a link")
	}
}

func TestHTMLDetailsCapped(t *testing.T) {
	var details []string
	for i := range 60 {
		details = append(details, fmt.Sprintf("detail #%02d.", i))
	}
	page := renderHTML(t, htmlPage{Verdicts: []Verdict{{Checker: "set", Details: details}}})
	if n := strings.Count(page, "<li>detail #"); n != maxDetailLines {
		t.Errorf("%d detail lines shown, want %d", n, maxDetailLines)
	}
	if !strings.Contains(page, "detail #49.") || strings.Contains(page, "detail #50.") {
		t.Errorf("want details 0..49 shown and 50.. left out")
	}
	if !strings.Contains(page, "… 10 more") {
		t.Errorf("page lacks \"… 10 more\"")
	}

	page = renderHTML(t, htmlPage{Verdicts: []Verdict{{Checker: "set", Details: details[:maxDetailLines]}}})
	if strings.Contains(page, "more</li>") {
		t.Errorf("exactly %d details should not say more", maxDetailLines)
	}
}

func TestHTMLEmpty(t *testing.T) {
	page := renderHTML(t, htmlPage{Title: "nothing"})
	if rects := parseHTMLSVG(t, htmlSVGOf(t, page)); len(rects) == 0 {
		t.Errorf("the empty timeline should still have a legend")
	}
	for _, want := range []string{"No checker ran.", "No operations recorded.", "</html>"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestHTMLNarrowBarsAndLanes(t *testing.T) {
	// 200 lanes over 4 workloads; every op lasts 1ns in a 10s run.
	var ops []Op
	workloads := []string{"register", "set", "watch", "sched"}
	for p := range 200 {
		ops = append(ops, Op{Process: p, Workload: workloads[p%4], F: "read", Invoke: int64(p) * 50 * htmlMS, Return: int64(p)*50*htmlMS + 1, Outcome: OK})
	}
	ops = append(ops, Op{Process: 0, Workload: "register", F: "read", Invoke: 10 * int64(time.Second), Return: 10 * int64(time.Second), Outcome: Unknown})
	page := renderHTML(t, htmlPage{Ops: ops})
	rects := parseHTMLSVG(t, htmlSVGOf(t, page))
	lanes := map[float64]bool{}
	bars := 0
	for _, r := range rects {
		if !strings.HasPrefix(r.class, "op ") {
			continue
		}
		bars++
		lanes[r.y] = true
		if r.w < 1 {
			t.Errorf("bar %q is %vpx wide, want at least 1", r.title, r.w)
		}
		if r.h < minLaneH-1 {
			t.Errorf("bar %q is %vpx high", r.title, r.h)
		}
	}
	if bars != len(ops) {
		t.Errorf("%d bars, want %d", bars, len(ops))
	}
	if len(lanes) != 200 {
		t.Errorf("%d lanes, want 200", len(lanes))
	}
	if !strings.Contains(page, ">10 s</text>") {
		t.Errorf("axis lacks 10 s")
	}
	if !strings.Contains(page, `width="1400"`) {
		t.Errorf("timeline is not 1400px wide")
	}
}

func TestHTMLTickStep(t *testing.T) {
	for _, c := range []struct{ span, want float64 }{
		{10, 1}, {12, 1}, {13, 2}, {60, 5}, {300, 50}, {1.3, 0.2}, {0.05, 0.005}, {0, 1},
	} {
		if got := tickStep(c.span, 12); got < c.want*0.999 || got > c.want*1.001 {
			t.Errorf("tickStep(%v) = %v, want %v", c.span, got, c.want)
		}
	}
}

func TestHTMLTruncate(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"partition", 20, "partition"}, {"partition", 9, "partition"}, {"partition", 5, "part…"}, {"ééééé", 3, "éé…"}, {"kill n1", 6, "kill…"},
	} {
		if got := truncateRunes(c.s, c.n); got != c.want {
			t.Errorf("truncateRunes(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}

type htmlFailingWriter struct{}

func (htmlFailingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestHTMLWriteError(t *testing.T) {
	if err := writeHTML(htmlFailingWriter{}, sampleHTMLPage()); err == nil {
		t.Errorf("writeHTML to a failing writer returned nil")
	}
}

func TestHTMLLargeHistory(t *testing.T) {
	const n = 20000
	ops := make([]Op, n)
	workloads := []string{"register", "set", "watch", "sched"}
	outcomes := []Outcome{OK, OK, OK, Fail, Unknown}
	for i := range ops {
		ops[i] = Op{
			Process: i % 40, Workload: workloads[i%4], F: "write", Key: "k" + strconv.Itoa(i%7), Value: strconv.Itoa(i),
			Node: "n" + strconv.Itoa(i%3+1), Invoke: int64(i) * 3 * htmlMS, Return: int64(i)*3*htmlMS + 2*htmlMS,
			Outcome: outcomes[i%5], Revision: uint64(i),
		}
	}
	faults := make([]Fault, 30)
	for i := range faults {
		faults[i] = Fault{Kind: "partition", Targets: []string{"n1", "n2"}, Desc: "majority", Start: int64(i) * 2 * int64(time.Second), End: int64(i)*2*int64(time.Second) + 900*htmlMS}
	}
	p := htmlPage{Title: "large", Ops: ops, Faults: faults}
	start := time.Now()
	var b strings.Builder
	if err := writeHTML(&b, p); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d ops, %d faults: %d bytes in %v", n, len(faults), b.Len(), time.Since(start))
	if got := strings.Count(b.String(), `<rect class="op `); got != n {
		t.Errorf("%d bars, want %d", got, n)
	}
	parseHTMLSVG(t, htmlSVGOf(t, b.String()))
}
