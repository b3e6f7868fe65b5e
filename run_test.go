package chaoslab_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/chaoslab-dev/chaoslab"
)

func TestMain(m *testing.M) {
	chaoslab.RegisterScenario(chaoslab.Scenario{
		Name:    "test_delay",
		Summary: "a fake delay for tests",
		Params: []chaoslab.ParamSpec{
			{Name: "latency", Kind: chaoslab.KindDuration, Default: "50ms"},
			{Name: "rate", Kind: chaoslab.KindFraction, Default: "1"},
		},
		New: func(c chaoslab.FaultConfig) (chaoslab.Injector, error) {
			return &fault{delay: c.Params.Duration("latency"), name: "test_delay"}, nil
		},
	})
	goleak.VerifyTestMain(m)
}

// quick returns an experiment with short phases for tests.
func quick(faults ...chaoslab.Fault) chaoslab.Experiment {
	return chaoslab.Experiment{
		Name:         "quick",
		Load:         chaoslab.Load{Rate: 100, Timeout: time.Second},
		Hypothesis:   chaoslab.Hypothesis{MaxErrorRate: 0.05},
		Faults:       faults,
		Baseline:     400 * time.Millisecond,
		Duration:     600 * time.Millisecond,
		StableWindow: 300 * time.Millisecond,
		Interval:     100 * time.Millisecond,
		Seed:         7,
		// Long enough for the fakes to recover on a loaded machine.
		RecoveryTimeout: 3 * time.Second,
	}
}

func TestRunMeasuresAFault(t *testing.T) {
	f := &fault{delay: 80 * time.Millisecond, name: "slow"}
	exp := quick(chaoslab.Fault{Scenario: "slow", Injector: f})
	exp.Hypothesis.MaxP99 = 40 * time.Millisecond
	p := &fakeProvider{}
	dash := &recordDashboard{}
	var phases []chaoslab.Phase
	r := chaoslab.New(chaoslab.WithProvider(p), chaoslab.WithDashboards(dash),
		chaoslab.WithObserver(func(e chaoslab.Event) {
			if len(phases) == 0 || phases[len(phases)-1] != e.Phase {
				phases = append(phases, e.Phase)
			}
		}))
	res, err := r.Run(context.Background(), exp)
	require.NoError(t, err)
	assert.Equal(t, chaoslab.StatusCompleted, res.Status)
	assert.Equal(t, chaoslab.VerdictFail, res.Verdict, res.Reason)
	assert.EqualValues(t, 1, f.injected.Load())
	assert.EqualValues(t, 1, f.undone.Load())
	assert.Zero(t, p.live(), "target left open")

	base, ok := res.Window(chaoslab.WindowBaseline)
	require.True(t, ok)
	chaos, ok := res.Window(chaoslab.WindowChaos)
	require.True(t, ok)
	rec, ok := res.Window(chaoslab.WindowRecovery)
	require.True(t, ok)
	assert.Less(t, base.Latency.P50, 40.0)
	assert.GreaterOrEqual(t, chaos.Latency.P50, 75.0)
	assert.Less(t, rec.Latency.P50, 40.0)
	assert.True(t, res.Recovery.Recovered)
	require.NotNil(t, res.Recovery.Seconds)

	var failed []string
	for _, c := range res.Failed() {
		failed = append(failed, c.Window+" "+c.Metric)
	}
	assert.Equal(t, []string{"chaos latency_p99_ms"}, failed)
	assert.Equal(t, []chaoslab.Phase{
		chaoslab.PhaseProvisioning, chaoslab.PhaseBaseline, chaoslab.PhaseInjecting, chaoslab.PhaseObserving,
		chaoslab.PhaseRollingBack, chaoslab.PhaseRecovering, chaoslab.PhasePublishing, chaoslab.PhaseCompleted,
	}, phases)
	var spans []chaoslab.Phase
	for _, s := range res.Phases {
		spans = append(spans, s.Name)
	}
	assert.Equal(t, phases[:len(phases)-1], spans)
	assert.EqualValues(t, 1, dash.got.Load())
	require.Len(t, res.Dashboards, 1)
	assert.NotEmpty(t, res.Series)
	assert.InDelta(t, 12, res.Series[0].CPUPercent, 0.01)
}

