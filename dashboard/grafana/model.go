package grafana

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// The TestData data source: Grafana's built-in data source plugin whose
// "CSV Content" scenario (scenarioId csv_content) returns the CSV text
// stored in the query itself. chaoslab embeds each panel's data that way,
// so the dashboard renders without any data source of the user's.
const (
	// TestDataType is the plugin type of the TestData data source since
	// Grafana 10.
	TestDataType = "grafana-testdata-datasource"
	// LegacyTestDataType is its type in Grafana 9 and earlier.
	LegacyTestDataType = "testdata"
	// DefaultDatasourceUID is the uid of the TestData data source Publish
	// creates when the organisation has none.
	DefaultDatasourceUID = "chaoslab-testdata"
	// DefaultDatasourceName is its name.
	DefaultDatasourceName = "chaoslab TestData"
)

// Tags every annotation and dashboard carries; see Publisher.
const (
	TagChaoslab         = "chaoslab"
	TagRunPrefix        = "run:"
	TagScenarioPrefix   = "scenario:"
	TagExperimentPrefix = "experiment:"
)

// Thresholds of the stat panels: green below the first, yellow from it,
// red from the second.
const (
	cpuYellow, cpuRed           = 70.0, 90.0 // % of one core
	memoryYellowX, memoryRedX   = 1.5, 2.0   // times the baseline peak
	memoryYellowMB, memoryRedMB = 512, 1024  // without a baseline
	recoveryYellow, recoveryRed = 5.0, 30.0  // seconds
)

// dsRef names a data source in dashboard JSON.
type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func (d dsRef) json() map[string]any { return map[string]any{"type": d.Type, "uid": d.UID} }

// grafanaDS is Grafana's built-in annotation data source.
var grafanaDS = map[string]any{"type": "grafana", "uid": "-- Grafana --"}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

