package chaoslab

import (
	"time"
)

// isZero reports whether no tolerance and no probe is set.
func (h Hypothesis) isZero() bool {
	return h.MaxP50 == 0 && h.MaxP99 == 0 && h.MaxErrorRate == 0 && h.MinThroughput == 0 && len(h.Probes) == 0
}

// DefaultHypothesis is used when an experiment sets no tolerance and no
// probe: at most 1 % of requests fail.
var DefaultHypothesis = Hypothesis{MaxErrorRate: 0.01}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

// checks evaluates every tolerance over one window.
func (h Hypothesis) checks(window string, w WindowStats, ivs []*interval, loadOn bool) []Check {
	var out []Check
	add := func(metric string, limit, observed float64, ok bool) {
		out = append(out, Check{Window: window, Metric: metric, Limit: limit, Observed: observed, OK: ok})
	}
	if loadOn {
		if h.MaxP50 > 0 {
			add(MetricP50, ms(h.MaxP50), w.Latency.P50, w.Requests > 0 && w.Latency.P50 <= ms(h.MaxP50))
		}
		if h.MaxP99 > 0 {
			add(MetricP99, ms(h.MaxP99), w.Latency.P99, w.Requests > 0 && w.Latency.P99 <= ms(h.MaxP99))
		}
		if h.MaxErrorRate > 0 {
			add(MetricErrorRate, h.MaxErrorRate, w.ErrRate, w.Requests > 0 && w.ErrRate <= h.MaxErrorRate)
		}
		if h.MinThroughput > 0 {
			tp := throughput(w)
			add(MetricThroughput, h.MinThroughput, tp, tp >= h.MinThroughput)
		}
	}
	for _, p := range h.Probes {
		fails := 0
		for _, iv := range ivs {
			for _, name := range iv.probeFails {
				if name == p.Name {
					fails++
				}
			}
		}
		out = append(out, Check{Window: window, Metric: "probe:" + p.Name, Limit: 0, Observed: float64(fails), OK: fails == 0})
	}
	return out
}

func throughput(w WindowStats) float64 {
	secs := w.End.Sub(w.Start).Seconds()
	if secs <= 0 {
		return 0
	}
	return round(float64(w.Requests-w.Errors)/secs, 2)
}

// holds reports whether the hypothesis holds over one interval: no probe
// failed, a fleet target had all its desired instances healthy, and with
// load on, the interval's requests kept within the tolerances.
func (h Hypothesis) holds(iv *interval, loadOn bool) bool {
	if len(iv.probeFails) > 0 {
		return false
	}
	if c := iv.sample; c.DesiredCapacity > 0 && c.HealthyCapacity < c.DesiredCapacity {
		return false // a fleet is short of healthy instances
	}
	if !loadOn {
		return true
	}
	if iv.requests == 0 {
		return false // nothing came back: the target is not answering
	}
	w := aggregate("", []*interval{iv})
	for _, c := range h.checks("", w, nil, true) {
		if !c.OK {
			return false
		}
	}
	return true
}

// recoveredAt finds the first run of intervals, starting at or after from,
// that holds for at least stable, and returns when the hypothesis began to
// hold again: just after the last bad request (failed, or slower than the
// p99 limit) of the interval before the run, or else the run's start.
func (h Hypothesis) recoveredAt(ivs []*interval, from time.Time, stable time.Duration, loadOn bool) (time.Time, bool) {
	var runStart time.Time
	var run time.Duration
	var prev *interval // the last interval that did not hold
	for _, iv := range ivs {
		if !iv.end.After(from) {
			continue
		}
		if !h.holds(iv, loadOn) {
			run, prev = 0, iv
			continue
		}
		if run == 0 {
			runStart = iv.start
			if prev != nil && prev.end.Equal(iv.start) && !prev.lastBad.IsZero() && len(prev.probeFails) == 0 {
				runStart = prev.lastBad
			}
			if runStart.Before(from) {
				runStart = from
			}
		}
		run += iv.duration()
		// Allow for timer slop: a run of three 1 s intervals is a 3 s window.
		if run >= stable-stable/20 {
			return runStart, true
		}
	}
	return time.Time{}, false
}
