package html_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/analyzer/analyzertest"
	"github.com/chaoslab-dev/chaoslab/analyzer/rules"
	"github.com/chaoslab-dev/chaoslab/dashboard/dashboardtest"
	"github.com/chaoslab-dev/chaoslab/dashboard/html"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	dashboardtest.Run(t, func(t *testing.T) chaoslab.Dashboarder {
		return html.New(t.TempDir())
	})
}

// analysed returns the fixture with the rules analyzer's analysis.
func analysed(t *testing.T, r *chaoslab.Result) *chaoslab.Result {
	t.Helper()
	an, err := rules.New().Analyze(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	r.Analysis = an
	return r
}

func render(t *testing.T, r *chaoslab.Result) string {
	t.Helper()
	var buf bytes.Buffer
	if err := html.Render(&buf, r); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return buf.String()
}

// parse checks that doc is well-formed (the report is written as XHTML-
// compatible HTML so that a strict XML parser reads it) and counts its
// elements by name.
func parse(t *testing.T, doc string) map[string]int {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(doc))
	dec.Entity = xml.HTMLEntity
	counts := map[string]int{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return counts
		}
		if err != nil {
			t.Fatalf("report does not parse: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
		}
	}
}

// external matches whatever would make a browser fetch something.
var external = regexp.MustCompile(`(?i)<script|<link|<img|<iframe|<object|<embed|@import|url\(|\ssrc=|\shref=|xlink:`)

func TestRenderSelfContained(t *testing.T) {
	for _, f := range analyzertest.Fixtures() {
		t.Run(f.Name, func(t *testing.T) {
			r := analysed(t, f.Result)
			doc := render(t, r)
			counts := parse(t, doc)
			if counts["html"] != 1 || counts["head"] != 1 || counts["body"] != 1 || counts["style"] != 1 {
				t.Errorf("not one complete document: %v", counts)
			}
			wantCharts := 0
			if len(r.Series) > 0 {
				wantCharts = 5
			}
			if counts["svg"] != wantCharts {
				t.Errorf("%d <svg> charts, want %d", counts["svg"], wantCharts)
			}
			if wantCharts == 0 && !strings.Contains(doc, "No measurements.") {
				t.Error(`a result without series does not say "No measurements."`)
			}
			if m := external.FindString(doc); m != "" {
				t.Errorf("the report references something external: %q", m)
			}
			// URLs appear only where the result itself holds them.
			js, _ := json.Marshal(r)
			for _, scheme := range []string{"http://", "https://"} {
				if got, held := strings.Count(doc, scheme), strings.Count(string(js), scheme); got > held {
					t.Errorf("%d %s in the report, but only %d in the result", got, scheme, held)
				}
			}
		})
	}
}

func TestRenderVerdict(t *testing.T) {
	tests := []struct {
		r    *chaoslab.Result
		want []string
	}{
		{analyzertest.NetworkDelay(), []string{`id="verdict">FAIL<`, `id="headline">The service broke its promise during a 200 ms delay on its calls to db: 99 % of requests took up to 216 ms, above the 100 ms limit.`, "P99 latency was 216 ms while the faults were active, above its 100 ms limit.", "Recovered in 1.2 s"}},
		{analyzertest.ProcessKill(), []string{`id="verdict">FAIL<`, "The error rate was 10 % while the faults were active, above its 1 % limit (and 1 more check failed).", "Recovered in 2.4 s", "(instantaneous)"}},
		{analyzertest.Pass(), []string{`id="verdict">PASS<`, `id="headline">The service kept its promises`, "The hypothesis held before, during and after the faults.", "Recovered in 0.0 s"}},
		{func() *chaoslab.Result { r := analyzertest.Pass(); r.Reason = ""; return r }(), []string{"The service met its steady-state hypothesis"}},
		{func() *chaoslab.Result {
			r := analyzertest.Pass()
			r.Verdict, r.Reason, r.Recovery = chaoslab.VerdictFail, "the target did not recover within 30s", chaoslab.Recovery{}
			return r
		}(), []string{`id="verdict">FAIL<`, "The target did not recover within 30s.", "Did not recover"}},
		{analyzertest.Aborted(), []string{`id="verdict">FAIL<`, "Not measured (aborted)", `id="abort"`, "stop condition error_rate &gt; 0.5 for 2s breached (observed 0.8) (at &#43;9.1 s)"}},
		{analyzertest.NotSteady(), []string{`id="verdict">INCONCLUSIVE<`, "P99 latency was 486 ms before any fault, above its 300 ms limit.", "Not measured"}},
		{analyzertest.FailedEarly(), []string{`id="verdict">INCONCLUSIVE<`, "The target could not be provisioned.", "not injected", "panic: missing DATABASE_URL"}},
		{&chaoslab.Result{}, []string{`id="verdict">INCONCLUSIVE<`, `id="headline">This run cannot tell how resilient the service is.<`, "Chaos experiment", "No measurements.", "No faults.", "No analysis was made.", "No phases were recorded."}},
	}
	for _, tt := range tests {
		t.Run(tt.r.Name, func(t *testing.T) {
			doc := render(t, tt.r)
			for _, w := range tt.want {
				if !strings.Contains(doc, w) {
					t.Errorf("report lacks %q", w)
				}
			}
		})
	}
}