func slugify(s string) string {
	return strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// DashboardUID returns the uid of the dashboard of the experiment named
// name: "chaoslab-", a slug of the name and eight hex digits of its
// SHA-256, at most 40 characters of letters, digits and '-', as Grafana
// requires. The same name always gives the same uid, so that publishing
// again updates the dashboard in place.
func DashboardUID(name string) string {
	const prefix = "chaoslab-"
	sum := sha256.Sum256([]byte(name))
	h := hex.EncodeToString(sum[:4])
	slug := slugify(name)
	if room := 40 - len(prefix) - 1 - len(h); len(slug) > room {
		slug = strings.TrimRight(slug[:room], "-")
	}
	if slug == "" {
		return prefix + h
	}
	return prefix + slug + "-" + h
}

// experimentName is the name a result is published under.
func experimentName(r *chaoslab.Result) string {
	if n := strings.TrimSpace(r.Name); n != "" {
		return n
	}
	return strings.TrimSpace(r.ID)
}

// score returns the run's score, shown next to the verdict.
func score(r *chaoslab.Result) (float64, bool) {
	if r.Score != nil {
		return *r.Score, true
	}
	return 0, false
}

// headline returns the numbers of the stat panels: the analysis's, or when
// no analyzer filled them in, the ones every analyzer reports.
func headline(r *chaoslab.Result) chaoslab.AnalysisMetrics {
	m := r.Analysis.Metrics
	if m.CPUPeak == 0 && m.MemoryPeak == 0 && m.ErrorCount == 0 && m.RecoveryTimeSeconds == nil {
		return r.HeadlineMetrics()
	}
	return m
}

// timeRange is the dashboard's time range: the run, or its series.
func timeRange(r *chaoslab.Result) (from, to time.Time) {
	from, to = r.StartedAt, r.EndedAt
	if n := len(r.Series); n > 0 {
		first, last := r.Series[0].T.Add(-time.Second), r.Series[n-1].T
		if from.IsZero() || first.Before(from) {
			from = first
		}
		if to.IsZero() || last.After(to) {
			to = last
		}
	}
	if from.IsZero() && to.IsZero() {
		to = time.Now()
		from = to.Add(-time.Hour)
	}
	if to.Before(from) || to.Equal(from) {
		to = from.Add(time.Minute)
	}
	return from.UTC(), to.UTC()
}

// buildDashboard returns the dashboard model of r: stat panels for the
// verdict, CPU and memory peaks, errors and recovery time, the analysis as
// text, and time series of latency, throughput, error rate, CPU, memory
// (and a fleet's capacity) whose data is embedded as CSV in TestData
// queries on ds; and an annotation query that shows the run's fault
// windows (organisation annotations tagged chaoslab and experiment:<name>).
func buildDashboard(r *chaoslab.Result, uid string, ds dsRef, tags []string) map[string]any {
	name := experimentName(r)
	from, to := timeRange(r)
	b := &builder{ds: ds}

	// Row 1: the headline numbers.
	m := headline(r)
	var sc *float64
	if v, ok := score(r); ok {
		sc = &v
	}
	b.place(6, 5, b.verdictPanel(r.Verdict, sc))
	b.place(4, 5, b.statPanel("CPU peak", "percent", "target process, % of one core",
		csvOne("cpu peak", reading(m.CPUPeak)), steps(cpuYellow, cpuRed), "not measured"))
	memYellow, memRed := float64(memoryYellowMB), float64(memoryRedMB)
	if w, ok := r.Window(chaoslab.WindowBaseline); ok && w.MemoryMax > 0 {
		memYellow, memRed = w.MemoryMax*memoryYellowX, w.MemoryMax*memoryRedX
	}
	b.place(5, 5, b.statPanel("Memory peak", "decmbytes", "target process resident memory",
		csvOne("memory peak", reading(m.MemoryPeak)), steps(memYellow, memRed), "not measured"))
	b.place(4, 5, b.statPanel("Errors", "none", "failed requests over the whole run",
		csvOne("errors", strconv.FormatInt(m.ErrorCount, 10)), steps(1, errorsRed(r)), "0"))
	b.place(5, 5, recoveryPanel(b, r, m.RecoveryTimeSeconds))

	// Row 2: the analysis, in words.
	b.place(24, 7, textPanel("Analysis", analysisMarkdown(r)))

	// Then the series, two to a row.
	for _, p := range seriesPanels(b, r) {
		b.place(12, 8, p)
	}

	dtags := append([]string{TagChaoslab}, tags...)
	return map[string]any{
		"uid":           uid,
		"title":         "chaoslab: " + name,
		"description":   description(r),
		"tags":          dtags,
		"timezone":      "utc",
		"editable":      true,
		"graphTooltip":  1, // shared crosshair
		"schemaVersion": 39,
		"refresh":       "",
		"time":          map[string]any{"from": from.Format(time.RFC3339Nano), "to": to.Format(time.RFC3339Nano)},
		"annotations": map[string]any{"list": []any{
			map[string]any{
				"builtIn": 1, "datasource": grafanaDS, "enable": true, "hide": true,
				"iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
				"target": map[string]any{"type": "dashboard", "limit": 100, "matchAny": false, "tags": []string{}},
			},
			map[string]any{
				"datasource": grafanaDS, "enable": true, "hide": false, "iconColor": "red",
				"name": "chaoslab fault windows",
				"target": map[string]any{
					"type": "tags", "limit": 100, "matchAny": false,
					"tags": []string{TagChaoslab, TagExperimentPrefix + name},
				},
			},
		}},
		"templating": map[string]any{"list": []any{}},
		"links":      []any{},
		"panels":     b.panels,
	}
}

func description(r *chaoslab.Result) string {
	s := fmt.Sprintf("chaoslab run %s: %s", r.ID, r.Verdict)
	if r.Reason != "" {
		s += " (" + r.Reason + ")"
	}
	return s
}

// builder lays panels out left to right, top to bottom, on Grafana's
// 24-column grid, and numbers them.
type builder struct {
	ds     dsRef
	panels []any
	x, y   int
	rowH   int
}

func (b *builder) place(w, h int, p map[string]any) {
	if b.x+w > 24 {
		b.x, b.y, b.rowH = 0, b.y+b.rowH, 0
	}
	p["id"] = len(b.panels) + 1
	p["gridPos"] = map[string]any{"x": b.x, "y": b.y, "w": w, "h": h}
	b.panels = append(b.panels, p)
	b.x += w
	b.rowH = max(b.rowH, h)
}

// query is a TestData CSV Content query holding content.
func (b *builder) query(content string) map[string]any {
	return map[string]any{
		"refId":      "A",
		"datasource": b.ds.json(),
		"scenarioId": "csv_content",
		"csvContent": content,
	}
}

// steps are green, yellow from yellow, red from red.
func steps(yellow, red float64) []any {
	return []any{
		map[string]any{"color": "green", "value": nil},
		map[string]any{"color": "yellow", "value": yellow},
		map[string]any{"color": "red", "value": red},
	}
}

// errorsRed is the error count the Errors panel shows red from: the count
// that breaks the run's strictest error-rate tolerance over all its
// requests, or 1 % of them without one; never below 2, so that one error is
// yellow.
func errorsRed(r *chaoslab.Result) float64 {
	var requests int64
	for _, p := range r.Series {
		requests += p.Requests
	}
	rate := 0.01
	for _, c := range r.Hypothesis {
		if c.Metric == chaoslab.MetricErrorRate && c.Limit > 0 {
			rate = min(rate, c.Limit)
		}
	}
	return max(2, math.Ceil(rate*float64(requests)))
}

func (b *builder) statPanel(title, unit, desc, content string, thresholds []any, noValue string) map[string]any {
	return map[string]any{
		"type":        "stat",
		"title":       title,
		"description": desc,
		"datasource":  b.ds.json(),
		"targets":     []any{b.query(content)},
		"fieldConfig": map[string]any{
			"defaults": map[string]any{
				"unit":       unit,
				"decimals":   1,
				"noValue":    noValue,
				"color":      map[string]any{"mode": "thresholds"},
				"thresholds": map[string]any{"mode": "absolute", "steps": thresholds},
			},
			"overrides": []any{},
		},
		"options": statOptions(""),
	}
}

func statOptions(fields string) map[string]any {
	return map[string]any{
		"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": fields, "values": false},
		"colorMode":     "background",
		"graphMode":     "none",
		"textMode":      "value",
		"justifyMode":   "center",
		"orientation":   "auto",
	}
}

