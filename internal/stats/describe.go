package stats

import (
	"math"
	"slices"
)

// DefaultLevel is the confidence level used where a function takes none.
const DefaultLevel = 0.95

// finite returns the finite values of xs in a new slice.
func finite(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			out = append(out, x)
		}
	}
	return out
}

// sortedFinite returns the finite values of xs, sorted, in a new slice.
func sortedFinite(xs []float64) []float64 {
	out := finite(xs)
	slices.Sort(out)
	return out
}

// Mean returns the arithmetic mean of the finite values of xs, or NaN when
// there are none.
func Mean(xs []float64) float64 {
	var sum float64
	n := 0
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		sum += x
		n++
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// Median returns the median of the finite values of xs (the mean of the two
// middle values when their number is even), or NaN when there are none. It
// does not modify xs.
func Median(xs []float64) float64 { return Quantile(xs, 0.5) }

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of the finite values of xs by
// linear interpolation between order statistics, the definition R calls
// type 7 and NumPy uses by default: with the n values sorted as
// x[0] ≤ … ≤ x[n-1], h = (n−1)·q and
//
//	Q(q) = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]).
//
// It returns NaN when xs has no finite value or q is outside [0, 1]. It does
// not modify xs.
func Quantile(xs []float64, q float64) float64 {
	if !(q >= 0 && q <= 1) {
		return math.NaN()
	}
	return quantileSorted(sortedFinite(xs), q)
}

// quantileSorted is Quantile on sorted finite values.
func quantileSorted(s []float64, q float64) float64 {
	n := len(s)
	if n == 0 || !(q >= 0 && q <= 1) {
		return math.NaN()
	}
	h := float64(n-1) * q
	lo := int(math.Floor(h))
	if lo >= n-1 {
		return s[n-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

// MAD returns the median absolute deviation of the finite values of xs from
// their median, unscaled (multiply by 1.4826 to estimate the standard
// deviation of normal data), or NaN when there are none.
func MAD(xs []float64) float64 {
	s := sortedFinite(xs)
	if len(s) == 0 {
		return math.NaN()
	}
	m := quantileSorted(s, 0.5)
	dev := make([]float64, len(s))
	for i, x := range s {
		dev[i] = math.Abs(x - m)
	}
	slices.Sort(dev)
	return quantileSorted(dev, 0.5)
}

// validLevel reports whether level is a usable confidence level.
func validLevel(level float64) bool { return level > 0 && level < 1 }

// zFor returns the two-sided critical value z = Φ⁻¹(1 − (1 − level)/2).
func zFor(level float64) float64 { return normQuantile(1 - (1-level)/2) }
