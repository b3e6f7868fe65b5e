package html

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

func TestNiceNum(t *testing.T) {
	tests := []struct {
		x     float64
		round bool
		want  float64
	}{
		{1, false, 1}, {1.2, false, 2}, {2, false, 2}, {2.1, false, 5}, {4.9, false, 5}, {5.1, false, 10},
		{216, false, 500}, {0.03, false, 0.05}, {1200, false, 2000},
		{1.4, true, 1}, {1.6, true, 2}, {2.9, true, 2}, {3, true, 5}, {6.9, true, 5}, {7, true, 10},
		{125, true, 100}, {0.25, true, 0.2}, {0, true, 1}, {-3, false, 1}, {math.NaN(), true, 1},
	}
	for _, tt := range tests {
		if got := niceNum(tt.x, tt.round); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("niceNum(%v, %v) = %v, want %v", tt.x, tt.round, got, tt.want)
		}
	}
}

func TestTicks(t *testing.T) {
	tests := []struct {
		lo, hi   float64
		n        int
		want     []string
		wantStep float64
	}{
		{0, 216, 5, []string{"0", "50", "100", "150", "200", "250"}, 50},
		{0, 50, 5, []string{"0", "10", "20", "30", "40", "50"}, 10},
		{0, 20.4, 7, []string{"0", "5", "10", "15", "20", "25"}, 5},
		{0, 0.3, 4, []string{"0.0", "0.1", "0.2", "0.3"}, 0.1},
		{0, 0, 5, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}, 0.2},
		{0, 0.012, 5, []string{"0.000", "0.005", "0.010", "0.015"}, 0.005},
		{3, 3, 3, []string{"0", "2", "4", "6"}, 2},
		{-40, 40, 5, []string{"-40", "-20", "0", "20", "40"}, 20},
		{50, 0, 5, []string{"0", "10", "20", "30", "40", "50"}, 10},
	}
	for _, tt := range tests {
		ts, step := ticks(tt.lo, tt.hi, tt.n)
		got := make([]string, len(ts))
		for i, v := range ts {
			got[i] = tickLabel(v, step)
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") || math.Abs(step-tt.wantStep) > 1e-12 {
			t.Errorf("ticks(%v, %v, %d) = %v step %v, want %v step %v", tt.lo, tt.hi, tt.n, got, step, tt.want, tt.wantStep)
		}
	}
}

// Ticks always cover the range, evenly, in a readable number of steps.
func TestTicksProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		lo := 0.0
		if rng.IntN(3) == 0 {
			lo = rng.Float64() * 100
		}
		hi := lo + math.Pow(10, rng.Float64()*10-4)
		ts, step := ticks(lo, hi, 5)
		if ts[0] > lo || ts[len(ts)-1] < hi {
			t.Fatalf("ticks(%v, %v) = %v do not cover the range", lo, hi, ts)
		}
		if len(ts) < 3 || len(ts) > 12 {
			t.Fatalf("ticks(%v, %v) gave %d ticks", lo, hi, len(ts))
		}
		for i := 1; i < len(ts); i++ {
			if d := ts[i] - ts[i-1]; math.Abs(d-step) > step*1e-6 {
				t.Fatalf("ticks(%v, %v) = %v are not %v apart", lo, hi, ts, step)
			}
		}
		if niceNum(step, true) != step {
			t.Fatalf("step %v is not a nice number", step)
		}
	}
}

func TestTickLabel(t *testing.T) {
	tests := []struct {
		v, step float64
		want    string
	}{
		{100, 100, "100"}, {0.2, 0.2, "0.2"}, {0.05, 0.05, "0.05"}, {math.Copysign(0, -1), 1, "0"},
		{0.30000000000000004, 0.1, "0.3"}, {12.5, 0.1, "12.5"}, {2.6, 2, "3"},
	}
	for _, tt := range tests {
		if got := tickLabel(tt.v, tt.step); got != tt.want {
			t.Errorf("tickLabel(%v, %v) = %q, want %q", tt.v, tt.step, got, tt.want)
		}
	}
}

func TestScale(t *testing.T) {
	s := scale{0, 300, 210, 26} // a y axis: 0 at the bottom
	for _, tt := range []struct{ v, want float64 }{{0, 210}, {300, 26}, {150, 118}, {600, -158}} {
		if got := s.at(tt.v); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("at(%v) = %v, want %v", tt.v, got, tt.want)
		}
	}
	if got := (scale{5, 5, 10, 20}).at(7); got != 10 {
		t.Errorf("a point domain maps to %v, want the range start 10", got)
	}
}

