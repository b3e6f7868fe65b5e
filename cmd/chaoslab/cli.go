package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/analyzer/groq"
	"github.com/chaoslab-dev/chaoslab/analyzer/rules"
	"github.com/chaoslab-dev/chaoslab/dashboard/grafana"
	"github.com/chaoslab-dev/chaoslab/dashboard/html"
	"github.com/chaoslab-dev/chaoslab/provider/awsasg"
	"github.com/chaoslab-dev/chaoslab/provider/e2b"
	"github.com/chaoslab-dev/chaoslab/provider/e2b/agent"
	"github.com/chaoslab-dev/chaoslab/provider/local"
	"github.com/chaoslab-dev/chaoslab/scenario"
)

// Exit codes.
const (
	exitPass        = 0
	exitViolated    = 1
	exitError       = 2
	exitInterrupted = 130
)

type cli struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	// isTerminal reports whether stderr is a terminal (progress bar);
	// nil means check os.Stderr.
	isTerminal func() bool
}

const usage = `chaoslab runs chaos experiments.

Usage:
  chaoslab run [flags] [EXPERIMENT_FILE]   run an experiment; without a file or
                                           --scenario, the demo service with 200 ms
                                           of latency on its dependency
  chaoslab scenarios                       list the fault scenarios
  chaoslab validate FILE                   check an experiment file (- for stdin)
  chaoslab proxy --upstream ADDR [--fault NAME:key=value,...]
                                           a standalone fault proxy until Ctrl-C
  chaoslab proxy --api ADDR                Toxiproxy's HTTP API (its usual ADDR is
                                           127.0.0.1:8474), for Toxiproxy clients
  chaoslab compare A.json B.json            the same experiment before and after a
                                           change, with effects and intervals
  chaoslab history DIR                     past results: verdict, score, recovery
  chaoslab cleanup --provider e2b [--dry-run]
                                           kill the E2B sandboxes that chaoslab runs
                                           which ended without closing left behind

Run 'chaoslab run -h' or 'chaoslab proxy -h' for their flags.

Exit codes: 0 the hypothesis held, 1 it was violated or the run could not
tell, 2 bad input or an error, 130 interrupted (faults reverted first).
`

func (c *cli) main(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, usage)
		return exitError
	}
	switch args[0] {
	case "run":
		return c.run(ctx, args[1:])
	case "scenarios":
		return c.scenarios(args[1:])
	case "validate":
		return c.validate(args[1:])
	case "proxy":
		return c.proxy(ctx, args[1:])
	case "cleanup":
		return c.cleanup(ctx, args[1:])
	case "compare":
		return c.compare(args[1:])
	case "history":
		return c.history(ctx, args[1:])
	case agentCommand:
		// Not listed: what the E2B provider runs inside a sandbox when it
		// uploads this executable (see e2bProvider).
		return agent.Main(ctx, args[1:], c.stdout, c.stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.stdout, usage)
		return exitPass
	default:
		fmt.Fprintf(c.stderr, "chaoslab: unknown command %q; commands: run, scenarios, validate, proxy, cleanup, compare, history\n", args[0])
		return exitError
	}
}

func (c *cli) fail(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "chaoslab: "+format+"\n", args...)
	return exitError
}

