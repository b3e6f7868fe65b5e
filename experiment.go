package chaoslab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Experiment describes one chaos experiment: a target, load, a steady-state
// hypothesis, faults and guardrails. The zero values of optional fields take
// the defaults documented on each field; Validate reports every problem at
// once.
type Experiment struct {
	// Name labels the run in results and reports. Default "experiment".
	Name   string     `json:"name,omitempty" yaml:"name"`
	Target TargetSpec `json:"target" yaml:"target"`
	Load   Load       `json:"load" yaml:"load"`
	// Hypothesis is the steady state that must hold before, during and
	// after the faults.
	Hypothesis Hypothesis `json:"hypothesis" yaml:"hypothesis"`
	Faults     []Fault    `json:"faults" yaml:"faults"`
	// StopConditions abort the experiment, reverting every fault, within a
	// second of a breach.
	StopConditions []StopCondition `json:"stop_conditions,omitempty" yaml:"stop_conditions"`

	// Baseline is how long steady state is measured before any fault.
	// Default 5s.
	Baseline time.Duration `json:"baseline,omitempty" yaml:"baseline"`
	// Duration is the length of the chaos window, which follows the
	// baseline; fault start offsets count from its beginning, and faults
	// still active at its end are reverted then. Default 10s.
	Duration time.Duration `json:"duration,omitempty" yaml:"duration"`
	// StableWindow is how long the hypothesis must hold again after the
	// faults are reverted to count as recovered. Default 3s.
	StableWindow time.Duration `json:"stable_window,omitempty" yaml:"stable_window"`
	// RecoveryTimeout is how long to wait for recovery before giving up.
	// Default 30s.
	RecoveryTimeout time.Duration `json:"recovery_timeout,omitempty" yaml:"recovery_timeout"`
	// Interval is the measurement interval. Default 1s.
	Interval time.Duration `json:"interval,omitempty" yaml:"interval"`
	// Seed makes random choices (jitter, which requests fail) repeatable.
	// 0 picks one, recorded in the result.
	Seed int64 `json:"seed,omitempty" yaml:"seed"`
}

// TargetKind names a kind of target.
type TargetKind string

// Kinds of target. Providers may support only some.
const (
	// TargetDemo is chaoslab's built-in demo service: an HTTP service that
	// calls a downstream dependency on every request.
	TargetDemo TargetKind = "demo"
	// TargetCommand is a command the provider starts and supervises.
	TargetCommand TargetKind = "command"
	// TargetAddress is a service that is already running: attach only.
	TargetAddress TargetKind = "address"
	// TargetFleet is a group of instances that already runs, such as an
	// AWS Auto Scaling group (see Fleet); Address, optional, is where its
	// load balancer answers. Providers that manage fleets document the
	// Options that name it.
	TargetFleet TargetKind = "fleet"
)

// TargetSpec says what a Provider should provision.
type TargetSpec struct {
	// Kind is demo (the default), command, address or fleet.
	Kind TargetKind `json:"kind,omitempty" yaml:"kind"`
	// Command and its arguments, for kind command.
	Command []string `json:"command,omitempty" yaml:"command"`
	// Env adds environment variables to the command.
	Env map[string]string `json:"env,omitempty" yaml:"env"`
	// Dir is the command's working directory; default a fresh temporary
	// directory, removed at Close.
	Dir string `json:"dir,omitempty" yaml:"dir"`
	// Address is where the service listens: a URL such as
	// http://127.0.0.1:8080 or a host:port. Required for kinds command and
	// address.
	Address string `json:"address,omitempty" yaml:"address"`
	// ReadyURL must answer 2xx or 3xx before the target counts as ready.
	// Default: Address + HealthPath.
	ReadyURL string `json:"ready_url,omitempty" yaml:"ready_url"`
	// HealthPath is appended to Address to make the default ReadyURL.
	// Default "/health" for the demo, "/" otherwise.
	HealthPath string `json:"health_path,omitempty" yaml:"health_path"`
	// ReadyTimeout bounds the wait for readiness. Default 30s.
	ReadyTimeout time.Duration `json:"ready_timeout,omitempty" yaml:"ready_timeout"`
	// Restart says whether the provider restarts the process when it exits:
	// "never", "on-failure" or "always". Default "always" for the demo,
	// "on-failure" for commands.
	Restart RestartPolicy `json:"restart,omitempty" yaml:"restart"`
	// Dependencies are routed through fault proxies.
	Dependencies []Dependency `json:"dependencies,omitempty" yaml:"dependencies"`
	// Options carries provider-specific settings (template names, group
	// names); providers document their keys.
	Options map[string]string `json:"options,omitempty" yaml:"options"`
}