func TestRenderContent(t *testing.T) {
	r := analysed(t, analyzertest.NetworkDelay())
	doc := render(t, r)
	for _, w := range []string{
		"<title>FAIL · checkout-db-latency · chaoslab report</title>",
		"demo demo-4711", "127.0.0.1:40123", "network_delay", "2025-03-14 09:30:00 UTC", "50 req/s GET / (timeout 2000 ms)",
		// analysis
		"Severity: medium", "Analysis by rules.", "circuit breaker on calls to db",
		"Target CPU peak 10 % of one core, memory peak 44.4 MB, failed requests 1, recovery 1.2 s.",
		// charts
		"Throughput (requests/s)", "Error rate (%)", "Latency (ms)", "CPU (%)", "Memory (MB)",
		`class="lg lg-s0">p50<`, `class="lg lg-s1">p99<`, `class="lg lg-s0">target (% of one core)<`, `class="lg lg-s2">host (% of machine)<`, `class="lg lg-s0">succeeded<`,
		`<rect class="fault"`, "p99 limit 100 ms", ">baseline</text>", ">chaos</text>", ">recovery</text>",
		// tables
		"<td class=\"mono\">latency_p99_ms</td><td class=\"num\">100 ms</td><td class=\"num\">216 ms</td>",
		"jitter=0s latency=200ms link=db", "<td>&#43;6.05 s</td><td>&#43;16.05 s</td>",
		"<td>rolling_back</td>", "<td>recovering</td>",
		"412 lines, 1 errors; the last 4:",
		`level=WARN msg=&#34;slow dependency&#34; dep=db duration=211ms`,
	} {
		if !strings.Contains(doc, w) {
			t.Errorf("report lacks %q", w)
		}
	}
	if strings.Contains(doc, `id="errors"`) {
		t.Error("a run without errors has an errors section")
	}
	if !strings.Contains(render(t, analyzertest.FailedEarly()), `<li>provision local: target not ready`) {
		t.Error("the run's errors are not listed")
	}
}

func TestRenderEscapes(t *testing.T) {
	r := analyzertest.ProcessKill()
	evil := `<script>alert(1)</script>`
	r.Name = evil
	r.Reason = `"><img src=x onerror=alert(1)>`
	r.Target.ID = evil
	r.Faults[0].Scenario = `<svg onload=alert(1)>`
	r.Faults[0].Params = chaoslab.Params{"x": `'"><script>`}
	r.Faults[0].Error = evil
	r.Hypothesis[0].Metric = evil
	r.Hypothesis[0].Detail = evil
	r.Logs.Last = []string{`</pre><script src="https://evil.example/x.js"></script>`, "&amp; <b>bold</b>"}
	r.Errors = []string{evil}
	r.Abort = &chaoslab.Abort{Reason: evil}
	r.Analysis = chaoslab.Analysis{Summary: evil, Severity: `low" onmouseover="alert(1)`, Recommendations: []string{evil}, Source: evil, FallbackReason: evil}
	doc := render(t, r)
	parse(t, doc)
	for _, bad := range []string{"<script", "<img", "<svg onload", "onmouseover=\"alert", "<b>bold"} {
		if strings.Contains(doc, bad) {
			t.Errorf("report contains unescaped %q", bad)
		}
	}
	for _, w := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;/pre&gt;&lt;script src=", "&amp;amp; &lt;b&gt;bold&lt;/b&gt;"} {
		if !strings.Contains(doc, w) {
			t.Errorf("report lacks the escaped %q", w)
		}
	}
}

