package main

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/chaoslab-dev/chaoslab"
)

// progress shows a run's events: a progress bar on a terminal, plain lines
// otherwise.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	bar   *progressbar.ProgressBar
	quiet bool
	last  chaoslab.Phase
}

func (c *cli) newProgress(quiet bool) *progress {
	p := &progress{w: c.stderr, quiet: quiet}
	tty := c.isTerminal
	if tty == nil {
		tty = func() bool { return term.IsTerminal(int(os.Stderr.Fd())) }
	}
	if !quiet && tty() {
		p.bar = progressbar.NewOptions(100,
			progressbar.OptionSetWriter(c.stderr),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *progress) observe(e chaoslab.Event) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		desc := string(e.Phase)
		if e.Message != "" {
			desc += ": " + e.Message
		}
		p.bar.Describe(desc)
		_ = p.bar.Set(int(e.Percent))
		return
	}
	// A line per measured interval, per phase change and per message.
	if e.Point != nil || e.Phase != p.last || e.Message != "" {
		fmt.Fprintf(p.w, "%s %5.1f%% %-12s %s\n", e.Time.Format("15:04:05"), e.Percent, e.Phase, e.Message)
	}
	p.last = e.Phase
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
