package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestWilsonKnownValues(t *testing.T) {
	// Newcombe (1998), "Two-sided confidence intervals for the single
	// proportion: comparison of seven methods", Statistics in Medicine
	// 17:857–872, Table I, method 3 (score interval without continuity
	// correction), 95 %, to four decimals.
	for _, tc := range []struct {
		x, n   int64
		lo, hi float64
	}{
		{81, 263, 0.2553, 0.3662},
		{15, 148, 0.0624, 0.1605},
		{0, 20, 0, 0.1611},
		{1, 29, 0.0061, 0.1718},
	} {
		lo, hi := Wilson(tc.x, tc.n, 0.95)
		checkNear(t, "Wilson lo", lo, tc.lo, 5e-5)
		checkNear(t, "Wilson hi", hi, tc.hi, 5e-5)
	}
	// Exact ends at 0 and n.
	if lo, hi := Wilson(0, 5, 0.95); lo != 0 || !(hi > 0 && hi < 1) {
		t.Errorf("0/5: [%v, %v]", lo, hi)
	}
	if lo, hi := Wilson(5, 5, 0.95); hi != 1 || !(lo > 0 && lo < 1) {
		t.Errorf("5/5: [%v, %v]", lo, hi)
	}
	// Symmetric under x → n − x.
	lo1, hi1 := Wilson(3, 17, 0.9)
	lo2, hi2 := Wilson(14, 17, 0.9)
	checkNear(t, "symmetry lo", lo1, 1-hi2, 1e-12)
	checkNear(t, "symmetry hi", hi1, 1-lo2, 1e-12)
}

func TestNewcombeKnownValues(t *testing.T) {
	// Newcombe (1998), "Interval estimation for the difference between
	// independent proportions: comparison of eleven methods", Statistics in
	// Medicine 17:873–890, Table II, method 10 (hybrid score), 95 %. The
	// paper's θ is p1 − p2 for a/m − b/n; TwoProportion's difference is the
	// second argument pair's minus the first, so (b, n) goes first.
	for _, tc := range []struct {
		a, m, b, n int64
		lo, hi     float64
	}{
		{56, 70, 48, 80, 0.0524, 0.3339},
		{9, 10, 3, 10, 0.1705, 0.8090},
		{5, 56, 0, 29, -0.0381, 0.1926},
		{0, 10, 0, 20, -0.1611, 0.2775},
		{0, 10, 0, 10, -0.2775, 0.2775},
		{10, 10, 0, 20, 0.6791, 1},
		{10, 10, 0, 10, 0.6075, 1},
	} {
		diff, lo, hi, _ := TwoProportion(tc.b, tc.n, tc.a, tc.m)
		checkNear(t, "diff", diff, float64(tc.a)/float64(tc.m)-float64(tc.b)/float64(tc.n), 1e-12)
		checkNear(t, "Newcombe lo", lo, tc.lo, 5e-5)
		checkNear(t, "Newcombe hi", hi, tc.hi, 5e-5)
	}
}

func TestTwoProportionPValue(t *testing.T) {
	// The pooled z-test equals Pearson's χ² on the 2×2 table without
	// continuity correction: χ² = N(ad − bc)² / (r1·r2·c1·c2),
	// p = P(χ²₁ > χ²) = erfc(√(χ²/2)).
	for _, tc := range [][4]int64{{48, 80, 56, 70}, {3, 10, 9, 10}, {1, 500, 12, 480}, {30, 100, 30, 100}, {0, 40, 5, 40}} {
		x1, n1, x2, n2 := tc[0], tc[1], tc[2], tc[3]
		a, b, c, d := float64(x1), float64(n1-x1), float64(x2), float64(n2-x2)
		N := a + b + c + d
		chi2 := N * (a*d - b*c) * (a*d - b*c) / ((a + b) * (c + d) * (a + c) * (b + d))
		want := math.Erfc(math.Sqrt(chi2 / 2))
		_, _, _, p := TwoProportion(x1, n1, x2, n2)
		checkNear(t, "p", p, want, 1e-12)
	}
	// The Newcombe (a) example: z = 2.650, p = 0.00805.
	_, _, _, p := TwoProportion(48, 80, 56, 70)
	checkNear(t, "p(a)", p, 0.00805, 5e-6)
}

func TestTwoProportionEdgeCases(t *testing.T) {
	for _, tc := range [][4]int64{{0, 0, 1, 10}, {1, 10, 0, 0}, {-1, 10, 1, 10}, {11, 10, 1, 10}, {1, 10, 11, 10}, {1, -5, 1, 10}} {
		diff, lo, hi, p := TwoProportion(tc[0], tc[1], tc[2], tc[3])
		for _, v := range []float64{diff, lo, hi, p} {
			if !math.IsNaN(v) {
				t.Errorf("TwoProportion%v = (%v, %v, %v, %v), want NaNs", tc, diff, lo, hi, p)
				break
			}
		}
	}
	for _, tc := range [][2]int64{{0, 0}, {1, 0}, {-1, 3}, {4, 3}} {
		if lo, hi := Wilson(tc[0], tc[1], 0.95); !math.IsNaN(lo) || !math.IsNaN(hi) {
			t.Errorf("Wilson%v = [%v, %v], want NaNs", tc, lo, hi)
		}
	}
	if lo, _ := Wilson(1, 3, 1); !math.IsNaN(lo) {
		t.Errorf("level 1 accepted")
	}
	if lo, _ := NewcombeCI(1, 3, 1, 3, 0); !math.IsNaN(lo) {
		t.Errorf("level 0 accepted")
	}
	// No errors anywhere: no difference, p = 1, a proper interval.
	diff, lo, hi, p := TwoProportion(0, 1000, 0, 2000)
	if diff != 0 || p != 1 || !(lo < 0 && hi > 0) {
		t.Errorf("zeros: %v [%v, %v] p=%v", diff, lo, hi, p)
	}
	diff, _, _, p = TwoProportion(7, 7, 3, 3)
	if diff != 0 || p != 1 {
		t.Errorf("all failures: %v p=%v", diff, p)
	}
	// Huge counts keep their precision.
	diff, lo, hi, p = TwoProportion(1_000_000, 100_000_000, 1_100_000, 100_000_000)
	checkNear(t, "huge diff", diff, 0.001, 1e-12)
	if !(lo > 0.0009 && hi < 0.0011 && p < 1e-50) {
		t.Errorf("huge: [%v, %v] p=%v", lo, hi, p)
	}
}

func TestProportionCoverage(t *testing.T) {
	// Error rates of 2 % and 5 % over a few hundred requests.
	r := rand.New(rand.NewPCG(31, 32))
	binom := func(n int64, p float64) int64 {
		var x int64
		for range n {
			if r.Float64() < p {
				x++
			}
		}
		return x
	}
	wilson, newcombe := 0, 0
	for range coverageTrials {
		x1, x2 := binom(300, 0.02), binom(250, 0.05)
		if lo, hi := Wilson(x1, 300, 0.95); lo <= 0.02 && 0.02 <= hi {
			wilson++
		}
		if _, lo, hi, _ := TwoProportion(x1, 300, x2, 250); lo <= 0.03 && 0.03 <= hi {
			newcombe++
		}
	}
	checkCoverage(t, "Wilson", wilson)
	checkCoverage(t, "Newcombe", newcombe)
}
