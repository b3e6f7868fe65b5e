package chaoslab_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/analyzer/rules"
	"github.com/chaoslab-dev/chaoslab/dashboard/html"
	"github.com/chaoslab-dev/chaoslab/provider/local"
	_ "github.com/chaoslab-dev/chaoslab/scenario" // the built-in faults
)

// Run the demo service under 200 ms of latency on its dependency, with a
// guardrail, and write an HTML report.
func ExampleRunner_Run() {
	r := chaoslab.New(
		chaoslab.WithProvider(local.New()),
		chaoslab.WithAnalyzer(rules.New()),
		chaoslab.WithDashboards(html.New("chaoslab-out")),
		chaoslab.WithObserver(func(e chaoslab.Event) { log.Printf("%5.1f%% %s %s", e.Percent, e.Phase, e.Message) }),
	)
	res, err := r.Run(context.Background(), chaoslab.Experiment{
		Target:     chaoslab.TargetSpec{Kind: chaoslab.TargetDemo},
		Hypothesis: chaoslab.Hypothesis{MaxP99: 500 * time.Millisecond, MaxErrorRate: 0.01},
		Faults: []chaoslab.Fault{
			{Scenario: "network_delay", Params: chaoslab.Params{"latency": "200ms"}},
		},
		StopConditions: []chaoslab.StopCondition{
			{Metric: chaoslab.MetricErrorRate, Max: 0.5, For: 3 * time.Second},
		},
	})
	if err != nil {
		log.Print(err) // res still holds what was measured
	}
	fmt.Println(res.Verdict, res.Reason)
}

// Validate reports every problem at once, each with its field path.
func ExampleExperiment_Validate() {
	exp := chaoslab.Experiment{
		Duration: -5 * time.Second,
		Faults: []chaoslab.Fault{
			{Scenario: "network_delay", Params: chaoslab.Params{"latency": "-5ms"}},
		},
	}
	fmt.Println(exp.Validate())
	// Output:
	// invalid experiment: duration: "-5s" must be a positive duration; faults[0].params.latency: "-5ms" must be a positive duration such as 200ms
}
