package scenario_test

import (
	"context"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/process"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/provider/local"
)

// series returns one metric of the points of a window.
func series(res *chaoslab.Result, window string, metric func(chaoslab.Point) float64) []float64 {
	var out []float64
	for _, p := range res.Series {
		if p.Window == window {
			out = append(out, metric(p))
		}
	}
	return out
}

func med(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// TestEachFaultShowsInTheMeasurements runs every built-in scenario against
// the demo service and checks that its effect shows in the result while it
// is active, and is gone after the revert.
func TestEachFaultShowsInTheMeasurements(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo service once per scenario")
	}
	p50 := func(p chaoslab.Point) float64 { return p.Latency.P50 }
	p99 := func(p chaoslab.Point) float64 { return p.Latency.P99 }
	errRate := func(p chaoslab.Point) float64 { return p.ErrRate }
	hostCPU := func(p chaoslab.Point) float64 { return p.HostCPUPercent }
	hostMem := func(p chaoslab.Point) float64 { return p.HostMemoryMB }
	disk := func(p chaoslab.Point) float64 { return p.DiskUsedMB }

	cases := []struct {
		scenario string
		params   chaoslab.Params
		check    func(t *testing.T, res *chaoslab.Result)
	}{
		// The traffic faults run in parallel once the
		// resource faults, which measure the whole machine, are done.
		{"network_delay", chaoslab.Params{"latency": "100ms"}, func(t *testing.T, res *chaoslab.Result) {
			base, chaos, rec := med(series(res, "baseline", p50)), med(series(res, "chaos", p50)), med(series(res, "recovery", p50))
			assert.GreaterOrEqual(t, chaos-base, 90.0, "p50 baseline %.1f, chaos %.1f; faults %+v; series %+v", base, chaos, res.Faults, series(res, "chaos", p50))
			assert.InDelta(t, base, rec, 20, "p50 after the revert")
		}},
		{"http_errors", chaoslab.Params{"rate": "0.5"}, func(t *testing.T, res *chaoslab.Result) {
			chaos, _ := res.Window("chaos")
			rec, _ := res.Window("recovery")
			assert.InDelta(t, 0.5, chaos.ErrRate, 0.2)
			assert.Zero(t, rec.ErrRate)
		}},
		{"http_errors", chaoslab.Params{"rate": "1", "abort": "true"}, func(t *testing.T, res *chaoslab.Result) {
			chaos, _ := res.Window("chaos")
			rec, _ := res.Window("recovery")
			assert.Greater(t, chaos.ErrRate, 0.9, "every request is reset, resent ones too")
			assert.Zero(t, rec.ErrRate)
		}},
		{"http_delay", chaoslab.Params{"delay": "100ms"}, func(t *testing.T, res *chaoslab.Result) {
			base, chaos, rec := med(series(res, "baseline", p50)), med(series(res, "chaos", p50)), med(series(res, "recovery", p50))
			assert.GreaterOrEqual(t, chaos-base, 90.0, "p50 baseline %.1f, chaos %.1f", base, chaos)
			assert.InDelta(t, base, rec, 20, "p50 after the revert")
			chaosW, _ := res.Window("chaos")
			assert.Zero(t, chaosW.ErrRate)
		}},
		// The load sends GET requests only: a delay for POST requests
		// changes nothing.
		{"http_delay", chaoslab.Params{"delay": "100ms", "method": "POST"}, func(t *testing.T, res *chaoslab.Result) {
			base, chaos := med(series(res, "baseline", p50)), med(series(res, "chaos", p50))
			assert.InDelta(t, base, chaos, 20, "p50 under a delay of requests the load does not send")
		}},
		{"network_partition", chaoslab.Params{"mode": "refuse"}, func(t *testing.T, res *chaoslab.Result) {
			chaos, _ := res.Window("chaos")
			rec, _ := res.Window("recovery")
			assert.Greater(t, chaos.ErrRate, 0.9, "the demo cannot reach its dependency")
			assert.Zero(t, rec.ErrRate)
		}},
		{"network_loss", chaoslab.Params{"toxicity": "1"}, func(t *testing.T, res *chaoslab.Result) {
			chaos, _ := res.Window("chaos")
			rec, _ := res.Window("recovery")
			assert.Greater(t, chaos.ErrRate, 0.05, "reset connections fail requests")
			assert.Zero(t, rec.ErrRate)
		}},
		{"process_kill", nil, func(t *testing.T, res *chaoslab.Result) {
			assert.Greater(t, maxOf(series(res, "chaos", errRate)), 0.0, "the kill shows as failed requests")
			require.True(t, res.Recovery.Recovered)
			assert.Greater(t, *res.Recovery.Seconds, 0.0)
			assert.Zero(t, maxOf(series(res, "recovery", errRate)))
		}},
		{"process_pause", chaoslab.Params{"duration": "1s"}, func(t *testing.T, res *chaoslab.Result) {
			assert.GreaterOrEqual(t, maxOf(series(res, "chaos", p99)), 700.0, "requests stall while the process is frozen")
			assert.Less(t, med(series(res, "recovery", p99)), 100.0)
		}},
		{"cpu_stress", chaoslab.Params{"cores": "2"}, func(t *testing.T, res *chaoslab.Result) {
			// The effect shows in host CPU; that it is gone shows in the
			// stress workers being gone: host CPU after the revert also
			// counts whatever else runs on the machine (go test runs other
			// packages meanwhile).
			chaos := med(series(res, "chaos", hostCPU))
			assert.GreaterOrEqual(t, chaos, 80.0, "host CPU under two busy cores")
			assert.Zero(t, stressWorkers(t), "stress workers left after the revert")
		}},
		// Host memory and disk use move with everything else on the machine
		// (go test builds other packages meanwhile): memory pressure is sized
		// well above that noise, and the disk is filled on a file system of
		// its own (see provider below).
		{"memory_pressure", chaoslab.Params{"size": "2GiB"}, func(t *testing.T, res *chaoslab.Result) {
			base, chaos, rec := med(series(res, "baseline", hostMem)), med(series(res, "chaos", hostMem)), med(series(res, "recovery", hostMem))
			assert.GreaterOrEqual(t, chaos-base, 1200.0, "host memory baseline %.0f MB, chaos %.0f MB", base, chaos)
			assert.Less(t, rec, chaos-1200, "host memory after the revert: %.0f MB", rec)
		}},
		{"disk_fill", chaoslab.Params{"size": "800MB"}, func(t *testing.T, res *chaoslab.Result) {
			base, chaos, rec := med(series(res, "baseline", disk)), med(series(res, "chaos", disk)), med(series(res, "recovery", disk))
			assert.GreaterOrEqual(t, chaos-base, 500.0, "disk used baseline %.0f MB, chaos %.0f MB", base, chaos)
			assert.Less(t, rec, chaos-500, "disk used after the revert: %.0f MB", rec)
		}},
	}
	r := chaoslab.New(chaoslab.WithProvider(local.New()))
	// disk_fill fills the file system of the target's working directory: a
	// tmpfs of its own, where nothing else writes, when there is one.
	diskRunner := r
	if dir, err := os.MkdirTemp("/dev/shm", "chaoslab-effects-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(dir) })
		diskRunner = chaoslab.New(chaoslab.WithProvider(local.New(local.WithDir(dir))))
	}
	for _, c := range cases {
		t.Run(c.scenario, func(t *testing.T) {
			switch c.scenario {
			case "network_delay", "http_errors", "http_delay", "network_partition", "network_loss", "process_kill", "process_pause":
				t.Parallel()
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			r := r
			if c.scenario == "disk_fill" {
				r = diskRunner
			}
			res, err := r.Run(ctx, chaoslab.Experiment{
				Name:            c.scenario,
				Load:            chaoslab.Load{Rate: 40},
				Hypothesis:      chaoslab.Hypothesis{MaxErrorRate: 0.01},
				Faults:          []chaoslab.Fault{{Scenario: c.scenario, Params: c.params}},
				Baseline:        2 * time.Second,
				Duration:        3 * time.Second,
				StableWindow:    2 * time.Second,
				RecoveryTimeout: 15 * time.Second,
				Interval:        500 * time.Millisecond,
			})
			require.NoError(t, err)
			require.Equal(t, chaoslab.StatusCompleted, res.Status, res.Reason)
			assert.True(t, res.Recovery.Recovered, "%s; phases %+v", res.Reason, res.Phases)
			c.check(t, res)
		})
	}
}

// stressWorkers counts this process's descendants that run the local
// provider's CPU stress role.
func stressWorkers(t *testing.T) int {
	t.Helper()
	self, err := process.NewProcess(int32(os.Getpid()))
	require.NoError(t, err)
	n := 0
	var walk func(p *process.Process)
	walk = func(p *process.Process) {
		kids, _ := p.Children() // none is an error too
		for _, k := range kids {
			env, _ := k.Environ()
			if slices.Contains(env, local.RoleEnv+"=cpu") {
				n++
			}
			walk(k)
		}
	}
	walk(self)
	return n
}