// verdictPanel shows the verdict, coloured, and the score when there is
// one.
func (b *builder) verdictPanel(v chaoslab.Verdict, sc *float64) map[string]any {
	verdict := string(v)
	if verdict == "" {
		verdict = "unknown"
	}
	header, row := []string{"verdict"}, []string{verdict}
	title := "Verdict"
	if sc != nil {
		header, row = append(header, "score"), append(row, number(*sc))
		title = "Verdict and score"
	}
	p := map[string]any{
		"type":        "stat",
		"title":       title,
		"description": "what the run says of the hypothesis",
		"datasource":  b.ds.json(),
		"targets":     []any{b.query(csvRows(header, [][]string{row}))},
		"fieldConfig": map[string]any{
			"defaults": map[string]any{
				"color":      map[string]any{"mode": "thresholds"},
				"thresholds": map[string]any{"mode": "absolute", "steps": []any{map[string]any{"color": "text", "value": nil}}},
				"mappings": []any{map[string]any{"type": "value", "options": map[string]any{
					string(chaoslab.VerdictPass):         map[string]any{"text": "PASS", "color": "green", "index": 0},
					string(chaoslab.VerdictFail):         map[string]any{"text": "FAIL", "color": "red", "index": 1},
					string(chaoslab.VerdictInconclusive): map[string]any{"text": "INCONCLUSIVE", "color": "yellow", "index": 2},
				}}},
			},
			"overrides": []any{map[string]any{
				"matcher":    map[string]any{"id": "byName", "options": "score"},
				"properties": []any{map[string]any{"id": "decimals", "value": 0}},
			}},
		},
		"options": statOptions("/.*/"),
	}
	if sc != nil {
		p["options"].(map[string]any)["textMode"] = "value_and_name"
	}
	return p
}

// recoveryPanel shows the recovery time, "did not recover" in red, or
// "not measured".
func recoveryPanel(b *builder, r *chaoslab.Result, secs *float64) map[string]any {
	value := ""
	switch {
	case secs != nil:
		value = number(*secs)
	case r.RecoveryMeasured() && !r.Recovery.Recovered:
		value = "did not recover"
	}
	p := b.statPanel("Recovery time", "s", "from the last revert until the hypothesis held again for the stable window",
		csvOne("recovery", value), steps(recoveryYellow, recoveryRed), "not measured")
	defaults := p["fieldConfig"].(map[string]any)["defaults"].(map[string]any)
	defaults["mappings"] = []any{map[string]any{"type": "value", "options": map[string]any{
		"did not recover": map[string]any{"text": "did not recover", "color": "red", "index": 0},
	}}}
	p["options"] = statOptions("/.*/")
	return p
}