func TestRunPassesWithinTolerance(t *testing.T) {
	exp := quick(chaoslab.Fault{Scenario: "test_delay", Params: chaoslab.Params{"latency": "20ms"}})
	exp.Hypothesis.MaxP99 = time.Second
	res, err := chaoslab.New(chaoslab.WithProvider(&fakeProvider{})).Run(context.Background(), exp)
	require.NoError(t, err)
	assert.Equal(t, chaoslab.VerdictPass, res.Verdict, res.Reason)
	assert.Equal(t, "20ms", res.Faults[0].Params["latency"])
	assert.Equal(t, "1", res.Faults[0].Params["rate"], "defaults are recorded")
	assert.EqualValues(t, 7, res.Seed)
}

func TestRecoveryTimeIsMeasuredFromRevert(t *testing.T) {
	f := &fault{fail: true, lag: 600 * time.Millisecond, name: "broken"}
	exp := quick(chaoslab.Fault{Scenario: "broken", Injector: f})
	exp.StableWindow = 300 * time.Millisecond
	res, err := chaoslab.New(chaoslab.WithProvider(&fakeProvider{})).Run(context.Background(), exp)
	require.NoError(t, err)
	require.True(t, res.Recovery.Recovered)
	// Failures last 600 ms after the revert; with 100 ms intervals the
	// first clean interval starts between 600 and 800 ms after it.
	assert.GreaterOrEqual(t, *res.Recovery.Seconds, 0.5)
	assert.Less(t, *res.Recovery.Seconds, 1.2)
	assert.Equal(t, chaoslab.VerdictFail, res.Verdict)
}

func TestInstantFaultIsRevertedAtOnce(t *testing.T) {
	f := &fault{fail: true, lag: 300 * time.Millisecond, name: "kill"}
	exp := quick(chaoslab.Fault{Scenario: "kill", Injector: windowedFault{f}})
	exp.Duration = 1500 * time.Millisecond
	res, err := chaoslab.New(chaoslab.WithProvider(&fakeProvider{})).Run(context.Background(), exp)
	require.NoError(t, err)
	rec := res.Faults[0]
	require.NotNil(t, rec.InjectedAt)
	require.NotNil(t, rec.RevertedAt)
	assert.Less(t, rec.RevertedAt.Sub(*rec.InjectedAt), 50*time.Millisecond)
	require.True(t, res.Recovery.Recovered)
	assert.Greater(t, *res.Recovery.Seconds, 0.0)
	assert.Less(t, *res.Recovery.Seconds, 1.0)
}

// terminateOne is an instant fault that leaves a fleet one instance short
// for a while, as terminating an instance of an Auto Scaling group does.
type terminateOne struct{ short time.Duration }

func (f terminateOne) Window() time.Duration { return 0 }

func (f terminateOne) Inject(ctx context.Context, tg chaoslab.Target) (chaoslab.Undo, error) {
	tg.(interface{ startShort(time.Duration) }).startShort(f.short)
	return func(context.Context) error { return nil }, nil
}

func (f terminateOne) Detail() string { return "terminated i-0123" }

func TestFleetWithoutEndpointIsJudgedByCapacity(t *testing.T) {
	exp := quick(chaoslab.Fault{Scenario: "terminate", Injector: terminateOne{short: 700 * time.Millisecond}})
	exp.Target.Kind = chaoslab.TargetFleet
	exp.StableWindow = 300 * time.Millisecond
	p := &fakeProvider{noEndpoint: true}
	res, err := chaoslab.New(chaoslab.WithProvider(p)).Run(context.Background(), exp)
	require.NoError(t, err)
	assert.True(t, res.Load.Disabled, "no load without an endpoint")
	assert.Empty(t, res.Target.Endpoint)
	require.True(t, res.Recovery.Recovered, res.Reason)
	assert.GreaterOrEqual(t, *res.Recovery.Seconds, 0.6)
	assert.Less(t, *res.Recovery.Seconds, 1.2)
	assert.Equal(t, "terminated i-0123", res.Faults[0].Detail)
	for _, pt := range res.Series {
		assert.Zero(t, pt.Requests)
	}
	assert.Zero(t, p.live())
}

func TestFleetRecoversWhenBackToDesiredCapacity(t *testing.T) {
	exp := quick(chaoslab.Fault{Scenario: "terminate", Injector: terminateOne{short: 700 * time.Millisecond}})
	exp.StableWindow = 300 * time.Millisecond
	res, err := chaoslab.New(chaoslab.WithProvider(&fakeProvider{})).Run(context.Background(), exp)
	require.NoError(t, err)
	require.True(t, res.Recovery.Recovered, res.Reason)
	// Requests never failed: only the capacity tells the recovery, one
	// 100 ms interval late at most.
	assert.GreaterOrEqual(t, *res.Recovery.Seconds, 0.6)
	assert.Less(t, *res.Recovery.Seconds, 1.2)
	var short bool
	for _, p := range res.Series {
		short = short || (p.DesiredCapacity == 3 && p.HealthyCapacity == 2)
	}
	assert.True(t, short, "the series shows the missing instance")
}

