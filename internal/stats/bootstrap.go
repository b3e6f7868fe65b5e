package stats

import (
	"math"
	"math/rand/v2"
)

// DefaultIterations is the number of bootstrap resamples used when a
// function is given fewer than one. 2000 keeps the Monte Carlo error of a
// 95 % percentile bound to about 1 % of the interval's width.
const DefaultIterations = 2000

// pcgStream is the second PCG seed word; with it fixed, a result depends on
// the caller's seed alone.
const pcgStream = 0x9e3779b97f4a7c15

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, pcgStream)) }

// Bootstrap returns stat of the finite values of xs and an expanded
// percentile bootstrap confidence interval for it at the given level: xs is
// resampled with replacement iterations times, and lo and hi are the α'/2
// and 1 − α'/2 quantiles ([Quantile]) of the resampled statistics, where α'
// widens α = 1 − level for the sample size n (Hesterberg 2015):
//
//	α'/2 = Φ(−√(n/(n−1)) · t(1 − α/2, n−1))
//
// The plain percentile interval (α' = α) is too narrow for the 5–60
// intervals of a phase: at 95 % it covers about 85 % of means of 5 normal
// values; expanded, 92–97 % in this package's simulations of means and
// medians of 5 to 30 values.
//
// Assumptions: the values are independent draws from one distribution (for
// per-interval series this ignores autocorrelation between neighbouring
// intervals and any trend within the phase). With one value there is no
// interval: lo and hi are NaN.
//
// stat receives a scratch slice it may reorder; a nil stat means [Median].
// iterations < 1 means [DefaultIterations]. The result is a pure function of
// the arguments: resampling uses a PCG generator seeded with seed. All NaN
// when xs has no finite value or the level is outside (0, 1).
func Bootstrap(xs []float64, stat func([]float64) float64, level float64, iterations int, seed uint64) (est, lo, hi float64) {
	xs = finite(xs)
	if len(xs) == 0 || !validLevel(level) {
		return math.NaN(), math.NaN(), math.NaN()
	}
	if stat == nil {
		stat = Median
	}
	if iterations < 1 {
		iterations = DefaultIterations
	}
	scratch := make([]float64, len(xs))
	copy(scratch, xs)
	est = stat(scratch)
	if len(xs) < 2 {
		return est, math.NaN(), math.NaN()
	}
	r := newRand(seed)
	reps := make([]float64, iterations)
	for it := range reps {
		resample(r, xs, scratch)
		reps[it] = stat(scratch)
	}
	lo, hi = percentiles(reps, expandedAlpha(level, len(xs)))
	return est, lo, hi
}

// BootstrapDiff returns stat(b) − stat(a) over the finite values and a
// percentile bootstrap confidence interval for it at the given level: a and
// b are resampled independently, with replacement, iterations times, and lo
// and hi are quantiles of the resampled differences, expanded for small
// samples as in [Bootstrap] with n = min(len(a), len(b)) (conservative:
// for 5 against 20 normal values it covers about 97 % at 95 %, where the
// plain percentile interval covers 85–91 %; for 30 against 40, 94 %).
//
// It suits any statistic (median, mean, a quantile) and makes no shift
// assumption, unlike [ShiftCI]; it assumes independent values within and
// between samples. With one value in a or b there is no interval: lo and hi
// are NaN.
//
// stat receives a scratch slice it may reorder; a nil stat means [Median].
// iterations < 1 means [DefaultIterations]. Deterministic for a given seed.
// All NaN when a or b has no finite value or the level is outside (0, 1).
func BootstrapDiff(a, b []float64, stat func([]float64) float64, level float64, iterations int, seed uint64) (est, lo, hi float64) {
	a, b = finite(a), finite(b)
	if len(a) == 0 || len(b) == 0 || !validLevel(level) {
		return math.NaN(), math.NaN(), math.NaN()
	}
	if stat == nil {
		stat = Median
	}
	if iterations < 1 {
		iterations = DefaultIterations
	}
	sa, sb := make([]float64, len(a)), make([]float64, len(b))
	copy(sa, a)
	copy(sb, b)
	est = stat(sb) - stat(sa)
	if len(a) < 2 || len(b) < 2 {
		return est, math.NaN(), math.NaN()
	}
	r := newRand(seed)
	reps := make([]float64, iterations)
	for it := range reps {
		resample(r, a, sa)
		resample(r, b, sb)
		reps[it] = stat(sb) - stat(sa)
	}
	lo, hi = percentiles(reps, expandedAlpha(level, min(len(a), len(b))))
	return est, lo, hi
}

// resample fills dst with len(dst) draws with replacement from src.
func resample(r *rand.Rand, src, dst []float64) {
	for i := range dst {
		dst[i] = src[r.IntN(len(src))]
	}
}

// percentiles returns the α/2 and 1 − α/2 quantiles of reps.
func percentiles(reps []float64, alpha float64) (lo, hi float64) {
	s := sortedFinite(reps)
	return quantileSorted(s, alpha/2), quantileSorted(s, 1-alpha/2)
}
