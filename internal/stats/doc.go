// Package stats holds the statistics that chaoslab's verdicts rest on:
// comparisons of a metric between phases (baseline, chaos, recovery) with an
// effect size and a confidence interval, a pass/fail/inconclusive decision
// per tolerance, and a bounded resilience score.
//
// It is a leaf package: plain functions on float64 slices and counts, plus
// helpers that take per-interval HDR histograms, so that the root package can
// import it.
//
// # Which tool for which metric
//
//   - Latency: per-interval HDR histograms. [HistQuantileCI] gives a phase's
//     quantile (p50, p99) with a bootstrap interval that resamples whole
//     intervals, so the interval respects the correlation of requests within
//     an interval. To compare two phases use [HistQuantileDiff], or reduce
//     each interval to one number with [IntervalQuantiles] and use
//     [MannWhitney] with [HodgesLehmann] and [ShiftCI].
//   - Error rate: counts. [Wilson] for one phase, [TwoProportion] (Newcombe's
//     hybrid score interval and a pooled z-test) to compare two phases.
//   - Throughput, CPU, memory: one value per interval. [Bootstrap] for one
//     phase, [BootstrapDiff] or the Mann–Whitney family to compare two.
//
// Then [Decide] turns an estimate and its interval into [Pass], [Fail] or
// [Inconclusive] against a limit; [EnoughSamples] and [Noisy] say when the
// data cannot tell; [Attribute] keeps a failing or noisy baseline from being
// blamed on the fault; [Score] condenses a run into a number from 0 to 100.
//
// # Conventions
//
//   - Confidence levels are fractions in (0, 1), e.g. 0.95; [DefaultLevel] is
//     0.95. A level outside (0, 1) yields NaN results.
//   - Non-finite sample values (NaN, ±Inf) are ignored everywhere: an interval
//     without requests may report NaN latency without poisoning a phase.
//   - Where a result cannot be computed (no data, invalid counts) the result
//     is NaN. No function panics on empty or degenerate input.
//   - Two-sample effects are always "b minus a": a is the reference phase
//     (usually the baseline), b the phase under test.
//   - Everything random takes a seed and uses a PCG generator, so a result is
//     a pure function of its arguments.
//
// Rounding of reported numbers is left to the caller.
package stats
