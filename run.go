package chaoslab

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chaoslab-dev/chaoslab/internal/load"
)

// Run runs one experiment to its end and returns its result.
//
// Run always returns a non-nil Result, with everything measured so far. The
// error is non-nil when the run could not do what was asked: the experiment
// is invalid (ErrInvalid), provisioning or a fault failed, a plugin panicked
// (ErrPanic), ctx was cancelled (ctx.Err() is wrapped), or cleaning up
// failed. A hypothesis that does not hold is not an error: it is the
// Result's Verdict. Whatever happens, every injected fault is reverted and
// the target is closed before Run returns, last in first out, each on a
// fresh context bounded by the cleanup timeout.
func (r *Runner) Run(ctx context.Context, exp Experiment) (res *Result, err error) {
	x := &run{r: r, res: &Result{
		SchemaVersion: SchemaVersion,
		ID:            newRunID(),
		Name:          exp.Name,
		Status:        StatusFailed,
		Verdict:       VerdictInconclusive,
		StartedAt:     time.Now().UTC(),
		Faults:        []FaultRecord{},
		Series:        []Point{},
		Hypothesis:    []Check{},
		Windows:       []WindowStats{},
		Dashboards:    []DashboardLink{},
		Errors:        []string{},
		Logs:          LogSummary{Last: []string{}},
	}}
	if r.provider != nil {
		x.res.Provider = r.provider.Name()
	}
	x.phase = PhasePending
	x.phaseStart = time.Now()
	defer func() {
		if p := recover(); p != nil {
			err = errors.Join(err, fmt.Errorf("%w: runner: %v\n%s", ErrPanic, p, debug.Stack()))
		}
		err = errors.Join(err, x.cleanup(ctx))
		res, err = x.finish(ctx, err)
	}()
	return x.res, x.execute(ctx, exp)
}

type run struct {
	r   *Runner
	res *Result
	exp Experiment

	mu         sync.Mutex // guards phase, observers and the log summary
	phase      Phase
	phaseStart time.Time
	deadObs    map[int]bool
	planned    time.Duration
	runStart   time.Time

	target    Target
	faults    []*faultState
	undos     []*faultState // injected, not yet reverted, in order of injection
	meas      *measurements
	bg        context.Context
	bgCancel  context.CancelFunc
	bgDone    sync.WaitGroup
	windowCh  chan windowChange
	pointCh   chan struct{}
	abortCh   chan *Abort
	aborted   *Abort
	cancelled bool
	measured  bool
	lastRev   time.Time
	cleaned   bool
	logRing   []string
	logLines  int
	logErrors int
}

type faultState struct {
	idx      int
	inj      Injector
	start    time.Duration
	window   time.Duration // <0: until the end of the chaos window
	undo     Undo
	injected bool
	reverted bool
}

type windowChange struct {
	name string
	done chan struct{}
}

func (x *run) execute(ctx context.Context, exp Experiment) error {
	if err := exp.Validate(); err != nil {
		x.res.Reason = "the experiment is not valid"
		return err
	}
	if x.r.provider == nil {
		x.res.Reason = "no provider"
		return ErrNoProvider
	}
	exp = exp.WithDefaults()
	if exp.Hypothesis.isZero() {
		exp.Hypothesis = DefaultHypothesis
	}
	if exp.Seed == 0 {
		exp.Seed = newSeed()
	}
	x.exp = exp
	x.res.Name, x.res.Seed = exp.Name, exp.Seed
	x.res.Load = LoadRecord{Rate: exp.Load.Rate, Paths: exp.Load.Paths, Method: exp.Load.Method,
		TimeoutMS: ms(exp.Load.Timeout), Disabled: exp.Load.Disabled}
	x.res.Target.Kind = exp.Target.Kind
	x.planned = exp.Baseline + exp.Duration + exp.StableWindow
	if err := x.buildFaults(); err != nil {
		x.res.Reason = "a fault could not be built"
		return err
	}

	// Provisioning.
	x.setPhase(PhaseProvisioning, "provisioning a "+string(exp.Target.Kind)+" target with "+x.r.provider.Name())
	var target Target
	err := protect("provider "+x.r.provider.Name()+": Provision", func() (err error) {
		target, err = x.r.provider.Provision(ctx, exp.Target)
		return err
	})
	if err != nil {
		x.res.Reason = "the target could not be provisioned"
		return fmt.Errorf("provision: %w", err)
	}
	if target == nil {
		x.res.Reason = "the target could not be provisioned"
		return fmt.Errorf("provision: provider %s returned no target and no error", x.r.provider.Name())
	}
	x.target = target
	x.res.Target.ID, x.res.Target.Endpoint = target.ID(), target.Endpoint()

	// Baseline.
	x.runStart = time.Now()
	x.startBackground(ctx)
	x.setPhase(PhaseBaseline, fmt.Sprintf("measuring steady state for %s", exp.Baseline))
	x.setWindow(WindowBaseline)
	if err := x.wait(ctx, exp.Baseline); err != nil || x.aborted != nil {
		return err
	}

	// Chaos.
	x.setWindow(WindowChaos)
	if err := x.chaos(ctx); err != nil || x.aborted != nil {
		return err
	}

	// Rolling back.
	x.setPhase(PhaseRollingBack, "reverting every fault")
	if err := x.revertAll(ctx); err != nil {
		x.res.Reason = "a fault could not be reverted"
		return err
	}

	// Recovering.
	x.setPhase(PhaseRecovering, fmt.Sprintf("waiting for the hypothesis to hold for %s", exp.StableWindow))
	x.setWindow(WindowRecovery)
	return x.recover(ctx)
}

