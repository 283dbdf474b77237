package jepsen

import (
	"bufio"
	"cmp"
	"io"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// htmlPage is what report.html shows.
type htmlPage struct {
	Title    string // e.g. "partition-leader, 3 servers"
	Subtitle string // e.g. "seed 42 · 1234 operations · 9 faults"
	Verdicts []Verdict
	Ops      []Op
	Faults   []Fault
}

// Layout of the timeline, in SVG user units (pixels).
const (
	svgWidth         = 1400
	marginLeft       = 150 // room for the workload and process labels
	marginRight      = 20
	plotWidth        = svgWidth - marginLeft - marginRight
	faultHeaderH     = 120 // room for the fault labels above the lanes
	plainHeaderH     = 12  // the same without faults
	emptyLanesH      = 40  // the lane area when there are no operations
	axisH            = 44  // the time axis below the lanes
	legendH          = 30  // the legend below the axis
	laneBudget       = 700 // the lanes share about this much height
	maxLaneH         = 14
	minLaneH         = 3
	groupGap         = 8   // between the lanes of two workloads
	labelCharW       = 6.2 // average width of a character at 11px
	labelLineH       = 14  // height of a row of horizontal fault labels
	maxTimelineTicks = 12  // at most about this many tick labels
	secondNs         = 1e9 // nanoseconds in a second
	milliNs          = 1e6 // nanoseconds in a millisecond
	maxDetailLines   = 50  // details shown per verdict
	maxLabelChars    = 22  // workload labels are truncated to this
	hatchID          = "berth-hatch"
)

// writeHTML writes a self-contained page: no JavaScript needed, no external
// resources. It shows the verdicts of the checkers above one SVG timeline
// of the operations (one lane per client process, grouped by workload) and
// of the nemesis's faults (shaded bands across all lanes).
func writeHTML(w io.Writer, p htmlPage) error {
	o := &htmlOut{w: bufio.NewWriterSize(w, 64<<10)}
	o.raw("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>")
	o.text(p.Title)
	o.raw("</title>\n<style>\n" + pageCSS + "</style>\n</head>\n<body>\n<h1>")
	o.text(p.Title)
	o.raw("</h1>\n")
	if p.Subtitle != "" {
		o.raw("<p class=\"sub\">")
		o.text(p.Subtitle)
		o.raw("</p>\n")
	}
	writeVerdicts(o, p.Verdicts)
	writeStats(o, p)
	o.raw("<div class=\"timeline\">\n")
	writeTimeline(o, p.Ops, p.Faults)
	o.raw("</div>\n</body>\n</html>\n")
	return o.w.Flush()
}

// pageCSS styles the HTML around the timeline; the timeline carries its own.
const pageCSS = `body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:24px 0 8px}
.sub{color:#555;margin:0 0 16px}
.banner{padding:8px 12px;border-radius:4px;font-weight:600;margin:0 0 12px;max-width:1376px}
.banner.pass{background:#e3f4e6;color:#1d6b2d;border:1px solid #9fd3aa}
.banner.problem{background:#fbe4e4;color:#a11c1c;border:1px solid #eba3a3}
table.verdicts{border-collapse:collapse;width:100%;max-width:1400px}
.verdicts th,.verdicts td{border:1px solid #ddd;padding:6px 8px;text-align:left;vertical-align:top}
.verdicts th{background:#f3f4f6}
.verdicts td.checker{font-weight:600;white-space:nowrap}
.badge{display:inline-block;padding:2px 8px;border-radius:4px;font-weight:700;color:#fff;font-size:12px}
.badge.valid{background:#2e9e44}
.badge.invalid{background:#d62728}
.verdicts ul{margin:0;padding-left:18px;font:12px/1.35 ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;overflow-wrap:anywhere}
.verdicts li.more{list-style:none;color:#666;font-style:italic}
.none{color:#888}
.stats{color:#444;margin:0 0 8px}
.timeline{overflow-x:auto}
`

// svgCSS styles the timeline; it lives inside the SVG so that the SVG holds
// together on its own.
const svgCSS = `.ok{fill:#2e9e44}
.fail{fill:#f28e1c}
.unk{fill:url(#` + hatchID + `)}
.fault{fill:#d62728;fill-opacity:.12;stroke:#d62728;stroke-opacity:.45;stroke-width:.5}
.shade{fill:#d62728;fill-opacity:.10;pointer-events:none}
.flabel{fill:#a11c1c;font-size:11px}
.group{fill:#f4f5f7}
.grid{stroke:#dde0e4;stroke-width:1}
.axis{stroke:#555;stroke-width:1}
.tick{fill:#444;font-size:11px;text-anchor:middle}
.wl{fill:#222;font-size:12px;font-weight:600}
.proc{fill:#888;font-size:9px;text-anchor:end}
.note{fill:#555;font-size:11px}
`

// writeVerdicts writes the banner and the table of the checkers' verdicts.
func writeVerdicts(o *htmlOut, vs []Verdict) {
	o.raw("<h2>Verdicts</h2>\n")
	if len(vs) == 0 {
		o.raw("<p class=\"none\">No checker ran.</p>\n")
		return
	}
	bad := 0
	for _, v := range vs {
		if !v.Valid {
			bad++
		}
	}
	if bad == 0 {
		o.raw("<p class=\"banner pass\">All ")
		o.int(int64(len(vs)))
		o.raw(" checkers found the history valid.</p>\n")
	} else {
		o.raw("<p class=\"banner problem\">")
		o.int(int64(bad))
		o.raw(" of ")
		o.int(int64(len(vs)))
		o.raw(" checkers found a problem (or could not decide).</p>\n")
	}
	o.raw("<table class=\"verdicts\">\n<thead><tr><th>Checker</th><th>Verdict</th><th>Summary</th><th>Details</th><th>Artifact</th></tr></thead>\n<tbody>\n")
	for _, v := range vs {
		o.raw("<tr><td class=\"checker\">")
		o.text(v.Checker)
		if v.Valid {
			o.raw("</td><td><span class=\"badge valid\">VALID</span></td><td>")
		} else {
			o.raw("</td><td><span class=\"badge invalid\">INVALID</span></td><td>")
		}
		o.text(v.Summary)
		o.raw("</td><td>")
		if len(v.Details) > 0 {
			o.raw("<ul>")
			for i, d := range v.Details {
				if i == maxDetailLines {
					o.raw("<li class=\"more\">… ")
					o.int(int64(len(v.Details) - maxDetailLines))
					o.raw(" more</li>")
					break
				}
				o.raw("<li>")
				o.text(d)
				o.raw("</li>")
			}
			o.raw("</ul>")
		}
		o.raw("</td><td>")
		if v.Artifact != "" {
			o.raw("<a href=\"")
			o.text(artifactHref(v.Artifact))
			o.raw("\">")
			o.text(v.Artifact)
			o.raw("</a>")
		}
		o.raw("</td></tr>\n")
	}
	o.raw("</tbody>\n</table>\n")
}

// artifactHref makes a link to a file of the report's folder. The name is
// taken as a path, never as a URL with a scheme: "javascript:x" becomes
// "./javascript:x".
func artifactHref(name string) string {
	return (&url.URL{Path: name}).String()
}

// writeStats writes the heading of the timeline and a line of counts.
func writeStats(o *htmlOut, p htmlPage) {
	var ok, fail, unknown int64
	for i := range p.Ops {
		switch p.Ops[i].Outcome {
		case OK:
			ok++
		case Fail:
			fail++
		default:
			unknown++
		}
	}
	o.raw("<h2>Timeline</h2>\n<p class=\"stats\">")
	o.int(int64(len(p.Ops)))
	o.raw(" operations: ")
	o.int(ok)
	o.raw(" ok, ")
	o.int(fail)
	o.raw(" failed, ")
	o.int(unknown)
	o.raw(" unknown · ")
	o.int(int64(len(p.Faults)))
	o.raw(" faults · ")
	o.raw(strconv.FormatFloat(float64(timelineEnd(p.Ops, p.Faults))/secondNs, 'f', 2, 64))
	o.raw(" s. Hover over a bar or a band for its details.</p>\n")
}

// timelineEnd is the last time of the run that the history shows, at least 1ns.
func timelineEnd(ops []Op, faults []Fault) int64 {
	end := int64(1)
	for i := range ops {
		end = max(end, ops[i].Invoke, ops[i].Return)
	}
	for i := range faults {
		end = max(end, faults[i].Start, faults[i].End)
	}
	return end
}

// laneKey names the lane of one client process of one workload.
type laneKey struct {
	workload string
	process  int
}

// laneGroup is the lanes of one workload, top to bottom.
type laneGroup struct {
	workload string
	procs    []int
	top      float64
}

// timelineLayout places the lanes of a timeline.
type timelineLayout struct {
	groups []laneGroup
	laneY  map[laneKey]float64
	laneH  float64
	top    float64 // top of the lanes
	bottom float64 // bottom of the lanes
	scale  float64 // pixels per nanosecond
	end    int64   // the run's end, in nanoseconds
}

// layoutTimeline groups the lanes by workload (in name order, processes in
// number order) and sizes them to fit laneBudget within [minLaneH, maxLaneH].
func layoutTimeline(ops []Op, faults []Fault) *timelineLayout {
	l := &timelineLayout{laneY: make(map[laneKey]float64)}
	l.end = timelineEnd(ops, faults)
	if len(ops) == 0 && len(faults) == 0 {
		l.end = secondNs // an empty run still gets a sensible axis
	}
	l.scale = plotWidth / float64(l.end)
	l.top = plainHeaderH
	if len(faults) > 0 {
		l.top = faultHeaderH
	}

	keys := make([]laneKey, 0, 16)
	for i := range ops {
		k := laneKey{ops[i].Workload, ops[i].Process}
		if _, seen := l.laneY[k]; !seen {
			l.laneY[k] = 0
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b laneKey) int {
		return cmp.Or(strings.Compare(a.workload, b.workload), cmp.Compare(a.process, b.process))
	})
	if len(keys) == 0 {
		l.bottom = l.top + emptyLanesH
		return l
	}
	l.laneH = float64(max(minLaneH, min(maxLaneH, laneBudget/len(keys))))

	y := l.top + groupGap/2
	for _, k := range keys {
		if len(l.groups) == 0 || l.groups[len(l.groups)-1].workload != k.workload {
			if len(l.groups) > 0 {
				y += groupGap
			}
			l.groups = append(l.groups, laneGroup{workload: k.workload, top: y})
		}
		g := &l.groups[len(l.groups)-1]
		g.procs = append(g.procs, k.process)
		l.laneY[k] = y
		y += l.laneH
	}
	l.bottom = y + groupGap/2
	return l
}

// x is where time t (nanoseconds) lies on the timeline.
func (l *timelineLayout) x(t int64) float64 {
	return marginLeft + float64(t)*l.scale
}

// writeTimeline writes the SVG: lanes, time axis, fault bands, operation
// bars, a shade of each fault over the bars and the legend, in that order
// (later ones are drawn on top).
func writeTimeline(o *htmlOut, ops []Op, faults []Fault) {
	l := layoutTimeline(ops, faults)
	height := l.bottom + axisH + legendH

	o.raw("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"")
	o.int(svgWidth)
	o.raw("\" height=\"")
	o.num(height)
	o.raw("\" viewBox=\"0 0 ")
	o.int(svgWidth)
	o.raw(" ")
	o.num(height)
	o.raw("\" font-family=\"system-ui, sans-serif\" font-size=\"11\" role=\"img\" aria-label=\"timeline of operations and faults\">\n<style>\n" + svgCSS + "</style>\n")
	o.raw("<defs><pattern id=\"" + hatchID + "\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">" +
		"<rect width=\"4\" height=\"4\" fill=\"#d4d4d4\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"4\" stroke=\"#8c8c8c\" stroke-width=\"1.6\"/></pattern></defs>\n")

	writeLanes(o, l)
	writeAxis(o, l)
	writeFaults(o, l, faults)
	writeOps(o, l, ops)
	writeShades(o, l, faults)
	writeLegend(o, l, ops, faults)
	o.raw("</svg>\n")
}

// writeLanes writes the background and the labels of each workload's lanes.
func writeLanes(o *htmlOut, l *timelineLayout) {
	if len(l.groups) == 0 {
		o.raw("<text class=\"note\" x=\"")
		o.num(marginLeft + 8)
		o.raw("\" y=\"")
		o.num(l.top + emptyLanesH/2 + 4)
		o.raw("\">No operations recorded.</text>\n")
		return
	}
	for _, g := range l.groups {
		h := float64(len(g.procs)) * l.laneH
		o.raw("<rect class=\"group\" x=\"")
		o.num(marginLeft)
		o.raw("\" y=\"")
		o.num(g.top - 2)
		o.raw("\" width=\"")
		o.num(plotWidth)
		o.raw("\" height=\"")
		o.num(h + 4)
		o.raw("\"/>\n<text class=\"wl\" x=\"8\" y=\"")
		o.num(g.top + min(h, 2*labelLineH)/2 + 4)
		o.raw("\">")
		o.text(truncateRunes(g.workload, maxLabelChars))
		o.raw("</text>\n")
		if l.laneH >= 10 {
			for i, p := range g.procs {
				o.raw("<text class=\"proc\" x=\"")
				o.num(marginLeft - 4)
				o.raw("\" y=\"")
				o.num(g.top + float64(i)*l.laneH + l.laneH - 3)
				o.raw("\">p")
				o.int(int64(p))
				o.raw("</text>\n")
			}
		}
	}
}

// writeAxis writes the grid lines and the time axis in seconds.
func writeAxis(o *htmlOut, l *timelineLayout) {
	span := float64(l.end) / secondNs
	step := tickStep(span, maxTimelineTicks)
	decimals := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	for i := 0; ; i++ {
		s := float64(i) * step
		if s > span*(1+1e-9) {
			break
		}
		x := marginLeft + s*secondNs*l.scale
		o.raw("<line class=\"grid\" x1=\"")
		o.num(x)
		o.raw("\" y1=\"")
		o.num(l.top)
		o.raw("\" x2=\"")
		o.num(x)
		o.raw("\" y2=\"")
		o.num(l.bottom + 4)
		o.raw("\"/><text class=\"tick\" x=\"")
		o.num(x)
		o.raw("\" y=\"")
		o.num(l.bottom + 17)
		o.raw("\">")
		o.raw(strconv.FormatFloat(s, 'f', decimals, 64))
		o.raw(" s</text>\n")
	}
	o.raw("<line class=\"axis\" x1=\"")
	o.num(marginLeft)
	o.raw("\" y1=\"")
	o.num(l.bottom)
	o.raw("\" x2=\"")
	o.num(marginLeft + plotWidth)
	o.raw("\" y2=\"")
	o.num(l.bottom)
	o.raw("\"/>\n<text class=\"note\" x=\"")
	o.num(marginLeft + plotWidth/2)
	o.raw("\" y=\"")
	o.num(l.bottom + 34)
	o.raw("\" text-anchor=\"middle\">seconds since the run began</text>\n")
}

// tickStep returns a round interval (1, 2 or 5 times a power of ten) that
// cuts span seconds into at most n intervals.
func tickStep(span float64, n int) float64 {
	raw := span / float64(n)
	if !(raw > 0) || math.IsInf(raw, 0) {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw*(1-1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// writeFaults writes one translucent band per fault, across all lanes, with
// its kind and targets written in the header above the lanes: horizontally
// when the band is wide enough, else rotated and truncated.
func writeFaults(o *htmlOut, l *timelineLayout, faults []Fault) {
	order := make([]int, len(faults))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(faults[a].Start, faults[b].Start) })

	levels := make([]float64, int((faultHeaderH-8)/labelLineH)) // right end of the last label of each row
	for i := range levels {
		levels[i] = math.Inf(-1)
	}
	rotatedChars := int(math.Floor((faultHeaderH - 8) / labelCharW))

	for _, i := range order {
		f := &faults[i]
		x0, w := l.faultSpan(f)
		label := f.Kind
		if len(f.Targets) > 0 {
			label += " " + strings.Join(f.Targets, ",")
		}

		o.raw("<g class=\"band\"><title>")
		o.text(f.Kind)
		if len(f.Targets) > 0 {
			o.raw(" on ")
			o.text(strings.Join(f.Targets, ", "))
		}
		if f.Desc != "" {
			o.raw(": ")
			o.text(f.Desc)
		}
		o.raw(", ")
		o.ms(f.Start)
		if f.End == 0 {
			o.raw(" ms until the end of the run")
		} else {
			o.raw("–")
			o.ms(f.End)
			o.raw(" ms")
		}
		o.raw("</title><rect class=\"fault\" x=\"")
		o.num(x0)
		o.raw("\" y=\"0\" width=\"")
		o.num(w)
		o.raw("\" height=\"")
		o.num(l.bottom)
		o.raw("\"/>")

		textW := float64(utf8.RuneCountInString(label))*labelCharW + 6
		level := -1
		if w >= textW {
			for j, right := range levels {
				if right <= x0 {
					level = j
					break
				}
			}
		}
		if level >= 0 {
			levels[level] = x0 + textW
			o.raw("<text class=\"flabel\" x=\"")
			o.num(x0 + 3)
			o.raw("\" y=\"")
			o.num(float64(level*labelLineH + 12))
			o.raw("\">")
			o.text(label)
		} else {
			o.raw("<text class=\"flabel\" transform=\"translate(")
			o.num(x0 + 10)
			o.raw(",")
			o.num(l.top - 4)
			o.raw(") rotate(-90)\">")
			o.text(truncateRunes(label, rotatedChars))
		}
		o.raw("</text></g>\n")
	}
}

// faultSpan is where fault f lies on the timeline: from x0, w wide (at
// least 1px). A fault without an end lasts to the end of the run.
func (l *timelineLayout) faultSpan(f *Fault) (x0, w float64) {
	end := f.End
	if end == 0 || end < f.Start {
		end = l.end
	}
	x0 = l.x(f.Start)
	return x0, max(1, l.x(end)-x0)
}

// writeShades shades the faults once more over the bars, so that they show
// across busy lanes; the shade lets the mouse through to the bars' tooltips.
func writeShades(o *htmlOut, l *timelineLayout, faults []Fault) {
	for i := range faults {
		x0, w := l.faultSpan(&faults[i])
		o.raw("<rect class=\"shade\" x=\"")
		o.num(x0)
		o.raw("\" y=\"")
		o.num(l.top)
		o.raw("\" width=\"")
		o.num(w)
		o.raw("\" height=\"")
		o.num(l.bottom - l.top)
		o.raw("\"/>\n")
	}
}

// writeOps writes one bar per operation, from its invocation to its return,
// at least 1px wide, with a tooltip.
func writeOps(o *htmlOut, l *timelineLayout, ops []Op) {
	barH := l.laneH - 1
	for i := range ops {
		op := &ops[i]
		class := "op unk"
		switch op.Outcome {
		case OK:
			class = "op ok"
		case Fail:
			class = "op fail"
		}
		x := l.x(op.Invoke)
		w := max(1, float64(op.Return-op.Invoke)*l.scale)
		o.raw("<rect class=\"")
		o.raw(class)
		o.raw("\" x=\"")
		o.num(x)
		o.raw("\" y=\"")
		o.num(l.laneY[laneKey{op.Workload, op.Process}])
		o.raw("\" width=\"")
		o.num(w)
		o.raw("\" height=\"")
		o.num(barH)
		o.raw("\"><title>")
		writeOpTitle(o, op)
		o.raw("</title></rect>\n")
	}
}

// writeOpTitle writes an operation's tooltip, escaped:
// "F key value → outcome result rev N error @node, invoke–return ms".
func writeOpTitle(o *htmlOut, op *Op) {
	o.text(op.F)
	if op.Key != "" {
		o.raw(" ")
		o.text(op.Key)
	}
	if op.Value != "" {
		o.raw(" ")
		o.text(op.Value)
	}
	if op.Expect != 0 {
		o.raw(" (expect rev ")
		o.int(int64(op.Expect))
		o.raw(")")
	}
	o.raw(" → ")
	if op.Outcome == "" {
		o.raw(string(Unknown))
	} else {
		o.text(string(op.Outcome))
	}
	if op.Result != "" {
		o.raw(" ")
		o.text(op.Result)
	}
	if op.Revision != 0 {
		o.raw(" rev ")
		o.int(int64(op.Revision))
	}
	if op.Error != "" {
		o.raw(" ")
		o.text(op.Error)
	}
	if op.Node != "" {
		o.raw(" @")
		o.text(op.Node)
	}
	o.raw(", ")
	o.ms(op.Invoke)
	o.raw("–")
	o.ms(op.Return)
	o.raw(" ms")
}

// writeLegend writes what the colours mean, with counts.
func writeLegend(o *htmlOut, l *timelineLayout, ops []Op, faults []Fault) {
	var counts [3]int
	for i := range ops {
		switch ops[i].Outcome {
		case OK:
			counts[0]++
		case Fail:
			counts[1]++
		default:
			counts[2]++
		}
	}
	items := []struct{ class, label string }{
		{"ok", "ok (" + strconv.Itoa(counts[0]) + ")"},
		{"fail", "fail (" + strconv.Itoa(counts[1]) + ")"},
		{"unk", "unknown: the answer was lost (" + strconv.Itoa(counts[2]) + ")"},
		{"fault", "fault window (" + strconv.Itoa(len(faults)) + ")"},
	}
	y := l.bottom + axisH + 8
	x := float64(marginLeft)
	for _, it := range items {
		o.raw("<rect class=\"")
		o.raw(it.class)
		o.raw("\" x=\"")
		o.num(x)
		o.raw("\" y=\"")
		o.num(y)
		o.raw("\" width=\"18\" height=\"11\"/><text class=\"note\" x=\"")
		o.num(x + 24)
		o.raw("\" y=\"")
		o.num(y + 10)
		o.raw("\">")
		o.text(it.label)
		o.raw("</text>\n")
		x += 24 + float64(utf8.RuneCountInString(it.label))*labelCharW + 24
	}
	o.raw("<text class=\"note\" x=\"")
	o.num(x)
	o.raw("\" y=\"")
	o.num(y + 10)
	o.raw("\">One lane per client process; a bar runs from invoke to return.</text>\n")
}

// truncateRunes shortens s to at most n runes, ending it with "…" when cut.
func truncateRunes(s string, n int) string {
	if n < 1 || utf8.RuneCountInString(s) <= n {
		return s
	}
	i, k := 0, 0
	for i = range s {
		if k == n-1 {
			break
		}
		k++
	}
	return strings.TrimRight(s[:i], " ") + "…"
}

// htmlOut writes the page. Write errors stick in the bufio.Writer and come
// back from its Flush.
type htmlOut struct {
	w   *bufio.Writer
	buf []byte
}

// raw writes s as it is: markup of ours.
func (o *htmlOut) raw(s string) { o.w.WriteString(s) }

// num writes a coordinate with one decimal.
func (o *htmlOut) num(v float64) {
	o.buf = strconv.AppendFloat(o.buf[:0], v, 'f', 1, 64)
	o.w.Write(o.buf)
}

// int writes an integer.
func (o *htmlOut) int(v int64) {
	o.buf = strconv.AppendInt(o.buf[:0], v, 10)
	o.w.Write(o.buf)
}

// ms writes nanoseconds t as milliseconds with one decimal.
func (o *htmlOut) ms(t int64) {
	o.buf = strconv.AppendFloat(o.buf[:0], float64(t)/milliNs, 'f', 1, 64)
	o.w.Write(o.buf)
}

// text writes s escaped for HTML text and attribute values, which also makes
// it valid XML: invalid UTF-8 and the characters XML forbids become U+FFFD.
func (o *htmlOut) text(s string) {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		size := 1
		var rep string
		switch {
		case c == '&':
			rep = "&amp;"
		case c == '<':
			rep = "&lt;"
		case c == '>':
			rep = "&gt;"
		case c == '"':
			rep = "&#34;"
		case c == '\'':
			rep = "&#39;"
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r':
			rep = "\uFFFD"
		case c >= utf8.RuneSelf:
			var r rune
			r, size = utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 || r == 0xFFFE || r == 0xFFFF {
				rep = "\uFFFD"
			}
		}
		if rep == "" {
			i += size
			continue
		}
		o.w.WriteString(s[last:i])
		o.w.WriteString(rep)
		i += size
		last = i
	}
	o.w.WriteString(s[last:])
}
