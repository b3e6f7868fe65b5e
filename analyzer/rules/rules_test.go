package rules_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"go.uber.org/goleak"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/analyzer/analyzertest"
	"github.com/chaoslab-dev/chaoslab/analyzer/rules"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	analyzertest.Run(t, rules.New())
}

func analyze(t *testing.T, r *chaoslab.Result, opts ...rules.Option) chaoslab.Analysis {
	t.Helper()
	an, err := rules.New(opts...).Analyze(t.Context(), r)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	analyzertest.CheckAnalysis(t, r, an)
	return an
}

func fp(f float64) *float64 { return &f }

func TestSeverity(t *testing.T) {
	tests := []struct {
		name   string
		result func() *chaoslab.Result
		opts   []rules.Option
		want   chaoslab.Severity
	}{
		{"held", analyzertest.Pass, nil, chaoslab.SeverityLow},
		{"latency broke, recovered", analyzertest.NetworkDelay, nil, chaoslab.SeverityMedium},
		{"10% errors", analyzertest.ProcessKill, nil, chaoslab.SeverityHigh},
		{"10% errors under a 20% threshold", analyzertest.ProcessKill, []rules.Option{rules.WithHighErrorRate(0.2)}, chaoslab.SeverityMedium},
		{"stop condition", analyzertest.Aborted, nil, chaoslab.SeverityCritical},
		{"not steady", analyzertest.NotSteady, nil, chaoslab.SeverityMedium},
		{"failed before any fault", analyzertest.FailedEarly, nil, chaoslab.SeverityLow},
		{"zero result", func() *chaoslab.Result { return &chaoslab.Result{} }, nil, chaoslab.SeverityLow},
		{"did not recover", func() *chaoslab.Result {
			r := analyzertest.NetworkDelay()
			r.Recovery = chaoslab.Recovery{StableWindow: 3}
			return r
		}, nil, chaoslab.SeverityCritical},
		{"held but slow recovery", func() *chaoslab.Result {
			r := analyzertest.Pass()
			r.Recovery.Seconds = fp(45)
			return r
		}, nil, chaoslab.SeverityMedium},
		{"held, recovery under a raised threshold", func() *chaoslab.Result {
			r := analyzertest.Pass()
			r.Recovery.Seconds = fp(45)
			return r
		}, []rules.Option{rules.WithSlowRecovery(time.Minute)}, chaoslab.SeverityLow},
		{"broke and slow recovery", func() *chaoslab.Result {
			r := analyzertest.NetworkDelay()
			r.Recovery.Seconds = fp(31)
			return r
		}, nil, chaoslab.SeverityHigh},
		{"throughput collapsed", func() *chaoslab.Result {
			r := analyzertest.NetworkDelay()
			for i, w := range r.Windows {
				if w.Name == chaoslab.WindowChaos {
					r.Windows[i].RPS = 20
				}
			}
			return r
		}, nil, chaoslab.SeverityHigh},
		{"cancelled mid-chaos, no stop condition", func() *chaoslab.Result {
			r := analyzertest.NetworkDelay()
			r.Status, r.Verdict = chaoslab.StatusAborted, chaoslab.VerdictInconclusive
			r.Abort = &chaoslab.Abort{Reason: "context canceled"}
			r.Phases = r.Phases[:4]
			r.Recovery = chaoslab.Recovery{}
			return r
		}, nil, chaoslab.SeverityMedium},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			an := analyze(t, tt.result(), tt.opts...)
			if an.Severity != tt.want {
				t.Errorf("severity = %s, want %s\nsummary: %s", an.Severity, tt.want, an.Summary)
			}
			if !strings.Contains(an.Summary, "Severity "+string(tt.want)+", because ") {
				t.Errorf("summary does not give the severity and why: %s", an.Summary)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	tests := []struct {
		name   string
		result *chaoslab.Result
		want   []string
	}{
		{"network_delay", analyzertest.NetworkDelay(), []string{
			`"checkout-db-latency"`, "network_delay (jitter=0s, latency=200ms, link=db) for 10.0 s",
			"p99 latency went from 12 ms to 216 ms (+204 ms)", "successful throughput from 50 req/s to 49.9 req/s",
			"Verdict: FAIL: p99 latency was 216 ms while the faults were active, above its 100 ms limit.", "recovered 1.2 s after", "Severity medium",
		}},
		{"process_kill", analyzertest.ProcessKill(), []string{
			"process_kill (signal=SIGKILL) once", "the error rate from 0 % to 10 %", "50 of 500 requests failed",
			"recovered 2.4 s after",
		}},
		{"pass", analyzertest.Pass(), []string{"Verdict: PASS", "recovered as soon as"}},
		{"aborted", analyzertest.Aborted(), []string{"aborted (stop condition error_rate > 0.5 for 2s breached (observed 0.8)), so recovery was not measured", "the error rate was 80 % while the faults were active"}},
		{"not steady", analyzertest.NotSteady(), []string{"Only the baseline was measured", "INCONCLUSIVE: p99 latency was 486 ms before any fault", "never injected"}},
		{"not recovered", func() *chaoslab.Result {
			r := analyzertest.Pass()
			r.Verdict, r.Reason, r.Recovery = chaoslab.VerdictFail, "the target did not recover within 30s", chaoslab.Recovery{}
			return r
		}(), []string{"FAIL: the target did not recover within 30s.", "The target did not recover: the hypothesis did not hold again"}},
		{"failed early", analyzertest.FailedEarly(), []string{"No measurements were taken", "1 error, the first: provision local", "INCONCLUSIVE: the target could not be provisioned."}},
		{"zero", &chaoslab.Result{}, []string{"ran no fault", "No measurements were taken", "INCONCLUSIVE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			an := analyze(t, tt.result)
			for _, w := range tt.want {
				if !strings.Contains(an.Summary, w) {
					t.Errorf("summary lacks %q:\n%s", w, an.Summary)
				}
			}
		})
	}
}

// withScenario turns the network delay run into a run of another scenario
// with the same measurements.
func withScenario(r *chaoslab.Result, scenario string, p chaoslab.Params) *chaoslab.Result {
	r.Faults[0].Scenario, r.Faults[0].Params = scenario, p
	return r
}

func TestRecommendations(t *testing.T) {
	failing := analyzertest.NetworkDelay
	holding := analyzertest.Pass
	tests := []struct {
		name   string
		result *chaoslab.Result
		want   []string
	}{
		{"network_delay p99 breach", failing(), []string{"timeouts and propagate deadlines", "calls to db", "100 ms p99 budget", "hedge", "cache", "circuit breaker", "1 request failed"}},
		{"network_delay held", withScenario(holding(), "network_delay", chaoslab.Params{"latency": "50ms", "link": "db"}), []string{"kept within its tolerances under 50ms of latency on db (p99 latency went from 14 ms to 31 ms and the error rate stayed at 0 %)"}},
		{"http_delay held", withScenario(holding(), "http_delay", chaoslab.Params{"delay": "80ms"}), []string{"kept within its tolerances under 80ms of latency on the target's ingress"}},
		{"http_errors", withScenario(failing(), "http_errors", chaoslab.Params{"link": "payments", "rate": "20%"}), []string{"backoff and jitter", "idempotent", "circuit breaker", "payments"}},
		{"http_errors held", holding(), []string{"kept within its tolerances under errors on 5 % of requests from payments"}},
		{"http_errors at the ingress", withScenario(failing(), "http_errors", chaoslab.Params{"rate": "0.5"}), []string{
			"they reached its clients, never the target, so the fix is on the client side: retry failed calls to the target",
			"so that its clients can retry them safely"}},
		{"process_kill", analyzertest.ProcessKill(), []string{"readiness probe", "more than one replica", "Recovery took 2.4 s", "(50 requests failed under the fault)", "start-up"}},
		{"process_pause", withScenario(failing(), "process_pause", chaoslab.Params{"duration": "5s"}), []string{"client-side timeouts", "health checks detect a hung process"}},
		{"cpu_stress", withScenario(failing(), "cpu_stress", chaoslab.Params{"cores": "2"}), []string{"CPU requests and limits", "Autoscale", "latency headroom", "GOMAXPROCS"}},
		{"memory_pressure", withScenario(failing(), "memory_pressure", chaoslab.Params{"size": "1GiB"}), []string{"GOMEMLIMIT", "leaks", "memory limit"}},
		{"disk_fill", withScenario(failing(), "disk_fill", chaoslab.Params{"size": "1GiB"}), []string{"disk use", "Rotate", "ENOSPC"}},
		{"network_loss", withScenario(failing(), "network_loss", chaoslab.Params{"link": "cache"}), []string{"backoff", "connection pool", "cache"}},
		{"network_partition", withScenario(failing(), "network_partition", chaoslab.Params{"link": "auth"}), []string{"Fail fast when auth is unreachable", "degraded"}},
		{"bandwidth_limit", withScenario(failing(), "bandwidth_limit", chaoslab.Params{"link": "blob"}), []string{"compress"}},
		{"instance_termination", withScenario(failing(), "instance_termination", nil), []string{"availability zones", "draining"}},
		{"custom scenario", withScenario(failing(), "kill_the_cache", nil), []string{"under kill_the_cache"}},
		{"not steady", analyzertest.NotSteady(), []string{"Fix the steady state first", "486 ms", "300 ms limit"}},
		{"no recovery", func() *chaoslab.Result {
			r := failing()
			r.Recovery = chaoslab.Recovery{}
			return r
		}(), []string{"did not recover", "liveness"}},
		{"stop condition", analyzertest.Aborted(), []string{"stop condition (the error rate above 50 %)", "milder fault"}},
		{"fault failed", func() *chaoslab.Result {
			r := failing()
			r.Faults = append(r.Faults, chaoslab.FaultRecord{Scenario: "process_pause", Error: "unsupported: target lacks Signaler"})
			return r
		}(), []string{"Fault process_pause failed (unsupported: target lacks Signaler)"}},
		{"failed early", analyzertest.FailedEarly(), []string{"failed before any fault"}},
		{"slow recovery", func() *chaoslab.Result {
			r := holding()
			r.Recovery.Seconds = fp(50)
			return r
		}(), []string{"Recovery took 50.0 s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			an := analyze(t, tt.result)
			all := strings.Join(an.Recommendations, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("recommendations lack %q:\n%s", w, all)
				}
			}
		})
	}
}

func TestRecommendationsNotStaleForFaultsThatDidNotRun(t *testing.T) {
	an := analyze(t, analyzertest.NotSteady())
	for _, rec := range an.Recommendations {
		if strings.Contains(rec, "CPU requests") {
			t.Errorf("recommended CPU limits for a cpu_stress that never ran: %s", rec)
		}
	}
}

func TestDeterministic(t *testing.T) {
	a := rules.New()
	for _, f := range analyzertest.Fixtures() {
		first, err := a.Analyze(t.Context(), f.Result)
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			again, err := a.Analyze(t.Context(), f.Result)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(first, again); diff != "" {
				t.Fatalf("%s: analysis changed between calls:\n%s", f.Name, diff)
			}
		}
	}
}

