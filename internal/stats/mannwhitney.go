package stats

import (
	"math"
	"slices"
)

// ExactLimit bounds the sample sizes for which [MannWhitney] and [ShiftCI]
// use the exact null distribution of U: both samples must have fewer than
// ExactLimit values (the rule R's wilcox.test uses). Computing it costs
// about (n1·n2)²/2 additions, under 3·10⁶ at the limit.
const ExactLimit = 50

// MannWhitney runs the two-sided Mann–Whitney U test (the Wilcoxon rank-sum
// test) of the null hypothesis that a and b come from the same distribution
// against a location shift in either direction.
//
// u is the Mann–Whitney statistic of a: the number of pairs (a_i, b_j) with
// a_i > b_j, ties counting one half; equivalently R1 − n1(n1+1)/2 where R1 is
// the sum of a's mid-ranks in the pooled sample. It equals the W that R's
// wilcox.test(a, b) prints, and u/(n1·n2) estimates P(a > b) + P(a = b)/2.
//
// The p-value p is
//
//   - exact when there are no ties and both samples have fewer than
//     [ExactLimit] values: twice the smaller tail of the exact null
//     distribution of U (computed by the recurrence
//     f(m, n, k) = f(m−1, n, k−n) + f(m, n−1, k)), capped at 1;
//
//   - otherwise the normal approximation with tie and continuity
//     corrections: with N = n1 + n2 and t the sizes of the tie groups,
//
//     σ² = n1·n2/12 · (N + 1 − Σ(t³ − t)/(N(N − 1)))
//     z  = (u − n1·n2/2 − sign(u − n1·n2/2)·½) / σ
//     p  = 2·(1 − Φ(|z|)).
//
// These are the choices of R's wilcox.test with its defaults, so p matches
// it. The test assumes independent observations within and between samples.
// When every value is tied (σ = 0) there is no evidence of a shift and p is
// 1. Non-finite values are ignored; if a or b has no finite value both
// results are NaN.
func MannWhitney(a, b []float64) (u, p float64) {
	a, b = finite(a), finite(b)
	n1, n2 := len(a), len(b)
	if n1 == 0 || n2 == 0 {
		return math.NaN(), math.NaN()
	}
	r1, tieSum := rankSum(a, b)
	u = r1 - float64(n1)*float64(n1+1)/2
	mn := float64(n1) * float64(n2)
	if tieSum == 0 && n1 < ExactLimit && n2 < ExactLimit {
		return u, exactP(u, n1, n2)
	}
	N := float64(n1 + n2)
	sigma := math.Sqrt(mn / 12 * ((N + 1) - tieSum/(N*(N-1))))
	if !(sigma > 0) {
		return u, 1
	}
	z := u - mn/2
	switch {
	case z > 0:
		z -= 0.5
	case z < 0:
		z += 0.5
	}
	p = 2 * normUpper(math.Abs(z/sigma))
	return u, math.Min(p, 1)
}

// rankSum returns the sum of a's mid-ranks in the pooled sample of a and b
// (finite values) and Σ(t³ − t) over its tie groups.
func rankSum(a, b []float64) (r1, tieSum float64) {
	type obs struct {
		v     float64
		fromA bool
	}
	pool := make([]obs, 0, len(a)+len(b))
	for _, x := range a {
		pool = append(pool, obs{x, true})
	}
	for _, x := range b {
		pool = append(pool, obs{x, false})
	}
	slices.SortFunc(pool, func(x, y obs) int {
		switch {
		case x.v < y.v:
			return -1
		case x.v > y.v:
			return 1
		}
		return 0
	})
	for i := 0; i < len(pool); {
		j := i + 1
		for j < len(pool) && pool[j].v == pool[i].v {
			j++
		}
		// Positions i..j-1 (0-based) share the mid-rank of ranks i+1..j.
		mid := float64(i+1+j) / 2
		for k := i; k < j; k++ {
			if pool[k].fromA {
				r1 += mid
			}
		}
		if t := float64(j - i); t > 1 {
			tieSum += t*t*t - t
		}
		i = j
	}
	return r1, tieSum
}

// uDist returns P(U = k), k = 0..m·n, the exact null distribution of the
// Mann–Whitney statistic for samples of m and n values without ties.
//
// f(m, n, k), the number of orderings of m a's and n b's in which k pairs
// have the a above the b, satisfies f(m, n, k) = f(m−1, n, k−n) + f(m, n−1, k)
// (the largest value is either an a, above all n b's, or a b), with
// f(0, n, 0) = f(m, 0, 0) = 1. Counts are kept in float64: all terms are
// positive, so the sums lose no more than rounding.
func uDist(m, n int) []float64 {
	// f[j] holds f(i, j, ·) for the current i.
	f := make([][]float64, n+1)
	for j := range f {
		f[j] = []float64{1}
	}
	for i := 1; i <= m; i++ {
		g := make([][]float64, n+1)
		g[0] = []float64{1}
		for j := 1; j <= n; j++ {
			row := make([]float64, i*j+1)
			copy(row, g[j-1])        // the largest is a b: U unchanged
			for k, c := range f[j] { // the largest is an a: U grows by j
				row[k+j] += c
			}
			g[j] = row
		}
		f = g
	}
	counts := f[n]
	var total float64
	for _, c := range counts {
		total += c
	}
	for k := range counts {
		counts[k] /= total
	}
	return counts
}

