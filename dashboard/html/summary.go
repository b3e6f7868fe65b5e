package html

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// This file writes the top of the report for a reader who knows the
// service but not the metrics: what was done to it, whether it kept its
// promises (the hypothesis), what broke, and how fast it came back. The
// details for engineers (metric names, windows, tables) come below it.

// headline returns the report's opening sentences, in plain words.
func headline(r *chaoslab.Result) string {
	fault := faultsPhrase(r.Faults)
	failed := r.Failed()
	var s []string
	switch r.Verdict {
	case chaoslab.VerdictPass:
		p := "The service kept its promises"
		if promises := promisesPhrase(r.Hypothesis); promises != "" {
			p += " (" + promises + ")"
		}
		s = append(s, p+" during "+fault+".")
		if rec := recoverySentence(r); rec != "" {
			s = append(s, rec)
		}
	case chaoslab.VerdictFail:
		if len(failed) > 0 {
			c := worst(failed)
			p := "The service broke its promise"
			switch c.Window {
			case chaoslab.WindowRecovery:
				p = "The service did not get back to its promise after " + fault + " ended"
			case chaoslab.WindowBaseline:
				p = "The service broke its promise even before the fault"
			default:
				p += " during " + fault
			}
			s = append(s, p+": "+brokenPhrase(c)+more(len(failed)-1)+".")
		} else if r.Abort == nil {
			s = append(s, "The service did not cope with "+fault+".")
		}
		if a := r.Abort; a != nil {
			s = append(s, abortSentence(a))
		}
		if rec := recoverySentence(r); rec != "" {
			s = append(s, rec)
		}
	default:
		p := "This run cannot tell whether the service copes with " + fault
		if len(r.Faults) == 0 {
			p = "This run cannot tell how resilient the service is"
		}
		switch {
		case len(failed) > 0 && r.Status == chaoslab.StatusCompleted:
			c := worst(failed)
			p += ": even before the fault, " + brokenPhrase(c) + more(len(failed)-1) +
				". Make the service steady first, then run the experiment again"
		case r.Status == chaoslab.StatusFailed:
			p += ": the run failed"
			if why := strings.TrimSpace(r.Reason); why != "" {
				p += ", as " + lowerFirst(why)
			}
			p += ". The details below say what went wrong"
		case r.Abort != nil:
			p += ": " + lowerFirst(strings.TrimSuffix(abortSentence(r.Abort), "."))
		case strings.TrimSpace(r.Reason) != "":
			p += ": " + lowerFirst(strings.TrimSpace(r.Reason))
		}
		s = append(s, sentence(p))
	}
	return strings.Join(s, " ")
}

// more says how many more promises broke.
func more(n int) string {
	switch {
	case n <= 0:
		return ""
	case n == 1:
		return " (and 1 more promise was broken)"
	}
	return fmt.Sprintf(" (and %d more promises were broken)", n)
}

// worst picks the failed check to tell first: one while the faults were
// active, else the first.
func worst(failed []chaoslab.Check) chaoslab.Check {
	if i := slices.IndexFunc(failed, func(c chaoslab.Check) bool { return c.Window == chaoslab.WindowChaos }); i >= 0 {
		return failed[i]
	}
	return failed[0]
}

