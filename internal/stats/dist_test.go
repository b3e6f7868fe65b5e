package stats

import (
	"math"
	"testing"
)

func TestNormal(t *testing.T) {
	checkNear(t, "Φ⁻¹(0.975)", normQuantile(0.975), 1.959963984540054, 1e-12)
	checkNear(t, "Φ⁻¹(0.5)", normQuantile(0.5), 0, 1e-15)
	checkNear(t, "1−Φ(1.96)", normUpper(1.959963984540054), 0.025, 1e-12)
	checkNear(t, "1−Φ(5)", normUpper(5), 2.866515718791939e-07, 1e-19)
	checkNear(t, "z(0.90)", zFor(0.90), 1.6448536269514722, 1e-12)
}

func TestStudentT(t *testing.T) {
	// Textbook t tables (R: qt(p, df)).
	for _, tc := range []struct {
		p    float64
		nu   int
		want float64
	}{
		{0.975, 1, 12.706204736},
		{0.975, 2, 4.302652730},
		{0.975, 4, 2.776445105},
		{0.975, 9, 2.262157163},
		{0.975, 29, 2.045229642},
		{0.995, 2, 9.924843201},
		{0.95, 3, 2.353363435},
		{0.5, 7, 0},
	} {
		checkNear(t, "t quantile", tQuantile(tc.p, tc.nu), tc.want, 1e-8)
	}
	// The expansion takes over seamlessly from the series.
	checkNear(t, "t(0.975, 1000) series vs expansion", tQuantile(0.975, 1000), tQuantile(0.975, 1001), 1e-5)
	checkNear(t, "t(0.995, 1000) series vs expansion", tQuantile(0.995, 1000), tQuantile(0.995, 1001), 1e-5)
	// Far beyond the limit, against the exact series.
	lo, hi := 1.9, 2.0
	for range 60 {
		if mid := (lo + hi) / 2; tCentral(mid, 5000) < 0.95 {
			lo = mid
		} else {
			hi = mid
		}
	}
	checkNear(t, "t(0.975, 5000)", tQuantile(0.975, 5000), lo, 1e-9)
	// Many degrees of freedom: close to the normal.
	checkNear(t, "t(0.975, 100000)", tQuantile(0.975, 100000), 1.959963984540054, 1e-4)
	// The series is a distribution: P(|T| ≤ t) rises from 0 to 1.
	for _, nu := range []int{1, 2, 3, 10, 51} {
		prev := -1.0
		for _, x := range []float64{0, 0.1, 1, 3, 10, 1e3, 1e8} {
			a := tCentral(x, nu)
			if a < prev || a < 0 || a > 1+1e-15 {
				t.Fatalf("tCentral(%v, %d) = %v after %v", x, nu, a, prev)
			}
			prev = a
		}
	}
}

func TestExpandedAlpha(t *testing.T) {
	// n = 5 at 95 %: z' = √(5/4)·2.7764 = 3.1041, α'/2 = 1 − Φ(3.1041).
	want := 2 * normUpper(math.Sqrt(1.25)*2.776445105)
	checkNear(t, "α'(5)", expandedAlpha(0.95, 5), want, 1e-9)
	checkNear(t, "α'(5) approx", expandedAlpha(0.95, 5)/2, 0.000954, 2e-6)
	// It widens, less so as n grows, and tends to α.
	prev := 0.0
	for _, n := range []int{2, 3, 5, 10, 30, 100, 10000} {
		a := expandedAlpha(0.95, n)
		if !(a < 0.05 && a > prev) {
			t.Errorf("α'(%d) = %v after %v", n, a, prev)
		}
		prev = a
	}
	checkNear(t, "α'(10000)", prev, 0.05, 1e-4)
}