func TestRenderNil(t *testing.T) {
	var buf bytes.Buffer
	if err := html.Render(&buf, nil); err == nil {
		t.Error("Render(nil) returned no error")
	}
	if buf.Len() != 0 {
		t.Error("Render(nil) wrote something")
	}
}

type failingWriter struct{}

var errWrite = errors.New("disk on fire")

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestRenderWriteError(t *testing.T) {
	if err := html.Render(failingWriter{}, analyzertest.Pass()); !errors.Is(err, errWrite) {
		t.Errorf("Render to a failing writer = %v, want it to wrap %v", err, errWrite)
	}
}

func TestRenderDoesNotMutate(t *testing.T) {
	r := analysed(t, analyzertest.ProcessKill())
	before, _ := json.Marshal(r)
	render(t, r)
	after, _ := json.Marshal(r)
	if !bytes.Equal(before, after) {
		t.Error("Render changed the result")
	}
}

func TestRenderDeterministic(t *testing.T) {
	r := analysed(t, analyzertest.NetworkDelay())
	first, second := render(t, r), render(t, r)
	if first != second {
		t.Error("two renders of the same result differ")
	}
}

// Only intervals with requests have latency and error rate: a killed
// process makes a gap, not a drop to zero.
func TestRenderGap(t *testing.T) {
	r := analyzertest.ProcessKill()
	r.Series[7].Requests, r.Series[7].Errors = 0, 0
	doc := render(t, r)
	paths := regexp.MustCompile(`<path class="series s[013]" d="([^"]*)"`).FindAllStringSubmatch(doc, -1)
	var gaps int
	for _, p := range paths {
		if strings.Count(p[1], "M") == 2 {
			gaps++
		}
	}
	// The killed process had no CPU or memory reading in that interval
	// either.
	if gaps != 5 {
		t.Errorf("%d lines with a gap, want 5 (error rate, p50, p99, target CPU, target memory)", gaps)
	}
}

func TestRenderDiskChart(t *testing.T) {
	r := analyzertest.NetworkDelay()
	r.Faults[0].Scenario = "disk_fill"
	if n := parse(t, render(t, r))["svg"]; n != 6 {
		t.Errorf("%d charts for a disk_fill run, want 6 with disk use", n)
	}
}

