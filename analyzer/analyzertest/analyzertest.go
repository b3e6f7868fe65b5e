// Package analyzertest is the conformance suite every chaoslab.Analyzer
// runs, and realistic fixture results to test analyzers and dashboards
// with.
//
// An implementation runs the suite in one test:
//
//	func TestConformance(t *testing.T) {
//		analyzertest.Run(t, myanalyzer.New())
//	}
package analyzertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chaoslab-dev/chaoslab"
)

// ReturnWithin bounds how long Run waits for Analyze on a cancelled context.
const ReturnWithin = 5 * time.Second

// Run checks that a conforms to the chaoslab.Analyzer contract, on every
// fixture of Fixtures:
//
//   - it returns a valid severity, a non-empty summary and source;
//   - its metrics agree with the result: cpu_peak and memory_peak are the
//     series' peaks, error_count the series' errors, recovery_time_seconds
//     the result's recovery time (nil when there is none);
//   - a failed verdict gets at least one recommendation;
//   - it does not change the result, even when called concurrently;
//   - on a cancelled context it returns within ReturnWithin, with an error
//     wrapping context.Canceled or with a valid analysis;
//   - it handles the zero Result, a run that failed before measuring
//     anything, and a nil *Result (an error, not a panic).
func Run(t *testing.T, a chaoslab.Analyzer) {
	t.Helper()
	for _, f := range Fixtures() {
		t.Run(f.Name, func(t *testing.T) {
			before := Clone(t, f.Result)
			an, err := a.Analyze(t.Context(), f.Result)
			if err != nil {
				t.Fatalf("Analyze: %v", err)
			}
			CheckAnalysis(t, f.Result, an)
			if diff := cmp.Diff(before, Clone(t, f.Result)); diff != "" {
				t.Errorf("Analyze changed the result (-before +after):\n%s", diff)
			}
		})
	}
	t.Run("concurrent", func(t *testing.T) {
		r := NetworkDelay()
		before := Clone(t, r)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				_, errs[i] = a.Analyze(t.Context(), r)
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("concurrent Analyze: %v", err)
		}
		if diff := cmp.Diff(before, Clone(t, r)); diff != "" {
			t.Errorf("concurrent Analyze changed the result (-before +after):\n%s", diff)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		r := ProcessKill()
		type answer struct {
			an  chaoslab.Analysis
			err error
		}
		done := make(chan answer, 1)
		go func() {
			an, err := a.Analyze(ctx, r)
			done <- answer{an, err}
		}()
		select {
		case got := <-done:
			if got.err != nil {
				if !errors.Is(got.err, context.Canceled) {
					t.Errorf("Analyze on a cancelled context: error %v does not wrap context.Canceled", got.err)
				}
				return
			}
			CheckAnalysis(t, r, got.an)
		case <-time.After(ReturnWithin):
			t.Fatalf("Analyze did not return within %s of a cancelled context", ReturnWithin)
		}
	})
	t.Run("nil", func(t *testing.T) {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("Analyze(nil) panicked: %v", p)
			}
		}()
		if _, err := a.Analyze(t.Context(), nil); err == nil {
			t.Error("Analyze(nil) returned no error")
		}
	})
}

// CheckAnalysis reports, as test errors, every way an falls short of the
// Analyzer contract for r. Analyzers that wrap others can use it on their
// own cases.
func CheckAnalysis(t testing.TB, r *chaoslab.Result, an chaoslab.Analysis) {
	t.Helper()
	switch an.Severity {
	case chaoslab.SeverityLow, chaoslab.SeverityMedium, chaoslab.SeverityHigh, chaoslab.SeverityCritical:
	default:
		t.Errorf("severity %q is not one of low, medium, high, critical", an.Severity)
	}
	if an.Summary == "" {
		t.Error("summary is empty")
	}
	if an.Source == "" {
		t.Error("source is empty")
	}
	want := Metrics(r)
	near := func(name string, got, want float64) {
		if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("metrics.%s = %v, want %v", name, got, want)
		}
	}
	near("cpu_peak", an.Metrics.CPUPeak, want.CPUPeak)
	near("memory_peak", an.Metrics.MemoryPeak, want.MemoryPeak)
	if an.Metrics.ErrorCount != want.ErrorCount {
		t.Errorf("metrics.error_count = %d, want %d", an.Metrics.ErrorCount, want.ErrorCount)
	}
	switch got := an.Metrics.RecoveryTimeSeconds; {
	case want.RecoveryTimeSeconds == nil && got != nil:
		t.Errorf("metrics.recovery_time_seconds = %v, want nil: the result has no recovery time", *got)
	case want.RecoveryTimeSeconds != nil && got == nil:
		t.Errorf("metrics.recovery_time_seconds = nil, want %v", *want.RecoveryTimeSeconds)
	case got != nil:
		near("recovery_time_seconds", *got, *want.RecoveryTimeSeconds)
		if got == r.Recovery.Seconds {
			t.Error("metrics.recovery_time_seconds aliases result.recovery.recovery_time_seconds; copy it")
		}
	}
	if r.Verdict == chaoslab.VerdictFail && len(an.Recommendations) == 0 {
		t.Error("a failed verdict got no recommendations")
	}
	for i, rec := range an.Recommendations {
		if rec == "" {
			t.Errorf("recommendations[%d] is empty", i)
		}
	}
}

// Metrics returns the headline numbers every analysis must report for r:
// the peaks of the series' cpu_percent and memory_mb, the sum of its errors
// and a copy of the recovery time.
func Metrics(r *chaoslab.Result) chaoslab.AnalysisMetrics {
	return r.HeadlineMetrics()
}

// Clone returns a deep copy of r made through its JSON form, which holds
// every field of a Result; it fails the test if r does not marshal.
func Clone(t testing.TB, r *chaoslab.Result) *chaoslab.Result {
	t.Helper()
	c, err := clone(r)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func clone(r *chaoslab.Result) (*chaoslab.Result, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("clone result: %w", err)
	}
	var c chaoslab.Result
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("clone result: %w", err)
	}
	return &c, nil
}