// RestartPolicy says when a supervised process is started again.
type RestartPolicy string

// Restart policies.
const (
	RestartNever     RestartPolicy = "never"
	RestartOnFailure RestartPolicy = "on-failure"
	RestartAlways    RestartPolicy = "always"
)

// Dependency is a service the target calls, routed through a fault proxy.
type Dependency struct {
	// Name identifies the link in faults ("db", "payments").
	Name string `json:"name" yaml:"name"`
	// Upstream is the dependency's real host:port.
	Upstream string `json:"upstream" yaml:"upstream"`
	// Env is the environment variable through which the target is handed
	// the proxy's host:port.
	Env string `json:"env" yaml:"env"`
	// Protocol is "tcp" (default) or "http"; http links also take HTTP
	// faults.
	Protocol string `json:"protocol,omitempty" yaml:"protocol"`
}

// Load is an open-model, constant-rate HTTP load on the target's endpoint.
type Load struct {
	// Rate in requests per second. Default 50. Set Disabled to send none.
	Rate float64 `json:"rate,omitempty" yaml:"rate"`
	// Paths are requested in turn. Default ["/"].
	Paths []string `json:"paths,omitempty" yaml:"paths"`
	// Method is the HTTP method. Default GET.
	Method string `json:"method,omitempty" yaml:"method"`
	// Timeout bounds each request; a timed-out request is an error with a
	// latency of Timeout. Default 2s.
	Timeout time.Duration `json:"timeout,omitempty" yaml:"timeout"`
	// Disabled turns load off (probes only).
	Disabled bool `json:"disabled,omitempty" yaml:"disabled"`
}

// Hypothesis is the steady state: tolerances on the load's measurements plus
// custom probes. Zero tolerances are not checked.
type Hypothesis struct {
	// MaxP50 and MaxP99 bound the latency percentiles.
	MaxP50 time.Duration `json:"max_p50,omitempty" yaml:"max_p50"`
	MaxP99 time.Duration `json:"max_p99,omitempty" yaml:"max_p99"`
	// MaxErrorRate bounds the share of failed requests (0 to 1). A request
	// fails on a transport error, a timeout or a 5xx status.
	MaxErrorRate float64 `json:"max_error_rate,omitempty" yaml:"max_error_rate"`
	// MinThroughput is the least share of the offered rate that must
	// complete successfully each second, in requests per second.
	MinThroughput float64 `json:"min_throughput,omitempty" yaml:"min_throughput"`
	// Probes are custom checks, run once per interval.
	Probes []Probe `json:"-" yaml:"-"`
}

// Probe is a custom steady-state check written in Go.
type Probe struct {
	Name string
	// Check returns nil while the steady state holds.
	Check func(ctx context.Context, t Target) error
}

// Metric names, used in hypothesis checks and stop conditions.
const (
	MetricP50        = "latency_p50_ms"
	MetricP99        = "latency_p99_ms"
	MetricErrorRate  = "error_rate"
	MetricThroughput = "throughput_rps"
)

// StopCondition aborts the experiment when a metric stays beyond its limit
// for a while, for example error_rate above 0.5 for 3s.
type StopCondition struct {
	// Metric is one of latency_p50_ms, latency_p99_ms, error_rate.
	Metric string `json:"metric" yaml:"metric"`
	// Max is the limit the metric must not exceed.
	Max float64 `json:"max" yaml:"max"`
	// For is how long the breach must last. Default 0: the first breach.
	For time.Duration `json:"for,omitempty" yaml:"for"`
}

