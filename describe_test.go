package chaoslab_test

import (
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

func TestCheckDescribe(t *testing.T) {
	tests := []struct {
		c    chaoslab.Check
		want string
	}{
		{chaoslab.Check{Window: chaoslab.WindowChaos, Metric: chaoslab.MetricP99, Limit: 100, Observed: 216},
			"p99 latency was 216 ms while the faults were active, above its 100 ms limit"},
		{chaoslab.Check{Window: chaoslab.WindowBaseline, Metric: chaoslab.MetricErrorRate, Limit: 0.01, Observed: 0.002, OK: true},
			"the error rate was 0.2 % before any fault, within its 1 % limit"},
		{chaoslab.Check{Window: chaoslab.WindowRecovery, Metric: chaoslab.MetricThroughput, Limit: 40, Observed: 12.26},
			"successful throughput was 12.3 req/s after the faults were reverted, below its 40 req/s limit"},
		{chaoslab.Check{Window: chaoslab.WindowChaos, Metric: chaoslab.MetricP50, Limit: 50, Observed: 0},
			"p50 latency could not be measured while the faults were active: no request completed (limit 50 ms)"},
		{chaoslab.Check{Window: chaoslab.WindowChaos, Metric: "probe:orders", Observed: 2, Detail: "connection refused"},
			"probe orders failed in 2 intervals while the faults were active (connection refused)"},
		{chaoslab.Check{Window: chaoslab.WindowBaseline, Metric: "probe:orders", OK: true},
			"probe orders passed before any fault"},
		{chaoslab.Check{Window: "soak", Metric: "queue_depth", Limit: 10, Observed: 12.5},
			"queue_depth was 12.5 in the soak window, above its 10 limit"},
	}
	for _, tt := range tests {
		if got := tt.c.Describe(); got != tt.want {
			t.Errorf("Describe() = %q\nwant          %q", got, tt.want)
		}
	}
}

func TestFormatMetric(t *testing.T) {
	for _, tt := range []struct {
		metric string
		v      float64
		want   string
	}{
		{chaoslab.MetricP99, 0.354, "0.35 ms"},
		{chaoslab.MetricP99, 4.84, "4.8 ms"},
		{chaoslab.MetricP50, 216.4, "216 ms"},
		{chaoslab.MetricErrorRate, 0, "0 %"},
		{chaoslab.MetricErrorRate, 0.0005, "0.05 %"},
		{chaoslab.MetricErrorRate, 0.01, "1 %"},
		{chaoslab.MetricErrorRate, 0.8, "80 %"},
		{chaoslab.MetricThroughput, 50, "50 req/s"},
		{chaoslab.MetricThroughput, 49.94, "49.9 req/s"},
	} {
		if got := chaoslab.FormatMetric(tt.metric, tt.v); got != tt.want {
			t.Errorf("FormatMetric(%s, %v) = %q, want %q", tt.metric, tt.v, got, tt.want)
		}
	}
}

func TestRecoveryMeasured(t *testing.T) {
	now := time.Now()
	injected := []chaoslab.FaultRecord{{Scenario: "process_kill", InjectedAt: &now, RevertedAt: &now}}
	tests := []struct {
		name string
		r    chaoslab.Result
		want bool
	}{
		{"completed", chaoslab.Result{Status: chaoslab.StatusCompleted, Faults: injected}, true},
		{"nothing injected", chaoslab.Result{Status: chaoslab.StatusCompleted, Faults: []chaoslab.FaultRecord{{Scenario: "process_kill"}}}, false},
		{"aborted", chaoslab.Result{Status: chaoslab.StatusAborted, Faults: injected}, false},
		{"stop condition", chaoslab.Result{Status: chaoslab.StatusFailed, Faults: injected, Abort: &chaoslab.Abort{Reason: "x"}}, false},
		{"failed while recovering", chaoslab.Result{Status: chaoslab.StatusFailed, Faults: injected,
			Phases: []chaoslab.PhaseSpan{{Name: chaoslab.PhaseRecovering}}}, true},
		{"failed under the faults", chaoslab.Result{Status: chaoslab.StatusFailed, Faults: injected,
			Phases: []chaoslab.PhaseSpan{{Name: chaoslab.PhaseObserving}}}, false},
	}
	for _, tt := range tests {
		if got := tt.r.RecoveryMeasured(); got != tt.want {
			t.Errorf("%s: RecoveryMeasured() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
