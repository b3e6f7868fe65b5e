package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The R documentation's example for wilcox.test (?wilcox.test, from
// Hollander & Wolfe 1973, p. 69): permeability constants.
var (
	hwX = []float64{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46}
	hwY = []float64{1.15, 0.88, 0.90, 0.74, 1.21}
)

func TestMannWhitneyKnownValues(t *testing.T) {
	// The airquality ozone readings of May and August without NAs, as in
	// R's example wilcox.test(Ozone ~ Month, data = airquality,
	// subset = Month %in% c(5, 8)), which prints W = 127.5,
	// p-value = 0.0001208 (ties: normal approximation with correction).
	may := []float64{41, 36, 12, 18, 28, 23, 19, 8, 7, 16, 11, 14, 18, 14, 34, 6, 30, 11, 1, 11, 4, 32, 23, 45, 115, 37}
	aug := []float64{39, 9, 16, 78, 35, 66, 122, 89, 110, 44, 28, 65, 22, 59, 23, 31, 44, 21, 9, 45, 168, 73, 76, 118, 84, 85}
	// R outputs quoted on endmemo.com/r/wilcoxon.php for wilcox.test(x, y):
	// W = 51.5, p-value = 0.5966 and W = 0, p-value = 0.001364.
	emX := []float64{1, 5, 9, 24, 56, 21, 3, 7, 21, 4}
	emY := []float64{12, 15, 5, 9, 9, 14, 56, 22, 3, 7, 32, 5}
	emY2 := []float64{1233, 4356, 987, 39999, 1111, 200000}
	tests := []struct {
		name string
		a, b []float64
		u, p float64
		pTol float64
	}{
		// R: wilcox.test(x, y, alternative = "greater") gives W = 35,
		// p-value = 0.1272 (exact; 0.1272061 on Geyer's Stat 5601 notes), so
		// the two-sided exact p is twice that.
		{"Hollander-Wolfe exact", hwX, hwY, 35, 2 * 0.1272061, 2e-7},
		{"ozone ties", may, aug, 127.5, 0.0001208, 5e-8},
		{"endmemo ties", emX, emY, 51.5, 0.5966, 5e-5},
		{"endmemo separated", emX, emY2, 0, 0.001364, 5e-7},
	}
	for _, tc := range tests {
		u, p := MannWhitney(tc.a, tc.b)
		checkNear(t, tc.name+" u", u, tc.u, 1e-9)
		checkNear(t, tc.name+" p", p, tc.p, tc.pTol)
	}
}

func TestMannWhitneyExactMinimumP(t *testing.T) {
	// Complete separation: p = 2 / C(n1+n2, n1). These are the numbers
	// MinIntervals is argued from.
	for _, tc := range []struct {
		n    int
		want float64
	}{{3, 2.0 / 20}, {4, 2.0 / 70}, {5, 2.0 / 252}} {
		a, b := make([]float64, tc.n), make([]float64, tc.n)
		for i := range a {
			a[i], b[i] = float64(i), float64(100+i)
		}
		_, p := MannWhitney(a, b)
		checkNear(t, "separated p", p, tc.want, 1e-12)
	}
}

func TestMannWhitneyEdgeCases(t *testing.T) {
	nan := math.NaN()
	u, p := MannWhitney(nil, []float64{1, 2})
	checkNear(t, "empty a u", u, nan, 0)
	checkNear(t, "empty a p", p, nan, 0)
	u, p = MannWhitney([]float64{1, 2}, []float64{nan, math.Inf(1)})
	checkNear(t, "non-finite b u", u, nan, 0)
	checkNear(t, "non-finite b p", p, nan, 0)

	// All tied: no evidence of a shift.
	u, p = MannWhitney([]float64{5, 5, 5}, []float64{5, 5})
	checkNear(t, "all ties u", u, 3, 0)
	checkNear(t, "all ties p", p, 1, 0)

	// Identical samples (ties across): u = mn/2 and p = 1.
	r := rand.New(rand.NewPCG(1, 2))
	a := normals(r, 20, 0, 1)
	u, p = MannWhitney(a, a)
	checkNear(t, "identical u", u, 200, 0)
	checkNear(t, "identical p", p, 1, 0)

	// Single values.
	u, p = MannWhitney([]float64{1}, []float64{2})
	checkNear(t, "1v1 u", u, 0, 0)
	checkNear(t, "1v1 p", p, 1, 0)

	// NaNs are dropped, not ranked.
	u1, p1 := MannWhitney(hwX, hwY)
	u2, p2 := MannWhitney(append(slices.Clone(hwX), nan), append([]float64{math.Inf(-1)}, hwY...))
	if u1 != u2 || p1 != p2 {
		t.Errorf("non-finite values changed the test: (%v, %v) vs (%v, %v)", u1, p1, u2, p2)
	}
}