// Fault is one fault of an experiment.
type Fault struct {
	// Scenario names a registered scenario (see Scenarios), or labels
	// Injector.
	Scenario string `json:"scenario" yaml:"scenario"`
	Params   Params `json:"params,omitempty" yaml:"params"`
	// Start is the offset from the start of the chaos window. Several
	// faults with offsets make a cascading scenario.
	Start time.Duration `json:"start,omitempty" yaml:"start"`
	// Duration is how long the fault lasts. 0 means the scenario's own
	// length (process_kill is instantaneous, process_pause lasts its
	// duration parameter) or else until the end of the chaos window.
	Duration time.Duration `json:"duration,omitempty" yaml:"duration"`
	// Injector, when set, is used instead of the scenario's: a custom fault
	// in Go. Scenario then only labels it.
	Injector Injector `json:"-" yaml:"-"`
}

// Defaults of an Experiment's optional fields.
const (
	DefaultBaseline        = 5 * time.Second
	DefaultDuration        = 10 * time.Second
	DefaultStableWindow    = 3 * time.Second
	DefaultRecoveryTimeout = 30 * time.Second
	DefaultInterval        = time.Second
	DefaultRate            = 50
	DefaultRequestTimeout  = 2 * time.Second
)

// WithDefaults returns a copy of e with every unset optional field set to
// its default.
func (e Experiment) WithDefaults() Experiment {
	if e.Name == "" {
		e.Name = "experiment"
	}
	if e.Target.Kind == "" {
		e.Target.Kind = TargetDemo
	}
	if e.Baseline == 0 {
		e.Baseline = DefaultBaseline
	}
	if e.Duration == 0 {
		e.Duration = DefaultDuration
	}
	if e.StableWindow == 0 {
		e.StableWindow = DefaultStableWindow
	}
	if e.RecoveryTimeout == 0 {
		e.RecoveryTimeout = DefaultRecoveryTimeout
	}
	if e.Interval == 0 {
		e.Interval = DefaultInterval
	}
	if e.Load.Rate == 0 {
		e.Load.Rate = DefaultRate
	}
	if len(e.Load.Paths) == 0 {
		e.Load.Paths = []string{"/"}
	}
	if e.Load.Method == "" {
		e.Load.Method = "GET"
	}
	if e.Load.Timeout == 0 {
		e.Load.Timeout = DefaultRequestTimeout
	}
	faults := make([]Fault, len(e.Faults))
	for i, f := range e.Faults {
		if s, ok := LookupScenario(f.Scenario); ok && f.Injector == nil {
			f.Params = s.WithDefaults(f.Params)
		}
		faults[i] = f
	}
	e.Faults = faults
	return e
}

// ValidationError lists every problem found in an experiment. It wraps
// ErrInvalid.
type ValidationError struct {
	Problems []Problem
}

// Problem is one invalid field: its path (faults[1].params.latency), the
// value found and what is wrong.
type Problem struct {
	Path    string
	Value   string
	Message string
}

func (p Problem) String() string {
	if p.Value == "" {
		return p.Path + ": " + p.Message
	}
	return fmt.Sprintf("%s: %q %s", p.Path, p.Value, p.Message)
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "invalid experiment: " + strings.Join(lines, "; ")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

type problems []Problem

func (ps *problems) add(path, value, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Value: value, Message: fmt.Sprintf(format, args...)})
}

func (ps *problems) positive(path string, d time.Duration) {
	if d < 0 {
		ps.add(path, d.String(), "must be a positive duration")
	}
}

