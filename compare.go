package chaoslab

import (
	"math"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/chaoslab-dev/chaoslab/internal/stats"
)

// Comparison is one metric of one phase (chaos or recovery) compared with
// the baseline: the effect (phase minus baseline) with its confidence
// interval and, for a metric the hypothesis sets a tolerance on, the
// verdict on that tolerance in the phase.
type Comparison struct {
	// Metric is latency_p50_ms, latency_p99_ms, error_rate,
	// throughput_rps, cpu_percent or memory_mb.
	Metric string `json:"metric"`
	// Phase is the window compared with the baseline: chaos or recovery.
	Phase    string  `json:"phase"`
	Baseline float64 `json:"baseline"`
	Observed float64 `json:"observed"`
	// Effect is Observed minus Baseline, estimated from the intervals'
	// data; Interval is its 95 % confidence interval.
	Effect   float64    `json:"effect"`
	Interval [2]float64 `json:"interval"`
	// PValue is the two-sided p-value of "no difference" (Mann-Whitney U
	// on the intervals' values, or a two-proportion test for the error
	// rate).
	PValue float64 `json:"p_value"`
	// Limit is the tolerance, when the hypothesis sets one.
	Limit *float64 `json:"limit,omitempty"`
	// Verdict is pass or fail when the data tells (the whole confidence
	// interval of the phase's value is within or beyond Limit), else
	// inconclusive; empty without a tolerance.
	Verdict string `json:"verdict,omitempty"`
	// Note says why a verdict is inconclusive (too few samples, a noisy
	// or failing baseline).
	Note string `json:"note,omitempty"`
}

// compareLevel is the confidence level of every interval.
const compareLevel = stats.DefaultLevel

// compare compares each metric of the chaos and recovery windows with the
// baseline and condenses the tolerance verdicts and the recovery into a
// score from 0 to 100 (see internal/stats.Score).
func compare(byWindow map[string][]*interval, h Hypothesis, loadOn bool, rec Recovery, seed int64) ([]Comparison, *float64) {
	base := byWindow[WindowBaseline]
	if len(base) == 0 {
		return []Comparison{}, nil
	}
	s := uint64(seed)
	var in stats.ScoreInput
	var out []Comparison
	baseP50 := perInterval(base, func(iv *interval) float64 { return usMS(float64(iv.hist.ValueAtQuantile(50))) })
	noisy, _ := stats.Noisy(baseP50)
	for _, phase := range []string{WindowChaos, WindowRecovery} {
		ivs := byWindow[phase]
		if len(ivs) == 0 {
			continue
		}
		var outcomes []stats.Outcome
		add := func(c Comparison, o stats.Outcome, baseOutcome stats.Outcome, hasLimit bool) {
			if hasLimit {
				if !stats.EnoughIntervals(len(ivs)) || !stats.EnoughIntervals(len(base)) {
					o, c.Note = stats.Inconclusive, "too few intervals to tell"
				} else {
					var cause stats.Cause
					o, cause = stats.Attribute(baseOutcome, noisy, o)
					if cause != stats.CauseNone {
						c.Note = cause.String()
					}
				}
				c.Verdict = o.String()
				outcomes = append(outcomes, o)
			}
			out = append(out, c)
		}
		if loadOn {
			bh, ph := hists(base), hists(ivs)
			for _, q := range []struct {
				metric string
				q      float64
				limit  float64
			}{{MetricP50, 50, h.MaxP50.Seconds() * 1000}, {MetricP99, 99, h.MaxP99.Seconds() * 1000}} {
				if len(bh) == 0 || len(ph) == 0 {
					continue
				}
				est, lo, hi := stats.HistQuantileDiff(bh, ph, q.q/100, compareLevel, 0, s)
				_, p := stats.MannWhitney(stats.IntervalQuantiles(bh, q.q/100), stats.IntervalQuantiles(ph, q.q/100))
				b, blo, bhi := stats.HistQuantileCI(bh, q.q/100, compareLevel, 0, s)
				v, vlo, vhi := stats.HistQuantileCI(ph, q.q/100, compareLevel, 0, s)
				c := Comparison{Metric: q.metric, Phase: phase, Baseline: usMS(b), Observed: usMS(v),
					Effect: usMS(est), Interval: [2]float64{usMS(lo), usMS(hi)}, PValue: p}
				var o, bo stats.Outcome
				if q.limit > 0 {
					c.Limit = &q.limit
					o = stats.Decide(usMS(v), usMS(vlo), usMS(vhi), q.limit, true)
					bo = stats.Decide(usMS(b), usMS(blo), usMS(bhi), q.limit, true)
				}
				add(c, o, bo, q.limit > 0)
			}
			bx, bn := counts(base)
			px, pn := counts(ivs)
			if bn > 0 && pn > 0 {
				diff, lo, hi, p := stats.TwoProportion(bx, bn, px, pn)
				c := Comparison{Metric: MetricErrorRate, Phase: phase, Baseline: float64(bx) / float64(bn),
					Observed: float64(px) / float64(pn), Effect: diff, Interval: [2]float64{lo, hi}, PValue: p}
				limit := h.MaxErrorRate
				var o, bo stats.Outcome
				if limit > 0 {
					c.Limit = &limit
					plo, phi := stats.Wilson(px, pn, compareLevel)
					o = stats.Decide(c.Observed, plo, phi, limit, true)
					blo, bhi := stats.Wilson(bx, bn, compareLevel)
					bo = stats.Decide(c.Baseline, blo, bhi, limit, true)
					if !stats.EnoughRequests(pn) {
						o = stats.Inconclusive
					}
				}
				add(c, o, bo, limit > 0)
			}
			rps := func(iv *interval) float64 { return float64(iv.requests) / iv.duration().Seconds() }
			c, o, bo := sampled(MetricThroughput, phase, base, ivs, rps, h.MinThroughput, false, s)
			add(c, o, bo, h.MinThroughput > 0)
		}
		for _, m := range []struct {
			name string
			f    func(*interval) float64
		}{
			{"cpu_percent", func(iv *interval) float64 { return iv.sample.CPUPercent }},
			{"memory_mb", func(iv *interval) float64 { return float64(iv.sample.MemoryBytes) / (1 << 20) }},
		} {
			if stats.Mean(perInterval(base, m.f)) == 0 && stats.Mean(perInterval(ivs, m.f)) == 0 {
				continue // not measured
			}
			c, _, _ := sampled(m.name, phase, base, ivs, m.f, 0, true, s)
			out = append(out, c)
		}
		for _, o := range outcomes {
			pass, fail, inc := &in.ChaosPass, &in.ChaosFail, &in.ChaosInconclusive
			if phase == WindowRecovery {
				pass, fail, inc = &in.RecoveryPass, &in.RecoveryFail, &in.RecoveryInconclusive
			}
			switch o {
			case stats.Pass:
				*pass++
			case stats.Fail:
				*fail++
			default:
				*inc++
			}
		}
	}
	in.Recovered = rec.Recovered
	in.RecoverySeconds = math.NaN()
	if rec.Seconds != nil {
		in.RecoverySeconds = *rec.Seconds
	}
	in.BudgetSeconds = rec.StableWindow
	score := round(stats.Score(in), 1)
	if out == nil {
		out = []Comparison{}
	}
	return out, &score
}

