package chaostest_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/chaostest"
)

// A resilience check in a test: the demo service must keep p99 under
// 500 ms and errors under 1 % while its dependency is 200 ms slow.
func ExampleRun() {
	var t *testing.T // the *testing.T of your test function

	chaostest.Run(t, chaoslab.Experiment{
		Target:     chaoslab.TargetSpec{Kind: chaoslab.TargetDemo},
		Hypothesis: chaoslab.Hypothesis{MaxP99: 500 * time.Millisecond, MaxErrorRate: 0.01},
		Faults:     []chaoslab.Fault{{Scenario: "network_delay", Params: chaoslab.Params{"latency": "200ms"}}},
	})
}

// Latency on the link between the code under test and its database, in
// three lines.
func ExampleProxy() {
	var t *testing.T // the *testing.T of your test function
	dbAddr := "127.0.0.1:5432"

	p := chaostest.Proxy(t, dbAddr)
	p.Inject(t, "network_delay", "latency=200ms")
	// ... point the code under test at p.Addr() instead of dbAddr.
	_ = p.Addr()
}

// HTTP faults need an HTTP-aware proxy.
func ExampleProxy_http() {
	var t *testing.T // the *testing.T of your test function

	p := chaostest.Proxy(t, "127.0.0.1:8080", chaostest.HTTP())
	p.Inject(t, "http_errors", "rate=25%", "status=503")
	_, _ = http.Get("http://" + p.Addr() + "/")
}

// Failures words each broken tolerance on a line of its own.
func ExampleFailures() {
	res := &chaoslab.Result{
		Status: chaoslab.StatusCompleted,
		Hypothesis: []chaoslab.Check{
			{Window: chaoslab.WindowChaos, Metric: chaoslab.MetricP99, Limit: 300, Observed: 412.3},
			{Window: chaoslab.WindowChaos, Metric: chaoslab.MetricErrorRate, Limit: 0.01, Observed: 0.034},
			{Window: chaoslab.WindowRecovery, Metric: chaoslab.MetricErrorRate, Limit: 0.01, Observed: 0, OK: true},
		},
		Recovery: chaoslab.Recovery{Recovered: true},
	}
	for _, line := range chaostest.Failures(res) {
		fmt.Println(line)
	}
	// Output:
	// chaos    latency_p99_ms: limit 300, observed 412.3
	// chaos    error_rate: limit 0.01, observed 0.034
}
