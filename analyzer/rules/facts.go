package rules

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/chaoslab-dev/chaoslab"
)

// stats is what one measurement window saw.
type stats struct {
	ok               bool // the window was measured
	requests, errors int64
	// rps counts every completed request, tput only the successful ones.
	rps, tput, errRate float64
	p50, p99           float64
	cpuPeak, memPeak   float64
}

// facts is what the rules read from a result, computed once. It only reads
// the result.
type facts struct {
	r                 *chaoslab.Result
	base, chaos, recv stats
}

func newFacts(r *chaoslab.Result) *facts {
	return &facts{
		r:     r,
		base:  windowStats(r, chaoslab.WindowBaseline),
		chaos: windowStats(r, chaoslab.WindowChaos),
		recv:  windowStats(r, chaoslab.WindowRecovery),
	}
}

// windowStats returns the named window's stats from r.Windows or, when the
// Runner did not summarise it, approximated from the series: throughput is
// the mean, p50 the request-weighted mean and p99 the worst interval.
func windowStats(r *chaoslab.Result, name string) stats {
	if w, ok := r.Window(name); ok {
		return stats{ok: true, requests: w.Requests, errors: w.Errors, rps: w.RPS, tput: w.RPS * (1 - w.ErrRate),
			errRate: w.ErrRate, p50: w.Latency.P50, p99: w.Latency.P99, cpuPeak: w.CPUPeak, memPeak: w.MemoryMax}
	}
	var s stats
	n := 0
	var p50w float64
	for _, p := range r.Series {
		if p.Window != name {
			continue
		}
		n++
		s.requests += p.Requests
		s.errors += p.Errors
		s.rps += p.RPS
		p50w += p.Latency.P50 * float64(p.Requests)
		s.p99 = math.Max(s.p99, p.Latency.P99)
		s.cpuPeak = math.Max(s.cpuPeak, p.CPUPercent)
		s.memPeak = math.Max(s.memPeak, p.MemoryMB)
	}
	if n == 0 {
		return s
	}
	s.ok = true
	s.rps /= float64(n)
	s.tput = s.rps
	if s.requests > 0 {
		s.errRate = float64(s.errors) / float64(s.requests)
		s.p50 = p50w / float64(s.requests)
		s.tput = s.rps * (1 - s.errRate)
	}
	return s
}

// failedIn returns the checks of the window that did not hold.
func (f *facts) failedIn(window string) []chaoslab.Check {
	var out []chaoslab.Check
	for _, c := range f.r.Hypothesis {
		if !c.OK && c.Window == window {
			out = append(out, c)
		}
	}
	return out
}

// failedMetric reports whether a check of the metric failed in the window.
func (f *facts) failedMetric(window, metric string) (chaoslab.Check, bool) {
	for _, c := range f.failedIn(window) {
		if c.Metric == metric {
			return c, true
		}
	}
	return chaoslab.Check{}, false
}

// check returns the first check of the metric in any window, for its limit.
func (f *facts) check(metric string) (chaoslab.Check, bool) {
	for _, c := range f.r.Hypothesis {
		if c.Metric == metric {
			return c, true
		}
	}
	return chaoslab.Check{}, false
}

// injected reports whether any fault was injected.
func (f *facts) injected() bool {
	for _, fr := range f.r.Faults {
		if fr.InjectedAt != nil {
			return true
		}
	}
	return false
}

// recoveryMeasured reports whether the run got to measuring recovery: an
// aborted run (a stop condition or a cancel) does not.
func (f *facts) recoveryMeasured() bool {
	if f.r.Abort != nil || f.r.Status == chaoslab.StatusAborted {
		return false
	}
	if f.r.Status == chaoslab.StatusCompleted {
		return true
	}
	for _, p := range f.r.Phases {
		if p.Name == chaoslab.PhaseRecovering {
			return true
		}
	}
	return false
}

// recoverySeconds is the recovery time, or 0 when there is none.
func (f *facts) recoverySeconds() float64 {
	if s := f.r.Recovery.Seconds; s != nil {
		return *s
	}
	return 0
}

