package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/internal/netfault"
)

// proxy runs one fault proxy from the command line until ctx is done
// (SIGINT or SIGTERM), then closes it and every connection through it.
func (c *cli) proxy(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("chaoslab proxy", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on (loopback unless told otherwise; port 0 picks one)")
	upstream := fs.String("upstream", "", "host:port the proxy forwards to (required)")
	httpMode := fs.Bool("http", false, "parse HTTP/1.1, so that http_errors applies (stream faults then do not)")
	seed := fs.Int64("seed", 1, "random seed of the faults")
	var faults scenarioFlags
	fs.Var(&faults, "fault", "a network fault, `NAME[:key=value,...]` (repeatable; see chaoslab scenarios)")
	fs.Usage = func() {
		fmt.Fprint(c.stderr, "Usage: chaoslab proxy --upstream HOST:PORT [--listen ADDR] [--http] [--fault NAME:key=value,...]...\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitPass
		}
		return exitError
	}
	if fs.NArg() > 0 {
		return c.fail("proxy takes no arguments besides its flags, got %s", strings.Join(fs.Args(), " "))
	}
	if *upstream == "" {
		return c.fail("proxy needs --upstream HOST:PORT")
	}
	var built []netfault.Fault
	for i, f := range faults {
		if f.Start != 0 || f.Duration != 0 {
			return c.fail("--fault %s: start= and for= apply to experiments, not to the proxy", f.Scenario)
		}
		if _, ok := f.Params["link"]; ok {
			return c.fail("--fault %s: link= names a link of a target; the proxy is one link", f.Scenario)
		}
		exp := chaoslab.Experiment{Faults: []chaoslab.Fault{f}}
		if err := exp.Validate(); err != nil {
			return c.fail("--fault %s: %v", f.Scenario, err)
		}
		s, _ := chaoslab.LookupScenario(f.Scenario)
		nf, err := netfault.FromLinkFault(chaoslab.LinkFault{Kind: f.Scenario, Params: s.WithDefaults(f.Params), Seed: *seed + int64(i)})
		if err != nil {
			return c.fail("--fault %s: %v", f.Scenario, err)
		}
		built = append(built, nf)
	}
	opts := []netfault.Option{netfault.WithListen(*listen)}
	if *httpMode {
		opts = append(opts, netfault.WithHTTP())
	}
	p := netfault.New(*upstream, opts...)
	if err := p.Start(ctx); err != nil {
		return c.fail("proxy: %v", err)
	}
	defer p.Close()
	for i, f := range built {
		if _, err := p.Apply(f); err != nil {
			return c.fail("--fault %s: %v", faults[i].Scenario, err)
		}
	}
	fmt.Fprintf(c.stdout, "chaoslab proxy listening on %s, forwarding to %s", p.Addr(), *upstream)
	for _, f := range faults {
		fmt.Fprintf(c.stdout, "; %s%s", f.Scenario, formatFaultParams(f.Params))
	}
	fmt.Fprintln(c.stdout)
	<-ctx.Done()
	if err := p.Close(); err != nil {
		return c.fail("proxy: close: %v", err)
	}
	fmt.Fprintln(c.stderr, "chaoslab: proxy stopped")
	return exitPass
}

func formatFaultParams(p chaoslab.Params) string {
	if len(p) == 0 {
		return ""
	}
	parts := make([]string, 0, len(p))
	for k, v := range p {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return " (" + strings.Join(parts, ", ") + ")"
}
