package chaoslab

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"
)

// Run runs one experiment to its end and returns its result.
//
// Run always returns a non-nil Result, with everything measured so far. The
// error is non-nil when the run could not do what was asked: the experiment
// is invalid (ErrInvalid), provisioning or a fault failed, a plugin panicked
// (ErrPanic), ctx was cancelled (ctx.Err() is wrapped), or reverting a fault
// or closing the target failed. A hypothesis that does not hold is not an
// error: it is the Result's Verdict, which cleanup errors never change.
// Whatever happens, every injected fault is reverted and the target is
// closed before Run returns, last in first out, each on a fresh context
// bounded by the cleanup timeout.
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
		Comparisons:   []Comparison{},
		Dashboards:    []DashboardLink{},
		Errors:        []string{},
		Logs:          LogSummary{Last: []string{}},
	}}
	if r.provider != nil {
		x.res.Provider = r.provider.Name()
	}
	x.phase, x.phaseStart = PhasePending, time.Now()
	x.events = newDispatcher(r.observers, r.logger)
	defer x.events.close(5 * time.Second)
	var runErr error
	defer func() {
		if p := recover(); p != nil {
			runErr = errors.Join(runErr, fmt.Errorf("%w: runner: %v\n%s", ErrPanic, p, debug.Stack()))
		}
		res, err = x.finish(ctx, runErr, x.cleanup(ctx))
	}()
	runErr = x.execute(ctx, exp)
	return x.res, runErr
}

// run is the state of one Run.
type run struct {
	r      *Runner
	res    *Result
	exp    Experiment
	events *dispatcher

	mu         sync.Mutex // guards phase, phaseStart, res.Errors, res.Phases and the log summary
	phase      Phase
	phaseStart time.Time
	planned    time.Duration
	runStart   time.Time

	target      Target
	faults      []*faultState
	undos       []*faultState // injected, not yet reverted, in order of injection
	injectedAny bool
	lastRev     time.Time
	revertErrs  []error

	meas      *measurements
	bg        context.Context
	bgCancel  context.CancelFunc
	bgDone    sync.WaitGroup
	clockDone chan struct{}
	windowCh  chan windowChange
	pointCh   chan struct{}
	abortCh   chan *Abort
	bgFailed  chan error
	emitted   int // settled intervals already sent to observers

	aborted   *Abort
	cancelled bool
	cleaned   bool
	logs      logTail
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

// errStop ends a phase early: a stop condition fired (x.aborted says
// which). It is not an error of the run.
var errStop = errors.New("stopped by a stop condition")

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
		target, err = x.r.provider.Provision(ContextWithRunID(ctx, x.res.ID), exp.Target)
		return err
	})
	if err == nil && target == nil {
		err = fmt.Errorf("provider %s returned no target and no error", x.r.provider.Name())
	}
	if err != nil {
		x.res.Reason = "the target could not be provisioned"
		return fmt.Errorf("provision: %w", err)
	}
	x.target = target
	x.res.Target.ID, x.res.Target.Endpoint = target.ID(), target.Endpoint()
	if target.Endpoint() == "" && !x.exp.Load.Disabled {
		// Nothing to send load to (a fleet without a load balancer): the
		// target is judged by its probes and capacity.
		x.exp.Load.Disabled, x.res.Load.Disabled = true, true
		x.r.logger.Info("the target has no endpoint: no load is sent", "target", target.ID())
	}

	// Baseline.
	x.runStart = time.Now()
	x.startBackground(ctx)
	x.setPhase(PhaseBaseline, fmt.Sprintf("measuring steady state for %s", exp.Baseline))
	x.setWindow(WindowBaseline)
	if err := x.wait(ctx, exp.Baseline); err != nil {
		return x.stopped(err)
	}

	// Chaos: the chaos window of the measurements opens at the first
	// injection.
	if err := x.chaos(ctx); err != nil {
		return x.stopped(err)
	}

	// Rolling back. A fault that cannot be reverted is reported, and
	// recovery is still measured: that is when it matters most.
	x.setPhase(PhaseRollingBack, "reverting every fault")
	if err := x.revertAll(ctx); err != nil {
		x.revertErrs = append(x.revertErrs, err)
	}

	// Recovering.
	x.setPhase(PhaseRecovering, fmt.Sprintf("waiting for the hypothesis to hold for %s", exp.StableWindow))
	x.setWindow(WindowRecovery)
	return x.stopped(x.recover(ctx))
}