// Validate reports every problem in e at once as a *ValidationError (which
// wraps ErrInvalid), or nil. It checks e as written: unset optional fields
// are fine.
func (e Experiment) Validate() error {
	var ps problems
	ps.positive("baseline", e.Baseline)
	ps.positive("duration", e.Duration)
	ps.positive("stable_window", e.StableWindow)
	ps.positive("recovery_timeout", e.RecoveryTimeout)
	ps.positive("interval", e.Interval)
	if e.Interval > 0 && e.Interval < 100*time.Millisecond {
		ps.add("interval", e.Interval.String(), "must be at least 100ms")
	}
	e.Target.validate(&ps)
	e.Load.validate(&ps)
	e.Hypothesis.validate(&ps)
	for i, s := range e.StopConditions {
		path := fmt.Sprintf("stop_conditions[%d]", i)
		switch s.Metric {
		case MetricP50, MetricP99, MetricErrorRate:
		default:
			ps.add(path+".metric", s.Metric, "must be one of %s, %s, %s", MetricErrorRate, MetricP50, MetricP99)
		}
		if s.Max < 0 || (s.Metric == MetricErrorRate && s.Max > 1) {
			ps.add(path+".max", fmtFloat(s.Max), "must not be negative (and at most 1 for error_rate, a fraction)")
		}
		ps.positive(path+".for", s.For)
	}
	if len(e.Faults) == 0 {
		ps.add("faults", "", "must name at least one fault (scenarios: %s)", scenarioNames())
	}
	chaos := e.Duration
	if chaos == 0 {
		chaos = DefaultDuration
	}
	for i, f := range e.Faults {
		f.validate(&ps, fmt.Sprintf("faults[%d]", i), chaos)
	}
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps}
}

func (t TargetSpec) validate(ps *problems) {
	switch t.Kind {
	case "", TargetDemo:
		if len(t.Command) > 0 {
			ps.add("target.command", strings.Join(t.Command, " "), "is only for kind command")
		}
	case TargetCommand:
		if len(t.Command) == 0 {
			ps.add("target.command", "", "is required for kind command")
		}
		if t.Address == "" {
			ps.add("target.address", "", "is required for kind command: where the command listens")
		}
	case TargetAddress:
		if t.Address == "" {
			ps.add("target.address", "", "is required for kind address")
		}
	case TargetFleet:
		if len(t.Command) > 0 {
			ps.add("target.command", strings.Join(t.Command, " "), "is only for kind command")
		}
	default:
		ps.add("target.kind", string(t.Kind), "must be one of demo, command, address, fleet")
	}
	if t.Address != "" {
		if _, err := NormalizeAddress(t.Address); err != nil {
			ps.add("target.address", t.Address, "%v", err)
		}
	}
	if t.ReadyURL != "" {
		if u, err := url.Parse(t.ReadyURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.add("target.ready_url", t.ReadyURL, "must be an http or https URL")
		}
	}
	ps.positive("target.ready_timeout", t.ReadyTimeout)
	switch t.Restart {
	case "", RestartNever, RestartOnFailure, RestartAlways:
	default:
		ps.add("target.restart", string(t.Restart), "must be one of never, on-failure, always")
	}
	seen := map[string]bool{"ingress": true}
	for i, d := range t.Dependencies {
		path := fmt.Sprintf("target.dependencies[%d]", i)
		switch {
		case d.Name == "":
			ps.add(path+".name", "", "is required")
		case seen[d.Name]:
			ps.add(path+".name", d.Name, "is used twice (ingress is reserved)")
		}
		seen[d.Name] = true
		if _, _, err := splitHostPort(d.Upstream); err != nil {
			ps.add(path+".upstream", d.Upstream, "must be a host:port")
		}
		if d.Env == "" && t.Kind != TargetAddress {
			ps.add(path+".env", "", "is required: the variable that hands the target the proxy's address")
		}
		switch d.Protocol {
		case "", "tcp", "http":
		default:
			ps.add(path+".protocol", d.Protocol, "must be tcp or http")
		}
	}
}