func TestMannWhitneySymmetry(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 50 {
		n1, n2 := 1+r.IntN(70), 1+r.IntN(70)
		a, b := normals(r, n1, 0, 1), normals(r, n2, 0.3, 1)
		if trial%2 == 0 { // integers: ties
			for i := range a {
				a[i] = math.Round(a[i] * 3)
			}
			for i := range b {
				b[i] = math.Round(b[i] * 3)
			}
		}
		uab, pab := MannWhitney(a, b)
		uba, pba := MannWhitney(b, a)
		checkNear(t, "u(a,b)+u(b,a)", uab+uba, float64(n1*n2), 1e-9)
		checkNear(t, "p(a,b) vs p(b,a)", pab, pba, 1e-12)
		if !(pab > 0 && pab <= 1) {
			t.Errorf("p = %v out of (0, 1]", pab)
		}
		// u counts pairs with a above b, ties one half.
		var want float64
		for _, x := range a {
			for _, y := range b {
				switch {
				case x > y:
					want++
				case x == y:
					want += 0.5
				}
			}
		}
		checkNear(t, "u by pairs", uab, want, 1e-9)
	}
}

func TestUDistMatchesEnumeration(t *testing.T) {
	for m := 1; m <= 6; m++ {
		for n := 1; n <= 6; n++ {
			got := uDist(m, n)
			want := make([]float64, m*n+1)
			total := 0
			// Each bit pattern of m+n bits with m ones is an ordering,
			// bit i set when the i-th smallest value is an a.
			for mask := 0; mask < 1<<(m+n); mask++ {
				if popcount(mask) != m {
					continue
				}
				u, bs := 0, 0
				for i := 0; i < m+n; i++ {
					if mask&(1<<i) != 0 {
						u += bs
					} else {
						bs++
					}
				}
				want[u]++
				total++
			}
			for k := range want {
				if !near(got[k], want[k]/float64(total), 1e-14) {
					t.Fatalf("uDist(%d,%d)[%d] = %v, want %v", m, n, k, got[k], want[k]/float64(total))
				}
			}
		}
	}
	// Large exact tables stay normalised and symmetric.
	d := uDist(49, 49)
	var sum float64
	for k := range d {
		sum += d[k]
		if !near(d[k], d[len(d)-1-k], 1e-12*math.Max(d[k], 1e-300)+1e-300) {
			t.Fatalf("uDist(49,49) not symmetric at %d", k)
		}
	}
	checkNear(t, "uDist(49,49) total", sum, 1, 1e-12)
}

func popcount(x int) int {
	c := 0
	for ; x != 0; x &= x - 1 {
		c++
	}
	return c
}

func TestHodgesLehmann(t *testing.T) {
	// Geyer, Stat 5601 notes on the rank sum test, the same data: the
	// median of the pairwise differences is −0.305 (y − x).
	checkNear(t, "HL(x, y)", HodgesLehmann(hwX, hwY), -0.305, 1e-12)
	checkNear(t, "HL(y, x)", HodgesLehmann(hwY, hwX), 0.305, 1e-12)
	checkNear(t, "HL empty", HodgesLehmann(nil, hwY), math.NaN(), 0)
	checkNear(t, "HL ties", HodgesLehmann([]float64{1, 1, 1}, []float64{1, 1}), 0, 0)
	if v := HodgesLehmann([]float64{1}, []float64{1}); math.Signbit(v) {
		t.Errorf("HL of equal values is −0")
	}

	// Against the definition, on random data with and without ties,
	// negative values and mixed magnitudes.
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range 200 {
		a, b := normals(r, 1+r.IntN(40), 0, 1+r.Float64()*100), normals(r, 1+r.IntN(40), 3, 1)
		if trial%3 == 0 {
			for i := range a {
				a[i] = math.Round(a[i])
			}
			for i := range b {
				b[i] = math.Round(b[i])
			}
		}
		d := pairwiseDiffs(a, b)
		want := Median(d)
		checkNear(t, "HL vs definition", HodgesLehmann(a, b), want, 1e-12*math.Max(1, math.Abs(want)))
	}
}

// pairwiseDiffs returns the sorted differences b_j − a_i.
func pairwiseDiffs(a, b []float64) []float64 {
	var d []float64
	for _, x := range a {
		for _, y := range b {
			d = append(d, y-x)
		}
	}
	slices.Sort(d)
	return d
}