// element is a parsed SVG element.
type element struct {
	name  string
	attrs map[string]string
	text  string
}

// parseSVG parses s as XML and returns its elements in order.
func parseSVG(t *testing.T, s string) []element {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(s))
	var out []element
	var stack []int
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse: %v\n%s", err, s)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := element{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			out = append(out, e)
			stack = append(stack, len(out)-1)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				out[stack[len(stack)-1]].text += string(tok)
			}
		}
	}
	return out
}

func count(es []element, name, class string) int {
	n := 0
	for _, e := range es {
		if e.name == name && (class == "" || strings.Contains(" "+e.attrs["class"]+" ", " "+class+" ")) {
			n++
		}
	}
	return n
}

func TestChartSVG(t *testing.T) {
	nan := math.NaN()
	c := chart{
		Title: "Latency (ms)",
		Lines: []line{
			{Name: "p50", Class: "s0", X: []float64{1, 2, 3, 4, 5}, Y: []float64{5, 5, nan, 200, 5}},
			{Name: "p99", Class: "s1", X: []float64{1, 2, 3, 4, 5}, Y: []float64{12, 12, nan, 216, 12}},
		},
		Bands:  []band{{From: 2.5, To: 4.5, Label: "network_delay"}, {From: 3, To: 3, Label: "<process_kill>"}},
		Marks:  []mark{{At: 1, Label: "baseline"}, {At: 2.5, Label: "chaos"}, {At: 4.6, Label: "recovery"}},
		Refs:   []ref{{Y: 100, Label: "limit 100 ms"}},
		Format: millis,
	}
	s := string(c.svg())
	es := parseSVG(t, s)
	if es[0].name != "svg" || es[0].attrs["viewBox"] != "0 0 560 240" {
		t.Fatalf("root element = %+v, want an svg with a viewBox", es[0])
	}
	if got := count(es, "path", "series"); got != 2 {
		t.Errorf("%d series paths, want 2", got)
	}
	for _, e := range es {
		if e.name == "path" && strings.Contains(e.attrs["class"], "series") {
			if m := strings.Count(e.attrs["d"], "M"); m != 2 {
				t.Errorf("path %q has %d moves, want 2: the NaN is a gap", e.attrs["d"], m)
			}
		}
	}
	if count(es, "rect", "fault") != 1 || count(es, "line", "fault-line") != 1 {
		t.Errorf("want one shaded fault window and one fault line:\n%s", s)
	}
	if count(es, "line", "phase") != 3 || count(es, "line", "ref") != 1 {
		t.Errorf("want 3 phase marks and 1 reference line:\n%s", s)
	}
	if got := count(es, "rect", "hover"); got != 5 {
		t.Errorf("%d hover columns, want one per point", got)
	}
	if !strings.Contains(s, "&lt;process_kill&gt;") || strings.Contains(s, "<process_kill>") {
		t.Error("a label was not escaped")
	}
	// Every coordinate lies inside the view box; the y axis goes up to 300
	// for a peak of 216, and 216 is drawn below the top.
	var yTicks []string
	for _, e := range es {
		for _, k := range []string{"x", "x1", "x2"} {
			if v, ok := e.attrs[k]; ok && (atof(t, v) < 0 || atof(t, v) > chartW) {
				t.Errorf("%s %s=%s is outside the chart", e.name, k, v)
			}
		}
		for _, k := range []string{"y", "y1", "y2"} {
			if v, ok := e.attrs[k]; ok && (atof(t, v) < 0 || atof(t, v) > chartH) {
				t.Errorf("%s %s=%s is outside the chart", e.name, k, v)
			}
		}
		if e.name == "text" && e.attrs["text-anchor"] == "end" && e.attrs["class"] == "" {
			yTicks = append(yTicks, e.text)
		}
	}
	if got := strings.Join(yTicks, " "); got != "0 50 100 150 200 250" {
		t.Errorf("y ticks = %q", got)
	}
	// Hover titles give the values and the fault active at that point.
	if !strings.Contains(s, "<title>4 s · p50 200 ms · p99 216 ms · fault: network_delay</title>") {
		t.Errorf("no hover title for the 4 s point:\n%s", s)
	}
	if !strings.Contains(s, "fault: &lt;process_kill&gt;</title>") {
		t.Error("the instantaneous fault is not in its interval's hover title")
	}
}