// promisesPhrase lists the hypothesis as promises: "99 % of requests
// answered within 300 ms and at most 1 % of requests failing". It takes
// the limits of the chaos window, else of any window.
func promisesPhrase(checks []chaoslab.Check) string {
	var cs []chaoslab.Check
	for _, c := range checks {
		if c.Window == chaoslab.WindowChaos {
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		cs = checks
	}
	var out []string
	for _, c := range cs {
		if p := promisePhrase(c); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return joinAnd(out)
}

// promisePhrase says one check's limit as a promise.
func promisePhrase(c chaoslab.Check) string {
	limit := chaoslab.FormatMetric(c.Metric, c.Limit)
	switch c.Metric {
	case chaoslab.MetricP99:
		return "99 % of requests answered within " + limit
	case chaoslab.MetricP50:
		return "half of the requests answered within " + limit
	case chaoslab.MetricErrorRate:
		if c.Limit <= 0 {
			return "no request failing"
		}
		return "at most " + limit + " of requests failing"
	case chaoslab.MetricThroughput:
		return "at least " + limit + " answered successfully"
	}
	if name, ok := strings.CutPrefix(c.Metric, "probe:"); ok {
		return "the “" + name + "” check passing"
	}
	return ""
}

// brokenPhrase says what a failed check saw, as a broken promise: "99 %
// of requests took up to 216 ms, above the 100 ms limit".
func brokenPhrase(c chaoslab.Check) string {
	limit := chaoslab.FormatMetric(c.Metric, c.Limit)
	obs := chaoslab.FormatMetric(c.Metric, c.Observed)
	switch c.Metric {
	case chaoslab.MetricP50, chaoslab.MetricP99, chaoslab.MetricErrorRate:
		if c.Observed <= c.Limit {
			return "no request got an answer"
		}
	}
	switch c.Metric {
	case chaoslab.MetricP99:
		return "99 % of requests took up to " + obs + ", above the " + limit + " limit"
	case chaoslab.MetricP50:
		return "the typical request took " + obs + ", above the " + limit + " limit"
	case chaoslab.MetricErrorRate:
		return obs + " of requests failed, above the " + limit + " limit"
	case chaoslab.MetricThroughput:
		return "only " + obs + " were answered successfully, below the minimum of " + limit
	}
	if name, ok := strings.CutPrefix(c.Metric, "probe:"); ok {
		s := "the “" + name + "” check failed"
		if c.Detail != "" {
			s += " (" + c.Detail + ")"
		}
		return s
	}
	return c.Describe()
}

// recoverySentence says how the service came back after the faults, or
// nothing when recovery was not measured.
func recoverySentence(r *chaoslab.Result) string {
	rec := r.Recovery
	after := "after the fault ended"
	if len(r.Faults) > 0 && !slices.ContainsFunc(r.Faults, func(f chaoslab.FaultRecord) bool { return !instantaneous(f) }) {
		after = "after the fault"
	}
	switch {
	case rec.Recovered && rec.Seconds != nil && *rec.Seconds < 0.05:
		return "It was back to normal as soon as the fault ended."
	case rec.Recovered && rec.Seconds != nil:
		return "It recovered " + seconds(*rec.Seconds) + " " + after + "."
	case rec.Recovered:
		return "It recovered " + after + "."
	case r.RecoveryMeasured():
		return "It did not recover " + after + "."
	}
	return ""
}

// abortSentence says why the run was stopped early.
func abortSentence(a *chaoslab.Abort) string {
	if c := a.Condition; c != nil {
		var what string
		limit := chaoslab.FormatMetric(c.Metric, c.Max)
		switch c.Metric {
		case chaoslab.MetricErrorRate:
			what = "more than " + limit + " of requests failed"
		case chaoslab.MetricP99:
			what = "99 % of requests took more than " + limit
		case chaoslab.MetricP50:
			what = "the typical request took more than " + limit
		}
		if what != "" {
			if c.For > 0 {
				what += " for " + humanDuration(c.For)
			}
			return "The run was stopped early for safety, as " + what + "."
		}
	}
	if a.Reason == "" {
		return "The run was stopped early."
	}
	return "The run was stopped early: " + strings.TrimSuffix(a.Reason, ".") + "."
}

// faultsPhrase names the faults in plain words, joined with "and".
func faultsPhrase(faults []chaoslab.FaultRecord) string {
	var out []string
	for _, f := range faults {
		if p := faultPhrase(f); !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return "the experiment"
	}
	return joinAnd(out)
}

// faultPhrase names one fault in plain words, as a noun phrase: "a 200 ms
// delay on its calls to db", "the kill of its process".
func faultPhrase(f chaoslab.FaultRecord) string {
	p := f.Params
	if s, ok := chaoslab.LookupScenario(f.Scenario); ok {
		p = s.WithDefaults(p)
	}
	get := func(name string) string { return strings.TrimSpace(p[name]) }
	on := "on its network traffic"
	to := "its connections"
	switch l := get("link"); l {
	case "":
	case "ingress":
		on, to = "on requests to it", "connections to it"
	default:
		on, to = "on its calls to "+l, "its connections to "+l
	}
	switch f.Scenario {
	case "network_delay":
		d := humanParam(get("latency"))
		if d == "" {
			return "a delay " + on
		}
		if j := humanParam(get("jitter")); j != "" && !zero(j) {
			d += " (± " + j + ")"
		}
		return "a " + d + " delay " + on
	case "http_delay":
		s := "a delay"
		if d := humanParam(get("delay")); d != "" {
			s = "a " + d + " delay"
		}
		return s + " on " + share(get("rate"), "its responses", "of its responses")
	case "http_errors":
		what := "errors"
		if st := get("status"); st != "" {
			what = "errors (HTTP " + st + ")"
		}
		if get("abort") == "true" {
			what = "dropped connections"
		}
		target := "its requests"
		if l := get("link"); l != "" && l != "ingress" {
			target = "its calls to " + l
		}
		return what + " on " + share(get("rate"), target, "of "+target)
	case "bandwidth_limit":
		if rate := humanParam(get("rate")); rate != "" {
			return "a bandwidth limit of " + rate + "/s " + on
		}
		return "a bandwidth limit " + on
	case "network_loss":
		if get("mode") == "stall" {
			return "stalled " + strings.TrimPrefix(to, "its ")
		}
		return "dropped " + strings.TrimPrefix(to, "its ")
	case "network_partition":
		switch l := get("link"); l {
		case "", "ingress":
			return "a network cut in front of it"
		default:
			return "a network cut between it and " + l
		}
	case "timeout":
		return "hanging " + strings.TrimPrefix(to, "its ")
	case "limit_data":
		if b := humanParam(get("bytes")); b != "" {
			return strings.TrimPrefix(to, "its ") + " cut after " + b
		}
		return "cut " + strings.TrimPrefix(to, "its ")
	case "slicer":
		return "traffic split into small pieces " + on
	case "process_kill":
		if sig := get("signal"); sig != "" && !strings.EqualFold(strings.TrimPrefix(strings.ToUpper(sig), "SIG"), "KILL") && sig != "9" {
			return "a " + strings.ToUpper(sig) + " signal to its process"
		}
		return "the kill of its process"
	case "process_pause":
		if d := humanParam(get("duration")); d != "" {
			return "a " + d + " freeze of its process"
		}
		return "a freeze of its process"
	case "cpu_stress":
		s := "CPU stress"
		var d []string
		if c := get("cores"); c != "" {
			d = append(d, plural(c, "core"))
		}
		if pc := get("percent"); pc != "" {
			d = append(d, "at "+strings.TrimSuffix(pc, "%")+" %")
		}
		if len(d) > 0 {
			s += " (" + strings.Join(d, " ") + ")"
		}
		return s
	case "memory_pressure":
		if sz := humanParam(get("size")); sz != "" {
			return "memory pressure (" + sz + " taken)"
		}
		return "memory pressure"
	case "disk_fill":
		if sz := humanParam(get("size")); sz != "" {
			return "its disk filling up by " + sz
		}
		return "its disk filling up"
	case "instance_termination":
		switch {
		case get("percent") != "":
			return "the loss of " + strings.TrimSuffix(get("percent"), "%") + " % of its instances"
		case get("count") != "" && get("count") != "1":
			return "the loss of " + get("count") + " of its instances"
		}
		return "the loss of one of its instances"
	case "":
		return "an unnamed fault"
	}
	return "the " + strings.ReplaceAll(f.Scenario, "_", " ") + " fault"
}

// share says which part of what a fraction parameter covers: "its
// responses" for all, "5 % of its responses" for a part.
func share(rate, all, part string) string {
	if rate == "" {
		return all
	}
	v, err := chaoslab.ParseFraction(rate)
	if err != nil || v >= 1 {
		return all
	}
	return trim(v*100) + " % " + part
}

// humanParam writes a duration or size parameter as people do: "200 ms",
// "1.5 s", "256 MB"; anything else as it is.
func humanParam(v string) string {
	if v == "" {
		return ""
	}
	if d, err := time.ParseDuration(v); err == nil {
		return humanDuration(d)
	}
	if m := sizeRe.FindStringSubmatch(v); m != nil {
		return m[1] + " " + m[2]
	}
	return v
}

var sizeRe = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B)$`)

// humanDuration writes d in milliseconds below a second, else seconds.
func humanDuration(d time.Duration) string {
	if d < time.Second {
		return trim(float64(d)/float64(time.Millisecond)) + " ms"
	}
	return trim(d.Seconds()) + " s"
}

func zero(s string) bool { return s == "0 ms" || s == "0 s" || s == "0" }

// plural writes a count with its noun.
func plural(n, noun string) string {
	if n == "1" {
		return "1 " + noun
	}
	return n + " " + noun + "s"
}

// joinAnd joins phrases as a list in a sentence.
func joinAnd(ps []string) string {
	switch len(ps) {
	case 0:
		return ""
	case 1:
		return ps[0]
	}
	return strings.Join(ps[:len(ps)-1], ", ") + " and " + ps[len(ps)-1]
}

// lowerFirst lower-cases the first letter of s, unless the first word
// looks like an acronym or an identifier.
func lowerFirst(s string) string {
	first, _, _ := strings.Cut(s, " ")
	if len(first) > 1 && strings.ToUpper(first) == first {
		return s
	}
	if s != "" && s[0] >= 'A' && s[0] <= 'Z' {
		return strings.ToLower(s[:1]) + s[1:]
	}
	return s
}

// scoreView is the resilience score shown next to the verdict.
type scoreView struct {
	// Value is the score, such as "82"; Max what it is out of, such as
	// "100".
	Value, Max string
	// Class colours it like the verdict: pass, fail or inconclusive.
	Class string
}

// score returns the run's resilience score for the top of the report, or
// nil when the result has none.
//
// The score is Result.Score, 0 to 100 (see chaoslab.Result); the
// template shows it in the header next to the verdict (the element with id
// "score").
func score(r *chaoslab.Result) *scoreView {
	if r == nil || r.Score == nil {
		return nil
	}
	_, class, _ := verdict(r)
	return &scoreView{Value: strconv.FormatFloat(math.Round(*r.Score), 'f', 0, 64), Max: "100", Class: class}
}
