package rules

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// summary tells what happened in a few plain sentences: the faults, what
// they did to latency, errors and throughput compared with the baseline, the
// verdict, recovery, and the severity with its reason.
func (a *Analyzer) summary(f *facts, sev chaoslab.Severity, why string) string {
	var s []string
	s = append(s, faultsSentence(f)...)
	s = append(s, impactSentences(f)...)
	s = append(s, verdictSentence(f))
	if r := recoverySentence(f); r != "" {
		s = append(s, r)
	}
	if n := len(f.r.Errors); n > 0 {
		s = append(s, fmt.Sprintf("The run reported %s, the first: %s.", plural(int64(n), "error"), strings.TrimSuffix(f.r.Errors[0], ".")))
	}
	s = append(s, fmt.Sprintf("Severity %s, because %s.", sev, why))
	return strings.Join(s, " ")
}

// faultsSentence says which faults ran against what.
func faultsSentence(f *facts) []string {
	r := f.r
	name := "The experiment"
	if r.Name != "" {
		name = fmt.Sprintf("Experiment %q", r.Name)
	}
	target := "the target"
	switch {
	case r.Target.Kind != "" && r.Target.ID != "":
		target = fmt.Sprintf("the %s target %s", r.Target.Kind, r.Target.ID)
	case r.Target.Kind != "":
		target = fmt.Sprintf("the %s target", r.Target.Kind)
	case r.Target.ID != "":
		target = "target " + r.Target.ID
	}
	var done, missed []string
	for _, fr := range r.Faults {
		switch {
		case fr.InjectedAt == nil && fr.Error != "":
			missed = append(missed, fmt.Sprintf("%s could not be injected (%s).", fr.Scenario, strings.TrimSuffix(fr.Error, ".")))
		case fr.InjectedAt == nil:
			missed = append(missed, fmt.Sprintf("%s was never injected.", describeFault(fr)))
		default:
			d := describeFault(fr)
			switch {
			case fr.RevertedAt == nil:
				d += " (never reverted)"
			case fr.RevertedAt.Sub(*fr.InjectedAt) < 100*time.Millisecond:
				d += " once"
			default:
				d += " for " + secs(fr.RevertedAt.Sub(*fr.InjectedAt).Seconds())
			}
			if fr.Error != "" {
				d += fmt.Sprintf(" (error: %s)", strings.TrimSuffix(fr.Error, "."))
			}
			done = append(done, d)
		}
	}
	var out []string
	switch {
	case len(r.Faults) == 0:
		out = append(out, fmt.Sprintf("%s ran no fault against %s.", name, target))
	case len(done) == 0:
		out = append(out, fmt.Sprintf("%s injected no fault into %s.", name, target))
	default:
		out = append(out, fmt.Sprintf("%s injected %s into %s.", name, strings.Join(done, ", then "), target))
	}
	return append(out, missed...)
}