// stopped turns errStop into a normal end of the run.
func (x *run) stopped(err error) error {
	if errors.Is(err, errStop) {
		return nil
	}
	return err
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
	// Until the first fault goes in (a cascade may start later than the
	// chaos window), the phase and the measurements stay in baseline.
	for {
		sort.SliceStable(pending, func(i, j int) bool { return pending[i].at.Before(pending[j].at) })
		for len(pending) > 0 && !pending[0].at.After(time.Now()) {
			ev := pending[0]
			pending = pending[1:]
			if ev.revert {
				if err := x.revert(ctx, ev.fs); err != nil {
					x.revertErrs = append(x.revertErrs, err)
				}
				continue
			}
			if err := x.inject(ctx, ev.fs); err != nil {
				x.res.Reason = "a fault could not be injected"
				return err
			}
			if ev.fs.window >= 0 {
				if at := time.Now().Add(ev.fs.window); ev.fs.window == 0 || at.Before(end) {
					pending = append(pending, event{at: at, fs: ev.fs, revert: true})
				}
			}
			sort.SliceStable(pending, func(i, j int) bool { return pending[i].at.Before(pending[j].at) })
		}
		if x.injectedAny {
			x.setPhase(PhaseObserving, "")
		}
		next := end
		if len(pending) > 0 && pending[0].at.Before(next) {
			next = pending[0].at
		}
		if !time.Now().Before(end) && (len(pending) == 0 || !pending[0].at.Before(end)) {
			return nil
		}
		timer.Reset(time.Until(next))
		if err := x.interrupted(ctx, timer.C); err != nil {
			return err
		}
	}
}

// interrupted waits for done, a cancel, a stop condition or a failed
// background task.
func (x *run) interrupted(ctx context.Context, done <-chan time.Time) error {
	select {
	case <-ctx.Done():
		return x.onCancel(ctx)
	case a := <-x.abortCh:
		return x.onAbort(ctx, a)
	case err := <-x.bgFailed:
		return x.onBackgroundFailure(err)
	case <-done:
		return nil
	}
}

func (x *run) onCancel(ctx context.Context) error {
	x.cancelled = true
	return fmt.Errorf("%s: %w", x.currentPhase(), ctx.Err())
}

func (x *run) onAbort(ctx context.Context, a *Abort) error {
	x.abort(ctx, a)
	return errStop
}

func (x *run) onBackgroundFailure(err error) error {
	x.res.Reason = "a measurement task failed"
	return err
}

func (x *run) inject(ctx context.Context, fs *faultState) error {
	if !x.injectedAny {
		x.setWindow(WindowChaos)
	}
	name := x.res.Faults[fs.idx].Scenario
	x.setPhase(PhaseInjecting, "injecting "+name+formatParams(x.res.Faults[fs.idx].Params))
	var undo Undo
	err := protect("fault "+name+": Inject", func() (err error) {
		undo, err = fs.inj.Inject(ctx, x.target)
		return err
	})
	x.injectedAny = true
	now := time.Now().UTC()
	if err != nil {
		x.res.Faults[fs.idx].Error = err.Error()
		return fmt.Errorf("inject faults[%d] %s: %w", fs.idx, name, err)
	}
	fs.undo, fs.injected = undo, true
	x.res.Faults[fs.idx].InjectedAt = &now
	if d, ok := fs.inj.(Detailer); ok {
		_ = protect("fault "+name+": Detail", func() error { x.res.Faults[fs.idx].Detail = d.Detail(); return nil })
	}
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
		x.revertErrs = append(x.revertErrs, err)
	}
}

// recover waits until the hypothesis holds for the stable window.
func (x *run) recover(ctx context.Context) error {
	start := time.Now()
	deadline := time.NewTimer(x.exp.RecoveryTimeout)
	defer deadline.Stop()
	for {
		select {
		case <-ctx.Done():
			return x.onCancel(ctx)
		case a := <-x.abortCh:
			return x.onAbort(ctx, a)
		case err := <-x.bgFailed:
			return x.onBackgroundFailure(err)
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

// wait waits for d, a cancel, a stop condition or a failed background task.
func (x *run) wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	return x.interrupted(ctx, t.C)
}

// cleanup stops measuring, reverts every fault and closes the target. It is
// idempotent and runs on fresh contexts. The faults and the target go first:
// a background task that is slow to stop (a probe that ignores its
// context) must not keep a fault in place.
func (x *run) cleanup(ctx context.Context) error {
	if x.cleaned {
		return nil
	}
	x.cleaned = true
	if x.bgCancel != nil {
		x.bgCancel()
	}
	errs := append(x.revertErrs, x.revertAll(ctx))
	if x.target != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), x.r.cleanupTimeout)
		errs = append(errs, protect("target "+x.target.ID()+": Close", func() error { return x.target.Close(cctx) }))
		cancel()
	}
	errs = append(errs, x.stopBackground())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	return nil
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
