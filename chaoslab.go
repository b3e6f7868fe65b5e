// Package chaoslab runs chaos experiments as code.
//
// An Experiment names a target, a load, a steady-state Hypothesis, Faults
// and stop conditions. A Runner provisions the target through a Provider,
// checks the hypothesis on a baseline, injects the faults through Injectors,
// watches, always reverts every fault, measures how long the target takes to
// recover, has an Analyzer explain the outcome, and hands the Result to
// Dashboarders and a Store.
//
// The root package holds the types and the Runner; implementations live in
// subpackages and plug in through small interfaces: provider/local (and
// later cloud providers), the built-in fault catalogue in scenario,
// analyzer/rules, dashboard/html. Package chaostest runs experiments inside
// go test.
//
//	r := chaoslab.New(
//		chaoslab.WithProvider(local.New()),
//		chaoslab.WithAnalyzer(rules.New()),
//		chaoslab.WithDashboards(html.New("out")),
//	)
//	res, err := r.Run(ctx, chaoslab.Experiment{
//		Hypothesis: chaoslab.Hypothesis{MaxP99: 300 * time.Millisecond, MaxErrorRate: 0.01},
//		Faults:     []chaoslab.Fault{{Scenario: "network_delay", Params: chaoslab.Params{"latency": "200ms"}}},
//	})
package chaoslab

import (
	"log/slog"
	"net/http"
	"time"
)

// Runner runs experiments. Build one with New; it is safe for concurrent
// use, and each Run is independent.
type Runner struct {
	provider       Provider
	analyzer       Analyzer
	dashboards     []Dashboarder
	store          Store
	observers      []func(Event)
	logger         *slog.Logger
	cleanupTimeout time.Duration
	client         *http.Client
	tick           time.Duration
}

// Option configures a Runner.
type Option func(*Runner)

// New returns a Runner. It does no I/O.
func New(opts ...Option) *Runner {
	r := &Runner{
		logger:         slog.New(slog.DiscardHandler),
		cleanupTimeout: 30 * time.Second,
		tick:           250 * time.Millisecond,
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// WithProvider sets the provider that makes targets. Required.
func WithProvider(p Provider) Option { return func(r *Runner) { r.provider = p } }

// WithAnalyzer sets the analyzer that explains results. Without one the
// result has no analysis.
func WithAnalyzer(a Analyzer) Option { return func(r *Runner) { r.analyzer = a } }

// WithDashboards adds dashboarders; each gets the result, and one failing
// does not stop the others.
func WithDashboards(d ...Dashboarder) Option {
	return func(r *Runner) { r.dashboards = append(r.dashboards, d...) }
}

// WithStore sets where results are kept.
func WithStore(s Store) Option { return func(r *Runner) { r.store = s } }

// WithObserver adds a progress observer. Observers are called in order from
// the Runner's goroutine and must not block; a panicking observer is
// dropped from that run.
func WithObserver(fn func(Event)) Option {
	return func(r *Runner) { r.observers = append(r.observers, fn) }
}

// WithLogger sets the logger; by default the Runner logs nothing.
func WithLogger(l *slog.Logger) Option { return func(r *Runner) { r.logger = l } }

// WithCleanupTimeout bounds each Undo and Target.Close. Default 30s.
func WithCleanupTimeout(d time.Duration) Option { return func(r *Runner) { r.cleanupTimeout = d } }

// WithHTTPClient sets the client that sends load and health requests.
func WithHTTPClient(c *http.Client) Option { return func(r *Runner) { r.client = c } }

// Event reports progress.
type Event struct {
	RunID string
	Phase Phase
	// Percent of the planned run done, 0 to 100.
	Percent float64
	Message string
	Time    time.Time
	// Point is the interval just measured, for events sent once per
	// interval; nil otherwise.
	Point *Point
}