func (c *cli) scenarios(args []string) int {
	if len(args) > 0 {
		return c.fail("scenarios takes no arguments")
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tPARAMETER\tDEFAULT\tMEANING")
	for _, s := range chaoslab.Scenarios() {
		fmt.Fprintf(tw, "%s\t\t\t%s\n", s.Name, s.Summary)
		for _, p := range s.Params {
			def := p.Default
			if def == "" {
				def = "-"
			}
			fmt.Fprintf(tw, "\t%s\t%s\t%s\n", p.Name, def, p.Help)
		}
	}
	if err := tw.Flush(); err != nil {
		return c.fail("%v", err)
	}
	fmt.Fprintln(c.stdout, "\nUse: chaoslab run --scenario NAME[:key=value,...]")
	return exitPass
}

func (c *cli) readExperiment(path string) (chaoslab.Experiment, error) {
	if path == "-" {
		b, err := io.ReadAll(c.stdin)
		if err != nil {
			return chaoslab.Experiment{}, err
		}
		return scenario.Parse("-", b)
	}
	return scenario.Load(path)
}

func (c *cli) validate(args []string) int {
	if len(args) != 1 {
		return c.fail("validate takes one experiment file (or - for standard input)")
	}
	exp, err := c.readExperiment(args[0])
	if err != nil {
		return c.fail("%v", err)
	}
	fmt.Fprintf(c.stdout, "%s: valid experiment %q with %d fault(s)\n", args[0], exp.Name, len(exp.Faults))
	return exitPass
}

// listFlag collects the values of a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// scenarioFlags collects repeated --scenario values.
type scenarioFlags []chaoslab.Fault

func (s *scenarioFlags) String() string { return "" }

// Set parses NAME[:key=value,...].
func (s *scenarioFlags) Set(v string) error {
	f, err := parseScenarioFlag(v)
	if err != nil {
		return err
	}
	*s = append(*s, f)
	return nil
}

func parseScenarioFlag(v string) (chaoslab.Fault, error) {
	name, rest, _ := strings.Cut(v, ":")
	f := chaoslab.Fault{Scenario: strings.TrimSpace(name)}
	if rest == "" {
		return f, nil
	}
	f.Params = chaoslab.Params{}
	for _, kv := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return f, fmt.Errorf("%q: parameters are key=value pairs separated by commas, as in network_delay:latency=200ms,jitter=20ms", v)
		}
		switch k {
		case "start", "for":
			// Fault timing rides along with the parameters.
			d, err := time.ParseDuration(val)
			if err != nil || d < 0 {
				return f, fmt.Errorf("%q: %s must be a duration of 0 or more", v, k)
			}
			if k == "start" {
				f.Start = d
			} else {
				f.Duration = d
			}
		default:
			f.Params[k] = strings.TrimSpace(val)
		}
	}
	return f, nil
}

// defaultExperiment is what `chaoslab run` does with no file and no
// scenario: the demo service, whose dependency gets 200 ms of latency.
func defaultExperiment() chaoslab.Experiment {
	return chaoslab.Experiment{
		Name:   "demo-network-delay",
		Target: chaoslab.TargetSpec{Kind: chaoslab.TargetDemo},
		Load:   chaoslab.Load{Rate: 50},
		Hypothesis: chaoslab.Hypothesis{
			MaxP99:       500 * time.Millisecond,
			MaxErrorRate: 0.01,
		},
		Faults: []chaoslab.Fault{{Scenario: "network_delay", Params: chaoslab.Params{"latency": "200ms"}}},
		StopConditions: []chaoslab.StopCondition{
			{Metric: chaoslab.MetricErrorRate, Max: 0.5, For: 3 * time.Second},
		},
	}
}