// scenarios returns the scenarios of the faults that were injected, each
// once, in order; when none was injected, it returns nil.
func (f *facts) scenarios() []string {
	var out []string
	for _, fr := range f.r.Faults {
		if fr.InjectedAt != nil && !slices.Contains(out, fr.Scenario) {
			out = append(out, fr.Scenario)
		}
	}
	return out
}

// params returns the parameters of the first injected fault of the
// scenario.
func (f *facts) params(scenario string) chaoslab.Params {
	for _, fr := range f.r.Faults {
		if fr.Scenario == scenario && fr.InjectedAt != nil {
			return fr.Params
		}
	}
	return nil
}

// hostCPUPeak is the machine's peak CPU use.
func (f *facts) hostCPUPeak() float64 {
	var m float64
	for _, p := range f.r.Series {
		m = math.Max(m, p.HostCPUPercent)
	}
	return m
}

// describeFault says which fault it was: "network_delay (latency=200ms,
// link=db)".
func describeFault(fr chaoslab.FaultRecord) string {
	if len(fr.Params) == 0 {
		return fr.Scenario
	}
	keys := slices.Sorted(maps.Keys(fr.Params))
	kv := make([]string, len(keys))
	for i, k := range keys {
		kv[i] = k + "=" + fr.Params[k]
	}
	return fmt.Sprintf("%s (%s)", fr.Scenario, strings.Join(kv, ", "))
}

// metricName names a hypothesis metric in words.
func metricName(metric string) string {
	switch metric {
	case chaoslab.MetricP50:
		return "p50 latency"
	case chaoslab.MetricP99:
		return "p99 latency"
	case chaoslab.MetricErrorRate:
		return "the error rate"
	case chaoslab.MetricThroughput:
		return "throughput"
	}
	if name, ok := strings.CutPrefix(metric, "probe:"); ok {
		return "probe " + name
	}
	return metric
}

// value formats a value of the metric with its unit.
func value(metric string, v float64) string {
	switch metric {
	case chaoslab.MetricP50, chaoslab.MetricP99:
		return ms(v)
	case chaoslab.MetricErrorRate:
		return pct(v)
	case chaoslab.MetricThroughput:
		return rps(v)
	}
	return num(v)
}

// windowName names a window in words.
func windowName(w string) string {
	switch w {
	case chaoslab.WindowBaseline:
		return "before any fault"
	case chaoslab.WindowChaos:
		return "under the faults"
	case chaoslab.WindowRecovery:
		return "after the revert"
	case "":
		return "overall"
	}
	return "in the " + w + " window"
}

// describeCheck says what a failed check saw: "p99 latency was 216 ms under
// the faults, above its 100 ms limit".
func describeCheck(c chaoslab.Check) string {
	if strings.HasPrefix(c.Metric, "probe:") {
		s := fmt.Sprintf("%s failed %s", metricName(c.Metric), windowName(c.Window))
		if c.Detail != "" {
			s += " (" + c.Detail + ")"
		}
		return s
	}
	dir := "above"
	if c.Metric == chaoslab.MetricThroughput {
		dir = "below"
	}
	return fmt.Sprintf("%s was %s %s, %s its %s limit", metricName(c.Metric), value(c.Metric, c.Observed),
		windowName(c.Window), dir, value(c.Metric, c.Limit))
}

// ms formats milliseconds.
func ms(v float64) string {
	if math.Abs(v) < 10 {
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// pct formats a fraction as a percentage.
func pct(v float64) string {
	p := v * 100
	switch {
	case p == 0:
		return "0 %"
	case p < 0.1:
		return fmt.Sprintf("%.2f %%", p)
	case p < 10:
		return fmt.Sprintf("%.1f %%", p)
	}
	return fmt.Sprintf("%.0f %%", p)
}

// rps formats a throughput.
func rps(v float64) string { return fmt.Sprintf("%.1f req/s", v) }

// secs formats seconds.
func secs(v float64) string { return fmt.Sprintf("%.1f s", v) }

// mb formats megabytes.
func mb(v float64) string { return fmt.Sprintf("%.0f MB", v) }

// num formats a number without needless digits.
func num(v float64) string { return fmt.Sprintf("%.4g", v) }
