package analyzertest

import (
	"fmt"
	"math"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// Epoch is the start time of every fixture result, so that fixtures are the
// same on every call.
var Epoch = time.Date(2025, time.March, 14, 9, 30, 0, 0, time.UTC)

// Fixture is a named, realistic result for table-driven tests.
type Fixture struct {
	Name   string
	Result *chaoslab.Result
}

// Fixtures returns a fresh copy of every fixture: the two realistic runs
// (network delay, process kill), a run that passed, one aborted by a stop
// condition, one whose baseline was not steady, one that failed before it
// measured anything, and the zero Result.
func Fixtures() []Fixture {
	return []Fixture{
		{"network_delay", NetworkDelay()},
		{"process_kill", ProcessKill()},
		{"pass", Pass()},
		{"aborted", Aborted()},
		{"not_steady", NotSteady()},
		{"failed_early", FailedEarly()},
		{"empty", &chaoslab.Result{}},
	}
}

func at(sec float64) time.Time {
	return Epoch.Add(time.Duration(sec * float64(time.Second)))
}

func atp(sec float64) *time.Time {
	t := at(sec)
	return &t
}

func fp(f float64) *float64 { return &f }

// point describes one 1 s interval of a fixture series.
type point struct {
	sec        float64
	window     string
	requests   int64
	errors     int64
	p50, p99   float64
	cpu, mem   float64
	hostCPU    float64
	logErrors  int
	probeFails []string
}

func (p point) build() chaoslab.Point {
	var errRate float64
	if p.requests > 0 {
		errRate = float64(p.errors) / float64(p.requests)
	}
	return chaoslab.Point{
		T:              at(p.sec),
		Window:         p.window,
		Requests:       p.requests,
		Errors:         p.errors,
		RPS:            float64(p.requests), // over a 1 s interval
		ErrRate:        errRate,
		Latency:        chaoslab.Latencies{P50: p.p50, P90: (p.p50 + p.p99) / 2, P99: p.p99},
		CPUPercent:     p.cpu,
		MemoryMB:       p.mem,
		HostCPUPercent: p.hostCPU,
		HostMemoryMB:   3120 + p.mem,
		DiskUsedMB:     18200,
		ProbeFailures:  p.probeFails,
		LogErrors:      p.logErrors,
	}
}

// windows summarises the series per window, the way the Runner does (but
// with percentiles approximated from the intervals).
func windows(series []chaoslab.Point) []chaoslab.WindowStats {
	var out []chaoslab.WindowStats
	for _, name := range []string{chaoslab.WindowBaseline, chaoslab.WindowChaos, chaoslab.WindowRecovery} {
		var w chaoslab.WindowStats
		n := 0
		for _, p := range series {
			if p.Window != name {
				continue
			}
			if n == 0 {
				w.Start = p.T.Add(-time.Second)
			}
			n++
			w.End = p.T
			w.Requests += p.Requests
			w.Errors += p.Errors
			w.Latency.P50 = math.Max(w.Latency.P50, p.Latency.P50)
			w.Latency.P90 = math.Max(w.Latency.P90, p.Latency.P90)
			w.Latency.P99 = math.Max(w.Latency.P99, p.Latency.P99)
			w.CPUPeak = math.Max(w.CPUPeak, p.CPUPercent)
			w.MemoryMax = math.Max(w.MemoryMax, p.MemoryMB)
		}
		if n == 0 {
			continue
		}
		w.Name = name
		w.RPS = float64(w.Requests) / float64(n)
		if w.Requests > 0 {
			w.ErrRate = float64(w.Errors) / float64(w.Requests)
		}
		out = append(out, w)
	}
	return out
}

// ph is a phase and the second it started at.
type ph struct {
	name  chaoslab.Phase
	start float64
}

// spans turns phase starts into spans: each phase ends where the next one
// starts, and the last one, the terminal phase, ends where it starts.
func spans(phases ...ph) []chaoslab.PhaseSpan {
	out := make([]chaoslab.PhaseSpan, len(phases))
	for i, p := range phases {
		end := p.start
		if i+1 < len(phases) {
			end = phases[i+1].start
		}
		out[i] = chaoslab.PhaseSpan{Name: p.name, StartedAt: at(p.start), EndedAt: at(end)}
	}
	return out
}

// lifecycle returns the phases of a completed run whose baseline starts at
// 1 s, chaos at 6 s and lasts chaos seconds, with recovery measured for rec
// seconds.
func lifecycle(chaos, rec float64) []chaoslab.PhaseSpan {
	c := 6 + chaos
	return spans(
		ph{chaoslab.PhaseProvisioning, 0},
		ph{chaoslab.PhaseBaseline, 1},
		ph{chaoslab.PhaseInjecting, 6},
		ph{chaoslab.PhaseObserving, 6.05},
		ph{chaoslab.PhaseRollingBack, c},
		ph{chaoslab.PhaseRecovering, c + 0.1},
		ph{chaoslab.PhaseAnalyzing, c + 0.1 + rec},
		ph{chaoslab.PhasePublishing, c + 0.15 + rec},
		ph{chaoslab.PhaseCompleted, c + 0.2 + rec},
	)
}

func checks(window string, maxP99, maxErr float64, series []chaoslab.Point) []chaoslab.Check {
	ws := windows(series)
	var out []chaoslab.Check
	for _, w := range ws {
		if window != "" && w.Name != window {
			continue
		}
		out = append(out,
			chaoslab.Check{Window: w.Name, Metric: chaoslab.MetricP99, Limit: maxP99, Observed: w.Latency.P99, OK: w.Latency.P99 <= maxP99},
			chaoslab.Check{Window: w.Name, Metric: chaoslab.MetricErrorRate, Limit: maxErr, Observed: w.ErrRate, OK: w.ErrRate <= maxErr},
		)
	}
	return out
}

func base(name string) *chaoslab.Result {
	return &chaoslab.Result{
		SchemaVersion: chaoslab.SchemaVersion,
		ID:            "run-" + name,
		Name:          name,
		StartedAt:     Epoch,
		Provider:      "local",
		Target:        chaoslab.TargetRef{Kind: chaoslab.TargetDemo, ID: "demo-4711", Endpoint: "127.0.0.1:40123"},
		Seed:          42,
		Load:          chaoslab.LoadRecord{Rate: 50, Paths: []string{"/"}, Method: "GET", TimeoutMS: 2000},
		Dashboards:    []chaoslab.DashboardLink{},
		Errors:        []string{},
	}
}

// NetworkDelay is a completed run of network_delay: 5 s of steady baseline,
// a 10 s chaos window in which 200 ms of latency on the "db" link pushes p99
// from about 12 ms to about 215 ms (over its 100 ms limit), then 3 s of
// recovery. The verdict is fail; the target recovered 1.2 s after the
// revert.
func NetworkDelay() *chaoslab.Result {
	r := base("checkout-db-latency")
	var pts []point
	for i := range 5 {
		pts = append(pts, point{sec: float64(2 + i), window: chaoslab.WindowBaseline, requests: 50,
			p50: 4.8 + 0.1*float64(i), p99: 11.5 + 0.2*float64(i), cpu: 9 + float64(i%2), mem: 41.2, hostCPU: 22})
	}
	for i := range 10 {
		var errs int64
		if i == 4 {
			errs = 1 // one request hit the 2 s timeout
		}
		pts = append(pts, point{sec: float64(7 + i), window: chaoslab.WindowChaos, requests: 50, errors: errs,
			p50: 205 + float64(i%3), p99: 213 + float64(i%4), cpu: 7 + float64(i%2), mem: 43.5 + 0.1*float64(i), hostCPU: 19})
	}
	// The interval that straddles the rollback belongs to no window.
	pts = append(pts, point{sec: 17, requests: 50, p50: 90, p99: 212, cpu: 8, mem: 44.1, hostCPU: 20})
	for i := range 3 {
		pts = append(pts, point{sec: float64(18 + i), window: chaoslab.WindowRecovery, requests: 50,
			p50: 5 + 0.1*float64(i), p99: 12 + 0.3*float64(i), cpu: 9, mem: 44.1, hostCPU: 21})
	}
	for _, p := range pts {
		r.Series = append(r.Series, p.build())
	}
	r.Windows = windows(r.Series)
	r.Hypothesis = checks("", 100, 0.01, r.Series)
	r.Phases = lifecycle(10, 4.2)
	r.EndedAt = r.Phases[len(r.Phases)-1].EndedAt
	r.Faults = []chaoslab.FaultRecord{{
		Scenario:   "network_delay",
		Params:     chaoslab.Params{"link": "db", "latency": "200ms", "jitter": "0s"},
		InjectedAt: atp(6.05),
		RevertedAt: atp(16.05),
	}}
	r.Status = chaoslab.StatusCompleted
	r.Verdict = chaoslab.VerdictFail
	r.Reason = "the hypothesis did not hold: chaos latency_p99_ms 216 beyond 100"
	r.Recovery = chaoslab.Recovery{Recovered: true, Seconds: fp(1.2), StableWindow: 3}
	r.Logs = chaoslab.LogSummary{Lines: 412, ErrorCount: 1, Last: []string{
		`level=INFO msg="GET /" status=200 duration=206ms`,
		`level=WARN msg="slow dependency" dep=db duration=211ms`,
		`level=ERROR msg="GET /" err="context deadline exceeded" duration=2s`,
		`level=INFO msg="GET /" status=200 duration=5ms`,
	}}
	return r
}

// ProcessKill is a completed run of process_kill: the target's process is
// killed 2 s into the chaos window, the provider restarts it, and for about
// two seconds most requests fail (the chaos window's error rate is 10 %,
// over its 1 % limit) while CPU drops to zero and then spikes on start-up.
// The target recovered 2.4 s after the kill.
func ProcessKill() *chaoslab.Result {
	r := base("api-restart")
	var pts []point
	for i := range 5 {
		pts = append(pts, point{sec: float64(2 + i), window: chaoslab.WindowBaseline, requests: 50,
			p50: 3.1, p99: 9 + 0.5*float64(i%2), cpu: 6, mem: 38, hostCPU: 18})
	}
	for i := range 10 {
		p := point{sec: float64(7 + i), window: chaoslab.WindowChaos, requests: 50,
			p50: 3.2, p99: 9.8, cpu: 6, mem: 38.5, hostCPU: 18}
		switch i {
		case 2: // killed at 8 s: the interval ending at 9 s
			p.errors, p.p50, p.p99, p.cpu, p.mem, p.logErrors = 30, 1.1, 2.3, 0, 0, 2
		case 3: // restarting
			p.errors, p.p50, p.p99, p.cpu, p.mem, p.logErrors = 20, 41, 180, 74, 21, 1
			p.probeFails = []string{"orders-reachable"}
		case 4:
			p.p50, p.p99, p.cpu, p.mem = 4.5, 35, 22, 33
		}
		pts = append(pts, p)
	}
	pts = append(pts, point{sec: 17, requests: 50, p50: 3.1, p99: 9.9, cpu: 6, mem: 38.9, hostCPU: 18})
	for i := range 3 {
		pts = append(pts, point{sec: float64(18 + i), window: chaoslab.WindowRecovery, requests: 50,
			p50: 3.1, p99: 9.5, cpu: 6, mem: 39, hostCPU: 18})
	}
	for _, p := range pts {
		r.Series = append(r.Series, p.build())
	}
	r.Windows = windows(r.Series)
	r.Hypothesis = append(checks("", 250, 0.01, r.Series), chaoslab.Check{
		Window: chaoslab.WindowChaos, Metric: "probe:orders-reachable", Limit: 0, Observed: 1, OK: false,
		Detail: "GET /orders: connection refused",
	})
	r.Phases = lifecycle(10, 5.4)
	r.EndedAt = r.Phases[len(r.Phases)-1].EndedAt
	r.Faults = []chaoslab.FaultRecord{{
		Scenario:   "process_kill",
		Params:     chaoslab.Params{"signal": "SIGKILL"},
		InjectedAt: atp(8),
		RevertedAt: atp(8),
	}}
	r.Status = chaoslab.StatusCompleted
	r.Verdict = chaoslab.VerdictFail
	r.Reason = "the hypothesis did not hold: chaos error_rate 0.1 beyond 0.01; chaos probe:orders-reachable 1 beyond 0"
	r.Recovery = chaoslab.Recovery{Recovered: true, Seconds: fp(2.4), StableWindow: 3}
	r.Logs = chaoslab.LogSummary{Lines: 230, ErrorCount: 3, Last: []string{
		`supervisor: process exited: signal: killed`,
		`supervisor: restarting (attempt 1)`,
		`level=ERROR msg="connect orders" err="connection refused"`,
		`level=INFO msg="listening" addr=127.0.0.1:40123`,
		`level=INFO msg="ready" startup=1.4s`,
	}}
	return r
}

// Pass is a completed run of http_errors in which the hypothesis held
// throughout: 5 % injected 503s were retried away by the target.
func Pass() *chaoslab.Result {
	r := base("payments-retries")
	for i := range 18 {
		w := chaoslab.WindowBaseline
		switch {
		case i >= 15:
			w = chaoslab.WindowRecovery
		case i >= 5:
			w = chaoslab.WindowChaos
		}
		p := point{sec: float64(2 + i), window: w, requests: 50, p50: 6, p99: 14, cpu: 11, mem: 52, hostCPU: 25}
		if w == chaoslab.WindowChaos {
			p.p50, p.p99, p.cpu = 7, 31, 13
		}
		r.Series = append(r.Series, p.build())
	}
	r.Windows = windows(r.Series)
	r.Hypothesis = checks("", 300, 0.01, r.Series)
	r.Phases = lifecycle(10, 3)
	r.EndedAt = r.Phases[len(r.Phases)-1].EndedAt
	r.Faults = []chaoslab.FaultRecord{{
		Scenario:   "http_errors",
		Params:     chaoslab.Params{"link": "payments", "rate": "5%", "status": "503"},
		InjectedAt: atp(6.05),
		RevertedAt: atp(16.05),
	}}
	r.Status = chaoslab.StatusCompleted
	r.Verdict = chaoslab.VerdictPass
	r.Reason = "the hypothesis held before, during and after the faults"
	r.Recovery = chaoslab.Recovery{Recovered: true, Seconds: fp(0), StableWindow: 3}
	r.Logs = chaoslab.LogSummary{Lines: 900, Last: []string{`level=INFO msg="retrying payment" attempt=2`}}
	return r
}

// Aborted is a run of http_errors that a stop condition (error_rate above
// 0.5 for 2 s) aborted 3 s into the chaos window; the faults were rolled
// back and recovery was not measured.
func Aborted() *chaoslab.Result {
	r := base("payments-outage")
	for i := range 9 {
		w := chaoslab.WindowBaseline
		p := point{sec: float64(2 + i), requests: 50, p50: 6, p99: 14, cpu: 11, mem: 52, hostCPU: 25}
		if i >= 5 {
			w = chaoslab.WindowChaos
			p.errors, p.p50, p.p99, p.logErrors = 40, 2, 9, 40
		}
		p.window = w
		r.Series = append(r.Series, p.build())
	}
	r.Windows = windows(r.Series)
	r.Hypothesis = checks("", 300, 0.01, r.Series)
	r.Phases = spans(
		ph{chaoslab.PhaseProvisioning, 0},
		ph{chaoslab.PhaseBaseline, 1},
		ph{chaoslab.PhaseInjecting, 6},
		ph{chaoslab.PhaseObserving, 6.05},
		ph{chaoslab.PhaseRollingBack, 9.1},
		ph{chaoslab.PhaseAnalyzing, 9.3},
		ph{chaoslab.PhasePublishing, 9.35},
		ph{chaoslab.PhaseAborted, 9.4},
	)
	r.EndedAt = at(9.4)
	r.Faults = []chaoslab.FaultRecord{{
		Scenario:   "http_errors",
		Params:     chaoslab.Params{"link": "payments", "rate": "80%", "status": "500"},
		InjectedAt: atp(6.05),
		RevertedAt: atp(9.2),
	}}
	cond := &chaoslab.StopCondition{Metric: chaoslab.MetricErrorRate, Max: 0.5, For: 2 * time.Second}
	r.Abort = &chaoslab.Abort{Reason: fmt.Sprintf("stop condition %s > %v for %s breached (observed 0.8)", cond.Metric, cond.Max, cond.For), Condition: cond, At: at(9.1)}
	r.Status = chaoslab.StatusAborted
	r.Verdict = chaoslab.VerdictFail
	r.Reason = r.Abort.Reason
	r.Recovery = chaoslab.Recovery{Recovered: false, StableWindow: 3}
	r.Logs = chaoslab.LogSummary{Lines: 300, ErrorCount: 160, Last: []string{`level=ERROR msg="charge failed" status=500`}}
	return r
}

// NotSteady is a run whose baseline already broke the hypothesis (p99 of
// about 480 ms against a 300 ms limit), so the verdict is inconclusive.
func NotSteady() *chaoslab.Result {
	r := base("search-cpu")
	for i := range 5 {
		r.Series = append(r.Series, point{sec: float64(2 + i), window: chaoslab.WindowBaseline, requests: 50,
			p50: 120, p99: 470 + float64(i)*4, cpu: 96, mem: 300, hostCPU: 97}.build())
	}
	r.Windows = windows(r.Series)
	r.Hypothesis = checks("", 300, 0.01, r.Series)
	r.Phases = spans(
		ph{chaoslab.PhaseProvisioning, 0},
		ph{chaoslab.PhaseBaseline, 1},
		ph{chaoslab.PhaseCompleted, 6},
	)
	r.EndedAt = at(6)
	r.Faults = []chaoslab.FaultRecord{{Scenario: "cpu_stress", Params: chaoslab.Params{"cores": "2", "percent": "90"}}}
	r.Status = chaoslab.StatusCompleted
	r.Verdict = chaoslab.VerdictInconclusive
	r.Reason = "the target was not steady before any fault: baseline latency_p99_ms 486 beyond 300"
	r.Recovery = chaoslab.Recovery{StableWindow: 3}
	return r
}

// FailedEarly is a run that failed while provisioning: no measurements, no
// faults injected, one error.
func FailedEarly() *chaoslab.Result {
	r := base("broken-target")
	r.Target = chaoslab.TargetRef{Kind: chaoslab.TargetCommand}
	r.Phases = spans(ph{chaoslab.PhaseProvisioning, 0}, ph{chaoslab.PhaseFailed, 30})
	r.EndedAt = at(30)
	r.Faults = []chaoslab.FaultRecord{{Scenario: "memory_pressure", Params: chaoslab.Params{"size": "256MB"}}}
	r.Status = chaoslab.StatusFailed
	r.Verdict = chaoslab.VerdictInconclusive
	r.Reason = "the target could not be provisioned"
	r.Errors = []string{"provision local: target not ready: GET http://127.0.0.1:8080/health: connection refused after 30s"}
	r.Logs = chaoslab.LogSummary{Lines: 2, ErrorCount: 1, Last: []string{"panic: missing DATABASE_URL", "exit status 2"}}
	return r
}
