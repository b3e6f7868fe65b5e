package html

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/analyzer/analyzertest"
)

func TestHeadline(t *testing.T) {
	notRecovered := analyzertest.Pass()
	notRecovered.Verdict, notRecovered.Reason, notRecovered.Recovery = chaoslab.VerdictFail, "the target did not recover within 30s", chaoslab.Recovery{}
	recoveryBroke := analyzertest.NetworkDelay()
	recoveryBroke.Hypothesis = []chaoslab.Check{{Window: chaoslab.WindowRecovery, Metric: chaoslab.MetricErrorRate, Limit: 0.01, Observed: 0.3}}
	recoveryBroke.Recovery = chaoslab.Recovery{StableWindow: 3}
	throughput := analyzertest.NetworkDelay()
	throughput.Hypothesis = []chaoslab.Check{{Window: chaoslab.WindowChaos, Metric: chaoslab.MetricThroughput, Limit: 45, Observed: 12.5}}
	noAnswer := analyzertest.NetworkDelay()
	noAnswer.Hypothesis = []chaoslab.Check{{Window: chaoslab.WindowChaos, Metric: chaoslab.MetricP99, Limit: 100, Observed: 0}}
	probe := analyzertest.ProcessKill()
	probe.Hypothesis = probe.Hypothesis[len(probe.Hypothesis)-1:]
	aborted := analyzertest.Aborted()
	aborted.Verdict = chaoslab.VerdictInconclusive
	aborted.Hypothesis = nil

	tests := []struct {
		name string
		r    *chaoslab.Result
		want string
	}{
		{"fail", analyzertest.NetworkDelay(), "The service broke its promise during a 200 ms delay on its calls to db: " +
			"99 % of requests took up to 216 ms, above the 100 ms limit. It recovered 1.2 s after the fault ended."},
		{"fail instantaneous", analyzertest.ProcessKill(), "The service broke its promise during the kill of its process: " +
			"10 % of requests failed, above the 1 % limit (and 1 more promise was broken). It recovered 2.4 s after the fault."},
		{"pass", analyzertest.Pass(), "The service kept its promises (99 % of requests answered within 300 ms and at most 1 % of requests failing) " +
			"during errors (HTTP 503) on 5 % of its calls to payments. It was back to normal as soon as the fault ended."},
		{"aborted", analyzertest.Aborted(), "The service broke its promise during errors (HTTP 500) on 80 % of its calls to payments: " +
			"80 % of requests failed, above the 1 % limit. The run was stopped early for safety, as more than 50 % of requests failed for 2 s."},
		{"aborted, inconclusive", aborted, "This run cannot tell whether the service copes with errors (HTTP 500) on 80 % of its calls to payments: " +
			"the run was stopped early for safety, as more than 50 % of requests failed for 2 s."},
		{"not steady", analyzertest.NotSteady(), "This run cannot tell whether the service copes with CPU stress (2 cores at 90 %): even before the fault, " +
			"99 % of requests took up to 486 ms, above the 300 ms limit. Make the service steady first, then run the experiment again."},
		{"failed early", analyzertest.FailedEarly(), "This run cannot tell whether the service copes with memory pressure (256 MB taken): " +
			"the run failed, as the target could not be provisioned. The details below say what went wrong."},
		{"empty", &chaoslab.Result{}, "This run cannot tell how resilient the service is."},
		{"did not recover", notRecovered, "The service did not cope with errors (HTTP 503) on 5 % of its calls to payments. It did not recover after the fault ended."},
		{"recovery window", recoveryBroke, "The service did not get back to its promise after a 200 ms delay on its calls to db ended: " +
			"30 % of requests failed, above the 1 % limit. It did not recover after the fault ended."},
		{"throughput", throughput, "only 12.5 req/s were answered successfully, below the minimum of 45 req/s."},
		{"no answer", noAnswer, "during a 200 ms delay on its calls to db: no request got an answer."},
		{"probe", probe, "during the kill of its process: the “orders-reachable” check failed (GET /orders: connection refused)."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := headline(tt.r); !strings.Contains(got, tt.want) {
				t.Errorf("headline:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestFaultPhrase(t *testing.T) {
	tests := []struct {
		scenario string
		params   chaoslab.Params
		want     string
	}{
		{"network_delay", chaoslab.Params{"latency": "1500ms", "jitter": "50ms"}, "a 1.5 s (± 50 ms) delay on its network traffic"},
		{"network_delay", chaoslab.Params{"latency": "200ms", "link": "ingress"}, "a 200 ms delay on requests to it"},
		{"http_delay", chaoslab.Params{"delay": "2s", "rate": "25%"}, "a 2 s delay on 25 % of its responses"},
		{"http_errors", chaoslab.Params{"rate": "1", "abort": "true"}, "dropped connections on its requests"},
		{"bandwidth_limit", chaoslab.Params{"rate": "64KiB", "link": "db"}, "a bandwidth limit of 64 KiB/s on its calls to db"},
		{"network_loss", chaoslab.Params{"mode": "stall", "link": "cache"}, "stalled connections to cache"},
		{"network_loss", nil, "dropped connections"},
		{"network_partition", chaoslab.Params{"link": "db"}, "a network cut between it and db"},
		{"network_partition", nil, "a network cut in front of it"},
		{"timeout", chaoslab.Params{"link": "db"}, "hanging connections to db"},
		{"limit_data", chaoslab.Params{"bytes": "64KB"}, "connections cut after 64 KB"},
		{"slicer", nil, "traffic split into small pieces on its network traffic"},
		{"process_kill", chaoslab.Params{"signal": "SIGTERM"}, "a SIGTERM signal to its process"},
		{"process_kill", chaoslab.Params{"signal": "9"}, "the kill of its process"},
		{"process_pause", chaoslab.Params{"duration": "5s"}, "a 5 s freeze of its process"},
		{"cpu_stress", chaoslab.Params{"cores": "1", "percent": "100"}, "CPU stress (1 core at 100 %)"},
		{"disk_fill", chaoslab.Params{"size": "512MB"}, "its disk filling up by 512 MB"},
		{"instance_termination", chaoslab.Params{"percent": "50%"}, "the loss of 50 % of its instances"},
		{"instance_termination", chaoslab.Params{"count": "2"}, "the loss of 2 of its instances"},
		{"custom_thing", nil, "the custom thing fault"},
		{"", nil, "an unnamed fault"},
	}
	for _, tt := range tests {
		if got := faultPhrase(chaoslab.FaultRecord{Scenario: tt.scenario, Params: tt.params}); got != tt.want {
			t.Errorf("faultPhrase(%s %v) = %q, want %q", tt.scenario, tt.params, got, tt.want)
		}
	}
	two := []chaoslab.FaultRecord{{Scenario: "process_kill"}, {Scenario: "cpu_stress"}, {Scenario: "process_kill"}}
	if got, want := faultsPhrase(two), "the kill of its process and CPU stress"; got != want {
		t.Errorf("faultsPhrase = %q, want %q", got, want)
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{250 * time.Millisecond: "250 ms", 1500 * time.Millisecond: "1.5 s", 2 * time.Minute: "120 s", 0: "0 ms"} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

// The score goes at the top, next to the verdict and above the details
// for engineers; a result without one shows none.
func TestScoreAtTop(t *testing.T) {
	r := analyzertest.NetworkDelay()
	if s := score(r); s != nil {
		t.Fatalf("score(%s) = %+v for a result without a score", r.Name, s)
	}
	render := func(v view) string {
		var buf bytes.Buffer
		if err := report.Execute(&buf, v); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	v := newView(r, DefaultLogLines)
	if doc := render(v); strings.Contains(doc, `id="score"`) {
		t.Error("a result without a score shows one")
	}
	v.Score = &scoreView{Value: "42", Max: "100", Class: "fail"}
	doc := render(v)
	want := `<div class="score fail" id="score"><span class="score-label">Resilience score</span><span class="score-value">42</span><span class="score-max">out of 100</span></div>`
	at := strings.Index(doc, want)
	if at < 0 {
		t.Fatalf("the report does not show the score as %s", want)
	}
	for _, before := range []string{`id="verdict"`, `id="headline"`} {
		if i := strings.Index(doc, before); i < 0 || i > at {
			t.Errorf("the score is not after %s", before)
		}
	}
	for _, after := range []string{`id="details"`, "</header>", `id="analysis"`} {
		if i := strings.Index(doc, after); i < at {
			t.Errorf("the score is not before %s", after)
		}
	}
}

func TestScoreAndComparisonsFromTheResult(t *testing.T) {
	r := analyzertest.NetworkDelay()
	s, limit := 37.4, 100.0
	r.Score = &s
	r.Comparisons = []chaoslab.Comparison{{Metric: chaoslab.MetricP99, Phase: chaoslab.WindowChaos, Baseline: 12, Observed: 214.5,
		Effect: 202.5, Interval: [2]float64{198, 207}, PValue: 0.0001, Limit: &limit, Verdict: "fail"}}
	if sv := score(r); sv == nil || sv.Value != "37" || sv.Max != "100" {
		t.Fatalf("score = %+v, want 37 of 100", sv)
	}
	var buf bytes.Buffer
	if err := report.Execute(&buf, newView(r, DefaultLogLines)); err != nil {
		t.Fatal(err)
	}
	doc := buf.String()
	for _, want := range []string{`id="score"`, `id="comparisons"`, "202.5 ms", "[198.0 ms, 207.0 ms]", "100.0 ms"} {
		if !strings.Contains(doc, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}
