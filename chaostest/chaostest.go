// Package chaostest runs chaos experiments inside go test.
//
// Run provisions the target, runs the experiment, fails the test with one
// readable line per broken tolerance, and keeps the HTML report where go
// test keeps artifacts (t.ArtifactDir: kept under the output directory with
// go test -artifacts, otherwise removed after the test):
//
//	func TestCheckoutSurvivesSlowDB(t *testing.T) {
//		chaostest.Run(t, chaoslab.Experiment{
//			Target:     chaoslab.TargetSpec{Kind: chaoslab.TargetCommand, Command: []string{"./checkout"}, Address: "127.0.0.1:8080",
//				Dependencies: []chaoslab.Dependency{{Name: "db", Upstream: "127.0.0.1:5432", Env: "DB_ADDR"}}},
//			Hypothesis: chaoslab.Hypothesis{MaxP99: 300 * time.Millisecond, MaxErrorRate: 0.01},
//			Faults:     []chaoslab.Fault{{Scenario: "network_delay", Params: chaoslab.Params{"latency": "200ms"}}},
//		})
//	}
//
// Proxy puts a fault proxy between the code under test and one of its
// dependencies, for tests that drive the code themselves:
//
//	p := chaostest.Proxy(t, dbAddr)
//	p.Inject(t, "network_delay", "latency=200ms")
//	client := NewClient(p.Addr())
//
// Target and Inject provision a target and put faults on it for tests that
// send their own traffic; both are undone with t.Cleanup.
package chaostest

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/analyzer/rules"
	"github.com/chaoslab-dev/chaoslab/dashboard/html"
	"github.com/chaoslab-dev/chaoslab/provider/local"
	_ "github.com/chaoslab-dev/chaoslab/scenario" // the built-in faults
)

type config struct {
	provider  chaoslab.Provider
	runner    []chaoslab.Option
	reportDir string
	expect    chaoslab.Verdict
}

// Option configures Run.
type Option func(*config)

// WithProvider sets where the target runs; the default is provider/local.
func WithProvider(p chaoslab.Provider) Option { return func(c *config) { c.provider = p } }

// WithRunnerOptions passes options to the Runner (observers, stores, more
// dashboards). A WithProvider among them is overridden by chaostest's.
func WithRunnerOptions(o ...chaoslab.Option) Option {
	return func(c *config) { c.runner = append(c.runner, o...) }
}

// WithReportDir keeps report.html and result.json in dir instead of the
// test's artifact directory.
func WithReportDir(dir string) Option { return func(c *config) { c.reportDir = dir } }

// ExpectVerdict makes Run pass when the run ends with verdict v instead of
// pass: for tests that show a weakness on purpose.
func ExpectVerdict(v chaoslab.Verdict) Option { return func(c *config) { c.expect = v } }

// Run runs exp and returns its result. The test fails, with one line per
// broken tolerance, when the verdict is not pass (or the ExpectVerdict
// one); it stops at once (t.Fatal) when the run itself fails. Every fault is
// reverted and the target closed before Run returns; the run is also
// cancelled if the test ends first.
func Run(t testing.TB, exp chaoslab.Experiment, opts ...Option) *chaoslab.Result {
	t.Helper()
	cfg := config{expect: chaoslab.VerdictPass}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.provider == nil {
		cfg.provider = local.New()
	}
	if cfg.reportDir == "" {
		cfg.reportDir = t.ArtifactDir()
	}
	if exp.Name == "" {
		exp.Name = t.Name()
	}
	runnerOpts := append([]chaoslab.Option{
		chaoslab.WithAnalyzer(rules.New()),
		chaoslab.WithDashboards(html.New(cfg.reportDir)),
	}, cfg.runner...)
	runnerOpts = append(runnerOpts, chaoslab.WithProvider(cfg.provider))
	res, err := chaoslab.New(runnerOpts...).Run(t.Context(), exp)
	resultPath := filepath.Join(cfg.reportDir, "result.json")
	if werr := chaoslab.WriteResultFile(resultPath, res); werr != nil {
		t.Errorf("chaostest: %v", werr)
	}
	for _, d := range res.Dashboards {
		t.Logf("chaostest: %s report: %s", d.Kind, d.URL)
	}
	if err != nil {
		t.Fatalf("chaostest: run %s: %v", res.ID, err)
	}
	if res.Verdict != cfg.expect {
		lines := Failures(res)
		if len(lines) == 0 {
			lines = []string{res.Reason}
		}
		t.Errorf("chaostest: verdict %s, want %s:\n    %s", res.Verdict, cfg.expect, strings.Join(lines, "\n    "))
	}
	return res
}

// Failures returns one line per broken tolerance: window, metric, limit and
// observed value; and a line if the target did not recover.
func Failures(res *chaoslab.Result) []string {
	var out []string
	for _, c := range res.Failed() {
		out = append(out, fmt.Sprintf("%-8s %s: limit %s, observed %s", c.Window, c.Metric, num(c.Limit), num(c.Observed)))
	}
	if res.Status == chaoslab.StatusCompleted && !res.Recovery.Recovered {
		out = append(out, fmt.Sprintf("recovery: the hypothesis did not hold again for %gs after the faults", res.Recovery.StableWindow))
	}
	if res.Abort != nil {
		out = append(out, "aborted: "+res.Abort.Reason)
	}
	return out
}

func num(f float64) string { return fmt.Sprintf("%.4g", f) }