func TestHugeSamples(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const n = 100_000
	a, b := normals(r, n, 0, 1), normals(r, n, 0.05, 1)
	// 10¹⁰ pairwise differences: found without materialising them.
	hl := HodgesLehmann(a, b)
	lo, hi := ShiftCI(a, b, 0.95)
	if !(lo < hl && hl < hi) || !(lo < 0.05 && 0.05 < hi) || hi-lo > 0.05 {
		t.Errorf("HL %v, CI [%v, %v]: want a narrow interval around 0.05", hl, lo, hi)
	}
	u, p := MannWhitney(a, b)
	if !(p < 1e-10) || u > float64(n)*n/2 {
		t.Errorf("u = %v, p = %v: want a clear shift of b upwards", u, p)
	}
	_, p = MannWhitney(a, a[:n/2])
	if p < 0.01 {
		t.Errorf("same distribution: p = %v", p)
	}
}

func TestShiftCIInvertsTheTest(t *testing.T) {
	// The order-statistic interval is the set of shifts δ that the exact
	// test of (a + δ, b) does not reject at α: for δ between two
	// consecutive differences, δ is inside ⟺ p(δ) ≥ α.
	r := rand.New(rand.NewPCG(9, 10))
	for trial := range 30 {
		m, n := 3+r.IntN(12), 3+r.IntN(12)
		a, b := normals(r, m, 0, 1), normals(r, n, 1, 2)
		level := []float64{0.8, 0.9, 0.95, 0.99}[trial%4]
		lo, hi := ShiftCI(a, b, level)
		d := pairwiseDiffs(a, b)
		for k := 0; k+1 < len(d); k++ {
			delta := (d[k] + d[k+1]) / 2
			if delta == d[k] || delta == d[k+1] {
				continue
			}
			shifted := make([]float64, m)
			for i := range a {
				shifted[i] = a[i] + delta
			}
			_, p := MannWhitney(shifted, b)
			alpha := 1 - level
			if math.Abs(p-alpha) < 1e-9 {
				continue
			}
			inside := lo < delta && delta < hi
			if inside != (p >= alpha) {
				// The level is unreachable for this size: the interval is
				// the whole range then, by design.
				if lo == d[0] && hi == d[len(d)-1] {
					continue
				}
				t.Fatalf("m=%d n=%d level=%v: δ=%v inside [%v, %v] = %v but p = %v", m, n, level, delta, lo, hi, inside, p)
			}
		}
	}
}

func TestShiftCIEdgeCases(t *testing.T) {
	nan := math.NaN()
	lo, hi := ShiftCI(nil, []float64{1}, 0.95)
	checkNear(t, "empty lo", lo, nan, 0)
	checkNear(t, "empty hi", hi, nan, 0)
	for _, level := range []float64{0, 1, -1, 2, nan} {
		lo, _ = ShiftCI(hwX, hwY, level)
		checkNear(t, "bad level", lo, nan, 0)
	}
	// Too small for 95 %: the range of the differences.
	lo, hi = ShiftCI([]float64{1, 2}, []float64{3, 4}, 0.95)
	checkNear(t, "2v2 lo", lo, 1, 0)
	checkNear(t, "2v2 hi", hi, 3, 0)
	// All tied: a point.
	lo, hi = ShiftCI([]float64{2, 2, 2, 2, 2}, []float64{2, 2, 2, 2, 2}, 0.95)
	checkNear(t, "ties lo", lo, 0, 0)
	checkNear(t, "ties hi", hi, 0, 0)
	// Lower level, narrower interval.
	l95, h95 := ShiftCI(hwX, hwY, 0.95)
	l80, h80 := ShiftCI(hwX, hwY, 0.80)
	if !(l95 <= l80 && h80 <= h95 && l80 <= h80) {
		t.Errorf("80 %% [%v, %v] not inside 95 %% [%v, %v]", l80, h80, l95, h95)
	}
}

func TestShiftCICoverage(t *testing.T) {
	// Shift model: b = a + 1 in distribution. The exact path (10 v 12) and
	// the normal approximation (60 v 70) should both cover about 95 %.
	for _, size := range [][2]int{{10, 12}, {60, 70}} {
		r := rand.New(rand.NewPCG(11, uint64(size[0])))
		covered := 0
		for range coverageTrials {
			a, b := normals(r, size[0], 0, 1), normals(r, size[1], 1, 1)
			if lo, hi := ShiftCI(a, b, 0.95); lo <= 1 && 1 <= hi {
				covered++
			}
		}
		checkCoverage(t, "ShiftCI", covered)
	}
}