func TestCascadeRevertsLastInFirstOut(t *testing.T) {
	log := &callLog{}
	a := &fault{name: "a", log: log}
	b := &fault{name: "b", log: log}
	c := &fault{name: "c", log: log, window: 100 * time.Millisecond}
	exp := quick(
		chaoslab.Fault{Scenario: "a", Injector: a},
		chaoslab.Fault{Scenario: "b", Injector: b, Start: 100 * time.Millisecond},
		chaoslab.Fault{Scenario: "c", Injector: windowedFault{c}, Start: 200 * time.Millisecond},
	)
	_, err := chaoslab.New(chaoslab.WithProvider(&fakeProvider{})).Run(context.Background(), exp)
	require.NoError(t, err)
	assert.Equal(t, []string{"inject a", "inject b", "inject c", "undo c", "undo b", "undo a"}, log.get())
}

func TestCancelAtEveryPhase(t *testing.T) {
	for _, phase := range []chaoslab.Phase{
		chaoslab.PhaseProvisioning, chaoslab.PhaseBaseline, chaoslab.PhaseInjecting, chaoslab.PhaseObserving,
		chaoslab.PhaseRollingBack, chaoslab.PhaseRecovering, chaoslab.PhaseAnalyzing, chaoslab.PhasePublishing,
	} {
		t.Run(string(phase), func(t *testing.T) {
			t.Parallel()
			f := &fault{delay: 10 * time.Millisecond, name: "f"}
			p := &fakeProvider{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := chaoslab.New(chaoslab.WithProvider(p), chaoslab.WithAnalyzer(analyzerFunc(nil)),
				chaoslab.WithDashboards(&recordDashboard{}),
				chaoslab.WithObserver(func(e chaoslab.Event) {
					if e.Phase == phase {
						cancel()
					}
				}))
			res, err := r.Run(ctx, quick(chaoslab.Fault{Scenario: "f", Injector: f}))
			require.NotNil(t, res)
			assert.Equal(t, f.injected.Load(), f.undone.Load(), "every injected fault is reverted")
			assert.Zero(t, p.live(), "target left open")
			switch phase {
			case chaoslab.PhaseAnalyzing, chaoslab.PhasePublishing:
				// Measuring is over: the verdict stands, and what was
				// measured is still analysed and published.
				assert.Equal(t, chaoslab.StatusCompleted, res.Status)
				assert.Equal(t, "fine", res.Analysis.Summary)
				assert.Len(t, res.Dashboards, 1)
			default:
				assert.ErrorIs(t, err, context.Canceled)
				assert.Equal(t, chaoslab.StatusAborted, res.Status)
				assert.Equal(t, chaoslab.VerdictInconclusive, res.Verdict)
			}
		})
	}
}

type analyzerFunc func(*chaoslab.Result) (chaoslab.Analysis, error)

func (f analyzerFunc) Analyze(ctx context.Context, r *chaoslab.Result) (chaoslab.Analysis, error) {
	if f == nil {
		return chaoslab.Analysis{Summary: "fine", Severity: chaoslab.SeverityLow, Source: "test"}, ctx.Err()
	}
	return f(r)
}

func TestPanicInEachPlugin(t *testing.T) {
	type tc struct {
		name     string
		provider *fakeProvider
		fault    *fault
		opts     []chaoslab.Option
		probe    bool
		wantErr  bool
	}
	cases := []tc{
		{name: "provider", provider: &fakeProvider{panicOn: "provision"}, wantErr: true},
		{name: "target close", provider: &fakeProvider{panicOn: "close"}, wantErr: true},
		{name: "injector", fault: &fault{panicInject: true}, wantErr: true},
		{name: "undo", fault: &fault{panicUndo: true}, wantErr: true},
		{name: "analyzer", opts: []chaoslab.Option{chaoslab.WithAnalyzer(panicAnalyzer{})}},
		{name: "dashboard", opts: []chaoslab.Option{chaoslab.WithDashboards(panicDashboard{}, &recordDashboard{})}},
		{name: "observer", opts: []chaoslab.Option{chaoslab.WithObserver(func(chaoslab.Event) { panic("observer exploded") })}},
		{name: "probe", probe: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := c.provider
			if p == nil {
				p = &fakeProvider{}
			}
			f := c.fault
			if f == nil {
				f = &fault{}
			}
			exp := quick(chaoslab.Fault{Scenario: "f", Injector: f})
			if c.probe {
				exp.Hypothesis.Probes = []chaoslab.Probe{{Name: "boom", Check: func(context.Context, chaoslab.Target) error { panic("probe exploded") }}}
			}
			r := chaoslab.New(append([]chaoslab.Option{chaoslab.WithProvider(p)}, c.opts...)...)
			res, err := r.Run(context.Background(), exp)
			require.NotNil(t, res)
			if c.wantErr {
				assert.ErrorIs(t, err, chaoslab.ErrPanic)
				assert.Contains(t, err.Error(), "exploded")
			} else {
				assert.NoError(t, err)
			}
			assert.Equal(t, f.injected.Load(), f.undone.Load(), "every injected fault is reverted")
			assert.Zero(t, p.live(), "target left open")
			switch c.name {
			case "analyzer":
				assert.True(t, slices.ContainsFunc(res.Errors, func(s string) bool { return strings.Contains(s, "panicked") }), res.Errors)
			case "dashboard":
				assert.True(t, slices.ContainsFunc(res.Errors, func(s string) bool { return strings.Contains(s, "panicked") }), res.Errors)
				assert.Len(t, res.Dashboards, 1, "the other dashboard still published")
			case "probe":
				assert.Equal(t, chaoslab.VerdictInconclusive, res.Verdict, "a probe that always fails makes the baseline unsteady")
			}
		})
	}
}