func (x *run) buildFaults() error {
	var errs []error
	for i, f := range x.exp.Faults {
		fs := &faultState{idx: i, inj: f.Injector, start: f.Start, window: -1}
		x.res.Faults = append(x.res.Faults, FaultRecord{Scenario: f.Scenario, Params: f.Params.Clone()})
		if fs.inj == nil {
			s, _ := LookupScenario(f.Scenario) // Validate checked it exists
			err := protect("scenario "+s.Name+": New", func() (err error) {
				fs.inj, err = s.New(FaultConfig{Params: f.Params.Clone(), Seed: x.exp.Seed + int64(i)})
				return err
			})
			if err != nil {
				x.res.Faults[i].Error = err.Error()
				errs = append(errs, fmt.Errorf("faults[%d] %s: %w", i, f.Scenario, err))
				continue
			}
		}
		switch {
		case f.Duration > 0:
			fs.window = f.Duration
		default:
			if w, ok := fs.inj.(Windower); ok {
				fs.window = w.Window()
			}
		}
		x.faults = append(x.faults, fs)
	}
	return errors.Join(errs...)
}

// chaos injects and reverts faults on their schedule until the end of the
// chaos window.
func (x *run) chaos(ctx context.Context) error {
	start := time.Now()
	end := start.Add(x.exp.Duration)
	type event struct {
		at     time.Time
		fs     *faultState
		revert bool
	}
	var pending []event
	for _, fs := range x.faults {
		pending = append(pending, event{at: start.Add(fs.start), fs: fs})
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		sort.SliceStable(pending, func(i, j int) bool { return pending[i].at.Before(pending[j].at) })
		now := time.Now()
		for len(pending) > 0 && !pending[0].at.After(now) {
			ev := pending[0]
			pending = pending[1:]
			if ev.revert {
				if err := x.revert(ctx, ev.fs); err != nil {
					x.res.Reason = "a fault could not be reverted"
					return err
				}
				continue
			}
			if err := x.inject(ctx, ev.fs); err != nil {
				x.res.Reason = "a fault could not be injected"
				return err
			}
			if ev.fs.window >= 0 {
				at := time.Now().Add(ev.fs.window)
				if ev.fs.window == 0 || at.Before(end) {
					pending = append(pending, event{at: at, fs: ev.fs, revert: true})
				}
			}
			sort.SliceStable(pending, func(i, j int) bool { return pending[i].at.Before(pending[j].at) })
		}
		x.setPhase(PhaseObserving, "")
		next := end
		if len(pending) > 0 && pending[0].at.Before(next) {
			next = pending[0].at
		}
		if !next.After(time.Now()) && len(pending) == 0 {
			return nil
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			x.cancelled = true
			return fmt.Errorf("chaos: %w", ctx.Err())
		case a := <-x.abortCh:
			x.abort(ctx, a)
			return nil
		case <-timer.C:
			if !time.Now().Before(end) && (len(pending) == 0 || !pending[0].at.Before(end)) {
				return nil
			}
		}
	}
}