func textPanel(title, markdown string) map[string]any {
	return map[string]any{
		"type":    "text",
		"title":   title,
		"options": map[string]any{"mode": "markdown", "content": markdown},
	}
}

// analysisMarkdown is the analysis panel's text.
func analysisMarkdown(r *chaoslab.Result) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "**%s**", strings.ToUpper(string(r.Verdict)))
	if r.Reason != "" {
		fmt.Fprintf(&sb, ": %s", mdEscape(r.Reason))
	}
	sb.WriteString("\n\n")
	if a := r.Analysis; a.Summary != "" {
		sb.WriteString(mdEscape(a.Summary))
		if a.Severity != "" {
			fmt.Fprintf(&sb, " (severity %s)", a.Severity)
		}
		sb.WriteString("\n\n")
		for _, rec := range a.Recommendations {
			fmt.Fprintf(&sb, "- %s\n", mdEscape(rec))
		}
		if len(a.Recommendations) > 0 {
			sb.WriteString("\n")
		}
	}
	if len(r.Faults) > 0 {
		sb.WriteString("| fault | parameters | injected | reverted |\n|---|---|---|---|\n")
		for _, f := range r.Faults {
			fmt.Fprintf(&sb, "| %s | %s | %s | %s |\n", mdEscape(f.Scenario), mdEscape(formatParams(f.Params)), stamp(f.InjectedAt), stamp(f.RevertedAt))
		}
		sb.WriteString("\n")
	}
	fmt.Fprintf(&sb, "Run `%s`", strings.ReplaceAll(r.ID, "`", "'"))
	if r.Provider != "" {
		fmt.Fprintf(&sb, " on %s", mdEscape(r.Provider))
	}
	if !r.StartedAt.IsZero() {
		fmt.Fprintf(&sb, ", started %s", r.StartedAt.UTC().Format(time.RFC3339))
	}
	sb.WriteString(".")
	if len(r.Errors) > 0 {
		sb.WriteString("\n\nErrors:\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&sb, "- %s\n", mdEscape(e))
		}
	}
	return sb.String()
}

var mdSpecial = strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "\n", " ")

func mdEscape(s string) string { return mdSpecial.Replace(s) }

func stamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format("15:04:05.000")
}

// formatParams writes parameters as k=v, sorted by name.
func formatParams(p chaoslab.Params) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + p[k]
	}
	return strings.Join(parts, ", ")
}

// column is one value column of a series panel; ok false is a gap.
type column struct {
	name  string
	value func(p chaoslab.Point) (float64, bool)
}

// seriesPanels returns the time-series panels of r's series that have
// something measured.
func seriesPanels(b *builder, r *chaoslab.Result) []map[string]any {
	if len(r.Series) == 0 {
		return nil
	}
	served := func(f func(p chaoslab.Point) float64) func(p chaoslab.Point) (float64, bool) {
		return func(p chaoslab.Point) (float64, bool) { return f(p), p.Requests > 0 }
	}
	// A resource reading of 0 was not taken (see chaoslab.Point): a gap.
	taken := func(f func(p chaoslab.Point) float64) func(p chaoslab.Point) (float64, bool) {
		return func(p chaoslab.Point) (float64, bool) { v := f(p); return v, v > 0 }
	}
	limit := func(metrics ...string) (float64, bool) {
		best, ok := 0.0, false
		for _, c := range r.Hypothesis {
			if slices.Contains(metrics, c.Metric) && c.Limit > 0 && (!ok || c.Limit < best) {
				best, ok = c.Limit, true
			}
		}
		return best, ok
	}
	var out []map[string]any
	add := func(title, unit string, ref func() (float64, bool), cols ...column) {
		content, any := seriesCSV(r.Series, cols)
		if !any {
			return // nothing was measured: no panel of made-up zeros
		}
		out = append(out, b.seriesPanel(title, unit, content, ref))
	}
	add("Latency (ms)", "ms", func() (float64, bool) { return limit(chaoslab.MetricP99, chaoslab.MetricP50) },
		column{"p50", served(func(p chaoslab.Point) float64 { return p.Latency.P50 })},
		column{"p90", served(func(p chaoslab.Point) float64 { return p.Latency.P90 })},
		column{"p99", served(func(p chaoslab.Point) float64 { return p.Latency.P99 })})
	if !r.Load.Disabled {
		add("Throughput (requests/s)", "reqps", nil,
			column{"all", func(p chaoslab.Point) (float64, bool) { return p.RPS, true }},
			column{"succeeded", func(p chaoslab.Point) (float64, bool) { return p.RPS * (1 - p.ErrRate), true }})
	}
	add("Error rate (%)", "percent", func() (float64, bool) {
		v, ok := limit(chaoslab.MetricErrorRate)
		return v * 100, ok
	}, column{"error rate", served(func(p chaoslab.Point) float64 { return p.ErrRate * 100 })})
	add("CPU (%)", "percent", nil,
		column{"target (% of one core)", taken(func(p chaoslab.Point) float64 { return p.CPUPercent })},
		column{"host (% of machine)", taken(func(p chaoslab.Point) float64 { return p.HostCPUPercent })})
	add("Memory (MB)", "decmbytes", nil,
		column{"target", taken(func(p chaoslab.Point) float64 { return p.MemoryMB })})
	fleet := func(f func(p chaoslab.Point) int) func(p chaoslab.Point) (float64, bool) {
		return func(p chaoslab.Point) (float64, bool) {
			return float64(f(p)), p.DesiredCapacity != 0 || p.HealthyCapacity != 0
		}
	}
	add("Fleet capacity (instances)", "none", nil,
		column{"healthy", fleet(func(p chaoslab.Point) int { return p.HealthyCapacity })},
		column{"desired", fleet(func(p chaoslab.Point) int { return p.DesiredCapacity })})
	return out
}

