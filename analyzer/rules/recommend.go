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
		add(fmt.Sprintf("Fix the steady state first: %s. Until the target meets its hypothesis without faults, chaos results mean little; fix the target or set a tolerance it can meet.", describeCheck(failed[0])))
	}
	if r.Abort != nil && r.Abort.Condition != nil {
		c := r.Abort.Condition
		add(fmt.Sprintf("A stop condition (%s above %s) aborted the run: the faults did more harm than you allow. Fix the weaknesses below, then re-run, starting with a milder fault (a smaller share, a shorter window).",
			metricName(c.Metric), value(c.Metric, c.Max)))
	} else if r.Abort != nil {
		add("The run was stopped early; run it to completion to get a verdict.")
	}
	if f.injected() && f.recoveryMeasured() && !r.Recovery.Recovered {
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

	for _, sc := range f.scenarios() {
		add(a.forScenario(f, sc)...)
	}

	if f.recoverySeconds() > a.slowRecovery.Seconds() {
		add(fmt.Sprintf("Recovery took %s, more than %s: find what the target waits for after a fault (reconnect back-off, cache warm-up, leader election) and shorten it.",
			secs(f.recoverySeconds()), secs(a.slowRecovery.Seconds())))
	}
	for _, c := range r.Failed() {
		if strings.HasPrefix(c.Metric, "probe:") && c.Window != chaoslab.WindowBaseline {
			add(fmt.Sprintf("The %s: decide whether that is an acceptable degraded mode, and if it is, make the probe accept it.", describeCheck(c)))
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

// link names the link a network or HTTP fault acted on; def names the
// scenario's default link.
func link(p chaoslab.Params, def string) string {
	switch v := p["link"]; v {
	case "":
		return def
	case "ingress":
		return "the target's ingress"
	default:
		return v
	}
}

// forScenario is the advice for one injected scenario, shaped by what the
// run saw under it.
func (a *Analyzer) forScenario(f *facts, scenario string) []string {
	p := f.params(scenario)
	dep := link(p, "the dependency")
	if scenario == "http_errors" {
		dep = link(p, "the target's ingress")
	}
	p99Fail, p99Broke := f.failedMetric(chaoslab.WindowChaos, chaoslab.MetricP99)
	if !p99Broke {
		p99Fail, p99Broke = f.failedMetric(chaoslab.WindowChaos, chaoslab.MetricP50)
	}
	broke := len(f.failedIn(chaoslab.WindowChaos)) > 0 || len(f.failedIn(chaoslab.WindowRecovery)) > 0
	budget := "your latency budget"
	if c, ok := f.check(chaoslab.MetricP99); ok {
		budget = "the " + ms(c.Limit) + " p99 budget"
	}
	errorsRose := f.chaos.ok && f.chaos.errors > 0 && f.chaos.errRate > f.base.errRate

	switch scenario {
	case "network_delay":
		lat := p["latency"]
		if lat == "" {
			lat = "the added latency"
		}
		if !broke {
			return []string{fmt.Sprintf("The target absorbed %s of latency on %s; raise it or add jitter to find where p99 breaks, and keep that margin in the timeout budget.", lat, dep)}
		}
		var out []string
		if p99Broke {
			out = append(out, fmt.Sprintf("Set timeouts and propagate deadlines (context.WithTimeout) on calls to %s, sized from %s: with %s of delay %s.", dep, budget, lat, describeCheck(p99Fail)))
			out = append(out, fmt.Sprintf("Cut tail latency when %s is slow: hedge requests (send a second one after the usual p95) or serve recent answers from a cache.", dep))
		}
		if errorsRose {
			out = append(out, fmt.Sprintf("%s failed under the delay, most likely timeouts: make sure the client timeout exceeds %s's normal latency plus the delay you must tolerate, or degrade gracefully when it expires.", plural(f.chaos.errors, "request"), dep))
		}
		return append(out, fmt.Sprintf("Add a circuit breaker on %s that trips on slow calls, not only on errors, and fails fast to a fallback.", dep))
	case "network_loss":
		if !broke {
			return []string{fmt.Sprintf("Lost connections to %s were absorbed; confirm that the retries behind that are bounded by a retry budget.", dep)}
		}
		return []string{
			fmt.Sprintf("Retry failed connections to %s with exponential backoff and jitter, capped by a retry budget, and keep those calls idempotent so retries are safe.", dep),
			fmt.Sprintf("Use connect and read timeouts on %s, and a connection pool that drops broken connections (health checks, a maximum idle time).", dep),
		}
	case "bandwidth_limit":
		if !broke {
			return []string{fmt.Sprintf("The target coped with limited bandwidth to %s; check payload sizes will not grow past it.", dep)}
		}
		return []string{
			fmt.Sprintf("Shrink what crosses the link to %s: compress payloads, paginate large reads, fetch only the fields needed.", dep),
			fmt.Sprintf("Size timeouts on %s for transfer time as well as the first byte, and stream large bodies instead of buffering them.", dep),
		}
	case "network_partition":
		if !broke {
			return []string{fmt.Sprintf("The target held with %s cut off; document that degraded mode and alert when it is in use.", dep)}
		}
		return []string{
			fmt.Sprintf("Fail fast when %s is unreachable: short connect timeouts and a circuit breaker instead of requests queueing behind it.", dep),
			fmt.Sprintf("Serve a degraded answer (cached or partial data) while %s is partitioned, and alert on it.", dep),
		}
	case "http_errors":
		share := "Injected errors"
		if rate := p.Float("rate"); rate > 0 {
			share = "Errors on " + pct(rate) + " of requests"
		}
		if !broke {
			return []string{fmt.Sprintf("%s from %s were absorbed; check the retries behind that do not multiply load on %s in a real outage (retry budget, backoff).", share, dep, dep)}
		}
		return []string{
			fmt.Sprintf("Retry failed calls to %s with exponential backoff and jitter, a cap on attempts and a retry budget, so retries absorb blips without amplifying an outage.", dep),
			fmt.Sprintf("Make calls to %s idempotent (idempotency keys on writes) so they are safe to retry.", dep),
			fmt.Sprintf("Add a circuit breaker that opens while %s keeps failing, with a fallback answer.", dep),
		}
	case "cpu_stress":
		if !broke {
			return []string{fmt.Sprintf("The target kept its tolerances under CPU pressure (its CPU peaked at %.0f %%); raise the stress to find its headroom.", f.chaos.cpuPeak)}
		}
		out := []string{"Give the target guaranteed CPU (container CPU requests and limits) and a GOMAXPROCS that matches its limit, so neighbours cannot starve it."}
		if f.base.ok && f.chaos.ok {
			out = append(out, fmt.Sprintf("Keep latency headroom: p99 went from %s to %s under CPU pressure; size capacity for the peak, not the average.", ms(f.base.p99), ms(f.chaos.p99)))
		}
		return append(out, "Autoscale on CPU use before saturation, and shed load (rate limits, bounded queues) when saturated.")
	case "memory_pressure":
		mem := ""
		if f.base.ok && f.chaos.ok {
			mem = fmt.Sprintf(" (the target's memory peaked at %s against %s in the baseline)", mb(f.chaos.memPeak), mb(f.base.memPeak))
		}
		if !broke {
			return []string{"The target held under memory pressure" + mem + "; set a memory limit and GOMEMLIMIT so that stays true in production."}
		}
		return []string{
			"Set a memory limit and GOMEMLIMIT a little below it, so the Go runtime collects harder before the OOM killer strikes.",
			"Look for leaks and unbounded caches" + mem + ": compare heap profiles (pprof) before and after the fault.",
			"Alert on memory use and OOM kills, and shed load before memory runs out.",
		}
	case "disk_fill":
		if !broke {
			return []string{"The target held with the disk filling up; alert on disk use (for example at 80 %) so it stays that way."}
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
		lost := ""
		if f.chaos.errors > 0 {
			lost = fmt.Sprintf(" (%s failed while it was down)", plural(f.chaos.errors, "request"))
		}
		if !broke && f.chaos.errors == 0 {
			return []string{rec + " with no failed requests; keep readiness probes and replicas as they are, and try killing more than one instance."}
		}
		return []string{
			fmt.Sprintf("Run more than one replica behind a load balancer that retries on another instance, so one crash costs no requests%s.", lost),
			rec + ": add a readiness probe so traffic only reaches an instance that has started, and trim start-up time (lazy initialisation, warm caches in the background).",
			"Shut down gracefully on SIGTERM (drain in-flight requests), and let clients retry idempotent requests on connection errors.",
		}
	case "process_pause":
		if !broke {
			return []string{"The pause was absorbed; make sure health checks would still notice a process that stays hung for longer."}
		}
		return []string{
			"Set client-side timeouts so callers give up on a paused (hung) process instead of waiting on it: a stopped process still holds its port and accepts connections.",
			"Have health checks detect a hung process (a liveness check with a timeout) and restart or remove it from the load balancer.",
		}
	case "instance_termination":
		if !broke {
			return []string{"Losing an instance was absorbed; check there is still spare capacity at peak load."}
		}
		return []string{
			"Run enough instances, across availability zones, to lose one at peak load.",
			"Use load-balancer health checks and connection draining (lifecycle hooks in the Auto Scaling Group) so a terminated instance stops getting traffic at once.",
		}
	}
	if !broke {
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
