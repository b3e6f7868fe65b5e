package stats

import "math"

// Wilson returns the Wilson score confidence interval at the given level for
// a binomial proportion with x successes in n trials (Wilson 1927; method 3
// of Newcombe, Statistics in Medicine 17:857–872, 1998):
//
//	p̂ = x/n,  z = Φ⁻¹(1 − α/2)
//	lo, hi = (p̂ + z²/2n ∓ z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)
//
// Unlike the Wald interval p̂ ± z·√(p̂(1−p̂)/n) it stays inside [0, 1], does
// not collapse to a point at x = 0 or x = n, and keeps near-nominal coverage
// for small n and proportions near 0, the usual case of error rates. It
// assumes independent trials with one success probability. lo is exactly 0
// when x = 0 and hi exactly 1 when x = n. NaN when n ≤ 0, x is outside
// [0, n] or the level is outside (0, 1).
func Wilson(x, n int64, level float64) (lo, hi float64) {
	if n <= 0 || x < 0 || x > n || !validLevel(level) {
		return math.NaN(), math.NaN()
	}
	z := zFor(level)
	fn := float64(n)
	p := float64(x) / fn
	z2 := z * z
	den := 1 + z2/fn
	center := (p + z2/(2*fn)) / den
	half := z * math.Sqrt(p*(1-p)/fn+z2/(4*fn*fn)) / den
	lo, hi = math.Max(0, center-half), math.Min(1, center+half)
	if x == 0 {
		lo = 0
	}
	if x == n {
		hi = 1
	}
	return lo, hi
}

// NewcombeCI returns Newcombe's hybrid score confidence interval at the
// given level for the difference of two independent proportions
// p̂2 − p̂1 = x2/n2 − x1/n1 (Newcombe, "Interval estimation for the
// difference between independent proportions: comparison of eleven
// methods", Statistics in Medicine 17:873–890, 1998, method 10). With
// (l1, u1) and (l2, u2) the [Wilson] intervals of the two proportions and
// d = p̂2 − p̂1,
//
//	lo = d − √((p̂2 − l2)² + (u1 − p̂1)²)
//	hi = d + √((u2 − p̂2)² + (p̂1 − l1)²)
//
// It keeps close to nominal coverage at small counts and at 0 or n
// successes, where the Wald interval fails. NaN when either n ≤ 0, a count
// is outside [0, n] or the level is outside (0, 1).
func NewcombeCI(x1, n1, x2, n2 int64, level float64) (lo, hi float64) {
	l1, u1 := Wilson(x1, n1, level)
	l2, u2 := Wilson(x2, n2, level)
	if math.IsNaN(l1) || math.IsNaN(l2) {
		return math.NaN(), math.NaN()
	}
	p1, p2 := float64(x1)/float64(n1), float64(x2)/float64(n2)
	d := p2 - p1
	lo = d - math.Hypot(p2-l2, u1-p1)
	hi = d + math.Hypot(u2-p2, p1-l1)
	return math.Max(-1, lo), math.Min(1, hi)
}

// TwoProportion compares two independent proportions, x1 of n1 (the
// reference, e.g. baseline errors over requests) and x2 of n2 (e.g. chaos):
// diff = x2/n2 − x1/n1 with Newcombe's hybrid score interval [lo, hi] at
// [DefaultLevel] (see [NewcombeCI]), and p the two-sided p-value of the
// pooled two-proportion z-test of equal proportions:
//
//	p̄ = (x1 + x2)/(n1 + n2),  z = diff / √(p̄(1 − p̄)(1/n1 + 1/n2)),
//	p = 2·(1 − Φ(|z|)),
//
// the same as Pearson's χ² test of the 2×2 table without continuity
// correction (R's prop.test(correct = FALSE)). The z-test wants a few
// expected successes and failures in each group; with fewer, rely on the
// interval. When both proportions are 0 or both are 1 there is no evidence
// of a difference and p is 1. All four results are NaN when either n ≤ 0 or
// a count is outside [0, n].
func TwoProportion(x1, n1, x2, n2 int64) (diff, lo, hi, p float64) {
	lo, hi = NewcombeCI(x1, n1, x2, n2, DefaultLevel)
	if math.IsNaN(lo) {
		nan := math.NaN()
		return nan, nan, nan, nan
	}
	f1, f2 := float64(n1), float64(n2)
	diff = float64(x2)/f2 - float64(x1)/f1
	pool := float64(x1+x2) / (f1 + f2)
	se := math.Sqrt(pool * (1 - pool) * (1/f1 + 1/f2))
	if !(se > 0) {
		return diff, lo, hi, 1
	}
	p = math.Min(1, 2*normUpper(math.Abs(diff/se)))
	return diff, lo, hi, p
}