// seriesPanel is a time-series panel of content; ref, when it gives a
// value, draws that tolerance as a red dashed line.
func (b *builder) seriesPanel(title, unit, content string, ref func() (float64, bool)) map[string]any {
	custom := map[string]any{
		"drawStyle": "line", "lineWidth": 2, "fillOpacity": 10, "showPoints": "never",
		"spanNulls": false, "thresholdsStyle": map[string]any{"mode": "off"},
	}
	thresholds := []any{map[string]any{"color": "green", "value": nil}}
	if ref != nil {
		if v, ok := ref(); ok {
			custom["thresholdsStyle"] = map[string]any{"mode": "dashed"}
			thresholds = append(thresholds, map[string]any{"color": "red", "value": v})
		}
	}
	return map[string]any{
		"type":       "timeseries",
		"title":      title,
		"datasource": b.ds.json(),
		"targets":    []any{b.query(content)},
		"fieldConfig": map[string]any{
			"defaults": map[string]any{
				"unit":       unit,
				"color":      map[string]any{"mode": "palette-classic"},
				"custom":     custom,
				"thresholds": map[string]any{"mode": "absolute", "steps": thresholds},
			},
			"overrides": []any{},
		},
		"options": map[string]any{
			"legend":  map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true},
			"tooltip": map[string]any{"mode": "multi", "sort": "none"},
		},
	}
}

// seriesCSV writes the series as CSV: a "time" column of epoch
// milliseconds (TestData reads a column whose name holds "time" as time)
// and one column per col, empty (null, a gap) where col has no value. It
// reports whether any value was written.
func seriesCSV(series []chaoslab.Point, cols []column) (string, bool) {
	header := []string{"time"}
	for _, c := range cols {
		header = append(header, c.name)
	}
	rows := make([][]string, 0, len(series))
	found := false
	for _, p := range series {
		row := []string{strconv.FormatInt(p.T.UnixMilli(), 10)}
		for _, c := range cols {
			v, ok := c.value(p)
			if ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
				row = append(row, number(v))
				found = true
			} else {
				row = append(row, "")
			}
		}
		rows = append(rows, row)
	}
	return csvRows(header, rows), found
}

// csvOne is a one-value CSV; value "" leaves the column without a value,
// which the stat panel shows as its noValue text.
func csvOne(name, value string) string {
	return csvRows([]string{name}, [][]string{{value}})
}

func csvRows(header []string, rows [][]string) string {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(header)
	_ = w.WriteAll(rows) // flushes; writing to a buffer does not fail
	return strings.TrimRight(buf.String(), "\n")
}

// reading formats a resource reading; 0 was not measured and is null.
func reading(v float64) string {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return number(v)
}

// number formats v with at most three decimals.
func number(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}
