package e2b

import (
	"fmt"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
	_ "github.com/chaoslab-dev/chaoslab/scenario"
)

// TestRunnerEndToEnd runs the demo in a sandbox under the Runner, as
// `chaoslab run --provider e2b` does: one run with network_delay on the
// demo's dependency, one with process_kill; every sandbox is gone after
// each.
func TestRunnerEndToEnd(t *testing.T) {
	e := start(t)
	r := chaoslab.New(chaoslab.WithProvider(e.p))
	for _, f := range []chaoslab.Fault{
		{Scenario: "network_delay", Params: chaoslab.Params{"latency": "150ms"}},
		{Scenario: "process_kill"},
	} {
		t.Run(f.Scenario, func(t *testing.T) {
			res, err := r.Run(ctx(t, 60*time.Second), chaoslab.Experiment{
				Name:            "e2b-" + f.Scenario,
				Baseline:        time.Second,
				Duration:        2 * time.Second,
				StableWindow:    time.Second,
				RecoveryTimeout: 15 * time.Second,
				Interval:        500 * time.Millisecond,
				Load:            chaoslab.Load{Rate: 20},
				Hypothesis:      chaoslab.Hypothesis{MaxErrorRate: 0.5},
				Faults:          []chaoslab.Fault{f},
			})
			if err != nil {
				t.Fatalf("Run: %v (errors %q)", err, res.Errors)
			}
			if res.Status != chaoslab.StatusCompleted || len(res.Errors) > 0 {
				t.Fatalf("status %s, reason %q, errors %q", res.Status, res.Reason, res.Errors)
			}
			if len(res.Faults) != 1 || res.Faults[0].InjectedAt == nil || res.Faults[0].RevertedAt == nil || res.Faults[0].Error != "" {
				t.Fatalf("fault record %+v", res.Faults)
			}
			if e.fake.Live() != 0 {
				t.Errorf("%d sandboxes live after the run", e.fake.Live())
			}
			var base, chaos *chaoslab.WindowStats
			for i, w := range res.Windows {
				switch w.Name {
				case "baseline":
					base = &res.Windows[i]
				case "chaos", "fault", "injecting", "observing":
					if chaos == nil {
						chaos = &res.Windows[i]
					}
				}
			}
			t.Logf("windows: %+v; recovery %+v", res.Windows, res.Recovery)
			if base == nil || base.Requests == 0 {
				t.Fatalf("no baseline requests: %+v", res.Windows)
			}
			if f.Scenario == "network_delay" && chaos != nil && chaos.Latency.P50 < 140 {
				t.Errorf("p50 under a 150ms delay on the dependency: %.1fms", chaos.Latency.P50)
			}
			if !res.Recovery.Recovered {
				t.Errorf("did not recover: %+v", res.Recovery)
			}
		})
	}
}

// TestRunAllTenAtOnce runs ten experiments at once through the Runner, each
// with a sandbox of its own, and checks that every one completed, measured
// its own fault, and left no sandbox behind.
func TestRunAllTenAtOnce(t *testing.T) {
	e := start(t)
	r := chaoslab.New(chaoslab.WithProvider(e.p))
	var exps []chaoslab.Experiment
	for i := range 10 {
		exps = append(exps, chaoslab.Experiment{
			Name:            fmt.Sprintf("parallel-%d", i),
			Baseline:        time.Second,
			Duration:        2 * time.Second,
			StableWindow:    time.Second,
			RecoveryTimeout: 20 * time.Second,
			Interval:        500 * time.Millisecond,
			Load:            chaoslab.Load{Rate: 10},
			Hypothesis:      chaoslab.Hypothesis{MaxErrorRate: 0.5},
			Faults:          []chaoslab.Fault{{Scenario: "network_delay", Params: chaoslab.Params{"latency": "100ms"}}},
		})
	}
	results, err := r.RunAll(ctx(t, 3*time.Minute), exps, 10)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, res := range results {
		if res.Status != chaoslab.StatusCompleted || len(res.Errors) > 0 {
			t.Errorf("%s: status %s, reason %q, errors %q", res.Name, res.Status, res.Reason, res.Errors)
		}
		if ids[res.Target.ID] {
			t.Errorf("%s: target %s shared with another run", res.Name, res.Target.ID)
		}
		ids[res.Target.ID] = true
		for _, w := range res.Windows {
			if w.Name == chaoslab.WindowChaos && w.Latency.P50 < 90 {
				t.Errorf("%s: chaos p50 %.1f ms under a 100 ms delay", res.Name, w.Latency.P50)
			}
		}
	}
	if n := e.fake.Live(); n != 0 {
		t.Errorf("%d sandboxes live after the runs", n)
	}
}
