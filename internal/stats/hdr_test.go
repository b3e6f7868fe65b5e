package stats

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// newHist has the geometry the root package records latencies with:
// microseconds from 1 µs to 10 min, two significant digits.
func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 600_000_000, 2) }

// phaseHists returns n interval histograms of perInterval exponential
// latencies with the given mean (µs), each interval's mean scaled by a
// factor drawn from [1−jitter, 1+jitter].
func phaseHists(t *testing.T, r *rand.Rand, n, perInterval int, mean, jitter float64) []*hdrhistogram.Histogram {
	t.Helper()
	hs := make([]*hdrhistogram.Histogram, n)
	for i := range hs {
		hs[i] = newHist()
	}
	fillHists(t, r, hs, perInterval, mean, jitter)
	return hs
}

// fillHists resets hs and records perInterval latencies in each, as
// phaseHists does.
func fillHists(t *testing.T, r *rand.Rand, hs []*hdrhistogram.Histogram, perInterval int, mean, jitter float64) {
	t.Helper()
	for _, h := range hs {
		h.Reset()
		m := mean * (1 - jitter + 2*jitter*r.Float64())
		for range perInterval {
			if err := h.RecordValue(int64(1 + r.ExpFloat64()*m)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func merged(hs []*hdrhistogram.Histogram) *hdrhistogram.Histogram {
	m := newHist()
	for _, h := range hs {
		if h != nil {
			m.Merge(h)
		}
	}
	return m
}

func TestIntervalQuantiles(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	hs := phaseHists(t, r, 6, 50, 2000, 0.5)
	withGaps := []*hdrhistogram.Histogram{nil, hs[0], newHist(), hs[1], hs[2], hs[3], hs[4], hs[5]}
	got := IntervalQuantiles(withGaps, 0.99)
	if len(got) != len(hs) {
		t.Fatalf("got %d values, want %d", len(got), len(hs))
	}
	for i, h := range hs {
		if want := float64(h.ValueAtQuantile(99)); got[i] != want {
			t.Errorf("interval %d: %v, want %v", i, got[i], want)
		}
	}
	if IntervalQuantiles(hs, 1.5) != nil || IntervalQuantiles(hs, -0.1) != nil {
		t.Errorf("q out of range accepted")
	}
	if IntervalQuantiles(nil, 0.5) != nil {
		t.Errorf("no histograms gave values")
	}
}

func TestHistQuantileCIEstimate(t *testing.T) {
	r := rand.New(rand.NewPCG(53, 54))
	hs := phaseHists(t, r, 12, 80, 5000, 0.3)
	hs = append(hs, nil, newHist())
	m := merged(hs)
	for _, q := range []float64{0, 0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		est, lo, hi := HistQuantileCI(hs, q, 0.95, 200, 1)
		if want := float64(m.ValueAtQuantile(100 * q)); est != want {
			t.Errorf("q=%v: est %v, want the merged histogram's %v", q, est, want)
		}
		if !(lo <= hi) {
			t.Errorf("q=%v: [%v, %v]", q, lo, hi)
		}
		if q == 0.5 && !(lo <= est && est <= hi) {
			t.Errorf("median %v outside [%v, %v]", est, lo, hi)
		}
	}
	// Deterministic for a seed.
	_, l1, h1 := HistQuantileCI(hs, 0.99, 0.95, 300, 9)
	_, l2, h2 := HistQuantileCI(hs, 0.99, 0.95, 300, 9)
	if l1 != l2 || h1 != h2 {
		t.Errorf("same seed, different intervals")
	}
	// Identical intervals: nothing to resample, a point.
	same := []*hdrhistogram.Histogram{hs[0], hs[0], hs[0], hs[0], hs[0]}
	est, lo, hi := HistQuantileCI(same, 0.99, 0.95, 100, 1)
	if lo != est || hi != est {
		t.Errorf("identical intervals: %v [%v, %v]", est, lo, hi)
	}
}

func TestHistQuantileInvalid(t *testing.T) {
	r := rand.New(rand.NewPCG(55, 56))
	hs := phaseHists(t, r, 5, 20, 1000, 0)
	for name, f := range map[string]func() (float64, float64, float64){
		"no histograms": func() (float64, float64, float64) { return HistQuantileCI(nil, 0.5, 0.95, 10, 1) },
		"all empty": func() (float64, float64, float64) {
			return HistQuantileCI([]*hdrhistogram.Histogram{nil, newHist()}, 0.5, 0.95, 10, 1)
		},
		"q > 1":        func() (float64, float64, float64) { return HistQuantileCI(hs, 1.01, 0.95, 10, 1) },
		"level 1":      func() (float64, float64, float64) { return HistQuantileCI(hs, 0.5, 1, 10, 1) },
		"diff empty a": func() (float64, float64, float64) { return HistQuantileDiff(nil, hs, 0.5, 0.95, 10, 1) },
		"diff empty b": func() (float64, float64, float64) { return HistQuantileDiff(hs, nil, 0.5, 0.95, 10, 1) },
		"diff q NaN":   func() (float64, float64, float64) { return HistQuantileDiff(hs, hs, math.NaN(), 0.95, 10, 1) },
	} {
		est, lo, hi := f()
		if !math.IsNaN(est) || !math.IsNaN(lo) || !math.IsNaN(hi) {
			t.Errorf("%s: (%v, %v, %v), want NaNs", name, est, lo, hi)
		}
	}
}

func TestHistQuantileDiff(t *testing.T) {
	r := rand.New(rand.NewPCG(57, 58))
	base := phaseHists(t, r, 10, 100, 10_000, 0.2)  // ~10 ms
	chaos := phaseHists(t, r, 20, 100, 60_000, 0.2) // ~60 ms
	est, lo, hi := HistQuantileDiff(base, chaos, 0.5, 0.95, 0, 3)
	want := float64(merged(chaos).ValueAtQuantile(50) - merged(base).ValueAtQuantile(50))
	checkNear(t, "p50 diff", est, want, 0)
	if !(lo > 0 && lo <= est && est <= hi) {
		t.Errorf("a 6× slowdown: %v [%v, %v]", est, lo, hi)
	}
	// The same phase against itself: the interval holds 0.
	est, lo, hi = HistQuantileDiff(base, base, 0.99, 0.95, 500, 4)
	if est != 0 || !(lo <= 0 && 0 <= hi) {
		t.Errorf("self comparison: %v [%v, %v]", est, lo, hi)
	}
}

func TestHistQuantileCICoverage(t *testing.T) {
	// Exponential latencies with mean 2 ms, so the true median is
	// 2000·ln 2 µs; HDR reports the top of a bucket under 1 % wide, a bias
	// well inside the interval's width here. A short phase (5 intervals of
	// 200 requests) and a longer one (12 of 80).
	truth := 2000 * math.Ln2
	for _, size := range [][2]int{{5, 200}, {12, 80}} {
		r := rand.New(rand.NewPCG(59, uint64(size[0])))
		hs := phaseHists(t, r, size[0], 0, 2000, 0)
		covered := 0
		for trial := range coverageTrials {
			fillHists(t, r, hs, size[1], 2000, 0)
			if _, lo, hi := HistQuantileCI(hs, 0.5, 0.95, 300, uint64(trial)); lo <= truth && truth <= hi {
				covered++
			}
		}
		checkCoverage(t, "HistQuantileCI", covered)
	}
}

func TestHistQuantileOneInterval(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	hs := phaseHists(t, r, 2, 30, 1000, 0)
	est, lo, hi := HistQuantileCI(hs[:1], 0.5, 0.95, 10, 1)
	if math.IsNaN(est) || !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("one interval: %v [%v, %v], want an estimate and no interval", est, lo, hi)
	}
	est, lo, hi = HistQuantileDiff(hs[:1], hs, 0.5, 0.95, 10, 1)
	if math.IsNaN(est) || !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("one interval in a: %v [%v, %v], want an estimate and no interval", est, lo, hi)
	}
}