func TestStopConditionAbortsWithinASecond(t *testing.T) {
	f := &fault{fail: true, name: "outage"}
	exp := quick(chaoslab.Fault{Scenario: "outage", Injector: f})
	exp.Duration = 20 * time.Second
	exp.StopConditions = []chaoslab.StopCondition{{Metric: chaoslab.MetricErrorRate, Max: 0.5, For: 500 * time.Millisecond}}
	p := &fakeProvider{}
	start := time.Now()
	res, err := chaoslab.New(chaoslab.WithProvider(p)).Run(context.Background(), exp)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 10*time.Second, "the 20 s chaos window was cut short")
	assert.Equal(t, chaoslab.StatusAborted, res.Status)
	assert.Equal(t, chaoslab.VerdictFail, res.Verdict)
	require.NotNil(t, res.Abort)
	injected, reverted := *res.Faults[0].InjectedAt, *res.Faults[0].RevertedAt
	// The breach is complete 500 ms after injection; abort and revert must
	// follow within a second of it.
	assert.Less(t, reverted.Sub(injected), 1500*time.Millisecond)
	assert.GreaterOrEqual(t, reverted.Sub(injected), 500*time.Millisecond)
	assert.EqualValues(t, 1, f.undone.Load())
	assert.Zero(t, p.live())
}

func TestRunErrors(t *testing.T) {
	t.Run("invalid", func(t *testing.T) {
		res, err := chaoslab.New(chaoslab.WithProvider(&fakeProvider{})).Run(context.Background(), chaoslab.Experiment{Duration: -time.Second})
		assert.ErrorIs(t, err, chaoslab.ErrInvalid)
		require.NotNil(t, res)
		assert.Equal(t, chaoslab.StatusFailed, res.Status)
		assert.NotEmpty(t, res.Errors)
	})
	t.Run("no provider", func(t *testing.T) {
		res, err := chaoslab.New().Run(context.Background(), quick(chaoslab.Fault{Scenario: "test_delay"}))
		assert.ErrorIs(t, err, chaoslab.ErrNoProvider)
		require.NotNil(t, res)
	})
	t.Run("provision fails", func(t *testing.T) {
		boom := errors.New("no capacity")
		res, err := chaoslab.New(chaoslab.WithProvider(&fakeProvider{failWith: boom})).Run(context.Background(), quick(chaoslab.Fault{Scenario: "test_delay"}))
		assert.ErrorIs(t, err, boom)
		assert.Equal(t, chaoslab.StatusFailed, res.Status)
		assert.Equal(t, chaoslab.VerdictInconclusive, res.Verdict)
	})
	t.Run("undo fails", func(t *testing.T) {
		boom := errors.New("stuck")
		f := &fault{undoErr: boom}
		p := &fakeProvider{}
		res, err := chaoslab.New(chaoslab.WithProvider(p)).Run(context.Background(), quick(chaoslab.Fault{Scenario: "f", Injector: f}))
		assert.ErrorIs(t, err, boom)
		assert.Contains(t, res.Faults[0].Error, "stuck")
		assert.Zero(t, p.live())
	})
}

