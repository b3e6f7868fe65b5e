package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/internal/stats"
)

// compare shows two results of the same experiment side by side, window by
// window, with the effect of B against A and its confidence interval: did
// the fix help?
func (c *cli) compare(args []string) int {
	if len(args) != 2 {
		return c.fail("compare takes two result files: chaoslab compare BEFORE.json AFTER.json")
	}
	a, err := chaoslab.ReadResultFile(args[0])
	if err != nil {
		return c.fail("%v", err)
	}
	b, err := chaoslab.ReadResultFile(args[1])
	if err != nil {
		return c.fail("%v", err)
	}
	w := c.stdout
	fmt.Fprintf(w, "A: %s  %s  verdict %s  score %s  recovery %s\n", args[0], a.Name, a.Verdict, scoreText(a), recoveryText(a))
	fmt.Fprintf(w, "B: %s  %s  verdict %s  score %s  recovery %s\n", args[1], b.Name, b.Verdict, scoreText(b), recoveryText(b))
	if a.Name != b.Name {
		fmt.Fprintf(w, "note: the experiments differ (%q, %q): the comparison may not mean much\n", a.Name, b.Name)
	}
	fmt.Fprintf(w, "\n%-9s %-15s %10s %10s %12s  %-22s %s\n", "window", "metric", "A", "B", "B - A", "95% interval", "p")
	for _, win := range []string{chaoslab.WindowBaseline, chaoslab.WindowChaos, chaoslab.WindowRecovery} {
		pa, pb := windowPoints(a, win), windowPoints(b, win)
		if len(pa) == 0 || len(pb) == 0 {
			continue
		}
		for _, m := range []struct {
			name string
			f    func(chaoslab.Point) float64
		}{
			{chaoslab.MetricP50, func(p chaoslab.Point) float64 { return p.Latency.P50 }},
			{chaoslab.MetricP99, func(p chaoslab.Point) float64 { return p.Latency.P99 }},
			{chaoslab.MetricThroughput, func(p chaoslab.Point) float64 { return p.RPS }},
		} {
			xa, xb := values(pa, m.f), values(pb, m.f)
			est := stats.HodgesLehmann(xa, xb)
			lo, hi := stats.ShiftCI(xa, xb, stats.DefaultLevel)
			_, p := stats.MannWhitney(xa, xb)
			fmt.Fprintf(w, "%-9s %-15s %10.2f %10.2f %+12.2f  [%+.2f, %+.2f]%s %.3g\n", win, m.name,
				stats.Median(xa), stats.Median(xb), est, lo, hi, pad(lo, hi), p)
		}
		ea, na := totals(pa)
		eb, nb := totals(pb)
		if na > 0 && nb > 0 {
			diff, lo, hi, p := stats.TwoProportion(ea, na, eb, nb)
			fmt.Fprintf(w, "%-9s %-15s %9.2f%% %9.2f%% %+11.2f%%  [%+.2f%%, %+.2f%%]%s %.3g\n", win, chaoslab.MetricErrorRate,
				100*float64(ea)/float64(na), 100*float64(eb)/float64(nb), 100*diff, 100*lo, 100*hi, pad(100*lo, 100*hi), p)
		}
	}
	fmt.Fprintln(w, "\nB - A: the median of the differences between their intervals (Hodges-Lehmann), or of the error rates; an interval that excludes 0 is a real change.")
	return exitPass
}

// history lists the results in a directory: when, what, verdict, score and
// recovery time.
func (c *cli) history(ctx context.Context, args []string) int {
	if len(args) != 1 {
		return c.fail("history takes one directory: chaoslab history DIR (a --store or --out directory)")
	}
	all, err := chaoslab.NewFileStore(args[0]).List(ctx)
	if len(all) == 0 && err != nil {
		return c.fail("%v", err)
	}
	w := c.stdout
	fmt.Fprintf(w, "%-20s %-28s %-12s %6s %10s  %s\n", "started", "experiment", "verdict", "score", "recovery", "id")
	for _, r := range all {
		fmt.Fprintf(w, "%-20s %-28s %-12s %6s %10s  %s\n", r.StartedAt.Local().Format("2006-01-02 15:04:05"),
			r.Name, r.Verdict, scoreText(r), recoveryText(r), r.ID)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "chaoslab: some files were not results: %v\n", err)
	}
	if len(all) == 0 {
		fmt.Fprintln(w, "(no results)")
	}
	return exitPass
}

func scoreText(r *chaoslab.Result) string {
	if r.Score == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f", *r.Score)
}

func recoveryText(r *chaoslab.Result) string {
	switch {
	case r.Recovery.Seconds != nil:
		return fmt.Sprintf("%.1fs", *r.Recovery.Seconds)
	case r.Status == chaoslab.StatusCompleted:
		return "none"
	}
	return "-"
}

func windowPoints(r *chaoslab.Result, window string) []chaoslab.Point {
	var ps []chaoslab.Point
	for _, p := range r.Series {
		if p.Window == window && p.Requests > 0 {
			ps = append(ps, p)
		}
	}
	return ps
}

func values(ps []chaoslab.Point, f func(chaoslab.Point) float64) []float64 {
	xs := make([]float64, len(ps))
	for i, p := range ps {
		xs[i] = f(p)
	}
	return xs
}

func totals(ps []chaoslab.Point) (errs, reqs int64) {
	for _, p := range ps {
		errs += p.Errors
		reqs += p.Requests
	}
	return errs, reqs
}

// pad aligns the p-value column after an interval of varying width.
func pad(lo, hi float64) string {
	n := 22 - len(fmt.Sprintf("[%+.2f, %+.2f]", lo, hi))
	if n < 1 {
		n = 1
	}
	return strings.Repeat(" ", n)
}
