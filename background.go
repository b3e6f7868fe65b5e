package chaoslab

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/chaoslab-dev/chaoslab/internal/load"
)

// startBackground starts the load, the clock, the stop-condition monitor and
// the log follower.
func (x *run) startBackground(ctx context.Context) {
	x.bg, x.bgCancel = context.WithCancel(ctx)
	x.meas = newMeasurements(time.Now(), x.exp.Hypothesis.MaxP99)
	x.windowCh = make(chan windowChange)
	x.pointCh = make(chan struct{}, 1)
	x.abortCh = make(chan *Abort, 1)
	x.bgFailed = make(chan error, 1)
	x.clockDone = make(chan struct{})
	if !x.exp.Load.Disabled {
		cfg := load.Config{
			BaseURL: x.target.Endpoint(), Paths: x.exp.Load.Paths, Method: strings.ToUpper(x.exp.Load.Method),
			Rate: x.exp.Load.Rate, Timeout: x.exp.Load.Timeout, Client: x.r.client,
			Scheduled: x.meas.scheduled,
		}
		x.goBackground("load", func(bg context.Context) { _ = load.Run(bg, cfg, x.meas.record) })
	}
	x.goBackground("clock", func(bg context.Context) { defer close(x.clockDone); x.clock(bg) })
	if len(x.exp.StopConditions) > 0 {
		x.goBackground("stop conditions", x.watchStopConditions)
	}
	if ls, ok := x.target.(LogSource); ok {
		x.goBackground("logs", func(bg context.Context) {
			err := protect("target: FollowLogs", func() error { return ls.FollowLogs(bg, x.logLine) })
			if err != nil && bg.Err() == nil {
				x.addError("logs: " + err.Error())
			}
		})
	}
}

// goBackground runs fn until the run's background context ends. A panic in
// it fails the run.
func (x *run) goBackground(name string, fn func(bg context.Context)) {
	x.bgDone.Add(1)
	go func() {
		defer x.bgDone.Done()
		err := protect(name, func() error { fn(x.bg); return nil })
		if err != nil {
			select {
			case x.bgFailed <- err:
			default:
			}
		}
	}()
}

// stopBackground stops the background tasks and waits for them, at most
// the cleanup timeout. When the run stopped early, requests still in flight
// are recorded as failed and the last partial interval is kept.
func (x *run) stopBackground() error {
	if x.bgCancel == nil {
		return nil
	}
	x.bgCancel()
	done := make(chan struct{})
	go func() { x.bgDone.Wait(); close(done) }()
	t := time.NewTimer(x.r.cleanupTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		return errors.New("a background task (a probe or the target's log follower) did not stop within the cleanup timeout")
	}
	if x.cancelled || x.aborted != nil {
		now := time.Now()
		x.meas.cutShort(now, context.Canceled)
		x.meas.flush(now, nil, "")
	}
	return nil
}

// setWindow asks the clock to start a new measurement window.
func (x *run) setWindow(name string) {
	done := make(chan struct{})
	select {
	case x.windowCh <- windowChange{name: name, done: done}:
		<-done
	case <-x.clockDone: // the clock has stopped: the run is ending
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
			}
			ticker.Reset(every)
			close(wc.done)
		case now := <-ticker.C:
			x.runProbes(ctx, &probes)
			w, _ := x.meas.window(now)
			x.meas.flush(time.Now(), sample(), w)
		}
		x.pointsSettled()
	}
}

// pointsSettled tells observers about the intervals whose every request has
// ended, in order, and wakes the recovery check.
func (x *run) pointsSettled() {
	var points []Point
	x.meas.with(func(_, settled []*interval) {
		for ; x.emitted < len(settled); x.emitted++ {
			points = append(points, settled[x.emitted].point())
		}
	})
	for i := range points {
		p := &points[i]
		x.emit("", fmt.Sprintf("%.0f req/s, p99 %.1f ms, errors %.1f%%", p.RPS, p.Latency.P99, p.ErrRate*100), p)
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
// its duration. Latency limits see requests still in flight at their age, so
// a stalled target breaches them while it stalls; the error rate sees a
// stalled request only when it times out.
func (x *run) watchStopConditions(ctx context.Context) {
	tickEvery := x.r.tick
	ticker := time.NewTicker(tickEvery)
	defer ticker.Stop()
	since := make([]time.Time, len(x.exp.StopConditions))
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			tk := x.meas.takeTick(now)
			for i, sc := range x.exp.StopConditions {
				var v float64
				switch {
				case sc.Metric == MetricErrorRate && tk.requests > 0:
					v = float64(tk.errors) / float64(tk.requests)
				case sc.Metric == MetricP50 && tk.hist.TotalCount() > 0:
					v = float64(tk.hist.ValueAtQuantile(50)) / 1000
				case sc.Metric == MetricP99 && tk.hist.TotalCount() > 0:
					v = float64(tk.hist.ValueAtQuantile(99)) / 1000
				default:
					continue // no data: the breach state stands
				}
				if v <= sc.Max {
					since[i] = time.Time{}
					continue
				}
				if since[i].IsZero() {
					since[i] = now.Add(-tickEvery)
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

// logTail keeps the count of the target's log lines, of its error lines,
// and the last few.
type logTail struct {
	lines, errors int
	last          []string
}

var logErrorRE = regexp.MustCompile(`(?i)\b(error|panic|fatal|exception)\b|level=error`)

const keepLogLines = 50

func (x *run) logLine(line string) {
	isErr := logErrorRE.MatchString(line)
	x.mu.Lock()
	x.logs.lines++
	if isErr {
		x.logs.errors++
	}
	x.logs.last = append(x.logs.last, line)
	if len(x.logs.last) > keepLogLines {
		x.logs.last = x.logs.last[len(x.logs.last)-keepLogLines:]
	}
	x.mu.Unlock()
	if isErr {
		x.meas.logError()
	}
}

func (x *run) addError(msg string) {
	x.mu.Lock()
	x.res.Errors = append(x.res.Errors, msg)
	x.mu.Unlock()
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

func (x *run) currentPhase() Phase {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.phase
}

// closePhase ends the current phase at end.
func (x *run) closePhase(end time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.phase != PhasePending {
		x.res.Phases = append(x.res.Phases, PhaseSpan{Name: x.phase, StartedAt: x.phaseStart.UTC(), EndedAt: end.UTC()})
	}
	x.phase = PhasePending
}

// emit queues an event for the observers; "" phase means the current one.
func (x *run) emit(p Phase, msg string, pt *Point) {
	x.mu.Lock()
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
	x.mu.Unlock()
	x.events.send(ev)
}