// sampled compares a metric measured once per interval: the effect on its
// mean by bootstrap, with a Mann-Whitney p-value; a limit above 0 is a
// floor (higherIsWorse false) or a ceiling.
func sampled(metric, phase string, base, ivs []*interval, f func(*interval) float64, limit float64, higherIsWorse bool, seed uint64) (Comparison, stats.Outcome, stats.Outcome) {
	a, b := perInterval(base, f), perInterval(ivs, f)
	est, lo, hi := stats.BootstrapDiff(a, b, stats.Mean, compareLevel, 0, seed)
	_, p := stats.MannWhitney(a, b)
	c := Comparison{Metric: metric, Phase: phase, Baseline: round(stats.Mean(a), 3), Observed: round(stats.Mean(b), 3),
		Effect: round(est, 3), Interval: [2]float64{round(lo, 3), round(hi, 3)}, PValue: p}
	var o, bo stats.Outcome
	if limit > 0 {
		c.Limit = &limit
		v, vlo, vhi := stats.Bootstrap(b, stats.Mean, compareLevel, 0, seed)
		o = stats.Decide(v, vlo, vhi, limit, higherIsWorse)
		bv, blo, bhi := stats.Bootstrap(a, stats.Mean, compareLevel, 0, seed)
		bo = stats.Decide(bv, blo, bhi, limit, higherIsWorse)
	}
	return c, o, bo
}

func perInterval(ivs []*interval, f func(*interval) float64) []float64 {
	xs := make([]float64, 0, len(ivs))
	for _, iv := range ivs {
		if iv.duration() > 0 {
			xs = append(xs, f(iv))
		}
	}
	return xs
}

func hists(ivs []*interval) []*hdrhistogram.Histogram {
	var hs []*hdrhistogram.Histogram
	for _, iv := range ivs {
		if iv.hist.TotalCount() > 0 {
			hs = append(hs, iv.hist)
		}
	}
	return hs
}

func counts(ivs []*interval) (errs, reqs int64) {
	for _, iv := range ivs {
		errs += iv.errors
		reqs += iv.requests
	}
	return errs, reqs
}

// usMS turns a histogram value in microseconds into milliseconds.
func usMS(us float64) float64 { return round(us/1000, 3) }