// exactP is the two-sided exact p-value for an integral U.
func exactP(u float64, m, n int) float64 {
	d := uDist(m, n)
	k := int(math.Round(u))
	var tail float64
	if u > float64(m)*float64(n)/2 {
		for i := k; i < len(d); i++ {
			tail += d[i]
		}
	} else {
		for i := 0; i <= k; i++ {
			tail += d[i]
		}
	}
	return math.Min(2*tail, 1)
}

// HodgesLehmann returns the Hodges–Lehmann estimate of the shift from a to b:
// the median of the n1·n2 pairwise differences b_j − a_i. It is the shift
// estimate that goes with the Mann–Whitney test, robust to outliers in
// either sample. Non-finite values are ignored; it returns NaN when a or b
// has no finite value.
//
// It uses O(n1 + n2) memory: the k-th smallest difference is found by
// bisection on the float64 values, counting the differences at or below a
// candidate with two pointers over the sorted samples (at most 64 passes).
func HodgesLehmann(a, b []float64) float64 {
	sa, sb := sortedFinite(a), sortedFinite(b)
	if len(sa) == 0 || len(sb) == 0 {
		return math.NaN()
	}
	total := int64(len(sa)) * int64(len(sb))
	if total%2 == 1 {
		return kthDiff(sa, sb, total/2+1)
	}
	return (kthDiff(sa, sb, total/2) + kthDiff(sa, sb, total/2+1)) / 2
}

// ShiftCI returns a confidence interval at the given level for the shift
// from a to b estimated by [HodgesLehmann], by the order-statistic method
// that inverts the Mann–Whitney test (Hollander & Wolfe, Nonparametric
// Statistical Methods, §4.3; the method of R's wilcox.test(b, a,
// conf.int = TRUE)): with the n1·n2 differences b_j − a_i sorted as
// D(1) ≤ … ≤ D(n1·n2) and C the α/2 quantile of the null distribution of U
// (α = 1 − level; the smallest C with P(U ≤ C) ≥ α/2),
//
//	lo = D(C),  hi = D(n1·n2 + 1 − C).
//
// C comes from the exact distribution when both samples have fewer than
// [ExactLimit] values, otherwise from the normal approximation
// C = ⌈n1·n2/2 − z·σ − ½⌉ with σ² = n1·n2(n1+n2+1)/12. The interval assumes
// the two distributions differ only by a shift; its coverage is then at
// least the level for continuous data (ties make it somewhat conservative).
// When the samples are too small for the level (C = 0: e.g. 3 and 3 values
// cannot reach 95 %) C is taken as 1 and the interval is the range of the
// differences, with a lower coverage than asked; [EnoughSamples] guards
// against that. NaN when a or b has no finite value or the level is outside
// (0, 1).
func ShiftCI(a, b []float64, level float64) (lo, hi float64) {
	sa, sb := sortedFinite(a), sortedFinite(b)
	m, n := len(sa), len(sb)
	if m == 0 || n == 0 || !validLevel(level) {
		return math.NaN(), math.NaN()
	}
	alpha := 1 - level
	mn := int64(m) * int64(n)
	var c int64
	if m < ExactLimit && n < ExactLimit {
		d := uDist(m, n)
		var cum float64
		// A relative slack absorbs rounding in the cumulative sum.
		for c = 0; c < int64(len(d)); c++ {
			cum += d[c]
			if cum >= alpha/2*(1-1e-12) {
				break
			}
		}
	} else {
		sigma := math.Sqrt(float64(mn) * float64(m+n+1) / 12)
		c = int64(math.Ceil(float64(mn)/2 + normQuantile(alpha/2)*sigma - 0.5))
	}
	c = max(1, min(c, (mn+1)/2))
	return kthDiff(sa, sb, c), kthDiff(sa, sb, mn+1-c)
}

// kthDiff returns the k-th smallest (1-based, 1 ≤ k ≤ len(a)·len(b)) of the
// differences b_j − a_i of sorted finite samples.
//
// The count of differences ≤ t only changes at a difference, so the smallest
// float64 t with count(t) ≥ k is the answer. It is found by bisection over
// the float64s between the smallest and largest difference, ordered through
// orderedKey. Floating-point subtraction is monotone in each operand, which
// keeps the two-pointer count exact for the rounded differences.
func kthDiff(a, b []float64, k int64) float64 {
	lo := orderedKey(b[0] - a[len(a)-1])
	hi := orderedKey(b[len(b)-1] - a[0])
	for lo < hi {
		mid := lo + (hi-lo)/2
		if countLE(a, b, fromOrderedKey(mid)) >= k {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return fromOrderedKey(lo) + 0 // +0 turns a −0 into 0
}

// countLE counts the pairs with b_j − a_i ≤ t.
func countLE(a, b []float64, t float64) int64 {
	var count int64
	i := 0
	for _, bj := range b {
		// b_j − a_i falls as i grows and rises with j: the first i that
		// satisfies the bound only moves forward.
		for i < len(a) && bj-a[i] > t {
			i++
		}
		count += int64(len(a) - i)
	}
	return count
}

// orderedKey maps a float64 to a uint64 with the same order (for non-NaN
// values; −0 sorts just below +0).
func orderedKey(f float64) uint64 {
	b := math.Float64bits(f)
	if b>>63 == 1 {
		return ^b
	}
	return b | 1<<63
}

// fromOrderedKey inverts orderedKey.
func fromOrderedKey(k uint64) float64 {
	if k>>63 == 1 {
		return math.Float64frombits(k &^ (1 << 63))
	}
	return math.Float64frombits(^k)
}