func atof(t *testing.T, s string) float64 {
	t.Helper()
	var f float64
	if _, err := fmt.Sscan(s, &f); err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return f
}

func TestChartDegenerate(t *testing.T) {
	for name, c := range map[string]chart{
		"no lines":     {Title: "empty"},
		"no points":    {Lines: []line{{Name: "a", Class: "s0"}}},
		"all gaps":     {Lines: []line{{Name: "a", Class: "s0", X: []float64{1, 2}, Y: []float64{math.NaN(), math.NaN()}}}},
		"one point":    {Lines: []line{{Name: "a", Class: "s0", X: []float64{0}, Y: []float64{0}}}},
		"ragged":       {Lines: []line{{Name: "a", Class: "s0", X: []float64{1, 2, 3}, Y: []float64{1}}}},
		"infinite":     {Lines: []line{{Name: "a", Class: "s0", X: []float64{1, 2}, Y: []float64{math.Inf(1), 3}}}},
		"band outside": {Lines: []line{{Name: "a", Class: "s0", X: []float64{1}, Y: []float64{1}}}, Bands: []band{{From: -5, To: 50}, {From: 70, To: 80}}},
	} {
		t.Run(name, func(t *testing.T) {
			for _, e := range parseSVG(t, string(c.svg())) {
				w, ok := e.attrs["width"]
				if !ok {
					w = "0"
				}
				if v, ok := e.attrs["x"]; ok && (atof(t, v) < 0 || atof(t, v)+atof(t, w) > chartW) {
					t.Errorf("%s x=%s width=%s is outside the chart", e.name, v, e.attrs["width"])
				}
			}
		})
	}
}

func TestChartHoverColumnsAreBounded(t *testing.T) {
	n := 3600
	x, y := make([]float64, n), make([]float64, n)
	for i := range x {
		x[i], y[i] = float64(i), float64(i%7)
	}
	es := parseSVG(t, string(chart{Lines: []line{{Name: "a", Class: "s0", X: x, Y: y}}}.svg()))
	if got := count(es, "rect", "hover"); got > maxHoverCol {
		t.Errorf("%d hover columns for %d points, want at most %d", got, n, maxHoverCol)
	}
}

// A hover column that covers several intervals shows each line's range over
// them, so a spike inside the group is not hidden.
func TestChartHoverGroupShowsRange(t *testing.T) {
	n := 3600
	x, y := make([]float64, n), make([]float64, n)
	for i := range x {
		x[i], y[i] = float64(i+1), 1
	}
	y[1000] = 99 // inside a group, not its first point
	s := string(chart{Lines: []line{{Name: "p99", Class: "s0", X: x, Y: y}}, Format: millis}.svg())
	if !strings.Contains(s, "p99 1 ms to 99 ms</title>") {
		t.Errorf("no hover title shows the 99 ms spike")
	}
	if !regexp.MustCompile(`<title>\d+–\d+ s · `).MatchString(s) {
		t.Errorf("hover titles of groups do not give their time span")
	}
}

// Missing time between points is a gap, not a straight line over it; a
// point alone between gaps is a dot.
func TestChartBreaksAtMissingTime(t *testing.T) {
	c := chart{Lines: []line{
		{Name: "a", Class: "s0", X: []float64{1, 2, 3, 4, 10, 11, 12}, Y: []float64{1, 2, 3, 4, 5, 6, 7}},
		{Name: "b", Class: "s1", X: []float64{1, 2, 3, 7, 11, 12}, Y: []float64{1, 2, 3, 4, 5, 6}},
	}}
	var ds []string
	for _, e := range parseSVG(t, string(c.svg())) {
		if e.name == "path" {
			ds = append(ds, e.attrs["d"])
		}
	}
	if len(ds) != 2 {
		t.Fatalf("%d paths, want 2", len(ds))
	}
	if m := strings.Count(ds[0], "M"); m != 2 {
		t.Errorf("path %q has %d moves, want 2: 4 s to 10 s is missing", ds[0], m)
	}
	if m := strings.Count(ds[1], "M"); m != 3 || strings.Count(ds[1], "h0") != 1 {
		t.Errorf("path %q: want 3 moves and the lone point at 7 s as a dot (h0)", ds[1])
	}
}
