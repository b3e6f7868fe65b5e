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

// notRecovered reports whether the run measured recovery and the target
// did not recover.
func (f *facts) notRecovered() bool {
	return f.r.RecoveryMeasured() && !f.r.Recovery.Recovered
}

// judged reports whether any tolerance or probe was checked while the
// faults were active.
func (f *facts) judged() bool {
	for _, c := range f.r.Hypothesis {
		if c.Window == chaoslab.WindowChaos {
			return true
		}
	}
	return false
}

// noLoad reports whether no request was measured at all: load was off, so
// latency, errors and throughput say nothing and only probes can judge.
func (f *facts) noLoad() bool {
	if f.base.requests > 0 || f.chaos.requests > 0 || f.recv.requests > 0 {
		return false
	}
	for _, p := range f.r.Series {
		if p.Requests > 0 {
			return false
		}
	}
	return true
}

// Near the baseline, the chaos window's error rate rose by at most
// nearErrRate (a fraction) and its p99 latency to at most nearP99Factor
// times the baseline's plus nearP99Slack milliseconds.
const (
	nearErrRate   = 0.005
	nearP99Factor = 1.5
	nearP99Slack  = 5
)

// near reports whether requests were measured under the faults and both
// their error rate and their p99 latency stayed near the baseline's.
func (f *facts) near() bool {
	b, c := f.base, f.chaos
	if !c.ok || c.requests == 0 || !b.ok || b.requests == 0 {
		return false
	}
	return c.errRate <= b.errRate+nearErrRate && c.p99 <= b.p99*nearP99Factor+nearP99Slack
}

// hurt reports whether requests under the faults clearly fared worse than
// the baseline's: more errors, or (with a baseline) a much higher p99.
func (f *facts) hurt() bool {
	b, c := f.base, f.chaos
	if !c.ok || c.requests == 0 {
		return false
	}
	if c.errRate > b.errRate+nearErrRate {
		return true
	}
	return b.ok && b.requests > 0 && c.p99 > b.p99*nearP99Factor+nearP99Slack
}

// outcome is what the run says of the faults it injected.
type outcome int

const (
	// unjudged: no tolerance or probe covered the faults, and the
	// measurements show no clear harm.
	unjudged outcome = iota
	// broke: a tolerance broke under the faults or after them, the target
	// did not recover, a stop condition fired, or no tolerance covered the
	// faults and they clearly did harm.
	broke
	// held: the tolerances held, but latency or errors moved away from the
	// baseline, or there was no load to compare.
	held
	// absorbed: the tolerances held and the error rate and p99 latency
	// stayed near the baseline.
	absorbed
)

func (f *facts) outcome() outcome {
	r := f.r
	switch {
	case len(f.failedIn(chaoslab.WindowChaos)) > 0, len(f.failedIn(chaoslab.WindowRecovery)) > 0,
		f.notRecovered(), r.Abort != nil && r.Abort.Condition != nil:
		return broke
	case !f.judged() && f.hurt():
		return broke
	case !f.judged():
		return unjudged
	case f.near():
		return absorbed
	}
	return held
}

// change says how requests under the faults compared with the baseline:
// "p99 latency went from 12 ms to 31 ms and the error rate from 0 % to 4
// %", or that there was no load to compare.
func (f *facts) change() string {
	b, c := f.base, f.chaos
	switch {
	case f.noLoad():
		return "no load was offered, so only probes were judged"
	case !c.ok || c.requests == 0:
		return "no request completed under the faults"
	case !b.ok || b.requests == 0:
		return fmt.Sprintf("under the faults p99 latency was %s and the error rate %s, with no baseline to compare", ms(c.p99), pct(c.errRate))
	}
	lat := fmt.Sprintf("p99 latency went from %s to %s", ms(b.p99), ms(c.p99))
	if ms(b.p99) == ms(c.p99) {
		lat = "p99 latency stayed at " + ms(c.p99)
	}
	if pct(b.errRate) == pct(c.errRate) {
		return fmt.Sprintf("%s and the error rate stayed at %s", lat, pct(c.errRate))
	}
	return fmt.Sprintf("%s and the error rate from %s to %s", lat, pct(b.errRate), pct(c.errRate))
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

// ms formats milliseconds the way every chaoslab report does.
func ms(v float64) string { return chaoslab.FormatMetric(chaoslab.MetricP99, v) }

// pct formats a fraction as a percentage.
func pct(v float64) string { return chaoslab.FormatMetric(chaoslab.MetricErrorRate, v) }

// rps formats a throughput.
func rps(v float64) string { return chaoslab.FormatMetric(chaoslab.MetricThroughput, v) }

// secs formats seconds.
func secs(v float64) string { return fmt.Sprintf("%.1f s", v) }

// mb formats megabytes.
func mb(v float64) string { return fmt.Sprintf("%.0f MB", v) }