func (c *cli) run(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("chaoslab run", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	var faults scenarioFlags
	fs.Var(&faults, "scenario", "a fault to inject, `NAME[:key=value,...]` (repeatable; see chaoslab scenarios); start= and for= set its offset and length")
	duration := fs.Duration("duration", 10*time.Second, "length of the chaos window")
	baseline := fs.Duration("baseline", 5*time.Second, "how long to measure steady state before any fault")
	out := fs.String("out", "chaoslab-out", "directory for result.json and report.html")
	provider := fs.String("provider", "local", "where the target runs: local, e2b or aws-asg")
	template := fs.String("template", "", "e2b: the sandbox template (default: E2B's base template)")
	asg := fs.String("asg", "", "aws-asg: the Auto Scaling group's name (required with --provider aws-asg)")
	healthURL := fs.String("health-url", "", "aws-asg: a URL behind the group's load balancer for load and probes (default: none; the group is judged by its capacity)")
	allow := fs.String("allow", "", "aws-asg: comma-separated group names or tag key=value rules the group must match (default: the --asg name)")
	dryRun := fs.Bool("dry-run", false, "aws-asg: name the instances instance_termination would terminate, and touch nothing")
	rate := fs.Float64("rate", chaoslab.DefaultRate, "load in requests per second")
	seed := fs.Int64("seed", 0, "random seed, for replaying a run (0 picks one, recorded in the result)")
	store := fs.String("store", "", "also keep the result in this results directory, one JSON file per run")
	quiet := fs.Bool("quiet", false, "print only the verdict")
	verbose := fs.Bool("v", false, "log what the runner and provider do")
	var dashboards listFlag
	fs.Var(&dashboards, "dashboard", "where the result is published besides result.json: html (always written to --out) and grafana (a dashboard and annotations, through GRAFANA_URL and GRAFANA_SERVICE_ACCOUNT_TOKEN); repeatable")
	analyzerName := fs.String("analyzer", "rules", "who explains the result: rules, or groq (an LLM through GROQ_API_KEY and GROQ_BASE_URL, falling back to rules)")
	fs.Usage = func() {
		fmt.Fprint(c.stderr, "Usage: chaoslab run [flags] [EXPERIMENT_FILE]\n\nFlags given on the command line override the file.\n\n")
		fs.PrintDefaults()
	}
	// Flags may come before or after the file.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitPass
			}
			return exitError
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if len(files) > 1 {
		return c.fail("run takes at most one experiment file, got %d: %s", len(files), strings.Join(files, " "))
	}

	var exp chaoslab.Experiment
	switch {
	case len(files) == 1:
		var err error
		if exp, err = c.readExperiment(files[0]); err != nil {
			return c.fail("%v", err)
		}
	case len(faults) > 0:
		exp = defaultExperiment()
		exp.Name = "demo"
	default:
		exp = defaultExperiment()
	}
	if *provider == awsasg.Name {
		if *asg == "" {
			return c.fail("--provider %s needs --asg NAME, the Auto Scaling group to act on", awsasg.Name)
		}
		if len(files) == 0 {
			exp.Name = "asg-" + *asg
			exp.Target = chaoslab.TargetSpec{Kind: chaoslab.TargetFleet}
			if len(faults) == 0 {
				exp.Faults = []chaoslab.Fault{{Scenario: "instance_termination", Params: chaoslab.Params{"count": "1"}}}
			}
		}
		if exp.Target.Options == nil {
			exp.Target.Options = map[string]string{}
		}
		exp.Target.Options[awsasg.OptionGroup] = *asg
	} else {
		if *template != "" && *provider != e2b.Name {
			return c.fail("--template is for --provider %s", e2b.Name)
		}
		for name, v := range map[string]string{"asg": *asg, "health-url": *healthURL, "allow": *allow} {
			if v != "" {
				return c.fail("--%s is for --provider %s", name, awsasg.Name)
			}
		}
		if *dryRun {
			return c.fail("--dry-run is for --provider %s", awsasg.Name)
		}
	}
	if len(faults) > 0 {
		exp.Faults = faults
		if len(files) == 0 && *provider == "local" {
			exp.Name = "demo-" + faults[0].Scenario
		}
	}
	if *dryRun {
		n := 0
		for i := range exp.Faults {
			if exp.Faults[i].Scenario == "instance_termination" {
				exp.Faults[i].Params = exp.Faults[i].Params.Clone()
				if exp.Faults[i].Params == nil {
					exp.Faults[i].Params = chaoslab.Params{}
				}
				exp.Faults[i].Params["dry_run"] = "true"
				n++
			}
		}
		if n == 0 {
			return c.fail("--dry-run applies to instance_termination, and the experiment has none")
		}
	}
	if set["duration"] || exp.Duration == 0 {
		exp.Duration = *duration
	}
	if set["baseline"] || exp.Baseline == 0 {
		exp.Baseline = *baseline
	}
	if set["rate"] {
		exp.Load.Rate = *rate
	}
	if set["seed"] {
		exp.Seed = *seed
	}
	if err := exp.Validate(); err != nil {
		var ve *chaoslab.ValidationError
		if errors.As(err, &ve) {
			fmt.Fprintln(c.stderr, "chaoslab: invalid experiment:")
			for _, p := range ve.Problems {
				fmt.Fprintln(c.stderr, "  "+p.String())
			}
			return exitError
		}
		return c.fail("%v", err)
	}
	switch *analyzerName {
	case "rules", "groq":
	default:
		return c.fail("unknown analyzer %q; analyzers: rules, groq", *analyzerName)
	}
	for _, d := range dashboards {
		if d != "html" && d != "grafana" {
			return c.fail("unknown dashboard %q; dashboards: html, grafana", d)
		}
	}
	var newProvider func(*slog.Logger) chaoslab.Provider
	switch *provider {
	case "local":
		newProvider = func(l *slog.Logger) chaoslab.Provider { return local.New(local.WithLogger(l)) }
	case awsasg.Name:
		rules := []string{*asg}
		if *allow != "" {
			rules = strings.Split(*allow, ",")
		}
		newProvider = func(l *slog.Logger) chaoslab.Provider {
			return awsasg.New(awsasg.WithGroup(*asg), awsasg.WithAllowed(rules...), awsasg.WithHealthURL(*healthURL), awsasg.WithLogger(l))
		}
	case e2b.Name:
		newProvider = func(l *slog.Logger) chaoslab.Provider {
			opts := append(e2bAgent(), e2b.WithLogger(l))
			if *template != "" {
				opts = append(opts, e2b.WithTemplate(*template))
			}
			return e2b.New(opts...)
		}
	default:
		return c.fail("unknown provider %q; providers: local, %s, %s", *provider, e2b.Name, awsasg.Name)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return c.fail("output directory: %v", err)
	}

	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	prog := c.newProgress(*quiet)
	var analyzer chaoslab.Analyzer = rules.New()
	if *analyzerName == "groq" {
		analyzer = groq.New(groq.WithLogger(logger))
	}
	// The HTML report is always written, so that nothing is lost when
	// another dashboard is down.
	publishers := []chaoslab.Dashboarder{html.New(*out)}
	if slices.Contains(dashboards, "grafana") {
		publishers = append(publishers, grafana.New(grafana.WithLogger(logger)))
	}
	opts := []chaoslab.Option{
		chaoslab.WithProvider(newProvider(logger)),
		chaoslab.WithAnalyzer(analyzer),
		chaoslab.WithDashboards(publishers...),
		chaoslab.WithObserver(prog.observe),
		chaoslab.WithLogger(logger),
	}
	if *store != "" {
		opts = append(opts, chaoslab.WithStore(chaoslab.NewFileStore(*store)))
	}
	res, runErr := chaoslab.New(opts...).Run(ctx, exp)
	prog.done()

	resultPath := filepath.Join(*out, "result.json")
	if err := chaoslab.WriteResultFile(resultPath, res); err != nil {
		runErr = errors.Join(runErr, err)
	}
	c.report(res, resultPath, *quiet)
	switch {
	case ctx.Err() != nil:
		if err := errors.Join(unwrapAll(runErr, isCancel)...); err != nil {
			fmt.Fprintf(c.stderr, "chaoslab: interrupted, and cleaning up failed: %v\n", err)
		} else {
			fmt.Fprintln(c.stderr, "chaoslab: interrupted; every fault was reverted and the target stopped")
		}
		return exitInterrupted
	case runErr != nil:
		return c.fail("%v", runErr)
	case res.Verdict == chaoslab.VerdictPass:
		return exitPass
	default:
		return exitViolated
	}
}