func TestValidateReportsEveryProblem(t *testing.T) {
	exp := chaoslab.Experiment{
		Duration: -5 * time.Second,
		Load:     chaoslab.Load{Rate: -1},
		Faults: []chaoslab.Fault{
			{Scenario: "test_delay", Params: chaoslab.Params{"latency": "10ms"}},
			{Scenario: "test_delay", Params: chaoslab.Params{"latency": "-5ms", "colour": "red"}},
			{Scenario: "nope"},
		},
	}
	err := exp.Validate()
	require.ErrorIs(t, err, chaoslab.ErrInvalid)
	var ve *chaoslab.ValidationError
	require.ErrorAs(t, err, &ve)
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.String())
	}
	want := []string{
		`duration: "-5s" must be a positive duration`,
		`load.rate: "-1" must be from 0 to 100000 requests per second`,
		`faults[1].params.colour: "red" is not a parameter of test_delay; valid parameters: latency, rate`,
		`faults[1].params.latency: "-5ms" must be a positive duration such as 200ms`,
	}
	for _, w := range want {
		assert.Contains(t, got, w)
	}
	assert.True(t, slices.ContainsFunc(got, func(s string) bool {
		return strings.HasPrefix(s, `faults[2].scenario: "nope" is not a scenario; valid names: `) && strings.Contains(s, "test_delay")
	}), got)
}

func TestParamKinds(t *testing.T) {
	cases := []struct {
		kind chaoslab.ParamKind
		ok   []string
		bad  []string
	}{
		{chaoslab.KindDuration, []string{"1ms", "2s"}, []string{"0s", "-1s", "fast", ""}},
		{chaoslab.KindDelay, []string{"0s", "5ms"}, []string{"-1ms", "x"}},
		{chaoslab.KindFraction, []string{"0", "0.5", "1", "25%"}, []string{"1.5", "-0.1", "150%", "half"}},
		{chaoslab.KindPercent, []string{"50", "100", "12.5%"}, []string{"0", "101", "x"}},
		{chaoslab.KindCount, []string{"1", "8"}, []string{"0", "-2", "1.5"}},
		{chaoslab.KindSize, []string{"4096", "64MB", "1GiB", "1.5kb"}, []string{"0", "-5MB", "12parsecs"}},
		{chaoslab.KindStatus, []string{"503", "200"}, []string{"99", "600", "err"}},
		{chaoslab.KindSignal, []string{"SIGKILL", "term", "9"}, []string{"SIGFOO", "1000"}},
	}
	for _, c := range cases {
		spec := chaoslab.ParamSpec{Name: "p", Kind: c.kind}
		for _, v := range c.ok {
			assert.NoError(t, spec.Check(v), "%s %q", c.kind, v)
		}
		for _, v := range c.bad {
			assert.Error(t, spec.Check(v), "%s %q", c.kind, v)
		}
	}
	assert.EqualValues(t, 64_000_000, chaoslab.Params{"s": "64MB"}.Size("s"))
	assert.InDelta(t, 0.25, chaoslab.Params{"r": "25%"}.Float("r"), 1e-9)
}

func TestFileStore(t *testing.T) {
	s := chaoslab.NewFileStore(t.TempDir())
	ctx := context.Background()
	for i := range 3 {
		r := &chaoslab.Result{SchemaVersion: 1, ID: fmt.Sprintf("run-%d", i), StartedAt: time.Unix(int64(100-i), 0)}
		require.NoError(t, s.Save(ctx, r))
	}
	got, err := s.Load(ctx, "run-1")
	require.NoError(t, err)
	assert.Equal(t, "run-1", got.ID)
	_, err = s.Load(ctx, "run-9")
	assert.ErrorIs(t, err, chaoslab.ErrNotFound)
	_, err = s.Load(ctx, "../etc/passwd")
	assert.ErrorIs(t, err, chaoslab.ErrInvalid)
	all, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, all, 3)
	assert.Equal(t, "run-2", all[0].ID, "oldest first")
}

