// Package rules is chaoslab's deterministic, rule-based Analyzer, the
// default one and the fallback of the LLM analyzer. It reads a Result and
// explains it in plain words, grades it and recommends fixes specific to the
// faults that ran and to what was measured. The same Result always gets the
// same Analysis.
//
// # Severity
//
// The first rule that matches decides:
//
//   - critical: a stop condition aborted the run, or the faults were
//     reverted and the target did not recover within the recovery timeout.
//   - medium: the hypothesis already failed in the baseline, before any
//     fault: the target is not steady, and the faults cannot be blamed.
//   - high: the hypothesis failed under the faults, or no tolerance or
//     probe was checked while they were active, and the chaos window's
//     error rate reached the high error rate (default 10 %, see
//     WithHighErrorRate) or successful throughput fell below half of the
//     baseline's; or the hypothesis failed under the faults and recovery
//     took longer than the slow-recovery threshold (default 30 s, see
//     WithSlowRecovery).
//   - medium: a tolerance broke (the verdict is fail) but the target
//     recovered, or the hypothesis held but recovery was slow.
//   - low: the hypothesis held under the faults, no tolerance covered the
//     faults and they did no such harm (the summary says nothing was
//     judged), or nothing was tested (the run failed before any fault).
//
// # Wording
//
// The analysis only says the target "absorbed" a fault when tolerances
// were checked under it and the error rate and p99 latency stayed near the
// baseline's (the error rate at most half a percentage point higher, p99 at
// most 1.5 times plus 5 ms); when no tolerance covered the faults it says
// so instead. A run without load is judged by its probes alone.
package rules

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// Source is the Analysis.Source of this analyzer.
const Source = "rules"

// Defaults of the thresholds; see the Options.
const (
	DefaultHighErrorRate = 0.10
	DefaultSlowRecovery  = 30 * time.Second
)

// Analyzer is the rule-based chaoslab.Analyzer. Make it with New; it is safe
// for concurrent use.
type Analyzer struct {
	highErrorRate float64
	slowRecovery  time.Duration
}

// Option configures an Analyzer.
type Option func(*Analyzer)

// WithHighErrorRate sets the error rate (a fraction from 0 to 1) under the
// faults from which a failed hypothesis is graded high. Values outside
// (0, 1] are ignored.
func WithHighErrorRate(rate float64) Option {
	return func(a *Analyzer) {
		if rate > 0 && rate <= 1 {
			a.highErrorRate = rate
		}
	}
}

// WithSlowRecovery sets the recovery time from which recovery counts as slow.
// Values of 0 or less are ignored.
func WithSlowRecovery(d time.Duration) Option {
	return func(a *Analyzer) {
		if d > 0 {
			a.slowRecovery = d
		}
	}
}

// New returns a rule-based Analyzer.
func New(opts ...Option) *Analyzer {
	a := &Analyzer{highErrorRate: DefaultHighErrorRate, slowRecovery: DefaultSlowRecovery}
	for _, o := range opts {
		o(a)
	}
	return a
}

var _ chaoslab.Analyzer = (*Analyzer)(nil)

// Analyze explains r. It never changes r. It does no I/O and does not wait,
// so it ignores ctx and answers even when ctx is done: it is the analyzer of
// last resort. It returns an error only for a nil r; partial results (a run
// that failed before measuring anything) get an analysis that says so.
func (a *Analyzer) Analyze(_ context.Context, r *chaoslab.Result) (chaoslab.Analysis, error) {
	if r == nil {
		return chaoslab.Analysis{}, errors.New("rules: analyze: nil result")
	}
	f := newFacts(r)
	sev, why := a.grade(f)
	return chaoslab.Analysis{
		Summary:         a.summary(f, sev, why) + statistics(r),
		Metrics:         r.HeadlineMetrics(),
		Severity:        sev,
		Recommendations: a.recommend(f),
		Source:          Source,
	}, nil
}

// grade applies the severity rules of the package documentation and says why
// in a clause that completes "because ...".
func (a *Analyzer) grade(f *facts) (chaoslab.Severity, string) {
	r := f.r
	switch {
	case r.Abort != nil && r.Abort.Condition != nil:
		return chaoslab.SeverityCritical, "a stop condition aborted the run"
	case f.notRecovered():
		return chaoslab.SeverityCritical, "the target did not recover after the faults were reverted"
	case len(f.failedIn(chaoslab.WindowBaseline)) > 0:
		return chaoslab.SeverityMedium, "the target was not steady before any fault"
	}
	underFault := len(f.failedIn(chaoslab.WindowChaos))+len(f.failedIn(chaoslab.WindowRecovery)) > 0 ||
		r.Verdict == chaoslab.VerdictFail
	uncovered := f.injected() && !f.judged()
	if (underFault || uncovered) && f.chaos.ok && f.chaos.requests > 0 {
		lead := ""
		if !underFault {
			lead = "no tolerance covered the faults, and "
		}
		if f.chaos.errRate >= a.highErrorRate {
			return chaoslab.SeverityHigh, fmt.Sprintf("%s%s of requests failed under the faults", lead, pct(f.chaos.errRate))
		}
		if f.base.ok && f.base.tput > 0 && f.chaos.tput < f.base.tput/2 {
			return chaoslab.SeverityHigh, fmt.Sprintf("%ssuccessful throughput fell from %s to %s under the faults", lead, rps(f.base.tput), rps(f.chaos.tput))
		}
	}
	slow := f.recoverySeconds() > a.slowRecovery.Seconds()
	switch {
	case underFault && slow:
		return chaoslab.SeverityHigh, fmt.Sprintf("tolerances broke and recovery took %s", secs(f.recoverySeconds()))
	case underFault:
		if r.Recovery.Recovered {
			return chaoslab.SeverityMedium, "tolerances broke under the faults, but the target recovered"
		}
		return chaoslab.SeverityMedium, "tolerances broke under the faults"
	case slow:
		return chaoslab.SeverityMedium, fmt.Sprintf("recovery took %s, more than %s", secs(f.recoverySeconds()), secs(a.slowRecovery.Seconds()))
	case !f.injected():
		return chaoslab.SeverityLow, "no fault was injected, so nothing was tested"
	case uncovered:
		return chaoslab.SeverityLow, "no tolerance covered the faults, so nothing was judged"
	}
	return chaoslab.SeverityLow, "the hypothesis held under the faults"
}

// statistics says in words what the Runner's comparisons found that the
// hypothesis checks alone do not: the score, and the tolerances the data
// could not decide, with why. It is empty when there is nothing to add.
func statistics(r *chaoslab.Result) string {
	var b strings.Builder
	if r.Score != nil {
		fmt.Fprintf(&b, " Resilience score %.0f of 100.", *r.Score)
	}
	var unsure []string
	for _, c := range r.Comparisons {
		if c.Verdict == "inconclusive" {
			u := chaoslab.MetricLabel(c.Metric) + " in " + c.Phase
			if c.Note != "" {
				u += " (" + c.Note + ")"
			}
			unsure = append(unsure, u)
		}
	}
	if len(unsure) > 0 {
		fmt.Fprintf(&b, " The data could not tell for %s: a longer window or more load would.", strings.Join(unsure, ", "))
	}
	return b.String()
}
