package stats

import (
	"encoding/json"
	"math"
	"testing"
)

func TestDecide(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name               string
		est, lo, hi, limit float64
		higherIsWorse      bool
		want               Outcome
	}{
		{"ceiling held", 80, 70, 90, 100, true, Pass},
		{"ceiling on the limit", 90, 80, 100, 100, true, Pass},
		{"ceiling broken", 120, 110, 130, 100, true, Fail},
		{"ceiling straddled", 95, 90, 105, 100, true, Inconclusive},
		{"ceiling low end on the limit", 110, 100, 120, 100, true, Inconclusive},
		{"error rate zero errors", 0, 0, 0.004, 0.01, true, Pass},
		{"error rate too few requests", 0, 0, 0.11, 0.01, true, Inconclusive},
		{"floor held", 60, 55, 65, 50, false, Pass},
		{"floor on the limit", 55, 50, 60, 50, false, Pass},
		{"floor broken", 40, 35, 45, 50, false, Fail},
		{"floor straddled", 50, 45, 55, 50, false, Inconclusive},
		{"swapped bounds", 120, 130, 110, 100, true, Fail},
		{"NaN estimate", nan, 1, 2, 100, true, Inconclusive},
		{"NaN bound", 1, nan, 2, 100, true, Inconclusive},
		{"NaN limit", 1, 1, 2, nan, false, Inconclusive},
	}
	for _, tc := range tests {
		if got := Decide(tc.est, tc.lo, tc.hi, tc.limit, tc.higherIsWorse); got != tc.want {
			t.Errorf("%s: Decide = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDecideWithWilson(t *testing.T) {
	// Zero errors prove "≤ 1 %" only from about 380 requests on, which is
	// what the MinRequests documentation claims.
	ok := func(n int64) Outcome {
		lo, hi := Wilson(0, n, 0.95)
		return Decide(0, lo, hi, 0.01, true)
	}
	if ok(370) != Inconclusive || ok(390) != Pass {
		t.Errorf("0/370: %v, 0/390: %v", ok(370), ok(390))
	}
}

func TestOutcomeText(t *testing.T) {
	var zero Outcome
	if zero != Inconclusive {
		t.Fatalf("zero Outcome is %v", zero)
	}
	for _, o := range []Outcome{Inconclusive, Pass, Fail} {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		var back Outcome
		if err := json.Unmarshal(b, &back); err != nil || back != o {
			t.Errorf("round trip of %v: %s → %v, %v", o, b, back, err)
		}
	}
	if _, err := Outcome(7).MarshalText(); err == nil {
		t.Errorf("invalid outcome marshalled")
	}
	if got := Outcome(7).String(); got != "Outcome(7)" {
		t.Errorf("String = %q", got)
	}
	var o Outcome
	if err := o.UnmarshalText([]byte("maybe")); err == nil {
		t.Errorf("unknown outcome accepted")
	}
}

func TestEnoughSamples(t *testing.T) {
	tests := []struct {
		intervals int
		requests  int64
		want      bool
	}{
		{5, 30, true},
		{60, 5000, true},
		{4, 1000, false},
		{10, 29, false},
		{0, 0, false},
	}
	for _, tc := range tests {
		if got := EnoughSamples(tc.intervals, tc.requests); got != tc.want {
			t.Errorf("EnoughSamples(%d, %d) = %v", tc.intervals, tc.requests, got)
		}
	}
	if !EnoughIntervals(MinIntervals) || EnoughIntervals(MinIntervals-1) {
		t.Errorf("EnoughIntervals boundary")
	}
	if !EnoughRequests(MinRequests) || EnoughRequests(MinRequests-1) {
		t.Errorf("EnoughRequests boundary")
	}
}

func TestNoisy(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name  string
		xs    []float64
		noisy bool
		cv    float64
	}{
		// median 100, MAD 2: cv = 1.4826·2/100.
		{"steady throughput", []float64{98, 100, 102, 99, 101, 103, 97}, false, 1.4826 * 2 / 100},
		// One stall does not make a baseline noisy.
		{"one outlier", []float64{10, 10.5, 9.5, 10, 10.2, 9.8, 80}, false, 1.4826 * 0.2 / 10},
		// median 10, MAD 5 → cv 0.74.
		{"noisy", []float64{5, 15, 10, 3, 18, 10, 20, 4}, true, 1.4826 * 5.5 / 10},
		{"constant", []float64{7, 7, 7, 7, 7}, false, 0},
		{"zeros", []float64{0, 0, 0, 0, 0}, false, 0},
		{"zero median, spread", []float64{-1, 0, 0, 1, 3}, true, math.Inf(1)},
		{"too few", []float64{1, 100}, false, nan},
		{"too few finite", []float64{1, nan, math.Inf(1), 2}, false, nan},
		{"negative level", []float64{-100, -98, -102, -101, -99}, false, 1.4826 * 1 / 100},
	}
	for _, tc := range tests {
		noisy, cv := Noisy(tc.xs)
		if noisy != tc.noisy {
			t.Errorf("%s: noisy = %v (cv %v), want %v", tc.name, noisy, cv, tc.noisy)
		}
		if math.IsInf(tc.cv, 1) {
			if !math.IsInf(cv, 1) {
				t.Errorf("%s: cv = %v, want +Inf", tc.name, cv)
			}
			continue
		}
		checkNear(t, tc.name+" cv", cv, tc.cv, 1e-12)
	}
}

func TestAttribute(t *testing.T) {
	tests := []struct {
		baseline Outcome
		noisy    bool
		phase    Outcome
		want     Outcome
		cause    Cause
	}{
		{Pass, false, Fail, Fail, CauseNone},
		{Inconclusive, false, Fail, Fail, CauseNone},
		{Fail, false, Fail, Inconclusive, CauseFailingBaseline},
		{Fail, true, Fail, Inconclusive, CauseFailingBaseline},
		{Pass, true, Fail, Inconclusive, CauseNoisyBaseline},
		{Fail, true, Pass, Pass, CauseNone},
		{Pass, true, Inconclusive, Inconclusive, CauseNone},
		{Fail, false, Inconclusive, Inconclusive, CauseNone},
	}
	for _, tc := range tests {
		got, cause := Attribute(tc.baseline, tc.noisy, tc.phase)
		if got != tc.want || cause != tc.cause {
			t.Errorf("Attribute(%v, %v, %v) = %v, %q; want %v, %q", tc.baseline, tc.noisy, tc.phase, got, cause, tc.want, tc.cause)
		}
	}
	if CauseNone.String() != "" || CauseNoisyBaseline.String() != "noisy baseline" || Cause(9).String() != "Cause(9)" {
		t.Errorf("Cause strings")
	}
}