// impactSentences compare the chaos and recovery windows with the baseline.
func impactSentences(f *facts) []string {
	b, c, rc := f.base, f.chaos, f.recv
	switch {
	case f.noLoad() && (b.ok || c.ok || rc.ok || len(f.r.Series) > 0):
		probes := 0
		for _, ch := range f.r.Hypothesis {
			if strings.HasPrefix(ch.Metric, "probe:") {
				probes++
			}
		}
		if probes == 0 {
			return []string{"No load was offered and no probe was checked, so latency, errors and throughput were not measured and nothing was judged."}
		}
		return []string{"No load was offered, so latency, errors and throughput were not measured; only probes were judged."}
	case b.ok && c.ok && c.requests == 0:
		return []string{fmt.Sprintf("No request completed under the faults; in the baseline p99 latency was %s, the error rate %s and successful throughput %s.", ms(b.p99), pct(b.errRate), rps(b.tput))}
	case b.ok && c.ok:
		p99 := "stayed at " + ms(c.p99)
		if ms(b.p99) != ms(c.p99) {
			p99 = fmt.Sprintf("went from %s to %s (%s)", ms(b.p99), ms(c.p99), delta(c.p99-b.p99))
		}
		out := []string{fmt.Sprintf("Compared with the baseline, under the faults p99 latency %s, p50 %s, the error rate %s and successful throughput %s.",
			p99, fromTo(ms(b.p50), ms(c.p50)), fromTo(pct(b.errRate), pct(c.errRate)), fromTo(rps(b.tput), rps(c.tput)))}
		if c.errors > 0 {
			out = append(out, fmt.Sprintf("%d of %s failed under the faults.", c.errors, plural(c.requests, "request")))
		}
		if rc.ok {
			out = append(out, fmt.Sprintf("After the revert p99 latency was %s, the error rate %s and successful throughput %s.", ms(rc.p99), pct(rc.errRate), rps(rc.tput)))
		}
		return out
	case b.ok:
		return []string{fmt.Sprintf("Only the baseline was measured: p99 latency %s, p50 %s, error rate %s, successful throughput %s.", ms(b.p99), ms(b.p50), pct(b.errRate), rps(b.tput))}
	case c.ok:
		return []string{fmt.Sprintf("There was no baseline; under the faults p99 latency was %s, p50 %s, the error rate %s and successful throughput %s.", ms(c.p99), ms(c.p50), pct(c.errRate), rps(c.tput))}
	case len(f.r.Series) > 0:
		var req, errs int64
		for _, p := range f.r.Series {
			req += p.Requests
			errs += p.Errors
		}
		return []string{fmt.Sprintf("Measured outside any window: %s, %s, %s.", plural(int64(len(f.r.Series)), "interval"), plural(req, "request"), plural(errs, "error"))}
	}
	return []string{"No measurements were taken."}
}

// fromTo says how a formatted value changed: "from 12 ms to 216 ms", or
// "stayed at 0 %".
func fromTo(before, after string) string {
	if before == after {
		return "stayed at " + after
	}
	return "from " + before + " to " + after
}

// delta formats a latency change with its sign.
func delta(v float64) string {
	if math.Abs(v) < 0.05 {
		return "unchanged"
	}
	if v > 0 {
		return "+" + ms(v)
	}
	return "-" + ms(-v)
}

// verdictSentence states the verdict and why.
func verdictSentence(f *facts) string {
	r := f.r
	v := r.Verdict
	if v == "" {
		v = chaoslab.VerdictInconclusive
	}
	// Failed checks in words explain best; the Runner's reason says the
	// rest (no recovery, an abort, an error).
	var ds []string
	for _, c := range r.Failed() {
		if len(ds) == 3 {
			break
		}
		ds = append(ds, c.Describe())
	}
	why := strings.Join(ds, "; ")
	if why == "" {
		why = strings.TrimSuffix(r.Reason, ".")
	}
	if why == "" {
		switch v {
		case chaoslab.VerdictPass:
			why = "the hypothesis held under the faults and the target recovered"
			if !f.judged() {
				why = "no tolerance broke (none was checked under the faults)"
			}
		case chaoslab.VerdictFail:
			why = "the hypothesis did not hold"
		default:
			why = "the run could not tell whether the hypothesis holds"
		}
	}
	return fmt.Sprintf("Verdict: %s: %s.", strings.ToUpper(string(v)), why)
}

// recoverySentence says whether and how fast the target recovered, or why
// the run stopped.
func recoverySentence(f *facts) string {
	r := f.r
	if r.Abort != nil {
		reason := strings.TrimSuffix(r.Abort.Reason, ".")
		if reason == "" {
			reason = "no reason given"
		}
		return fmt.Sprintf("The run was aborted (%s), so recovery was not measured.", reason)
	}
	switch {
	case r.Recovery.Recovered && r.Recovery.Seconds != nil:
		s := fmt.Sprintf("The target recovered %s after the faults were reverted", secs(*r.Recovery.Seconds))
		if *r.Recovery.Seconds < 0.05 {
			s = "The target recovered as soon as the faults were reverted"
		}
		if r.Recovery.StableWindow > 0 {
			s += fmt.Sprintf(" (the hypothesis then held for the %s stable window)", secs(r.Recovery.StableWindow))
		}
		return s + "."
	case r.Recovery.Recovered:
		return "The target recovered after the faults were reverted."
	case f.notRecovered():
		return "The target did not recover: the hypothesis did not hold again within the recovery timeout after the faults were reverted."
	}
	return ""
}
