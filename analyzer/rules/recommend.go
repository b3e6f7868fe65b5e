package rules

import (
	"fmt"
	"strings"

	"github.com/chaoslab-dev/chaoslab"
)

// maxRecommendations bounds the list so that it stays readable.
const maxRecommendations = 10

// recommend lists what to do, most urgent first: problems of the run
// itself (no steady baseline, an abort, no recovery, faults or the run
// failing), then advice for each fault that ran, shaped by what it did,
// then what else was observed.
func (a *Analyzer) recommend(f *facts) []string {
	var out []string
	add := func(recs ...string) {
		for _, rec := range recs {
			if rec != "" && len(out) < maxRecommendations && !contains(out, rec) {
				out = append(out, rec)
			}
		}
	}
	r := f.r

	if failed := f.failedIn(chaoslab.WindowBaseline); len(failed) > 0 {
		add(fmt.Sprintf("Fix the steady state first: %s. Until the target meets its hypothesis without faults, chaos results mean little; fix the target or set a tolerance it can meet.", failed[0].Describe()))
	}
	if r.Abort != nil && r.Abort.Condition != nil {
		c := r.Abort.Condition
		add(fmt.Sprintf("A stop condition (%s above %s) aborted the run: the faults did more harm than you allow. Fix the weaknesses below, then re-run, starting with a milder fault (a smaller share, a shorter window).",
			chaoslab.MetricLabel(c.Metric), chaoslab.FormatMetric(c.Metric, c.Max)))
	} else if r.Abort != nil {
		add("The run was stopped early; run it to completion to get a verdict.")
	}
	if f.notRecovered() {
		add("The target did not recover after the faults were reverted: look for state that does not heal by itself (connection pools holding dead connections, cached failures, circuit breakers that never close, crashed workers) and add a liveness check that restarts the process when it stays unhealthy.")
	}
	for _, fr := range r.Faults {
		if fr.Error != "" {
			add(fmt.Sprintf("Fault %s failed (%s): check that the target supports it (the provider's capabilities) and that its parameters fit the target.", fr.Scenario, strings.TrimSuffix(fr.Error, ".")))
		}
	}
	if len(r.Errors) > 0 && !f.injected() {
		add(fmt.Sprintf("The run failed before any fault (%s); fix that and run again, since nothing about resilience was learned.", strings.TrimSuffix(r.Errors[0], ".")))
	}

	if f.injected() && !f.judged() {
		if f.noLoad() {
			add("No load was offered and no probe was checked under the faults, so the run judged nothing: add load with latency and error-rate tolerances, or probes, to the hypothesis and run again.")
		} else {
			add(fmt.Sprintf("No tolerance covered the faults, so the run judged nothing (%s): add latency and error-rate tolerances, or probes, to the hypothesis and run again.", f.change()))
		}
	}
	for _, sc := range f.scenarios() {
		add(a.forScenario(f, sc)...)
	}

	if f.recoverySeconds() > a.slowRecovery.Seconds() {
		add(fmt.Sprintf("Recovery took %s, more than %s: find what the target waits for after a fault (reconnect back-off, cache warm-up, leader election) and shorten it.",
			secs(f.recoverySeconds()), secs(a.slowRecovery.Seconds())))
	}
	for _, c := range r.Failed() {
		if strings.HasPrefix(c.Metric, "probe:") && c.Window != chaoslab.WindowBaseline {
			add(fmt.Sprintf("The %s: decide whether that is an acceptable degraded mode, and if it is, make the probe accept it.", c.Describe()))
			break
		}
	}
	if hc := f.hostCPUPeak(); hc >= 95 && !contains(f.scenarios(), "cpu_stress") {
		add(fmt.Sprintf("The host's CPU peaked at %.0f %%: the load generator and the target may have competed for it, which distorts latency; run with less load or on a larger machine to confirm.", hc))
	}
	if r.Logs.ErrorCount > 0 && r.Verdict != chaoslab.VerdictPass {
		add(fmt.Sprintf("The target logged %s; read them alongside the failures above (the report shows the last lines).", plural(int64(r.Logs.ErrorCount), "error line")))
	}
	if len(out) == 0 && r.Verdict == chaoslab.VerdictPass {
		add("The hypothesis held: keep this experiment as a regression test (chaostest in go test) and raise the fault's intensity step by step to find where the target breaks.")
	}
	if len(out) == 0 {
		add("Run the experiment again with load and a hypothesis (latency and error-rate tolerances) so that there is something to judge.")
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// link is how advice names the link a network or HTTP fault acted on.
type link struct {
	// on says where the fault was: "on db", "on the target's ingress".
	on string
	// calls names the calls that crossed it: "calls to db".
	calls string
	// peer names what answers those calls: "db", "the target".
	peer string
	// ingress is set when the fault sat in front of the target: its
	// clients felt it, so the advice is for them.
	ingress bool
}

// faultLink names the link from the fault's link parameter. Without one,
// the HTTP faults act on the target's ingress; other faults may act on a
// dependency or, when the target has none, on its ingress, so they are
// named neutrally.
func faultLink(scenario string, p chaoslab.Params) link {
	switch v := p["link"]; {
	case v == "ingress" || (v == "" && (scenario == "http_errors" || scenario == "http_delay")):
		return link{on: "on the target's ingress", calls: "calls to the target", peer: "the target", ingress: true}
	case v == "":
		return link{on: "on the link the fault acted on", calls: "calls over that link", peer: "the far side of that link"}
	default:
		return link{on: "on " + v, calls: "calls to " + v, peer: v}
	}
}

// forClients prefixes the first piece of advice, when the fault sat on the
// target's ingress, with why it is for the target's clients: lead says
// what happened in front of the target.
func (l link) forClients(advice []string, lead string) []string {
	if !l.ingress || len(advice) == 0 {
		return advice
	}
	first := advice[0]
	advice[0] = fmt.Sprintf("%s, so the fix is on the client side: %s", lead, strings.ToLower(first[:1])+first[1:])
	return advice
}

// heldAdvice is the advice when the faults did not break the hypothesis:
// what names the fault ("200ms of latency on db"), next what to do now.
func heldAdvice(f *facts, o outcome, what, next string) []string {
	switch o {
	case absorbed:
		return []string{fmt.Sprintf("The target absorbed %s: the error rate and p99 latency stayed near the baseline (%s). %s", what, f.change(), next)}
	case held:
		return []string{fmt.Sprintf("The target kept within its tolerances under %s (%s). %s", what, f.change(), next)}
	}
	return nil // unjudged: recommend says so once for all faults
}

// forScenario is the advice for one injected scenario, shaped by what the
// run saw under it.
func (a *Analyzer) forScenario(f *facts, scenario string) []string {
	p := f.params(scenario)
	lk := faultLink(scenario, p)
	o := f.outcome()
	p99Fail, p99Broke := f.failedMetric(chaoslab.WindowChaos, chaoslab.MetricP99)
	if !p99Broke {
		p99Fail, p99Broke = f.failedMetric(chaoslab.WindowChaos, chaoslab.MetricP50)
	}
	budget := "your latency budget"
	if c, ok := f.check(chaoslab.MetricP99); ok {
		budget = "the " + ms(c.Limit) + " p99 budget"
	}
	errorsRose := f.chaos.ok && f.chaos.errors > 0 && f.chaos.errRate > f.base.errRate

	switch scenario {
	case "network_delay", "http_delay":
		lat := p["latency"]
		if scenario == "http_delay" {
			lat = p["delay"]
		}
		if lat == "" {
			lat = "the added latency"
		}
		if o != broke {
			return heldAdvice(f, o, fmt.Sprintf("%s of latency %s", lat, lk.on),
				"Raise it or add jitter to find where p99 breaks, and keep that margin in the timeout budget.")
		}
		var out []string
		if p99Broke {
			out = append(out, fmt.Sprintf("Set timeouts and propagate deadlines (context.WithTimeout) on %s, sized from %s: with %s of delay %s.", lk.calls, budget, lat, p99Fail.Describe()))
			out = append(out, fmt.Sprintf("Cut tail latency when %s is slow: hedge requests (send a second one after the usual p95) or serve recent answers from a cache.", lk.peer))
		}
		if errorsRose {
			out = append(out, fmt.Sprintf("%s failed under the delay, most likely timeouts: make sure the client timeout on %s exceeds their normal latency plus the delay you must tolerate, or degrade gracefully when it expires.", plural(f.chaos.errors, "request"), lk.calls))
		}
		out = append(out, fmt.Sprintf("Add a circuit breaker on %s that trips on slow calls, not only on errors, and fails fast to a fallback.", lk.calls))
		return lk.forClients(out, "The delay was added in front of the target (on its ingress): its clients felt it")
	case "network_loss":
		if o != broke {
			return heldAdvice(f, o, "lost connections "+lk.on, "Confirm that the retries behind that are bounded by a retry budget.")
		}
		return lk.forClients([]string{
			fmt.Sprintf("Retry %s that fail to connect with exponential backoff and jitter, capped by a retry budget, and keep those calls idempotent so retries are safe.", lk.calls),
			fmt.Sprintf("Use connect and read timeouts on %s, and a connection pool that drops broken connections (health checks, a maximum idle time).", lk.calls),
		}, "The connections were lost in front of the target (on its ingress): its clients felt it")
	case "bandwidth_limit":
		if o != broke {
			return heldAdvice(f, o, "limited bandwidth "+lk.on, "Check that payload sizes will not grow past it.")
		}
		return lk.forClients([]string{
			fmt.Sprintf("Shrink what %s carry: compress payloads, paginate large reads, fetch only the fields needed.", lk.calls),
			fmt.Sprintf("Size timeouts on %s for transfer time as well as the first byte, and stream large bodies instead of buffering them.", lk.calls),
		}, "The bandwidth was limited in front of the target (on its ingress): its clients felt it")
	case "network_partition":
		if o != broke {
			return heldAdvice(f, o, "a partition cutting off "+lk.peer, "Document that degraded mode and alert when it is in use.")
		}
		return lk.forClients([]string{
			fmt.Sprintf("Fail fast when %s is unreachable: short connect timeouts and a circuit breaker instead of requests queueing behind it.", lk.peer),
			fmt.Sprintf("Serve a degraded answer (cached or partial data) while %s is partitioned, and alert on it.", lk.peer),
		}, "The partition cut the target off from its clients (on its ingress)")
	case "http_errors":
		share := "injected errors"
		if rate := p.Float("rate"); rate > 0 {
			share = "errors on " + pct(rate) + " of requests"
		}
		if o != broke {
			next := fmt.Sprintf("Check that the retries behind that do not multiply load on %s in a real outage (retry budget, backoff).", lk.peer)
			where := lk.on
			if v := p["link"]; v != "" && !lk.ingress {
				where = "from " + v
			}
			return heldAdvice(f, o, share+" "+where, next)
		}
		idempotent := fmt.Sprintf("Make %s idempotent (idempotency keys on writes) so they are safe to retry.", lk.calls)
		if lk.ingress {
			idempotent = "Make the target's operations idempotent (idempotency keys on writes) so that its clients can retry them safely."
		}
		return lk.forClients([]string{
			fmt.Sprintf("Retry failed %s with exponential backoff and jitter, a cap on attempts and a retry budget, so retries absorb blips without amplifying an outage.", lk.calls),
			idempotent,
			fmt.Sprintf("Add a circuit breaker on %s that opens while %s keeps failing, with a fallback answer.", lk.calls, lk.peer),
		}, "The errors were answered in front of the target (on its ingress): they reached its clients, never the target")
	case "cpu_stress":
		if o != broke {
			what := "CPU pressure"
			if f.chaos.cpuPeak > 0 {
				what += fmt.Sprintf(" (its own CPU use peaked at %.0f %% of one core)", f.chaos.cpuPeak)
			}
			return heldAdvice(f, o, what, "Raise the stress to find its headroom.")
		}
		out := []string{"Give the target guaranteed CPU (container CPU requests and limits) and a GOMAXPROCS that matches its limit, so neighbours cannot starve it."}
		if f.base.requests > 0 && f.chaos.requests > 0 {
			out = append(out, fmt.Sprintf("Keep latency headroom: p99 went from %s to %s under CPU pressure; size capacity for the peak, not the average.", ms(f.base.p99), ms(f.chaos.p99)))
		}
		return append(out, "Autoscale on CPU use before saturation, and shed load (rate limits, bounded queues) when saturated.")
	case "memory_pressure":
		mem := ""
		if f.base.memPeak > 0 && f.chaos.memPeak > 0 {
			mem = fmt.Sprintf(" (the target's memory peaked at %s against %s in the baseline)", mb(f.chaos.memPeak), mb(f.base.memPeak))
		}
		if o != broke {
			return heldAdvice(f, o, "memory pressure"+mem, "Set a memory limit and GOMEMLIMIT so that stays true in production.")
		}
		return []string{
			"Set a memory limit and GOMEMLIMIT a little below it, so the Go runtime collects harder before the OOM killer strikes.",
			"Look for leaks and unbounded caches" + mem + ": compare heap profiles (pprof) before and after the fault.",
			"Alert on memory use and OOM kills, and shed load before memory runs out.",
		}
	case "disk_fill":
		if o != broke {
			return heldAdvice(f, o, "the disk filling up", "Alert on disk use (for example at 80 %) so it stays that way.")
		}
		return []string{
			"Alert on disk use well before the disk is full (for example at 80 %).",
			"Rotate and cap logs and clean temporary files, so the target cannot fill its own disk.",
			"Fail gracefully on a full disk (ENOSPC): keep serving reads and report writes as unhealthy instead of crashing.",
		}
	case "process_kill":
		rec := "Recovery"
		if s := f.r.Recovery.Seconds; s != nil {
			rec = fmt.Sprintf("Recovery took %s after the kill", secs(*s))
		}
		if o != broke && f.chaos.errors == 0 {
			return heldAdvice(f, o, "the kill", rec+"; keep readiness probes and replicas as they are, and try killing more than one instance.")
		}
		if o == unjudged {
			return nil
		}
		lost := ""
		if f.chaos.errors > 0 {
			lost = fmt.Sprintf(" (%s failed under the fault)", plural(f.chaos.errors, "request"))
		}
		return []string{
			fmt.Sprintf("Run more than one replica behind a load balancer that retries on another instance, so one crash costs no requests%s.", lost),
			rec + ": add a readiness probe so traffic only reaches an instance that has started, and trim start-up time (lazy initialisation, warm caches in the background).",
			"Shut down gracefully on SIGTERM (drain in-flight requests), and let clients retry idempotent requests on connection errors.",
		}
	case "process_pause":
		if o != broke {
			return heldAdvice(f, o, "the pause", "Make sure health checks would still notice a process that stays hung for longer.")
		}
		return []string{
			"Set client-side timeouts so callers give up on a paused (hung) process instead of waiting on it: a stopped process still holds its port and accepts connections.",
			"Have health checks detect a hung process (a liveness check with a timeout) and restart or remove it from the load balancer.",
		}
	case "instance_termination":
		if o != broke {
			return heldAdvice(f, o, "losing an instance", "Check that there is still spare capacity at peak load.")
		}
		return []string{
			"Run enough instances, across availability zones, to lose one at peak load.",
			"Use load-balancer health checks and connection draining (lifecycle hooks in the Auto Scaling Group) so a terminated instance stops getting traffic at once.",
		}
	}
	if o != broke {
		return nil
	}
	return []string{fmt.Sprintf("Decide how the target should behave under %s and make it do so: degrade gracefully, fail fast or retry, and add a tolerance for it to the hypothesis.", scenario)}
}

// plural says how many: "1 request", "3 requests".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