func TestMetrics(t *testing.T) {
	an := analyze(t, analyzertest.ProcessKill())
	m := an.Metrics
	if m.CPUPeak != 74 || m.MemoryPeak != 39 || m.ErrorCount != 50 {
		t.Errorf("metrics = %+v, want cpu_peak 74, memory_peak 39, error_count 50", m)
	}
	if m.RecoveryTimeSeconds == nil || *m.RecoveryTimeSeconds != 2.4 {
		t.Errorf("recovery_time_seconds = %v, want 2.4", m.RecoveryTimeSeconds)
	}
	if an.Source != rules.Source {
		t.Errorf("source = %q, want %q", an.Source, rules.Source)
	}
}

// A Runner that did not summarise windows still gets window comparisons,
// approximated from the series.
func TestWindowsFromSeries(t *testing.T) {
	r := analyzertest.NetworkDelay()
	r.Windows = nil
	an := analyze(t, r)
	for _, w := range []string{"p99 latency went from 12 ms to 216 ms", "the error rate from 0 % to 0.2 %"} {
		if !strings.Contains(an.Summary, w) {
			t.Errorf("summary lacks %q:\n%s", w, an.Summary)
		}
	}
}

// Partial results, with any part missing, never make the analyzer panic.
func TestPartialResults(t *testing.T) {
	cuts := map[string]func(r *chaoslab.Result){
		"no series":     func(r *chaoslab.Result) { r.Series = nil },
		"no windows":    func(r *chaoslab.Result) { r.Windows = nil },
		"no phases":     func(r *chaoslab.Result) { r.Phases = nil },
		"no hypothesis": func(r *chaoslab.Result) { r.Hypothesis = nil },
		"no faults":     func(r *chaoslab.Result) { r.Faults = nil },
		"unreverted":    func(r *chaoslab.Result) { r.Faults[0].RevertedAt = nil },
		"no verdict":    func(r *chaoslab.Result) { r.Verdict, r.Reason, r.Status = "", "", "" },
		"empty abort":   func(r *chaoslab.Result) { r.Abort = &chaoslab.Abort{} },
		"no requests": func(r *chaoslab.Result) {
			for i := range r.Series {
				r.Series[i].Requests, r.Series[i].Errors = 0, 0
			}
			r.Windows = nil
		},
		"only unlabelled points": func(r *chaoslab.Result) {
			for i := range r.Series {
				r.Series[i].Window = ""
			}
			r.Windows = nil
		},
	}
	for name, cut := range cuts {
		t.Run(name, func(t *testing.T) {
			for _, mk := range []func() *chaoslab.Result{analyzertest.NetworkDelay, analyzertest.ProcessKill} {
				r := mk()
				cut(r)
				analyze(t, r)
			}
		})
	}
}

