package analyzertest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/analyzer/analyzertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// minimal is the least analyzer that conforms.
type minimal struct{}

func (minimal) Analyze(ctx context.Context, r *chaoslab.Result) (chaoslab.Analysis, error) {
	if r == nil {
		return chaoslab.Analysis{}, errors.New("nil result")
	}
	if err := ctx.Err(); err != nil {
		return chaoslab.Analysis{}, fmt.Errorf("minimal: %w", err)
	}
	return chaoslab.Analysis{
		Summary:         "verdict " + string(r.Verdict),
		Metrics:         analyzertest.Metrics(r),
		Severity:        chaoslab.SeverityLow,
		Recommendations: []string{"look at the charts"},
		Source:          "minimal",
	}, nil
}

func TestRunAcceptsAConformingAnalyzer(t *testing.T) {
	analyzertest.Run(t, minimal{})
}

// recorder is a testing.TB that records errors instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper()           {}
func (r *recorder) Error(args ...any) { r.errs = append(r.errs, fmt.Sprint(args...)) }
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestCheckAnalysisCatches(t *testing.T) {
	r := analyzertest.ProcessKill()
	good, _ := minimal{}.Analyze(t.Context(), r)
	tests := []struct {
		name  string
		spoil func(a *chaoslab.Analysis)
		want  string
	}{
		{"bad severity", func(a *chaoslab.Analysis) { a.Severity = "severe" }, "severity"},
		{"no summary", func(a *chaoslab.Analysis) { a.Summary = "" }, "summary is empty"},
		{"no source", func(a *chaoslab.Analysis) { a.Source = "" }, "source is empty"},
		{"cpu", func(a *chaoslab.Analysis) { a.Metrics.CPUPeak = 12 }, "metrics.cpu_peak"},
		{"memory", func(a *chaoslab.Analysis) { a.Metrics.MemoryPeak = 0 }, "metrics.memory_peak"},
		{"errors", func(a *chaoslab.Analysis) { a.Metrics.ErrorCount = 49 }, "metrics.error_count"},
		{"recovery missing", func(a *chaoslab.Analysis) { a.Metrics.RecoveryTimeSeconds = nil }, "recovery_time_seconds = nil"},
		{"recovery aliased", func(a *chaoslab.Analysis) { a.Metrics.RecoveryTimeSeconds = r.Recovery.Seconds }, "aliases"},
		{"no recommendations", func(a *chaoslab.Analysis) { a.Recommendations = nil }, "no recommendations"},
		{"empty recommendation", func(a *chaoslab.Analysis) { a.Recommendations = []string{""} }, "recommendations[0] is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := good
			a.Metrics.RecoveryTimeSeconds = new(float64)
			*a.Metrics.RecoveryTimeSeconds = *good.Metrics.RecoveryTimeSeconds
			tt.spoil(&a)
			rec := &recorder{}
			analyzertest.CheckAnalysis(rec, r, a)
			if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], tt.want) {
				t.Errorf("errors = %q, want one about %q", rec.errs, tt.want)
			}
		})
	}
	rec := &recorder{}
	analyzertest.CheckAnalysis(rec, r, good)
	if len(rec.errs) != 0 {
		t.Errorf("a good analysis got errors: %q", rec.errs)
	}
	// A result without recovery wants none in the metrics.
	r.Recovery.Seconds = nil
	analyzertest.CheckAnalysis(rec, r, good)
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "want nil") {
		t.Errorf("errors = %q, want one about a recovery time that is not there", rec.errs)
	}
}

func TestFixtures(t *testing.T) {
	count := func(r *chaoslab.Result, window string) int {
		n := 0
		for _, p := range r.Series {
			if p.Window == window {
				n++
			}
		}
		return n
	}
	nd := analyzertest.NetworkDelay()
	if b, c, rc := count(nd, chaoslab.WindowBaseline), count(nd, chaoslab.WindowChaos), count(nd, chaoslab.WindowRecovery); b != 5 || c != 10 || rc != 3 {
		t.Errorf("network delay windows have %d/%d/%d points, want 5/10/3", b, c, rc)
	}
	base, _ := nd.Window(chaoslab.WindowBaseline)
	chaos, _ := nd.Window(chaoslab.WindowChaos)
	if d := chaos.Latency.P99 - base.Latency.P99; d < 190 || d > 210 {
		t.Errorf("network delay adds %v ms to p99, want about 200", d)
	}
	pk := analyzertest.ProcessKill()
	if w, _ := pk.Window(chaoslab.WindowChaos); w.ErrRate != 0.1 {
		t.Errorf("process kill chaos error rate = %v, want 0.1", w.ErrRate)
	}
	if f := pk.Faults[0]; f.InjectedAt == nil || f.RevertedAt == nil || !f.InjectedAt.Equal(*f.RevertedAt) {
		t.Error("process kill is not instantaneous")
	}
	for _, f := range analyzertest.Fixtures() {
		var fails int
		for _, c := range f.Result.Hypothesis {
			if !c.OK {
				fails++
			}
		}
		switch f.Result.Verdict {
		case chaoslab.VerdictPass:
			if fails > 0 {
				t.Errorf("%s passes with %d failed checks", f.Name, fails)
			}
		case chaoslab.VerdictFail:
			if fails == 0 {
				t.Errorf("%s fails with no failed check", f.Name)
			}
		}
		var req int64
		for _, p := range f.Result.Series {
			req += p.Requests
		}
		var inWindows int64
		for _, w := range f.Result.Windows {
			inWindows += w.Requests
		}
		if inWindows > req {
			t.Errorf("%s: windows hold %d requests, the series only %d", f.Name, inWindows, req)
		}
	}
	// Every call makes fresh results.
	a := analyzertest.Fixtures()
	a[0].Result.Series[0].Errors = 999
	if analyzertest.Fixtures()[0].Result.Series[0].Errors == 999 {
		t.Error("Fixtures shares results between calls")
	}
}

func TestClone(t *testing.T) {
	r := analyzertest.NetworkDelay()
	c := analyzertest.Clone(t, r)
	c.Series[0].Latency.P99 = 1e6
	c.Faults[0].Params["latency"] = "1h"
	*c.Faults[0].InjectedAt = c.Faults[0].InjectedAt.Add(1)
	if r.Series[0].Latency.P99 == 1e6 || r.Faults[0].Params["latency"] == "1h" || r.Faults[0].InjectedAt.Equal(*c.Faults[0].InjectedAt) {
		t.Error("Clone shares memory with the original")
	}
}
