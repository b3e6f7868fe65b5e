package html

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

//go:embed report.html.tmpl
var reportTemplate string

var report = template.Must(template.New("report").Parse(reportTemplate))

// DefaultLogLines is how many of the target's last log lines a report shows.
const DefaultLogLines = 50

// Render writes r as one self-contained HTML document: inline CSS, charts
// as inline SVG, no script and no external reference, so that it works
// offline and can be mailed or archived as a single file. Everything taken
// from r is escaped. It writes nothing when it fails.
func Render(w io.Writer, r *chaoslab.Result) error {
	return render(w, r, DefaultLogLines)
}

func render(w io.Writer, r *chaoslab.Result, logLines int) error {
	if r == nil {
		return errors.New("html: render: nil result")
	}
	var buf bytes.Buffer
	if err := report.Execute(&buf, newView(r, logLines)); err != nil {
		return fmt.Errorf("html: render: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("html: render: %w", err)
	}
	return nil
}

// view is what the template shows, every value already in words.
type view struct {
	Name, ID                   string
	Verdict, VerdictClass, Why string
	// Headline is the verdict in plain words, for a reader who does not
	// know the metrics; Why and the rest are for engineers.
	Headline string
	// Score is the resilience score; nil until the result has one.
	Score                       *scoreView
	Status                      string
	Provider, Target, Endpoint  string
	Scenarios                   []string
	Started, Duration, Seed     string
	Load                        string
	Recovery, RecoveryClass     string
	Abort                       string
	Analysis                    *analysisView
	Charts                      []chartView
	Checks                      []checkView
	Comparisons                 []comparisonView
	Windows                     []windowView
	Faults                      []faultView
	Phases                      []phaseView
	Logs                        []string
	LogLines, LogErrors, Hidden int
	Errors                      []string
	Schema                      int
}

type analysisView struct {
	Summary, Severity, Source, Fallback string
	Metrics                             string
	Recommendations                     []string
}

type chartView struct {
	Title string
	// Legend names the lines when there are several.
	Legend []legendItem
	SVG    template.HTML
}

type legendItem struct{ Name, Class string }

type checkView struct {
	Window, Metric, Limit, Observed, Detail string
	OK                                      bool
}

// comparisonView is one row of the statistical comparisons.
type comparisonView struct {
	Phase, Metric, Baseline, Observed, Effect, Interval, P, Limit, Verdict, Note string
}

// formatCompared formats a value of a comparison's metric; shares are
// shown as percentages.
func formatCompared(metric string, v float64) string {
	switch metric {
	case chaoslab.MetricErrorRate:
		return strconv.FormatFloat(100*v, 'f', 2, 64) + " %"
	case chaoslab.MetricP50, chaoslab.MetricP99:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func comparisons(r *chaoslab.Result) []comparisonView {
	var out []comparisonView
	for _, c := range r.Comparisons {
		f := func(v float64) string { return formatCompared(c.Metric, v) }
		cv := comparisonView{Phase: c.Phase, Metric: c.Metric, Baseline: f(c.Baseline), Observed: f(c.Observed),
			Effect: f(c.Effect), Interval: "[" + f(c.Interval[0]) + ", " + f(c.Interval[1]) + "]",
			P: strconv.FormatFloat(c.PValue, 'g', 2, 64), Limit: "—", Verdict: c.Verdict, Note: c.Note}
		if c.Limit != nil {
			cv.Limit = f(*c.Limit)
		}
		out = append(out, cv)
	}
	return out
}

type windowView struct {
	Name, Span, Requests, Errors, RPS, ErrRate, P50, P90, P99, CPU, Memory string
}

type faultView struct {
	Scenario, Params, Injected, Reverted, Error string
}

type phaseView struct {
	Name, Start, End, Duration string
}

// origin is the time the x axes and offsets count from: the run's start,
// or its first measurement or phase when the start was not recorded.
func origin(r *chaoslab.Result) time.Time {
	if !r.StartedAt.IsZero() {
		return r.StartedAt
	}
	var t time.Time
	early := func(c time.Time) {
		if !c.IsZero() && (t.IsZero() || c.Before(t)) {
			t = c
		}
	}
	for _, p := range r.Phases {
		early(p.StartedAt)
	}
	for _, p := range r.Series {
		early(p.T.Add(-time.Second))
	}
	return t
}

func newView(r *chaoslab.Result, logLines int) view {
	t0 := origin(r)
	v := view{
		Name:     r.Name,
		ID:       r.ID,
		Provider: r.Provider,
		Endpoint: r.Target.Endpoint,
		Seed:     strconv.FormatInt(r.Seed, 10),
		Schema:   r.SchemaVersion,
		Errors:   r.Errors,
	}
	if v.Name == "" {
		v.Name = "Chaos experiment"
	}
	v.Verdict, v.VerdictClass, v.Why = verdict(r)
	v.Headline = headline(r)
	v.Score = score(r)
	v.Status = string(r.Status)
	if v.Status == "" {
		v.Status = "unknown"
	}
	v.Target = strings.TrimSpace(string(r.Target.Kind) + " " + r.Target.ID)
	for _, f := range r.Faults {
		if !slices.Contains(v.Scenarios, f.Scenario) {
			v.Scenarios = append(v.Scenarios, f.Scenario)
		}
	}
	if !r.StartedAt.IsZero() {
		v.Started = r.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC")
		if r.EndedAt.After(r.StartedAt) {
			v.Duration = seconds(r.EndedAt.Sub(r.StartedAt).Seconds())
		}
	}
	switch {
	case r.Load.Disabled:
		v.Load = "none (probes only)"
	case r.Load.Rate > 0:
		v.Load = strings.TrimSpace(fmt.Sprintf("%s req/s %s %s", trim(r.Load.Rate), r.Load.Method, strings.Join(r.Load.Paths, ", ")))
		if r.Load.TimeoutMS > 0 {
			v.Load += fmt.Sprintf(" (timeout %s)", millis(r.Load.TimeoutMS))
		}
	}
	v.Recovery, v.RecoveryClass = recovery(r)
	if a := r.Abort; a != nil {
		v.Abort = a.Reason
		if !a.At.IsZero() && !t0.IsZero() {
			v.Abort += " (at " + offset(a.At, t0) + ")"
		}
	}
	if a := r.Analysis; a.Summary != "" || a.Source != "" || len(a.Recommendations) > 0 {
		m := a.Metrics
		metrics := fmt.Sprintf("Target CPU peak %s, memory peak %s, failed requests %d",
			measured(m.CPUPeak, " % of one core"), measured(m.MemoryPeak, " MB"), m.ErrorCount)
		if m.RecoveryTimeSeconds != nil {
			metrics += ", recovery " + seconds(*m.RecoveryTimeSeconds)
		}
		v.Analysis = &analysisView{Summary: a.Summary, Severity: string(a.Severity), Source: a.Source,
			Fallback: a.FallbackReason, Metrics: metrics + ".", Recommendations: a.Recommendations}
	}
	v.Charts = charts(r, t0)
	for _, c := range r.Hypothesis {
		v.Checks = append(v.Checks, checkView{Window: c.Window, Metric: c.Metric,
			Limit: chaoslab.FormatMetric(c.Metric, c.Limit), Observed: chaoslab.FormatMetric(c.Metric, c.Observed), OK: c.OK, Detail: c.Detail})
	}
	v.Comparisons = comparisons(r)
	for _, w := range r.Windows {
		wv := windowView{Name: w.Name, Requests: strconv.FormatInt(w.Requests, 10), Errors: strconv.FormatInt(w.Errors, 10),
			RPS: trim(w.RPS), ErrRate: "—", P50: "—", P90: "—", P99: "—",
			CPU: measured(w.CPUPeak, " %"), Memory: measured(w.MemoryMax, " MB")}
		if w.Requests > 0 { // without requests there is no rate and no latency
			wv.ErrRate, wv.P50, wv.P90, wv.P99 = percent(w.ErrRate), millis(w.Latency.P50), millis(w.Latency.P90), millis(w.Latency.P99)
		}
		if !w.Start.IsZero() && !t0.IsZero() {
			wv.Span = offset(w.Start, t0) + " – " + offset(w.End, t0)
		}
		v.Windows = append(v.Windows, wv)
	}
	for _, f := range r.Faults {
		fv := faultView{Scenario: f.Scenario, Params: params(f.Params), Injected: "not injected", Reverted: "—", Error: f.Error}
		if f.InjectedAt != nil {
			fv.Injected = offset(*f.InjectedAt, t0)
			fv.Reverted = "not reverted"
		}
		if f.RevertedAt != nil {
			fv.Reverted = offset(*f.RevertedAt, t0)
			if instantaneous(f) {
				fv.Reverted += " (instantaneous)"
			}
		}
		v.Faults = append(v.Faults, fv)
	}
	for _, p := range r.Phases {
		pv := phaseView{Name: string(p.Name), Start: offset(p.StartedAt, t0), End: offset(p.EndedAt, t0)}
		if !p.StartedAt.IsZero() && !p.EndedAt.IsZero() {
			pv.Duration = trim(p.EndedAt.Sub(p.StartedAt).Seconds()) + " s"
		}
		v.Phases = append(v.Phases, pv)
	}
	v.LogLines, v.LogErrors = r.Logs.Lines, r.Logs.ErrorCount
	v.Logs = r.Logs.Last
	if logLines >= 0 && len(v.Logs) > logLines {
		v.Hidden = len(v.Logs) - logLines
		v.Logs = v.Logs[len(v.Logs)-logLines:]
	}
	return v
}

// verdict returns the badge text, its CSS class and one sentence why.
func verdict(r *chaoslab.Result) (string, string, string) {
	why := strings.TrimSpace(r.Reason)
	switch r.Verdict {
	case chaoslab.VerdictPass:
		if why == "" {
			why = "The service met its steady-state hypothesis while the faults were active and recovered afterwards."
		}
		return "PASS", "pass", sentence(why)
	case chaoslab.VerdictFail:
		if failed := r.Failed(); len(failed) > 0 {
			why = describeFailed(failed)
		}
		if why == "" {
			why = "The service did not meet its steady-state hypothesis under the faults."
		}
		return "FAIL", "fail", sentence(why)
	}
	if failed := r.Failed(); len(failed) > 0 && r.Status == chaoslab.StatusCompleted {
		why = describeFailed(failed) // the baseline was not steady
	}
	if why == "" {
		why = "The run cannot tell whether the service is resilient to these faults."
	}
	return "INCONCLUSIVE", "inconclusive", sentence(why)
}

// describeFailed says in words what the first failed check saw, and how
// many more failed.
func describeFailed(failed []chaoslab.Check) string {
	s := failed[0].Describe()
	switch n := len(failed) - 1; n {
	case 0:
	case 1:
		s += " (and 1 more check failed)"
	default:
		s += fmt.Sprintf(" (and %d more checks failed)", n)
	}
	return s
}

// sentence capitalises s, unless it starts with an identifier such as
// latency_p99_ms, and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	first, _, _ := strings.Cut(s, " ")
	if c := s[0]; c >= 'a' && c <= 'z' && !strings.ContainsAny(first, "_.:/") {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// recovery says how the target came back, and a CSS class. It says the
// target did not recover exactly when the result measured recovery
// (chaoslab.Result.RecoveryMeasured) and it did not, as the analyzers do.
func recovery(r *chaoslab.Result) (string, string) {
	rec := r.Recovery
	injected := slices.ContainsFunc(r.Faults, func(f chaoslab.FaultRecord) bool { return f.InjectedAt != nil })
	switch {
	case rec.Recovered && rec.Seconds != nil:
		s := "Recovered in " + seconds(*rec.Seconds)
		if rec.StableWindow > 0 {
			s += " (then stable for " + seconds(rec.StableWindow) + ")"
		}
		return s, "pass"
	case rec.Recovered:
		return "Recovered", "pass"
	case r.RecoveryMeasured():
		return "Did not recover", "fail"
	case injected && (r.Abort != nil || r.Status == chaoslab.StatusAborted):
		return "Not measured (aborted)", "inconclusive"
	}
	return "Not measured", "inconclusive"
}

// charts draws the series, one chart per measure.
func charts(r *chaoslab.Result, t0 time.Time) []chartView {
	if len(r.Series) == 0 {
		return nil
	}
	n := len(r.Series)
	xs := make([]float64, n)
	get := func(f func(p chaoslab.Point) float64) []float64 {
		ys := make([]float64, n)
		for i, p := range r.Series {
			ys[i] = f(p)
		}
		return ys
	}
	for i, p := range r.Series {
		xs[i] = p.T.Sub(t0).Seconds()
	}
	gap := math.NaN()
	rpsY := get(func(p chaoslab.Point) float64 { return p.RPS })
	okY := get(func(p chaoslab.Point) float64 { return p.RPS * (1 - p.ErrRate) })
	errY := get(func(p chaoslab.Point) float64 {
		if p.Requests == 0 {
			return gap
		}
		return p.ErrRate * 100
	})
	latency := func(f func(l chaoslab.Latencies) float64) []float64 {
		return get(func(p chaoslab.Point) float64 {
			if p.Requests == 0 {
				return gap
			}
			return f(p.Latency)
		})
	}
	p50 := latency(func(l chaoslab.Latencies) float64 { return l.P50 })
	p99 := latency(func(l chaoslab.Latencies) float64 { return l.P99 })

	var xMax float64
	for _, x := range xs {
		xMax = math.Max(xMax, x)
	}
	var bands []band
	for _, f := range r.Faults {
		if f.InjectedAt == nil {
			continue
		}
		from := f.InjectedAt.Sub(t0).Seconds()
		to := xMax
		if f.RevertedAt != nil {
			to = f.RevertedAt.Sub(t0).Seconds()
			if instantaneous(f) {
				to = from
			}
		}
		bands = append(bands, band{From: from, To: to, Label: f.Scenario})
	}
	var marks []mark
	for _, p := range r.Phases {
		label, ok := phaseMarks[p.Name]
		if !ok || p.StartedAt.IsZero() {
			continue
		}
		at := p.StartedAt.Sub(t0).Seconds()
		if at < 0 || at > xMax {
			continue
		}
		marks = append(marks, mark{At: at, Label: label})
	}
	limits := func(metric string, mul float64) []ref {
		var out []ref
		seen := map[float64]bool{}
		for _, c := range r.Hypothesis {
			if c.Metric == metric && c.Limit > 0 && !seen[c.Limit] {
				seen[c.Limit] = true
				out = append(out, ref{Y: c.Limit * mul, Label: limitLabel(metric) + " " + chaoslab.FormatMetric(metric, c.Limit)})
			}
		}
		return out
	}
	var out []chartView
	mk := func(title string, format func(float64) string, refs []ref, lines ...line) {
		empty := true
		for i := range lines {
			lines[i].X = xs
			empty = empty && !slices.ContainsFunc(lines[i].Y, finite)
		}
		if empty {
			return // nothing was measured: no chart of made-up zeros
		}
		c := chart{Title: title, Lines: lines, Bands: bands, Marks: marks, Refs: refs, XMax: xMax, Format: format}
		cv := chartView{Title: title, SVG: c.svg()}
		if len(lines) > 1 {
			for _, l := range lines {
				cv.Legend = append(cv.Legend, legendItem{Name: l.Name, Class: l.Class})
			}
		}
		out = append(out, cv)
	}
	// A resource reading of 0 was not measured (chaoslab.Sample): a gap.
	reading := func(f func(p chaoslab.Point) float64) []float64 {
		return get(func(p chaoslab.Point) float64 {
			if v := f(p); v > 0 {
				return v
			}
			return gap
		})
	}
	if !r.Load.Disabled {
		mk("Throughput (requests/s)", func(v float64) string { return trim(v) + " req/s" }, limits(chaoslab.MetricThroughput, 1),
			line{Name: "succeeded", Class: "s0", Y: okY}, line{Name: "all", Class: "s2", Y: rpsY})
	}
	mk("Error rate (%)", func(v float64) string { return trim(v) + " %" }, limits(chaoslab.MetricErrorRate, 100),
		line{Name: "error rate", Class: "s3", Y: errY})
	mk("Latency (ms)", millis, append(limits(chaoslab.MetricP50, 1), limits(chaoslab.MetricP99, 1)...),
		line{Name: "p50", Class: "s0", Y: p50}, line{Name: "p99", Class: "s1", Y: p99})
	mk("CPU (%)", func(v float64) string { return trim(v) + " %" }, nil,
		line{Name: "target (% of one core)", Class: "s0", Y: reading(func(p chaoslab.Point) float64 { return p.CPUPercent })},
		line{Name: "host (% of machine)", Class: "s2", Y: reading(func(p chaoslab.Point) float64 { return p.HostCPUPercent })})
	mk("Memory (MB)", func(v float64) string { return trim(v) + " MB" }, nil,
		line{Name: "target", Class: "s0", Y: reading(func(p chaoslab.Point) float64 { return p.MemoryMB })})
	// A fleet's instances: a point with neither count was not sampled.
	capacity := func(f func(p chaoslab.Point) int) []float64 {
		return get(func(p chaoslab.Point) float64 {
			if p.DesiredCapacity == 0 && p.HealthyCapacity == 0 {
				return gap
			}
			return float64(f(p))
		})
	}
	mk("Fleet capacity (instances)", func(v float64) string { return trim(v) + " instances" }, nil,
		line{Name: "healthy", Class: "s0", Y: capacity(func(p chaoslab.Point) int { return p.HealthyCapacity })},
		line{Name: "desired", Class: "s2", Y: capacity(func(p chaoslab.Point) int { return p.DesiredCapacity })})
	if slices.ContainsFunc(r.Faults, func(f chaoslab.FaultRecord) bool { return f.Scenario == "disk_fill" }) {
		mk("Disk used (MB)", func(v float64) string { return trim(v) + " MB" }, nil,
			line{Name: "disk", Class: "s0", Y: reading(func(p chaoslab.Point) float64 { return p.DiskUsedMB })})
	}
	return out
}

// limitLabel names a hypothesis limit on a chart.
func limitLabel(metric string) string {
	switch metric {
	case chaoslab.MetricP50:
		return "p50 limit"
	case chaoslab.MetricP99:
		return "p99 limit"
	case chaoslab.MetricThroughput:
		return "minimum"
	}
	return "limit"
}

// finite reports whether v is a number to draw.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// instantaneous reports whether a fault was reverted as soon as it was
// injected (process_kill), within a tenth of a second.
func instantaneous(f chaoslab.FaultRecord) bool {
	return f.InjectedAt != nil && f.RevertedAt != nil && f.RevertedAt.Sub(*f.InjectedAt) < 100*time.Millisecond
}

// phaseMarks are the phase boundaries the charts mark, with their labels.
var phaseMarks = map[chaoslab.Phase]string{
	chaoslab.PhaseBaseline:   "baseline",
	chaoslab.PhaseInjecting:  "chaos",
	chaoslab.PhaseRecovering: "recovery",
}

// trim formats a number with at most two decimals and no trailing zeros.
func trim(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

// measured formats a resource reading with its unit, or says it was not
// measured: a chaoslab.Sample's zero fields were not measured.
func measured(v float64, unit string) string {
	if v == 0 || math.IsNaN(v) {
		return "not measured"
	}
	return trim(v) + unit
}

func millis(v float64) string  { return trim(v) + " ms" }
func percent(v float64) string { return trim(v*100) + " %" }
func seconds(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + " s" }
func offset(t, t0 time.Time) string {
	if t.IsZero() {
		return "—"
	}
	if t0.IsZero() {
		return t.UTC().Format("15:04:05.000")
	}
	d := t.Sub(t0).Seconds()
	if d < 0 {
		return trim(d) + " s"
	}
	return "+" + trim(d) + " s"
}

// params formats fault parameters as sorted key=value pairs.
func params(p chaoslab.Params) string {
	keys := slices.Sorted(maps.Keys(p))
	kv := make([]string, len(keys))
	for i, k := range keys {
		kv[i] = k + "=" + p[k]
	}
	return strings.Join(kv, " ")
}