func TestNilResult(t *testing.T) {
	if _, err := rules.New().Analyze(context.Background(), nil); err == nil {
		t.Fatal("Analyze(nil) returned no error")
	}
}

func TestIgnoredOptions(t *testing.T) {
	// Out-of-range options keep the defaults: 10 % errors is still high.
	an := analyze(t, analyzertest.ProcessKill(), rules.WithHighErrorRate(0), rules.WithHighErrorRate(2), rules.WithSlowRecovery(-time.Second))
	if an.Severity != chaoslab.SeverityHigh {
		t.Errorf("severity = %s, want high", an.Severity)
	}
}

// The Runner records an instantaneous fault's revert a few microseconds
// after its injection.
func TestInstantaneousFault(t *testing.T) {
	r := analyzertest.ProcessKill()
	rev := r.Faults[0].RevertedAt.Add(11 * time.Microsecond)
	r.Faults[0].RevertedAt = &rev
	if an := analyze(t, r); !strings.Contains(an.Summary, "process_kill (signal=SIGKILL) once") {
		t.Errorf("summary does not call the kill instantaneous: %s", an.Summary)
	}
}

// recs returns the analysis's recommendations joined by newlines.
func recs(an chaoslab.Analysis) string { return strings.Join(an.Recommendations, "\n") }

