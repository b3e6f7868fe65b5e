package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/internal/netfault"
	"github.com/chaoslab-dev/chaoslab/internal/toxiproxyapi"
)

// proxy runs a fault proxy from the command line, or Toxiproxy's HTTP API
// to make proxies on demand (--api), or both, until ctx is done (SIGINT or
// SIGTERM); then it stops the API, waiting briefly for requests under way,
// and closes every proxy and every connection through them.
func (c *cli) proxy(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("chaoslab proxy", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on (loopback unless told otherwise; port 0 picks one)")
	upstream := fs.String("upstream", "", "host:port the proxy forwards to (required without --api)")
	httpMode := fs.Bool("http", false, "parse HTTP/1.1, so that http_errors and http_delay apply (stream faults then do not)")
	seed := fs.Int64("seed", 1, "random seed of the faults")
	api := fs.String("api", "", "serve Toxiproxy's HTTP API on `ADDR`, such as "+toxiproxyapi.DefaultAddr+
		" (Toxiproxy's usual one; port 0 picks one; loopback unless a host says otherwise), so that Toxiproxy clients create proxies and add toxics; off by default")
	verbose := fs.Bool("v", false, "log proxies, faults and API requests to stderr")
	var faults scenarioFlags
	fs.Var(&faults, "fault", "a network fault, `NAME[:key=value,...]` (repeatable; see chaoslab scenarios)")
	fs.Usage = func() {
		fmt.Fprint(c.stderr, `Usage: chaoslab proxy --upstream HOST:PORT [--listen ADDR] [--http] [--fault NAME:key=value,...]... [--api ADDR]
       chaoslab proxy --api ADDR

With --api, the command serves Toxiproxy's HTTP API (v2.12.0: proxies, toxics,
populate, reset, version) so that Toxiproxy clients and test suites can drive
chaoslab unchanged. Toxic types: latency, bandwidth, timeout, reset_peer,
slicer, limit_data, noop, and chaoslab's network scenario names with their
parameters as string attributes.

`)
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
	if *upstream == "" && *api == "" {
		return c.fail("proxy needs --upstream HOST:PORT, or --api ADDR")
	}
	if *upstream == "" {
		var stray []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "listen" || f.Name == "http" || f.Name == "fault" {
				stray = append(stray, "--"+f.Name)
			}
		})
		if len(stray) > 0 {
			return c.fail("%s configure the --upstream proxy; give --upstream, or create proxies through the API", strings.Join(stray, ", "))
		}
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}

	var p *netfault.Proxy
	if *upstream != "" {
		var code int
		if p, code = c.startProxy(ctx, *upstream, *listen, *httpMode, *seed, faults, logger); p == nil {
			return code
		}
		defer p.Close()
	}
	var (
		apiServer *toxiproxyapi.Server
		httpSrv   *http.Server
		serveErr  chan error // nil without --api: never ready
	)
	if *api != "" {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", loopbackUnlessTold(*api))
		if err != nil {
			return c.fail("--api: %v", err)
		}
		apiServer = toxiproxyapi.New(toxiproxyapi.WithLogger(logger), toxiproxyapi.WithSeed(*seed))
		defer apiServer.Close()
		httpSrv = &http.Server{
			Handler:           apiServer.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			IdleTimeout:       time.Minute,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		serveErr = make(chan error, 1)
		go func() { serveErr <- httpSrv.Serve(ln) }()
		fmt.Fprintf(c.stdout, "chaoslab proxy API listening on %s\n", ln.Addr())
	}
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return c.fail("--api: %v", err)
	}
	code := exitPass
	if httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), apiShutdownTimeout)
		err := httpSrv.Shutdown(sctx)
		cancel()
		if err != nil {
			httpSrv.Close()
		}
		<-serveErr
		if err := apiServer.Close(); err != nil {
			code = c.fail("proxy API: close: %v", err)
		}
	}
	if p != nil {
		if err := p.Close(); err != nil {
			code = c.fail("proxy: close: %v", err)
		}
	}
	fmt.Fprintln(c.stderr, "chaoslab: proxy stopped")
	return code
}

// loopbackUnlessTold returns addr, with the loopback address for a missing
// host (":8474"), so that only an explicit host such as 0.0.0.0 listens
// beyond this machine.
func loopbackUnlessTold(addr string) string {
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// apiShutdownTimeout bounds the wait for API requests under way on exit.
const apiShutdownTimeout = 5 * time.Second

// startProxy starts the --upstream proxy with its --fault faults and prints
// where it listens; on failure it returns a nil proxy and the exit code.
func (c *cli) startProxy(ctx context.Context, upstream, listen string, httpMode bool, seed int64, faults scenarioFlags, logger *slog.Logger) (*netfault.Proxy, int) {
	var built []netfault.Fault
	for i, f := range faults {
		if f.Start != 0 || f.Duration != 0 {
			return nil, c.fail("--fault %s: start= and for= apply to experiments, not to the proxy", f.Scenario)
		}
		if _, ok := f.Params["link"]; ok {
			return nil, c.fail("--fault %s: link= names a link of a target; the proxy is one link", f.Scenario)
		}
		exp := chaoslab.Experiment{Faults: []chaoslab.Fault{f}}
		if err := exp.Validate(); err != nil {
			return nil, c.fail("--fault %s: %v", f.Scenario, err)
		}
		s, _ := chaoslab.LookupScenario(f.Scenario)
		nf, err := netfault.FromLinkFault(chaoslab.LinkFault{Kind: f.Scenario, Params: s.WithDefaults(f.Params), Seed: seed + int64(i)})
		if err != nil {
			return nil, c.fail("--fault %s: %v", f.Scenario, err)
		}
		built = append(built, nf)
	}
	opts := []netfault.Option{netfault.WithListen(listen), netfault.WithLogger(logger)}
	if httpMode {
		opts = append(opts, netfault.WithHTTP())
	}
	p := netfault.New(upstream, opts...)
	if err := p.Start(ctx); err != nil {
		return nil, c.fail("proxy: %v", err)
	}
	for i, f := range built {
		if _, err := p.Apply(f); err != nil {
			p.Close()
			return nil, c.fail("--fault %s: %v", faults[i].Scenario, err)
		}
	}
	fmt.Fprintf(c.stdout, "chaoslab proxy listening on %s, forwarding to %s", p.Addr(), upstream)
	for _, f := range faults {
		fmt.Fprintf(c.stdout, "; %s%s", f.Scenario, formatFaultParams(f.Params))
	}
	fmt.Fprintln(c.stdout)
	return p, exitPass
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
