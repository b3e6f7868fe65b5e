package html

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
)

// chart is a line chart over time, drawn as inline SVG on the server: no
// script, no external reference. X values are seconds since the run's
// start.
type chart struct {
	Title string
	// Lines share their X values; a NaN Y is a gap.
	Lines []line
	// Bands are fault windows, shaded; a band with To == From is a vertical
	// line (an instantaneous fault).
	Bands []band
	// Marks are phase boundaries, drawn as dashed vertical lines.
	Marks []mark
	// Refs are horizontal reference lines, such as a hypothesis limit.
	Refs []ref
	// XMax is the end of the x axis, in seconds; 0 means the last X.
	XMax float64
	// Format formats a Y value with its unit for hover titles.
	Format func(float64) string
}

type line struct {
	Name string
	// Class picks the colour and style from the report's CSS: s0, s1, s2.
	Class string
	X, Y  []float64
}

type band struct {
	From, To float64
	Label    string
}

type mark struct {
	At    float64
	Label string
}

type ref struct {
	Y     float64
	Label string
}

// Chart geometry in SVG user units; the SVG scales to its container's width.
const (
	chartW      = 560
	chartH      = 240
	padLeft     = 50
	padRight    = 24
	padTop      = 26
	padBottom   = 30
	yTickCount  = 5
	xTickCount  = 7
	maxHoverCol = 240
	labelGap    = 56
	// gapFactor is how many times the usual step between points the time
	// between two points may be before the line breaks there.
	gapFactor = 1.5
)

// medianStep returns the median of the positive steps between consecutive
// finite xs, or 0 when there are none.
func medianStep(xs []float64) float64 {
	var steps []float64
	for i := 1; i < len(xs); i++ {
		if d := xs[i] - xs[i-1]; d > 0 && finite(d) {
			steps = append(steps, d)
		}
	}
	if len(steps) == 0 {
		return 0
	}
	slices.Sort(steps)
	n := len(steps)
	if n%2 == 1 {
		return steps[n/2]
	}
	return (steps[n/2-1] + steps[n/2]) / 2
}

// scale maps a domain [d0, d1] linearly onto a range [r0, r1].
type scale struct{ d0, d1, r0, r1 float64 }

func (s scale) at(v float64) float64 {
	if s.d1 == s.d0 {
		return s.r0
	}
	return s.r0 + (v-s.d0)/(s.d1-s.d0)*(s.r1-s.r0)
}

// niceNum returns a "nice" number (1, 2 or 5 times a power of ten) near x:
// the nearest one when round is set, else the smallest one not below x.
func niceNum(x float64, round bool) float64 {
	if x <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return 1
	}
	exp := math.Floor(math.Log10(x))
	pow := math.Pow(10, exp)
	f := x / pow
	var nf float64
	if round {
		switch {
		case f < 1.5:
			nf = 1
		case f < 3:
			nf = 2
		case f < 7:
			nf = 5
		default:
			nf = 10
		}
	} else {
		switch {
		case f <= 1:
			nf = 1
		case f <= 2:
			nf = 2
		case f <= 5:
			nf = 5
		default:
			nf = 10
		}
	}
	return nf * pow
}

// ticks returns nice tick values covering [lo, hi] in about n steps, from a
// multiple of the step at or below lo to one at or above hi, and the step.
func ticks(lo, hi float64, n int) ([]float64, float64) {
	if n < 2 {
		n = 2
	}
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		lo, hi = 0, 1
	}
	if hi < lo {
		lo, hi = hi, lo
	}
	if hi == lo {
		if lo == 0 {
			hi = 1
		} else {
			lo, hi = lo-math.Abs(lo)/2, hi+math.Abs(hi)/2
		}
	}
	step := niceNum((hi-lo)/float64(n-1), true)
	first := math.Floor(lo/step) * step
	last := math.Ceil(hi/step) * step
	count := int(math.Round((last-first)/step)) + 1
	out := make([]float64, count)
	for i := range out {
		// Multiplying, not adding, keeps rounding errors from piling up.
		v := first + float64(i)*step
		out[i] = math.Round(v/step) * step
	}
	return out, step
}