// lacks reports, as test errors, each of bad that text holds.
func lacks(t *testing.T, what, text string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(text, b) {
			t.Errorf("%s says %q, which nothing backs:\n%s", what, b, text)
		}
	}
}

// has reports, as test errors, each of want that text lacks.
func has(t *testing.T, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// chaosNearBaseline makes the chaos window's p99 latency and errors those of
// the baseline, in the series and in the window.
func chaosNearBaseline(r *chaoslab.Result) *chaoslab.Result {
	for i, p := range r.Series {
		if p.Window == chaoslab.WindowChaos {
			r.Series[i].Latency.P99 = 15
			r.Series[i].Errors, r.Series[i].ErrRate = 0, 0
		}
	}
	for i, w := range r.Windows {
		if w.Name == chaoslab.WindowChaos {
			r.Windows[i].Latency.P99, r.Windows[i].Errors, r.Windows[i].ErrRate = 15, 0, 0
		}
	}
	return r
}

// Held or absorbed is only said when checks back it.
func TestNoClaimWithoutChecks(t *testing.T) {
	t.Run("cancelled with 80 % errors and no checks", func(t *testing.T) {
		r := analyzertest.Aborted()
		r.Hypothesis = nil
		r.Abort = &chaoslab.Abort{Reason: "context canceled"}
		r.Verdict, r.Reason = chaoslab.VerdictInconclusive, "the run was cancelled"
		an := analyze(t, r)
		lacks(t, "summary", an.Summary, "hypothesis held", "Severity low")
		lacks(t, "recommendations", recs(an), "absorbed", "kept within its tolerances")
		has(t, "summary", an.Summary, "Severity high, because no tolerance covered the faults, and 80 % of requests failed under the faults.")
		has(t, "recommendations", recs(an), "No tolerance covered the faults", "Retry failed calls to payments")
	})
	t.Run("pass without checks", func(t *testing.T) {
		r := chaosNearBaseline(analyzertest.Pass())
		r.Hypothesis = nil
		an := analyze(t, r)
		has(t, "summary", an.Summary, "Severity low, because no tolerance covered the faults, so nothing was judged.")
		has(t, "recommendations", recs(an), "No tolerance covered the faults, so the run judged nothing (p99 latency went from 14 ms to 15 ms and the error rate stayed at 0 %)")
		lacks(t, "recommendations", recs(an), "absorbed", "The hypothesis held")
	})
	t.Run("checks held and errors and latency near the baseline", func(t *testing.T) {
		an := analyze(t, chaosNearBaseline(analyzertest.Pass()))
		has(t, "summary", an.Summary, "Severity low, because the hypothesis held under the faults.")
		has(t, "recommendations", recs(an), "The target absorbed errors on 5 % of requests from payments: the error rate and p99 latency stayed near the baseline")
	})
	t.Run("checks held but the error rate rose", func(t *testing.T) {
		r := chaosNearBaseline(analyzertest.Pass())
		for i, w := range r.Windows {
			if w.Name == chaoslab.WindowChaos {
				r.Windows[i].ErrRate = 0.009 // under the 1 % limit, but up from 0
			}
		}
		an := analyze(t, r)
		lacks(t, "recommendations", recs(an), "absorbed")
		has(t, "recommendations", recs(an), "kept within its tolerances under errors on 5 % of requests from payments (p99 latency went from 14 ms to 15 ms and the error rate from 0 % to 0.9 %)")
	})
	t.Run("cpu_stress without a CPU sampler", func(t *testing.T) {
		r := withScenario(chaosNearBaseline(analyzertest.Pass()), "cpu_stress", chaoslab.Params{"cores": "2"})
		for i := range r.Series {
			r.Series[i].CPUPercent = 0
		}
		for i := range r.Windows {
			r.Windows[i].CPUPeak = 0
		}
		an := analyze(t, r)
		lacks(t, "recommendations", recs(an), "peaked at 0", "CPU use peaked")
		has(t, "recommendations", recs(an), "The target absorbed CPU pressure:")
	})
}

// noLoad turns the passing run into one without load: no requests, only a
// probe judged.
func noLoad(r *chaoslab.Result, probes bool) *chaoslab.Result {
	r.Load = chaoslab.LoadRecord{Disabled: true}
	for i := range r.Series {
		p := &r.Series[i]
		p.Requests, p.Errors, p.RPS, p.ErrRate, p.Latency = 0, 0, 0, 0, chaoslab.Latencies{}
	}
	for i := range r.Windows {
		w := &r.Windows[i]
		w.Requests, w.Errors, w.RPS, w.ErrRate, w.Latency = 0, 0, 0, 0, chaoslab.Latencies{}
	}
	r.Hypothesis = nil
	if probes {
		for _, w := range []string{chaoslab.WindowBaseline, chaoslab.WindowChaos, chaoslab.WindowRecovery} {
			r.Hypothesis = append(r.Hypothesis, chaoslab.Check{Window: w, Metric: "probe:health", OK: true})
		}
	}
	return r
}

func TestNoLoad(t *testing.T) {
	an := analyze(t, noLoad(analyzertest.Pass(), true))
	has(t, "summary", an.Summary, "No load was offered, so latency, errors and throughput were not measured; only probes were judged.",
		"Severity low, because the hypothesis held under the faults.")
	lacks(t, "summary", an.Summary, "0 ms", "req/s", "went from", "unchanged")
	has(t, "recommendations", recs(an), "The target kept within its tolerances under errors on 5 % of requests from payments (no load was offered, so only probes were judged).")

	an = analyze(t, noLoad(analyzertest.Pass(), false))
	has(t, "summary", an.Summary, "No load was offered and no probe was checked", "nothing was judged")
	lacks(t, "summary", an.Summary, "0 ms", "req/s", "went from")
	has(t, "recommendations", recs(an), "No load was offered and no probe was checked under the faults, so the run judged nothing")
}

// Advice names the link only when the result says which it was, and advice
// for a fault on the target's ingress is for its clients.
func TestLinkWording(t *testing.T) {
	r := withScenario(analyzertest.NetworkDelay(), "network_delay", chaoslab.Params{"latency": "200ms"})
	all := recs(analyze(t, r))
	lacks(t, "recommendations", all, "the dependency")
	has(t, "recommendations", all, "on calls over that link", "when the far side of that link is slow")

	r = withScenario(analyzertest.NetworkDelay(), "network_delay", chaoslab.Params{"latency": "200ms", "link": "ingress"})
	all = recs(analyze(t, r))
	has(t, "recommendations", all, "The delay was added in front of the target (on its ingress): its clients felt it, so the fix is on the client side: set timeouts")

	for _, p := range []chaoslab.Params{{"rate": "50%"}, {"rate": "50%", "link": "ingress"}} {
		all = recs(analyze(t, withScenario(analyzertest.NetworkDelay(), "http_errors", p)))
		lacks(t, "recommendations", all, "calls to the target's ingress", "Retry failed calls to the target")
		has(t, "recommendations", all, "they reached its clients, never the target, so the fix is on the client side")
	}

	all = recs(analyze(t, analyzertest.ProcessKill()))
	lacks(t, "recommendations", all, "while it was down")
	has(t, "recommendations", all, "50 requests failed under the fault")
}

func TestSummaryTellsTheStatistics(t *testing.T) {
	r := analyzertest.NetworkDelay()
	score := 62.0
	r.Score = &score
	r.Comparisons = []chaoslab.Comparison{
		{Metric: chaoslab.MetricP99, Phase: chaoslab.WindowChaos, Verdict: "fail"},
		{Metric: chaoslab.MetricErrorRate, Phase: chaoslab.WindowRecovery, Verdict: "inconclusive", Note: "too few intervals to tell"},
	}
	a, err := rules.New().Analyze(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Resilience score 62 of 100.", "in recovery (too few intervals to tell)"} {
		if !strings.Contains(a.Summary, want) {
			t.Errorf("summary %q lacks %q", a.Summary, want)
		}
	}
}
