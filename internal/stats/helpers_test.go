package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// near reports whether got is within tol of want (NaN matches NaN).
func near(got, want, tol float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	return math.Abs(got-want) <= tol
}

func checkNear(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if !near(got, want, tol) {
		t.Errorf("%s = %.10g, want %.10g (±%g)", name, got, want, tol)
	}
}

// normals returns n draws from N(mu, sd²).
func normals(r *rand.Rand, n int, mu, sd float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = mu + sd*r.NormFloat64()
	}
	return out
}

// coverageBounds are the generous limits for the share of 400 nominal-95 %
// intervals that cover the truth: the binomial standard error is 1.1 %, and
// the methods are approximate.
const (
	coverageTrials = 400
	coverageMin    = 0.88
	coverageMax    = 0.99
)

func checkCoverage(t *testing.T, name string, covered int) {
	t.Helper()
	share := float64(covered) / coverageTrials
	t.Logf("%s: %.1f %% of %d intervals covered the truth", name, 100*share, coverageTrials)
	if share < coverageMin || share > coverageMax {
		t.Errorf("%s: coverage %.3f outside [%.2f, %.2f]", name, share, coverageMin, coverageMax)
	}
}