func (l Load) validate(ps *problems) {
	if l.Rate < 0 || l.Rate > 100000 {
		ps.add("load.rate", fmtFloat(l.Rate), "must be from 0 to 100000 requests per second")
	}
	for i, p := range l.Paths {
		if !strings.HasPrefix(p, "/") {
			ps.add(fmt.Sprintf("load.paths[%d]", i), p, "must start with /")
		}
	}
	ps.positive("load.timeout", l.Timeout)
	switch strings.ToUpper(l.Method) {
	case "", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS":
	default:
		ps.add("load.method", l.Method, "must be an HTTP method")
	}
}

func (h Hypothesis) validate(ps *problems) {
	ps.positive("hypothesis.max_p50", h.MaxP50)
	ps.positive("hypothesis.max_p99", h.MaxP99)
	if h.MaxErrorRate < 0 || h.MaxErrorRate > 1 {
		ps.add("hypothesis.max_error_rate", fmtFloat(h.MaxErrorRate), "must be a fraction from 0 to 1")
	}
	if h.MinThroughput < 0 {
		ps.add("hypothesis.min_throughput", fmtFloat(h.MinThroughput), "must not be negative")
	}
	for i, p := range h.Probes {
		if p.Name == "" || p.Check == nil {
			ps.add(fmt.Sprintf("hypothesis.probes[%d]", i), p.Name, "needs a name and a Check function")
		}
	}
}

func (f Fault) validate(ps *problems, path string, chaos time.Duration) {
	ps.positive(path+".start", f.Start)
	ps.positive(path+".duration", f.Duration)
	if chaos > 0 && f.Start >= chaos {
		ps.add(path+".start", f.Start.String(), "must be inside the chaos window (duration %s)", chaos)
	}
	if f.Injector != nil {
		if f.Scenario == "" {
			ps.add(path+".scenario", "", "must label a custom injector")
		}
		return
	}
	s, ok := LookupScenario(f.Scenario)
	if !ok {
		if f.Scenario == "" {
			ps.add(path+".scenario", "", "is required; valid names: %s", scenarioNames())
		} else {
			ps.add(path+".scenario", f.Scenario, "is not a scenario; valid names: %s", scenarioNames())
		}
		return
	}
	keys := make([]string, 0, len(f.Params))
	for k := range f.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		spec, ok := s.Param(k)
		if !ok {
			var valid []string
			for _, p := range s.Params {
				valid = append(valid, p.Name)
			}
			ps.add(path+".params."+k, f.Params[k], "is not a parameter of %s; valid parameters: %s", s.Name, strings.Join(valid, ", "))
			continue
		}
		if err := spec.Check(f.Params[k]); err != nil {
			ps.add(path+".params."+k, f.Params[k], "%v", err)
		}
	}
	for _, spec := range s.Params {
		if _, ok := f.Params[spec.Name]; !ok && spec.Default == "" && !spec.Optional {
			ps.add(path+".params."+spec.Name, "", "is required by %s", s.Name)
		}
	}
}

// NormalizeAddress turns a host:port or URL into a base URL without a
// trailing slash: "127.0.0.1:8080" → "http://127.0.0.1:8080".
func NormalizeAddress(addr string) (string, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("must be an http(s) URL or a host:port")
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

func splitHostPort(hp string) (string, int, error) {
	i := strings.LastIndex(hp, ":")
	if i <= 0 {
		return "", 0, errors.New("missing port")
	}
	port, err := strconv.Atoi(hp[i+1:])
	if err != nil || port < 1 || port > 65535 {
		return "", 0, errors.New("bad port")
	}
	return hp[:i], port, nil
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// UnmarshalJSON accepts strings, numbers and booleans as parameter values.
func (p *Params) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make(Params, len(raw))
	for k, v := range raw {
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			out[k] = s
			continue
		}
		str := strings.TrimSpace(string(v))
		if str == "null" || strings.HasPrefix(str, "{") || strings.HasPrefix(str, "[") {
			return fmt.Errorf("parameter %s: %s is not a string, number or boolean", k, str)
		}
		out[k] = str
	}
	*p = out
	return nil
}
