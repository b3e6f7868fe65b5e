package chaoslab

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// publishGrace is how long analysis and publishing may go on after the
// run's context is cancelled, so that what was measured is not lost.
const publishGrace = 5 * time.Second

// finish judges the run, analyses and publishes it. The verdict comes from
// what was measured and how the run ended (runErr); cleanup errors are
// reported beside it and never change it.
func (x *run) finish(ctx context.Context, runErr, cleanupErr error) (*Result, error) {
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
	case x.aborted != nil && !x.injectedAny:
		res.Status, res.Verdict = StatusAborted, VerdictInconclusive
		res.Reason = "the target was not steady before any fault: " + x.aborted.Reason
	case x.aborted != nil:
		res.Status, res.Verdict = StatusAborted, VerdictFail
	case runErr != nil:
		res.Status, res.Verdict = StatusFailed, VerdictInconclusive
	default:
		res.Status = StatusCompleted
		res.Verdict, res.Reason = x.verdict()
	}
	err := errors.Join(runErr, cleanupErr)
	if err != nil {
		x.addError(err.Error())
	}

	pctx, cancel := graceful(ctx, publishGrace)
	defer cancel()
	if x.r.analyzer != nil {
		x.setPhase(PhaseAnalyzing, "analyzing the result")
		var a Analysis
		aerr := protect("analyzer: Analyze", func() (err error) {
			a, err = x.r.analyzer.Analyze(pctx, res)
			return err
		})
		if aerr != nil {
			x.addError("analyze: " + aerr.Error())
		} else {
			res.Analysis = a
		}
	}
	final := map[Status]Phase{StatusCompleted: PhaseCompleted, StatusAborted: PhaseAborted, StatusFailed: PhaseFailed}[res.Status]
	res.EndedAt = time.Now().UTC()
	if len(x.r.dashboards) > 0 || x.r.store != nil {
		x.setPhase(PhasePublishing, "publishing the result")
	}
	for i, d := range x.r.dashboards {
		var link DashboardLink
		perr := protect(fmt.Sprintf("dashboard %d: Publish", i), func() (err error) {
			link, err = d.Publish(pctx, res)
			return err
		})
		if perr != nil {
			x.addError("publish: " + perr.Error())
			continue
		}
		res.Dashboards = append(res.Dashboards, link)
	}
	if x.r.store != nil {
		if serr := protect("store: Save", func() error { return x.r.store.Save(pctx, res) }); serr != nil {
			x.addError("store: " + serr.Error())
		}
	}
	x.closePhase(time.Now())
	x.emit(final, string(res.Verdict)+": "+res.Reason, nil)
	return res, err
}

// graceful returns a context that is not cancelled with parent until grace
// after it.
func graceful(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(ctx, func() { t.Stop() })
	})
	return ctx, func() { stop(); cancel() }
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
	res.Logs = LogSummary{Lines: x.logs.lines, ErrorCount: x.logs.errors, Last: append([]string{}, x.logs.last...)}
	x.mu.Unlock()
	if x.meas == nil {
		return
	}
	// Called after the background tasks stopped, but the lock costs nothing.
	x.meas.with(func(ivs, _ []*interval) {
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
				// The recovery window is what the recovering phase measured
				// once the target had recovered.
				var rec []*interval
				for _, iv := range byWindow[WindowRecovery] {
					if iv.end.After(at) {
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
		res.Comparisons, res.Score = compare(byWindow, h, loadOn, res.Recovery, x.exp.Seed)
	})
}