func (x *run) inject(ctx context.Context, fs *faultState) error {
	name := x.res.Faults[fs.idx].Scenario
	x.setPhase(PhaseInjecting, "injecting "+name+formatParams(x.res.Faults[fs.idx].Params))
	var undo Undo
	err := protect("fault "+name+": Inject", func() (err error) {
		undo, err = fs.inj.Inject(ctx, x.target)
		return err
	})
	now := time.Now().UTC()
	if err != nil {
		x.res.Faults[fs.idx].Error = err.Error()
		return fmt.Errorf("inject faults[%d] %s: %w", fs.idx, name, err)
	}
	fs.undo, fs.injected = undo, true
	x.res.Faults[fs.idx].InjectedAt = &now
	x.undos = append(x.undos, fs)
	return nil
}

// revert runs one fault's Undo on a fresh context.
func (x *run) revert(ctx context.Context, fs *faultState) error {
	if !fs.injected || fs.reverted {
		return nil
	}
	fs.reverted = true
	name := x.res.Faults[fs.idx].Scenario
	var err error
	if fs.undo != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), x.r.cleanupTimeout)
		err = protect("fault "+name+": Undo", func() error { return fs.undo(cctx) })
		cancel()
	}
	now := time.Now().UTC()
	x.res.Faults[fs.idx].RevertedAt = &now
	x.lastRev = now
	for i, u := range x.undos {
		if u == fs {
			x.undos = append(x.undos[:i], x.undos[i+1:]...)
			break
		}
	}
	if err != nil {
		x.res.Faults[fs.idx].Error = err.Error()
		return fmt.Errorf("revert faults[%d] %s: %w", fs.idx, name, err)
	}
	return nil
}

// revertAll reverts every injected fault, last in first out, joining errors.
func (x *run) revertAll(ctx context.Context) error {
	var errs []error
	for len(x.undos) > 0 {
		errs = append(errs, x.revert(ctx, x.undos[len(x.undos)-1]))
	}
	return errors.Join(errs...)
}

func (x *run) abort(ctx context.Context, a *Abort) {
	x.aborted = a
	x.res.Reason = a.Reason
	x.res.Abort = a
	x.emit(PhaseRollingBack, "stop condition: "+a.Reason+"; reverting every fault", nil)
	if err := x.revertAll(ctx); err != nil {
		x.addError(err.Error())
	}
}

func (x *run) addError(msg string) {
	x.mu.Lock()
	x.res.Errors = append(x.res.Errors, msg)
	x.mu.Unlock()
}

// recover waits until the hypothesis holds for the stable window.
func (x *run) recover(ctx context.Context) error {
	start := time.Now()
	deadline := time.NewTimer(x.exp.RecoveryTimeout)
	defer deadline.Stop()
	for {
		select {
		case <-ctx.Done():
			x.cancelled = true
			return fmt.Errorf("recovering: %w", ctx.Err())
		case a := <-x.abortCh:
			x.abort(ctx, a)
			return nil
		case <-deadline.C:
			return nil
		case <-x.pointCh:
			// Only intervals whose every request has ended can be judged: a
			// request still in flight may yet be slow or fail.
			var recovered bool
			x.meas.with(func(_, settled []*interval) {
				_, recovered = x.exp.Hypothesis.recoveredAt(settled, start, x.exp.StableWindow, !x.exp.Load.Disabled)
			})
			if recovered {
				return nil
			}
		}
	}
}

// wait waits for d, a cancel or a stop condition.
func (x *run) wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		x.cancelled = true
		return fmt.Errorf("%s: %w", x.phase, ctx.Err())
	case a := <-x.abortCh:
		x.abort(ctx, a)
		return nil
	case <-t.C:
		return nil
	}
}

// cleanup stops measuring, reverts every fault and closes the target. It is
// idempotent and runs on fresh contexts.
func (x *run) cleanup(ctx context.Context) error {
	if x.cleaned {
		return nil
	}
	x.cleaned = true
	x.stopBackground()
	errs := []error{x.revertAll(ctx)}
	if x.target != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), x.r.cleanupTimeout)
		errs = append(errs, protect("target "+x.target.ID()+": Close", func() error { return x.target.Close(cctx) }))
		cancel()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	return nil
}

