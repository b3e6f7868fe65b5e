package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBootstrapDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	a, b := normals(r, 20, 10, 2), normals(r, 25, 12, 3)
	e1, l1, h1 := BootstrapDiff(a, b, Median, 0.95, 500, 42)
	e2, l2, h2 := BootstrapDiff(a, b, Median, 0.95, 500, 42)
	if e1 != e2 || l1 != l2 || h1 != h2 {
		t.Fatalf("same seed, different results: (%v %v %v) vs (%v %v %v)", e1, l1, h1, e2, l2, h2)
	}
	_, l3, h3 := BootstrapDiff(a, b, Median, 0.95, 500, 43)
	if l1 == l3 && h1 == h3 {
		t.Errorf("different seeds gave identical intervals [%v, %v]", l1, h1)
	}
	checkNear(t, "est", e1, Median(b)-Median(a), 1e-12)
	if !(l1 <= e1 && e1 <= h1) {
		t.Errorf("estimate %v outside [%v, %v]", e1, l1, h1)
	}

	o1, ol1, oh1 := Bootstrap(a, Mean, 0.9, 300, 7)
	o2, ol2, oh2 := Bootstrap(a, Mean, 0.9, 300, 7)
	if o1 != o2 || ol1 != ol2 || oh1 != oh2 {
		t.Fatalf("one-sample bootstrap not deterministic")
	}
	checkNear(t, "one-sample est", o1, Mean(a), 1e-12)
}

func TestBootstrapKnownCases(t *testing.T) {
	// A constant sample has a degenerate interval.
	est, lo, hi := Bootstrap([]float64{3, 3, 3, 3}, nil, 0.95, 0, 1)
	if est != 3 || lo != 3 || hi != 3 {
		t.Errorf("constant: %v [%v, %v]", est, lo, hi)
	}
	// The interval of a median stays within the sample's range.
	xs := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	_, lo, hi = Bootstrap(xs, Median, 0.99, 1000, 2)
	if lo < 1 || hi > 10 || lo >= hi {
		t.Errorf("median interval [%v, %v]", lo, hi)
	}
	// Shifting b shifts the difference by exactly as much.
	b := make([]float64, len(xs))
	for i := range xs {
		b[i] = xs[i] + 100
	}
	est, lo, hi = BootstrapDiff(xs, b, Mean, 0.95, 1000, 3)
	checkNear(t, "shift est", est, 100, 1e-9)
	if !(lo < 100 && 100 < hi && hi-lo < 10) {
		t.Errorf("shift interval [%v, %v]", lo, hi)
	}
}

func TestBootstrapStatMayReorder(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	sorting := func(s []float64) float64 { slices.Sort(s); return s[0] }
	_, _, _ = Bootstrap(xs, sorting, 0.95, 50, 1)
	_, _, _ = BootstrapDiff(xs, xs, sorting, 0.95, 50, 1)
	if !slices.Equal(xs, []float64{5, 1, 4, 2, 3}) {
		t.Fatalf("input modified: %v", xs)
	}
}

func TestBootstrapInvalid(t *testing.T) {
	nan := math.NaN()
	for name, f := range map[string]func() (float64, float64, float64){
		"empty":         func() (float64, float64, float64) { return Bootstrap(nil, Mean, 0.95, 10, 1) },
		"all NaN":       func() (float64, float64, float64) { return Bootstrap([]float64{nan}, Mean, 0.95, 10, 1) },
		"level 1":       func() (float64, float64, float64) { return Bootstrap([]float64{1, 2}, Mean, 1, 10, 1) },
		"diff empty a":  func() (float64, float64, float64) { return BootstrapDiff(nil, []float64{1}, Mean, 0.95, 10, 1) },
		"diff empty b":  func() (float64, float64, float64) { return BootstrapDiff([]float64{1}, nil, Mean, 0.95, 10, 1) },
		"diff level 0":  func() (float64, float64, float64) { return BootstrapDiff([]float64{1}, []float64{2}, Mean, 0, 10, 1) },
		"diff level -1": func() (float64, float64, float64) { return BootstrapDiff([]float64{1}, []float64{2}, nil, -1, 10, 1) },
	} {
		est, lo, hi := f()
		if !math.IsNaN(est) || !math.IsNaN(lo) || !math.IsNaN(hi) {
			t.Errorf("%s: got (%v, %v, %v), want NaNs", name, est, lo, hi)
		}
	}
}

func TestBootstrapOneValue(t *testing.T) {
	est, lo, hi := Bootstrap([]float64{4, math.NaN()}, Mean, 0.95, 10, 1)
	if est != 4 || !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("one value: %v [%v, %v], want 4 [NaN, NaN]", est, lo, hi)
	}
	est, lo, hi = BootstrapDiff([]float64{4}, []float64{1, 2, 3}, Mean, 0.95, 10, 1)
	if est != -2 || !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("one value in a: %v [%v, %v], want -2 [NaN, NaN]", est, lo, hi)
	}
}

func TestBootstrapCoverage(t *testing.T) {
	// Means of 8 normal values and medians of 12 exponential ones: sizes of
	// a short phase, where the plain percentile interval undercovers.
	r := rand.New(rand.NewPCG(25, 26))
	means, medians := 0, 0
	for trial := range coverageTrials {
		if _, lo, hi := Bootstrap(normals(r, 8, 3, 1), Mean, 0.95, 500, uint64(trial)); lo <= 3 && 3 <= hi {
			means++
		}
		e := make([]float64, 12)
		for i := range e {
			e[i] = r.ExpFloat64()
		}
		if _, lo, hi := Bootstrap(e, Median, 0.95, 500, uint64(trial)); lo <= math.Ln2 && math.Ln2 <= hi {
			medians++
		}
	}
	checkCoverage(t, "Bootstrap mean n=8", means)
	checkCoverage(t, "Bootstrap median n=12", medians)
}

func TestBootstrapDiffCoverage(t *testing.T) {
	// Difference of means of N(0, 1) and N(0.5, 2²) samples, at sizes of a
	// long and a short phase.
	for _, size := range [][2]int{{30, 40}, {6, 15}} {
		r := rand.New(rand.NewPCG(23, uint64(size[0])))
		covered := 0
		for trial := range coverageTrials {
			a, b := normals(r, size[0], 0, 1), normals(r, size[1], 0.5, 2)
			if _, lo, hi := BootstrapDiff(a, b, Mean, 0.95, 500, uint64(trial)); lo <= 0.5 && 0.5 <= hi {
				covered++
			}
		}
		checkCoverage(t, "BootstrapDiff", covered)
	}
}