func TestStuckProbeDoesNotHoldUpTheRevert(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f := &fault{name: "f"}
	exp := quick(chaoslab.Fault{Scenario: "f", Injector: f})
	exp.Hypothesis.Probes = []chaoslab.Probe{{Name: "stuck", Check: func(context.Context, chaoslab.Target) error {
		<-release // ignores its context
		return nil
	}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &fakeProvider{}
	r := chaoslab.New(chaoslab.WithProvider(p), chaoslab.WithCleanupTimeout(300*time.Millisecond),
		chaoslab.WithObserver(func(e chaoslab.Event) {
			if e.Phase == chaoslab.PhaseObserving {
				cancel()
			}
		}))
	res, err := r.Run(ctx, exp)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "did not stop")
	assert.EqualValues(t, 1, f.undone.Load(), "the fault was reverted")
	assert.Zero(t, p.live(), "the target was closed")
	assert.Equal(t, chaoslab.StatusAborted, res.Status)
}

func TestBlockingObserverDoesNotStallTheRun(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f := &fault{name: "f"}
	p := &fakeProvider{}
	r := chaoslab.New(chaoslab.WithProvider(p), chaoslab.WithObserver(func(chaoslab.Event) { <-release }))
	start := time.Now()
	res, err := r.Run(context.Background(), quick(chaoslab.Fault{Scenario: "f", Injector: f}))
	require.NoError(t, err)
	// The run itself takes about 1.3 s; Run waits up to 5 s more for the
	// observers before it gives up on them.
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Equal(t, chaoslab.StatusCompleted, res.Status)
	assert.EqualValues(t, 1, f.undone.Load())
	assert.Zero(t, p.live())
}

func TestCleanupErrorsKeepTheVerdict(t *testing.T) {
	boom := errors.New("close failed")
	res, err := chaoslab.New(chaoslab.WithProvider(&fakeProvider{closeErr: boom})).Run(context.Background(),
		quick(chaoslab.Fault{Scenario: "test_delay", Params: chaoslab.Params{"latency": "1ms"}}))
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, chaoslab.StatusCompleted, res.Status)
	assert.Equal(t, chaoslab.VerdictPass, res.Verdict, res.Reason)
	assert.True(t, slices.ContainsFunc(res.Errors, func(s string) bool { return strings.Contains(s, "close failed") }), res.Errors)
}

func TestAbortBeforeAnyFaultIsNotBlamedOnIt(t *testing.T) {
	f := &fault{name: "f"}
	exp := quick(chaoslab.Fault{Scenario: "f", Injector: f})
	exp.Baseline = 3 * time.Second
	exp.StopConditions = []chaoslab.StopCondition{{Metric: chaoslab.MetricErrorRate, Max: 0.5, For: 200 * time.Millisecond}}
	res, err := chaoslab.New(chaoslab.WithProvider(&fakeProvider{failing: true})).Run(context.Background(), exp)
	require.NoError(t, err)
	assert.Equal(t, chaoslab.StatusAborted, res.Status)
	assert.Equal(t, chaoslab.VerdictInconclusive, res.Verdict)
	assert.Contains(t, res.Reason, "not steady before any fault")
	assert.Zero(t, f.injected.Load())
}

func TestStopConditionSeesAStalledTarget(t *testing.T) {
	f := &fault{stall: true, name: "stall"}
	exp := quick(chaoslab.Fault{Scenario: "stall", Injector: f})
	exp.Duration = 20 * time.Second
	exp.Load.Timeout = 10 * time.Second // no request times out before the stop condition must fire
	exp.StopConditions = []chaoslab.StopCondition{{Metric: chaoslab.MetricP99, Max: 200, For: 300 * time.Millisecond}}
	res, err := chaoslab.New(chaoslab.WithProvider(&fakeProvider{})).Run(context.Background(), exp)
	require.NoError(t, err)
	require.NotNil(t, res.Abort, res.Reason)
	injected, reverted := *res.Faults[0].InjectedAt, *res.Faults[0].RevertedAt
	// p99 passes 200 ms 200 ms after the stall starts; the breach is
	// complete 300 ms later; abort and revert follow within a second.
	assert.Less(t, reverted.Sub(injected), 1500*time.Millisecond)
	// The stalled requests are not lost: they count as failed.
	chaos, ok := res.Window(chaoslab.WindowChaos)
	require.True(t, ok)
	assert.Greater(t, chaos.Errors, int64(10))
}