// report prints the outcome.
func (c *cli) report(res *chaoslab.Result, resultPath string, quiet bool) {
	w := c.stdout
	fmt.Fprintf(w, "\n%s: %s\n", strings.ToUpper(string(res.Verdict)), res.Reason)
	for _, f := range res.Faults {
		if f.Detail != "" {
			fmt.Fprintf(w, "  %s: %s\n", f.Scenario, f.Detail)
		}
	}
	if quiet {
		return
	}
	for _, win := range res.Windows {
		fmt.Fprintf(w, "  %-9s %6.1f req/s  p50 %7.1f ms  p99 %7.1f ms  errors %5.1f%%\n",
			win.Name, win.RPS, win.Latency.P50, win.Latency.P99, win.ErrRate*100)
	}
	if s := res.Recovery.Seconds; s != nil {
		fmt.Fprintf(w, "  recovered in %.1f s\n", *s)
	} else if res.Status == chaoslab.StatusCompleted {
		fmt.Fprintln(w, "  did not recover")
	}
	if a := res.Analysis; a.Summary != "" {
		fmt.Fprintf(w, "\nAnalysis (%s, severity %s): %s\n", a.Source, a.Severity, a.Summary)
		for _, r := range a.Recommendations {
			fmt.Fprintf(w, "  - %s\n", r)
		}
	}
	for _, e := range res.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
	fmt.Fprintf(w, "\nresult: %s\n", resultPath)
	for _, d := range res.Dashboards {
		fmt.Fprintf(w, "%s: %s\n", d.Kind, d.URL)
	}
}

func isCancel(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// unwrapAll splits a joined error and drops the parts for which skip holds.
func unwrapAll(err error, skip func(error) bool) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unwrapAll(e, skip)...)
		}
		return out
	}
	if skip(err) {
		return nil
	}
	return []error{err}
}