// finish computes the verdict, analyses and publishes.
func (x *run) finish(ctx context.Context, runErr error) (*Result, error) {
	res := x.res
	if errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded) {
		x.cancelled = true
	}
	x.summarise()
	switch {
	case x.cancelled:
		res.Status, res.Verdict = StatusAborted, VerdictInconclusive
		if res.Reason == "" {
			res.Reason = "the run was cancelled"
		}
	case x.aborted != nil:
		res.Status, res.Verdict = StatusAborted, VerdictFail
	case runErr != nil:
		res.Status, res.Verdict = StatusFailed, VerdictInconclusive
	default:
		res.Status = StatusCompleted
		res.Verdict, res.Reason = x.verdict()
	}
	if runErr != nil {
		res.Errors = append(res.Errors, runErr.Error())
	}
	// Analysis and publishing still run after a cancel or an error, on a
	// fresh context, so that what was measured is not lost.
	pctx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
	}
	if x.r.analyzer != nil {
		x.setPhase(PhaseAnalyzing, "analyzing the result")
		var a Analysis
		err := protect("analyzer: Analyze", func() (err error) {
			a, err = x.r.analyzer.Analyze(pctx, res)
			return err
		})
		if err != nil {
			res.Errors = append(res.Errors, "analyze: "+err.Error())
		} else {
			res.Analysis = a
		}
	}
	if len(x.r.dashboards) > 0 || x.r.store != nil {
		x.setPhase(PhasePublishing, "publishing the result")
	}
	final := map[Status]Phase{StatusCompleted: PhaseCompleted, StatusAborted: PhaseAborted, StatusFailed: PhaseFailed}[res.Status]
	res.EndedAt = time.Now().UTC()
	x.closePhase(res.EndedAt)
	for i, d := range x.r.dashboards {
		var link DashboardLink
		err := protect(fmt.Sprintf("dashboard %d: Publish", i), func() (err error) {
			link, err = d.Publish(pctx, res)
			return err
		})
		if err != nil {
			res.Errors = append(res.Errors, "publish: "+err.Error())
			continue
		}
		res.Dashboards = append(res.Dashboards, link)
	}
	if x.r.store != nil {
		if err := protect("store: Save", func() error { return x.r.store.Save(pctx, res) }); err != nil {
			res.Errors = append(res.Errors, "store: "+err.Error())
		}
	}
	x.emit(final, string(res.Verdict)+": "+res.Reason, nil)
	return res, runErr
}

// verdict judges a completed run.
func (x *run) verdict() (Verdict, string) {
	res := x.res
	var base, broke []string
	for _, c := range res.Hypothesis {
		if c.OK {
			continue
		}
		s := fmt.Sprintf("%s %s %v beyond %v", c.Window, c.Metric, c.Observed, c.Limit)
		if c.Window == WindowBaseline {
			base = append(base, s)
		} else {
			broke = append(broke, s)
		}
	}
	switch {
	case len(base) > 0:
		return VerdictInconclusive, "the target was not steady before any fault: " + strings.Join(base, "; ")
	case len(broke) > 0:
		return VerdictFail, "the hypothesis did not hold: " + strings.Join(broke, "; ")
	case !res.Recovery.Recovered:
		return VerdictFail, fmt.Sprintf("the target did not recover within %s", x.exp.RecoveryTimeout)
	}
	return VerdictPass, "the hypothesis held before, during and after the faults"
}

// summarise turns measurements into the result's series, windows, checks
// and recovery.
func (x *run) summarise() {
	res := x.res
	x.mu.Lock()
	res.Logs = LogSummary{Lines: x.logLines, ErrorCount: x.logErrors, Last: append([]string{}, x.logRing...)}
	x.mu.Unlock()
	if x.meas == nil {
		return
	}
	// The load has stopped: nothing changes the intervals any more.
	var ivs []*interval
	x.meas.with(func(done, _ []*interval) { ivs = done })
	byWindow := map[string][]*interval{}
	for _, iv := range ivs {
		res.Series = append(res.Series, iv.point())
		byWindow[iv.window] = append(byWindow[iv.window], iv)
	}
	loadOn := !x.exp.Load.Disabled
	h := x.exp.Hypothesis
	res.Recovery.StableWindow = x.exp.StableWindow.Seconds()
	if !x.lastRev.IsZero() && x.aborted == nil && !x.cancelled {
		if at, ok := h.recoveredAt(ivs, x.lastRev, x.exp.StableWindow, loadOn); ok {
			secs := round(at.Sub(x.lastRev).Seconds(), 2)
			res.Recovery.Recovered, res.Recovery.Seconds = true, &secs
			// The recovery window is what the recovering phase measured once
			// the target had recovered.
			var rec []*interval
			for _, iv := range byWindow[WindowRecovery] {
				if !iv.start.Before(at) {
					rec = append(rec, iv)
				}
			}
			if len(rec) > 0 {
				byWindow[WindowRecovery] = rec
			}
		}
	}
	for _, name := range []string{WindowBaseline, WindowChaos, WindowRecovery} {
		w := byWindow[name]
		if len(w) == 0 {
			continue
		}
		stats := aggregate(name, w)
		res.Windows = append(res.Windows, stats)
		res.Hypothesis = append(res.Hypothesis, h.checks(name, stats, w, loadOn)...)
	}
}

