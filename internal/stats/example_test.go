package stats_test

import (
	"fmt"

	"github.com/chaoslab-dev/chaoslab/internal/stats"
)

// A tolerance "error rate ≤ 1 %" judged in each phase, with the baseline
// checked before the chaos phase is blamed, and the run condensed into a
// score.
func Example() {
	const limit = 0.01
	judge := func(errors, requests int64) stats.Outcome {
		if !stats.EnoughRequests(requests) {
			return stats.Inconclusive
		}
		lo, hi := stats.Wilson(errors, requests, stats.DefaultLevel)
		return stats.Decide(float64(errors)/float64(requests), lo, hi, limit, true)
	}
	baseline := judge(0, 800)
	chaos, cause := stats.Attribute(baseline, false, judge(90, 1500))
	recovery := judge(5, 900)

	diff, lo, hi, p := stats.TwoProportion(0, 800, 90, 1500)
	fmt.Printf("baseline %v, chaos %v%v, recovery %v\n", baseline, chaos, cause, recovery)
	fmt.Printf("chaos − baseline: %+.1f %% [%+.1f, %+.1f], p = %.1g\n", 100*diff, 100*lo, 100*hi, p)

	score := stats.Score(stats.ScoreInput{
		ChaosFail: 1, RecoveryInconclusive: 1,
		Recovered: true, RecoverySeconds: 4, BudgetSeconds: 5,
	})
	fmt.Printf("score %.0f\n", score)
	// Output:
	// baseline pass, chaos fail, recovery inconclusive
	// chaos − baseline: +6.0 % [+4.8, +7.3], p = 2e-12
	// score 20
}

// Latency per interval (say p50 in ms), baseline against chaos: a shift
// estimate with its interval and the rank test.
func ExampleShiftCI() {
	baseline := []float64{10.1, 9.8, 10.4, 10.0, 9.9, 10.2, 10.3, 9.7}
	chaos := []float64{58.2, 61.0, 57.5, 60.3, 59.1, 62.4, 58.8, 60.0, 59.5, 61.7}
	u, p := stats.MannWhitney(baseline, chaos)
	shift := stats.HodgesLehmann(baseline, chaos)
	lo, hi := stats.ShiftCI(baseline, chaos, 0.95)
	noisy, cv := stats.Noisy(baseline)
	fmt.Printf("U = %v, p = %.2g\n", u, p)
	fmt.Printf("shift %.2f ms, 95 %% CI [%.2f, %.2f]\n", shift, lo, hi)
	fmt.Printf("baseline noisy: %v (cv %.3f)\n", noisy, cv)
	// Output:
	// U = 0, p = 4.6e-05
	// shift 49.70 ms, 95 % CI [48.50, 51.20]
	// baseline noisy: false (cv 0.030)
}
