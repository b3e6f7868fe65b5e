package stats

import (
	"fmt"
	"math"
)

// Outcome is the verdict on one tolerance in one phase. The zero value is
// Inconclusive: a tolerance is neither held nor broken until data says so.
type Outcome int

// The outcomes of a tolerance.
const (
	// Inconclusive: the data cannot tell (its interval straddles the limit,
	// too few samples, or a baseline that cannot be trusted).
	Inconclusive Outcome = iota
	// Pass: the whole confidence interval is within the limit.
	Pass
	// Fail: the whole confidence interval is beyond the limit.
	Fail
)

// String returns "inconclusive", "pass" or "fail".
func (o Outcome) String() string {
	switch o {
	case Inconclusive:
		return "inconclusive"
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// MarshalText encodes o as its String.
func (o Outcome) MarshalText() ([]byte, error) {
	switch o {
	case Inconclusive, Pass, Fail:
		return []byte(o.String()), nil
	}
	return nil, fmt.Errorf("stats: invalid outcome %d", int(o))
}

// UnmarshalText decodes the String of an Outcome.
func (o *Outcome) UnmarshalText(b []byte) error {
	switch string(b) {
	case "inconclusive":
		*o = Inconclusive
	case "pass":
		*o = Pass
	case "fail":
		*o = Fail
	default:
		return fmt.Errorf("stats: unknown outcome %q", b)
	}
	return nil
}

// Decide judges a tolerance from an estimate est of a metric in one phase,
// its confidence interval [lo, hi] and the limit. With higherIsWorse (a
// ceiling such as "p99 ≤ 100 ms" or "error rate ≤ 1 %"):
//
//	Pass if hi ≤ limit, Fail if lo > limit, Inconclusive otherwise;
//
// without it (a floor such as "throughput ≥ 50 req/s"):
//
//	Pass if lo ≥ limit, Fail if hi < limit, Inconclusive otherwise.
//
// A limit on the boundary counts as held, like the tolerance it states. The
// confidence of the verdict is the level of the interval: with a 95 %
// two-sided interval, a Pass or a Fail is wrong at most 2.5 % of the time
// when the interval has its nominal coverage. Any NaN among the arguments
// (no estimate, no interval) gives Inconclusive; est takes no other part.
// Check [EnoughSamples] first: an interval from too few samples can be
// narrower than it should.
func Decide(est, lo, hi, limit float64, higherIsWorse bool) Outcome {
	if math.IsNaN(est) || math.IsNaN(lo) || math.IsNaN(hi) || math.IsNaN(limit) {
		return Inconclusive
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	if higherIsWorse {
		switch {
		case hi <= limit:
			return Pass
		case lo > limit:
			return Fail
		}
		return Inconclusive
	}
	switch {
	case lo >= limit:
		return Pass
	case hi < limit:
		return Fail
	}
	return Inconclusive
}

// Minimum sample sizes for a phase's verdict to be anything but
// Inconclusive.
const (
	// MinIntervals is the fewest measurement intervals in a phase. Below 4
	// values per sample no two-sided Mann–Whitney test reaches p < 0.05
	// (4 against 4 bottoms out at 2/70 ≈ 0.029, 3 against 3 at 0.1), and the
	// 95 % [ShiftCI] needs 5 against 5 to be a proper interval rather than
	// the range of the differences; 5 is also the least for a bootstrap
	// interval to mean anything.
	MinIntervals = 5
	// MinRequests is the fewest requests in a phase for a rate (errors per
	// request) to be judged: the usual floor for a normal approximation of
	// a proportion. It is a floor only: the [Wilson] interval decides the
	// rest. With no errors at all it stays above a 1 % limit until about
	// 380 requests, so a short phase at low load is rightly Inconclusive
	// against a tight error budget.
	MinRequests = 30
)

// EnoughIntervals reports whether a phase with n measurement intervals has
// enough of them to be judged (n ≥ [MinIntervals]).
func EnoughIntervals(n int) bool { return n >= MinIntervals }

// EnoughRequests reports whether a phase with n requests has enough of them
// to judge a rate (n ≥ [MinRequests]).
func EnoughRequests(n int64) bool { return n >= MinRequests }

// EnoughSamples reports whether a phase with the given number of intervals
// and requests can be judged on a request metric (latency, error rate,
// throughput): both [EnoughIntervals] and [EnoughRequests]. For metrics
// sampled without requests (CPU, memory) use EnoughIntervals.
func EnoughSamples(intervals int, requests int64) bool {
	return EnoughIntervals(intervals) && EnoughRequests(requests)
}

// NoiseThreshold is the robust coefficient of variation above which
// [Noisy] calls a baseline noisy. At 0.3 the middle half of the intervals
// already spreads about ±20 % around the median (for normal data the
// interquartile range is 1.35 σ); tolerances are usually set with 20–50 %
// headroom over the steady state, so a baseline that wobbles that much can
// cross a limit on its own, and with 5–20 intervals the uncertainty of its
// median is of the same order as the effects worth reporting.
const NoiseThreshold = 0.3

// Noisy reports whether a baseline series (one value per interval) is too
// variable for a change in a later phase to be blamed on the fault, and the
// robust coefficient of variation it judged by:
//
//	cv = 1.4826 · MAD / |median|
//
// (MAD, the median absolute deviation, times 1.4826 estimates the standard
// deviation of normal data). Unlike the classic σ/μ it is not moved by one
// outlying interval such as a garbage-collection pause. noisy is
// cv > [NoiseThreshold]. A series whose median is 0 has cv 0 when its MAD
// is 0 too, +Inf otherwise.
//
// Use it on ratio-scale series whose level is stable in a healthy system:
// throughput, p50 latency, CPU, memory. Per-interval tail quantiles from a
// few dozen requests and error rates near 0 are noisy by nature; judge those
// with [Decide] on the baseline instead. With fewer than 3 finite values it
// cannot tell and returns (false, NaN): check [EnoughIntervals].
func Noisy(baseline []float64) (noisy bool, cv float64) {
	s := sortedFinite(baseline)
	if len(s) < 3 {
		return false, math.NaN()
	}
	med := math.Abs(quantileSorted(s, 0.5))
	mad := MAD(s)
	switch {
	case mad == 0:
		cv = 0
	case med == 0:
		cv = math.Inf(1)
	default:
		cv = 1.4826 * mad / med
	}
	return cv > NoiseThreshold, cv
}

// Cause says why [Attribute] changed an outcome.
type Cause int

// The causes [Attribute] reports.
const (
	// CauseNone: the outcome stands as decided.
	CauseNone Cause = iota
	// CauseFailingBaseline: the tolerance already failed in the baseline.
	CauseFailingBaseline
	// CauseNoisyBaseline: the baseline was too noisy to attribute a
	// failure to the fault.
	CauseNoisyBaseline
)

// String returns "", "failing baseline" or "noisy baseline".
func (c Cause) String() string {
	switch c {
	case CauseNone:
		return ""
	case CauseFailingBaseline:
		return "failing baseline"
	case CauseNoisyBaseline:
		return "noisy baseline"
	}
	return fmt.Sprintf("Cause(%d)", int(c))
}

// Attribute keeps a failure that the baseline explains from being blamed on
// the fault. Given the tolerance's outcome in the baseline, whether the
// baseline was [Noisy], and its outcome in a later phase (chaos or
// recovery):
//
//   - a Fail in the phase when the baseline failed too becomes Inconclusive
//     with CauseFailingBaseline: the system broke the tolerance before any
//     fault;
//   - otherwise a Fail in the phase when the baseline was noisy becomes
//     Inconclusive with CauseNoisyBaseline;
//   - anything else stands, with CauseNone. A Pass is never downgraded (the
//     tolerance held under the fault whatever the baseline did), and an
//     Inconclusive baseline is no evidence against the fault.
func Attribute(baseline Outcome, baselineNoisy bool, phase Outcome) (Outcome, Cause) {
	if phase != Fail {
		return phase, CauseNone
	}
	switch {
	case baseline == Fail:
		return Inconclusive, CauseFailingBaseline
	case baselineNoisy:
		return Inconclusive, CauseNoisyBaseline
	}
	return Fail, CauseNone
}