// startBackground starts the load, the clock, the stop-condition monitor and
// the log follower.
func (x *run) startBackground(ctx context.Context) {
	bg, cancel := context.WithCancel(ctx)
	x.bg, x.bgCancel = bg, cancel
	x.meas = newMeasurements(time.Now())
	x.windowCh = make(chan windowChange)
	x.pointCh = make(chan struct{}, 1)
	x.abortCh = make(chan *Abort, 1)
	if !x.exp.Load.Disabled {
		cfg := load.Config{
			BaseURL: x.target.Endpoint(), Paths: x.exp.Load.Paths, Method: strings.ToUpper(x.exp.Load.Method),
			Rate: x.exp.Load.Rate, Timeout: x.exp.Load.Timeout, Client: x.r.client,
			Scheduled: x.meas.scheduled,
		}
		x.goBackground(func() { _ = load.Run(bg, cfg, x.meas.record) })
	}
	x.goBackground(func() { x.clock(bg) })
	if len(x.exp.StopConditions) > 0 {
		x.goBackground(func() { x.watchStopConditions(bg) })
	}
	if ls, ok := x.target.(LogSource); ok {
		x.goBackground(func() {
			err := protect("target: FollowLogs", func() error { return ls.FollowLogs(bg, x.logLine) })
			if err != nil && bg.Err() == nil {
				x.addError("logs: " + err.Error())
			}
		})
	}
}

func (x *run) goBackground(fn func()) {
	x.bgDone.Add(1)
	go func() {
		defer x.bgDone.Done()
		defer func() {
			if p := recover(); p != nil {
				x.r.logger.Error("chaoslab: background task panicked", "panic", p)
			}
		}()
		fn()
	}()
}

func (x *run) stopBackground() {
	if x.bgCancel == nil {
		return
	}
	x.bgCancel()
	x.bgDone.Wait()
	x.bgCancel = nil
	x.measured = true
}

// setWindow asks the clock to start a new measurement window.
func (x *run) setWindow(name string) {
	done := make(chan struct{})
	select {
	case x.windowCh <- windowChange{name: name, done: done}:
		<-done
	case <-x.bg.Done(): // the clock has stopped: the run is ending
	}
}

// clock closes an interval every exp.Interval, with a resource sample and
// probes, and switches windows on request.
func (x *run) clock(ctx context.Context) {
	every := x.exp.Interval
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	var probes sync.WaitGroup
	defer probes.Wait()
	// sample reads the target's resource use; nil keeps the last reading.
	sample := func() *Sample {
		s, ok := x.target.(Sampler)
		if !ok {
			return nil
		}
		sctx, cancel := context.WithTimeout(ctx, every/2)
		defer cancel()
		var got Sample
		if err := protect("target: Sample", func() (err error) { got, err = s.Sample(sctx); return err }); err != nil {
			return nil
		}
		return &got
	}
	for {
		select {
		case <-ctx.Done():
			return
		case wc := <-x.windowCh:
			now := time.Now()
			if _, open := x.meas.window(now); open < every/10 {
				x.meas.relabel(wc.name) // too short to stand alone: fold it into the new window
			} else {
				x.meas.flush(now, sample(), wc.name)
				x.pointDone()
			}
			ticker.Reset(every)
			close(wc.done)
		case now := <-ticker.C:
			x.runProbes(ctx, &probes)
			w, _ := x.meas.window(now)
			x.meas.flush(time.Now(), sample(), w)
			x.pointDone()
		}
	}
}

func (x *run) pointDone() {
	var p *Point
	x.meas.with(func(done, _ []*interval) {
		if len(done) > 0 {
			pt := done[len(done)-1].point()
			p = &pt
		}
	})
	if p != nil {
		// Requests still in flight are not in the point yet.
		msg := fmt.Sprintf("%.0f req/s, p99 %.1f ms, errors %.1f%%", p.RPS, p.Latency.P99, p.ErrRate*100)
		x.emit("", msg, p)
	}
	select {
	case x.pointCh <- struct{}{}:
	default:
	}
}