// tickLabel formats a tick value with as many decimals as its step needs.
func tickLabel(v, step float64) string {
	dec := 0
	if step > 0 && step < 1 {
		dec = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	if v == 0 {
		v = 0 // no "-0"
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

// esc escapes text for SVG inside HTML.
func esc(s string) string { return template.HTMLEscapeString(s) }

// f1 formats a coordinate.
func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// svg draws the chart.
func (c chart) svg() template.HTML {
	var b strings.Builder
	format := c.Format
	if format == nil {
		format = func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
	}

	// Lines are drawn as far as they have both X and Y.
	lines := make([]line, len(c.Lines))
	for i, l := range c.Lines {
		n := min(len(l.X), len(l.Y))
		l.X, l.Y = l.X[:n], l.Y[:n]
		lines[i] = l
	}
	c.Lines = lines

	// Domains.
	xMax := c.XMax
	yMax := 0.0
	for _, l := range c.Lines {
		for i, y := range l.Y {
			if c.XMax == 0 && !math.IsNaN(l.X[i]) && !math.IsInf(l.X[i], 0) {
				xMax = math.Max(xMax, l.X[i])
			}
			if !math.IsNaN(y) && !math.IsInf(y, 0) {
				yMax = math.Max(yMax, y)
			}
		}
	}
	for _, r := range c.Refs {
		yMax = math.Max(yMax, r.Y)
	}
	// The x axis ends where the run does; its ticks stay inside.
	xMax = math.Max(xMax, 1)
	xt, xStep := ticks(0, xMax, xTickCount)
	for len(xt) > 1 && xt[len(xt)-1] > xMax*(1+1e-9) {
		xt = xt[:len(xt)-1]
	}
	// The y axis ends on a tick; headroom keeps a line at its peak off the
	// chart's top edge.
	yt, yStep := ticks(0, yMax*1.08, yTickCount)
	x := scale{0, xMax, padLeft, chartW - padRight}
	y := scale{yt[0], yt[len(yt)-1], chartH - padBottom, padTop}
	top, bottom := float64(padTop), float64(chartH-padBottom)

	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s">`, chartW, chartH, esc(c.Title))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(c.Title))

	// Fault windows under everything else.
	for _, bd := range c.Bands {
		x0, x1 := x.at(bd.From), x.at(bd.To)
		if x1 < padLeft || x0 > chartW-padRight {
			continue // outside the plot
		}
		x0, x1 = math.Max(x0, padLeft), math.Min(x1, chartW-padRight)
		if bd.To <= bd.From {
			fmt.Fprintf(&b, `<line class="fault-line" x1="%s" y1="%s" x2="%s" y2="%s"><title>%s</title></line>`,
				f1(x0), f1(top), f1(x0), f1(bottom), esc(bd.Label))
		} else {
			fmt.Fprintf(&b, `<rect class="fault" x="%s" y="%s" width="%s" height="%s"><title>%s</title></rect>`,
				f1(x0), f1(top), f1(x1-x0), f1(bottom-top), esc(bd.Label))
		}
		fmt.Fprintf(&b, `<text class="fault-label" x="%s" y="%s">%s</text>`, f1(x0+4), f1(top+12), esc(bd.Label))
	}

	// Grid and axes.
	b.WriteString(`<g class="grid">`)
	for _, v := range yt {
		fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%d" y2="%s"/>`, padLeft, f1(y.at(v)), chartW-padRight, f1(y.at(v)))
	}
	b.WriteString(`</g><g class="tick">`)
	for _, v := range yt {
		fmt.Fprintf(&b, `<text x="%d" y="%s" text-anchor="end">%s</text>`, padLeft-6, f1(y.at(v)+4), tickLabel(v, yStep))
	}
	for _, v := range xt {
		fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle">%s s</text>`, f1(x.at(v)), chartH-padBottom+18, tickLabel(v, xStep))
	}
	b.WriteString(`</g>`)
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%s" x2="%d" y2="%s"/>`, padLeft, f1(bottom), chartW-padRight, f1(bottom))

	// Phase boundaries, labelled where there is room.
	lastLabel := math.Inf(-1)
	for _, m := range c.Marks {
		px := x.at(m.At)
		fmt.Fprintf(&b, `<line class="phase" x1="%s" y1="%s" x2="%s" y2="%s"><title>%s at %s s</title></line>`,
			f1(px), f1(top-4), f1(px), f1(bottom), esc(m.Label), trim(m.At))
		if px-lastLabel >= labelGap && px <= chartW-padRight-20 {
			fmt.Fprintf(&b, `<text class="phase-label" x="%s" y="%d">%s</text>`, f1(px+3), padTop-10, esc(m.Label))
			lastLabel = px
		}
	}

	// Reference lines.
	for _, r := range c.Refs {
		py := y.at(r.Y)
		fmt.Fprintf(&b, `<line class="ref" x1="%d" y1="%s" x2="%d" y2="%s"><title>%s</title></line>`,
			padLeft, f1(py), chartW-padRight, f1(py), esc(r.Label))
		fmt.Fprintf(&b, `<text class="ref-label" x="%d" y="%s" text-anchor="end">%s</text>`, chartW-padRight-4, f1(py-4), esc(r.Label))
	}

	// The lines, broken at gaps: a NaN, or missing time (a step between
	// points of more than gapFactor times the usual one). A point alone
	// between gaps is drawn as a dot.
	for _, l := range c.Lines {
		step := medianStep(l.X)
		var d strings.Builder
		run := 0 // points in the current segment
		for i := range l.X {
			if !finite(l.Y[i]) || !finite(l.X[i]) {
				if run == 1 {
					d.WriteString("h0")
				}
				run = 0
				continue
			}
			if run > 0 && step > 0 && l.X[i]-l.X[i-1] > gapFactor*step {
				if run == 1 {
					d.WriteString("h0")
				}
				run = 0
			}
			cmd := "L"
			if run == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%s %s", cmd, f1(x.at(l.X[i])), f1(y.at(l.Y[i])))
			run++
		}
		if run == 1 {
			d.WriteString("h0")
		}
		if d.Len() > 0 {
			fmt.Fprintf(&b, `<path class="series %s" d="%s"><title>%s</title></path>`, esc(l.Class), d.String(), esc(l.Name))
		}
	}

	// Hover columns: a transparent rectangle per point (or per group of
	// points on long runs) whose title lists the values there; a group
	// gives each line's range over its points, so no spike hides.
	if len(c.Lines) > 0 {
		xs := c.Lines[0].X
		stride := max((len(xs)+maxHoverCol-1)/maxHoverCol, 1)
		for i := 0; i < len(xs); i += stride {
			left := x.at(xs[i])
			if i > 0 {
				left = (x.at(xs[i-1]) + left) / 2
			} else {
				left = math.Max(padLeft, left-4)
			}
			j := min(i+stride, len(xs)) - 1
			right := x.at(xs[j])
			if j+1 < len(xs) {
				right = (right + x.at(xs[j+1])) / 2
			} else {
				right = math.Min(chartW-padRight, right+4)
			}
			left, right = math.Max(left, padLeft), math.Min(right, chartW-padRight)
			if right <= left {
				continue
			}
			var tip strings.Builder
			if j > i {
				fmt.Fprintf(&tip, "%s–%s s", trim(xs[i]), trim(xs[j]))
			} else {
				fmt.Fprintf(&tip, "%s s", trim(xs[i]))
			}
			for _, l := range c.Lines {
				lo, hi := math.Inf(1), math.Inf(-1)
				for k := i; k <= j && k < len(l.Y); k++ {
					if finite(l.Y[k]) {
						lo, hi = math.Min(lo, l.Y[k]), math.Max(hi, l.Y[k])
					}
				}
				switch {
				case lo > hi: // nothing measured here
				case format(lo) == format(hi):
					fmt.Fprintf(&tip, " · %s %s", l.Name, format(hi))
				default:
					fmt.Fprintf(&tip, " · %s %s to %s", l.Name, format(lo), format(hi))
				}
			}
			// The group covers the intervals (lo, hi].
			lo, hi := math.Inf(-1), xs[j]
			if i > 0 {
				lo = xs[i-1]
			}
			for _, bd := range c.Bands {
				if bd.From <= hi && math.Max(bd.To, bd.From) > lo {
					fmt.Fprintf(&tip, " · fault: %s", bd.Label)
				}
			}
			fmt.Fprintf(&b, `<rect class="hover" x="%s" y="%s" width="%s" height="%s"><title>%s</title></rect>`,
				f1(left), f1(top), f1(math.Max(right-left, 1)), f1(bottom-top), esc(tip.String()))
		}
	}
	b.WriteString(`</svg>`)
	// Every text from outside was escaped above.
	return template.HTML(b.String())
}
