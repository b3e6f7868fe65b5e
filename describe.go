package chaoslab

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// This file puts results into words, so that every analyzer and dashboard
// describes a check, a metric and a window the same way.

// probePrefix starts the metric name of a probe check: "probe:<name>".
const probePrefix = "probe:"

// MetricLabel names a hypothesis metric in words: "p50 latency", "p99
// latency", "the error rate", "successful throughput" or, for a probe
// check, "probe <name>". An unknown metric is returned as it is.
func MetricLabel(metric string) string {
	switch metric {
	case MetricP50:
		return "p50 latency"
	case MetricP99:
		return "p99 latency"
	case MetricErrorRate:
		return "the error rate"
	case MetricThroughput:
		return "successful throughput"
	}
	if name, ok := strings.CutPrefix(metric, probePrefix); ok {
		return "probe " + name
	}
	return metric
}

// WindowLabel says when a measurement window was, as a phrase that follows
// a verb ("p99 latency was 12 ms before any fault"): "before any fault",
// "while the faults were active", "after the faults were reverted". The
// empty window is "overall" and any other "in the <name> window".
func WindowLabel(window string) string {
	switch window {
	case WindowBaseline:
		return "before any fault"
	case WindowChaos:
		return "while the faults were active"
	case WindowRecovery:
		return "after the faults were reverted"
	case "":
		return "overall"
	}
	return "in the " + window + " window"
}

// FormatMetric formats a value of a hypothesis metric with its unit, with
// as many digits as its size needs: latencies in milliseconds ("0.35 ms",
// "4.8 ms", "216 ms"), the error rate, a fraction, as a percentage ("0.05
// %", "0.2 %", "10 %"), throughput in requests per second ("49.9 req/s");
// anything else as a plain number with four significant digits.
func FormatMetric(metric string, v float64) string {
	switch metric {
	case MetricP50, MetricP99:
		return describeNumber(v, 1, 10) + " ms"
	case MetricErrorRate:
		return describeNumber(v*100, 0.1, 10) + " %"
	case MetricThroughput:
		return describeNumber(v, 1, 1000) + " req/s"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// describeNumber formats v with two decimals below small, one below large
// and none from large on, without trailing zeros.
func describeNumber(v, small, large float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	dec := 0
	switch a := math.Abs(v); {
	case a < small:
		dec = 2
	case a < large:
		dec = 1
	}
	s := strconv.FormatFloat(v, 'f', dec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// Describe says in words what the check saw, for people: "p99 latency was
// 216 ms while the faults were active, above its 100 ms limit", "the error
// rate was 0.2 % before any fault, within its 1 % limit", "probe orders
// failed in 2 intervals while the faults were active (connection
// refused)". A latency or error-rate check that failed without exceeding
// its limit had no request to measure, and says so.
func (c Check) Describe() string {
	when := WindowLabel(c.Window)
	if strings.HasPrefix(c.Metric, probePrefix) {
		var s string
		switch n := int64(math.Round(c.Observed)); {
		case c.OK:
			s = fmt.Sprintf("%s passed %s", MetricLabel(c.Metric), when)
		case n == 1:
			s = fmt.Sprintf("%s failed in 1 interval %s", MetricLabel(c.Metric), when)
		case n > 1:
			s = fmt.Sprintf("%s failed in %d intervals %s", MetricLabel(c.Metric), n, when)
		default:
			s = fmt.Sprintf("%s failed %s", MetricLabel(c.Metric), when)
		}
		if c.Detail != "" {
			s += " (" + c.Detail + ")"
		}
		return s
	}
	limit := FormatMetric(c.Metric, c.Limit)
	switch c.Metric {
	case MetricP50, MetricP99, MetricErrorRate:
		if !c.OK && c.Observed <= c.Limit {
			return fmt.Sprintf("%s could not be measured %s: no request completed (limit %s)", MetricLabel(c.Metric), when, limit)
		}
	}
	rel := "within its"
	if !c.OK {
		rel = "above its"
		if c.Metric == MetricThroughput {
			rel = "below its"
		}
	}
	return fmt.Sprintf("%s was %s %s, %s %s limit", MetricLabel(c.Metric), FormatMetric(c.Metric, c.Observed), when, rel, limit)
}

// RecoveryMeasured reports whether the run measured recovery: a fault was
// injected and the run got to the recovering phase (or completed) without
// being aborted or cancelled. When it did and Recovery.Recovered is false,
// the target did not recover; when it did not, nothing is known of
// recovery.
func (r *Result) RecoveryMeasured() bool {
	injected := false
	for _, f := range r.Faults {
		injected = injected || f.InjectedAt != nil
	}
	if !injected || r.Abort != nil || r.Status == StatusAborted {
		return false
	}
	if r.Status == StatusCompleted {
		return true
	}
	for _, p := range r.Phases {
		if p.Name == PhaseRecovering {
			return true
		}
	}
	return false
}