func (x *run) runProbes(ctx context.Context, wg *sync.WaitGroup) {
	for _, p := range x.exp.Hypothesis.Probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, x.exp.Interval)
			defer cancel()
			err := protect("probe "+p.Name, func() error { return p.Check(pctx, x.target) })
			if err != nil && ctx.Err() == nil {
				x.meas.probeFailed(p.Name)
			}
		}()
	}
}

// watchStopConditions aborts the run when a stop condition is breached for
// its duration.
func (x *run) watchStopConditions(ctx context.Context) {
	ticker := time.NewTicker(x.r.tick)
	defer ticker.Stop()
	since := make([]time.Time, len(x.exp.StopConditions))
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			tk := x.meas.takeTick()
			if tk.requests == 0 {
				continue // no data: the breach state stands
			}
			for i, sc := range x.exp.StopConditions {
				var v float64
				switch sc.Metric {
				case MetricErrorRate:
					v = float64(tk.errors) / float64(tk.requests)
				case MetricP50:
					v = float64(tk.hist.ValueAtQuantile(50)) / 1000
				case MetricP99:
					v = float64(tk.hist.ValueAtQuantile(99)) / 1000
				}
				if v <= sc.Max {
					since[i] = time.Time{}
					continue
				}
				if since[i].IsZero() {
					since[i] = now.Add(-x.r.tick)
				}
				if now.Sub(since[i]) >= sc.For {
					sc := sc
					a := &Abort{
						Reason:    fmt.Sprintf("stop condition %s > %v for %s breached (observed %.4g)", sc.Metric, sc.Max, sc.For, v),
						Condition: &sc,
						At:        now.UTC(),
					}
					select {
					case x.abortCh <- a:
					default:
					}
					return
				}
			}
		}
	}
}

var logErrorRE = regexp.MustCompile(`(?i)\b(error|panic|fatal|exception)\b|level=error`)

const keepLogLines = 50

func (x *run) logLine(line string) {
	isErr := logErrorRE.MatchString(line)
	x.mu.Lock()
	x.logLines++
	if isErr {
		x.logErrors++
	}
	x.logRing = append(x.logRing, line)
	if len(x.logRing) > keepLogLines {
		x.logRing = x.logRing[len(x.logRing)-keepLogLines:]
	}
	x.mu.Unlock()
	if isErr {
		x.meas.logError()
	}
}

// setPhase moves to a new phase, closing the previous one in the result.
func (x *run) setPhase(p Phase, msg string) {
	x.mu.Lock()
	changed := p != x.phase
	if changed {
		now := time.Now()
		if x.phase != PhasePending {
			x.res.Phases = append(x.res.Phases, PhaseSpan{Name: x.phase, StartedAt: x.phaseStart.UTC(), EndedAt: now.UTC()})
		}
		x.phase, x.phaseStart = p, now
	}
	x.mu.Unlock()
	if changed || msg != "" {
		x.emit(p, msg, nil)
	}
}

func (x *run) closePhase(end time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.phase != PhasePending {
		x.res.Phases = append(x.res.Phases, PhaseSpan{Name: x.phase, StartedAt: x.phaseStart.UTC(), EndedAt: end})
	}
	x.phase = PhasePending
}

// emit sends an event to every observer; "" phase means the current one.
func (x *run) emit(p Phase, msg string, pt *Point) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if p == "" {
		p = x.phase
	}
	ev := Event{RunID: x.res.ID, Phase: p, Message: msg, Time: time.Now(), Point: pt}
	switch {
	case p == PhaseCompleted || p == PhaseFailed || p == PhaseAborted:
		ev.Percent = 100
	case !x.runStart.IsZero() && x.planned > 0:
		ev.Percent = min(99, round(100*float64(time.Since(x.runStart))/float64(x.planned), 1))
	}
	for i, o := range x.r.observers {
		if x.deadObs[i] {
			continue
		}
		if err := protect("observer", func() error { o(ev); return nil }); err != nil {
			if x.deadObs == nil {
				x.deadObs = map[int]bool{}
			}
			x.deadObs[i] = true
			x.r.logger.Error("chaoslab: observer dropped", "err", err)
		}
	}
}

// protect calls fn, turning a panic into an error wrapping ErrPanic.
func protect(what string, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %s: %v", ErrPanic, what, p)
		}
	}()
	return fn()
}

func formatParams(p Params) string {
	if len(p) == 0 {
		return ""
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + p[k]
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

func newSeed() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.LittleEndian.Uint64(b[:]) >> 1)
}