func TestPublish(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reports", "nested")
	d := html.New(dir)
	r := analysed(t, analyzertest.NetworkDelay())
	link, err := d.Publish(t.Context(), r)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	path := filepath.Join(dir, html.DefaultFileName)
	if d.Path() != path {
		t.Errorf("Path() = %q, want %q", d.Path(), path)
	}
	if link.Kind != "html" {
		t.Errorf("kind = %q, want html", link.Kind)
	}
	u, err := url.Parse(link.URL)
	if err != nil || u.Scheme != "file" || u.Path != path || !filepath.IsAbs(u.Path) {
		t.Errorf("URL = %q, want file://%s", link.URL, path)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != render(t, r) {
		t.Error("the published file differs from Render's output")
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o644 {
		t.Errorf("report mode = %v, want 0644", perm)
	}

	// Publishing again replaces the report in place and leaves nothing else.
	r.Verdict, r.Reason = chaoslab.VerdictPass, "second look"
	again, err := d.Publish(t.Context(), r)
	if err != nil || again != link {
		t.Fatalf("second Publish = %+v, %v; want %+v", again, err, link)
	}
	got, _ = os.ReadFile(path)
	if !strings.Contains(string(got), ">PASS<") {
		t.Error("the second Publish did not update the report")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only the report", names)
	}
}

func TestPublishRelativeDir(t *testing.T) {
	t.Chdir(t.TempDir())
	link, err := html.New("out", html.WithFileName("run.html")).Publish(t.Context(), analyzertest.Pass())
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	want := (&url.URL{Scheme: "file", Path: filepath.Join(wd, "out", "run.html")}).String()
	if link.URL != want {
		t.Errorf("URL = %q, want %q", link.URL, want)
	}
}

func TestPublishErrors(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := html.New(dir).Publish(ctx, analyzertest.Pass()); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish on a cancelled context = %v, want context.Canceled", err)
	}
	for _, name := range []string{"", "../escape.html", "a/b.html", ".", ".."} {
		if _, err := html.New(dir, html.WithFileName(name)).Publish(t.Context(), analyzertest.Pass()); err == nil {
			t.Errorf("WithFileName(%q): Publish succeeded", name)
		}
	}
	if _, err := html.New(dir).Publish(t.Context(), nil); err == nil {
		t.Error("Publish(nil) succeeded")
	}
	// A file where the directory should be.
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := html.New(blocker).Publish(t.Context(), analyzertest.Pass()); err == nil {
		t.Error("Publish into a path that is a file succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("failed publishes left files behind: %d entries", len(entries))
	}
}

// Concurrent publishes of the same report never leave a torn file.
func TestPublishConcurrent(t *testing.T) {
	dir := t.TempDir()
	d := html.New(dir)
	results := []*chaoslab.Result{analyzertest.NetworkDelay(), analyzertest.ProcessKill()}
	want := map[string]bool{render(t, results[0]): true, render(t, results[1]): true}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := d.Publish(context.Background(), results[i%2]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err := os.ReadFile(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !want[string(got)] {
		t.Error("the report is neither of the published ones")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files left, want only the report", len(entries))
	}
}

func TestLogLines(t *testing.T) {
	r := analyzertest.ProcessKill()
	var buf bytes.Buffer
	d := html.New(t.TempDir(), html.WithLogLines(2))
	if _, err := d.Publish(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(d.Path())
	buf.Write(b)
	doc := buf.String()
	if !strings.Contains(doc, "the last 2 (and 3 earlier ones not shown):") {
		t.Error("the log note does not say lines were left out")
	}
	if strings.Contains(doc, "supervisor: restarting") || !strings.Contains(doc, "startup=1.4s") {
		t.Error("the report does not show exactly the last 2 lines")
	}
}

// The Runner records an instantaneous fault's revert a few microseconds
// after its injection; it is still drawn as a line.
func TestRenderInstantaneousFault(t *testing.T) {
	r := analyzertest.ProcessKill()
	rev := r.Faults[0].RevertedAt.Add(11 * time.Microsecond)
	r.Faults[0].RevertedAt = &rev
	doc := render(t, r)
	if n := strings.Count(doc, `<line class="fault-line"`); n != 5 {
		t.Errorf("%d fault lines, want one per chart", n)
	}
	if strings.Contains(doc, `<rect class="fault"`) || !strings.Contains(doc, "(instantaneous)") {
		t.Error("the kill is drawn or listed as a window")
	}
}

// noSampler clears every resource reading: the target had no Sampler.
func noSampler(r *chaoslab.Result) *chaoslab.Result {
	for i := range r.Series {
		p := &r.Series[i]
		p.CPUPercent, p.MemoryMB, p.HostCPUPercent, p.HostMemoryMB, p.DiskUsedMB = 0, 0, 0, 0, 0
	}
	for i := range r.Windows {
		r.Windows[i].CPUPeak, r.Windows[i].MemoryMax = 0, 0
	}
	return r
}

// Readings of 0 were not measured: they are neither charted nor reported
// as peaks of 0.
func TestRenderNotMeasured(t *testing.T) {
	doc := render(t, analysed(t, noSampler(analyzertest.ProcessKill())))
	if n := parse(t, doc)["svg"]; n != 3 {
		t.Errorf("%d charts without a sampler, want 3 (throughput, error rate, latency)", n)
	}
	for _, bad := range []string{"CPU (%)", "Memory (MB)", "CPU peak 0", `<td class="num">0 MB</td>`} {
		if strings.Contains(doc, bad) {
			t.Errorf("report shows %q, but nothing was measured", bad)
		}
	}
	if !strings.Contains(doc, "Target CPU peak not measured, memory peak not measured, failed requests 50") {
		t.Error("the analysis metrics do not say CPU and memory were not measured")
	}
	if n := strings.Count(doc, `<td class="num">not measured</td>`); n != 6 {
		t.Errorf("%d window cells say not measured, want 6 (CPU and memory of 3 windows)", n)
	}

	// Only the host was measured: no target line at all.
	r := noSampler(analyzertest.ProcessKill())
	for i := range r.Series {
		r.Series[i].HostCPUPercent = 40
	}
	doc = render(t, r)
	if !strings.Contains(doc, `class="lg lg-s2">host (% of machine)<`) {
		t.Error("the host CPU line is missing")
	}
	if n := parse(t, doc)["svg"]; n != 4 {
		t.Errorf("%d charts, want 4 (no memory chart)", n)
	}
	if strings.Contains(doc, "<title>target (% of one core)</title></path>") {
		t.Error("the unmeasured target CPU is drawn")
	}
}

// A run without load has no throughput to chart, and no rate or latency
// in its windows.
func TestRenderNoLoad(t *testing.T) {
	r := analyzertest.Pass()
	r.Load = chaoslab.LoadRecord{Disabled: true}
	for i := range r.Series {
		p := &r.Series[i]
		p.Requests, p.Errors, p.RPS, p.ErrRate, p.Latency = 0, 0, 0, 0, chaoslab.Latencies{}
	}
	for i := range r.Windows {
		w := &r.Windows[i]
		w.Requests, w.Errors, w.RPS, w.ErrRate, w.Latency = 0, 0, 0, 0, chaoslab.Latencies{}
	}
	r.Hypothesis = []chaoslab.Check{{Window: chaoslab.WindowChaos, Metric: "probe:health", OK: true}}
	doc := render(t, analysed(t, r))
	if strings.Contains(doc, "Throughput (requests/s)") || strings.Contains(doc, "Latency (ms)") {
		t.Error("a run without load charts throughput or latency")
	}
	if strings.Contains(doc, `<td class="num">0 ms</td>`) {
		t.Error("the windows table shows latencies of a run without load")
	}
	if !strings.Contains(doc, "only probes were judged") {
		t.Error("the analysis does not say only probes were judged")
	}
}

// Limit lines say which percentile they limit.
func TestRenderLimitLabels(t *testing.T) {
	r := analyzertest.NetworkDelay()
	r.Hypothesis = append(r.Hypothesis, chaoslab.Check{Window: chaoslab.WindowChaos, Metric: chaoslab.MetricP50, Limit: 50, Observed: 207})
	doc := render(t, r)
	for _, w := range []string{">p99 limit 100 ms</text>", ">p50 limit 50 ms</text>", ">limit 1 %</text>"} {
		if !strings.Contains(doc, w) {
			t.Errorf("report lacks %q", w)
		}
	}
}

// The report and the rules analyzer agree on whether the target recovered.
func TestRecoveryAgreesWithAnalysis(t *testing.T) {
	tests := []struct {
		name    string
		phases  int // how many of the phases the run got through
		report  string
		summary bool // whether the summary says it did not recover
	}{
		{"failed while recovering", 6, "Did not recover", true},
		{"failed under the faults", 4, "Not measured", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := analyzertest.NetworkDelay()
			r.Status, r.Verdict, r.Reason = chaoslab.StatusFailed, chaoslab.VerdictInconclusive, "an error stopped the run"
			r.Phases = r.Phases[:tt.phases]
			r.Recovery = chaoslab.Recovery{StableWindow: 3}
			doc := render(t, analysed(t, r))
			if !strings.Contains(doc, `-text">`+tt.report+`</dd>`) {
				t.Errorf("report does not say %q", tt.report)
			}
			if got := strings.Contains(r.Analysis.Summary, "The target did not recover"); got != tt.summary {
				t.Errorf("summary says the target did not recover: %v, want %v\n%s", got, tt.summary, r.Analysis.Summary)
			}
		})
	}
}

// A fleet without load has one chart: its capacity, healthy against
// desired, with the instance it lost.
func TestRenderCapacity(t *testing.T) {
	doc := render(t, fleet())
	if n := parse(t, doc)["svg"]; n != 1 {
		t.Errorf("%d charts for a fleet without load or sampler, want 1 (capacity)", n)
	}
	for _, w := range []string{"Fleet capacity (instances)", `class="lg lg-s0">healthy<`, `class="lg lg-s2">desired<`, "healthy 2 instances", "desired 3 instances"} {
		if !strings.Contains(doc, w) {
			t.Errorf("report lacks %q", w)
		}
	}
	if strings.Contains(render(t, analyzertest.NetworkDelay()), "Fleet capacity") {
		t.Error("a run without a fleet charts capacity")
	}
}
