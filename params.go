package chaoslab

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Params are a fault's parameters as users type them: "latency" → "200ms".
// They unmarshal from JSON and YAML strings, numbers and booleans alike.
type Params map[string]string

// ParamKind says what values a parameter takes; Validate checks it.
type ParamKind string

// Parameter kinds.
const (
	KindDuration ParamKind = "duration" // a positive Go duration: 200ms, 1.5s
	KindDelay    ParamKind = "delay"    // a duration that may be 0
	KindFraction ParamKind = "fraction" // 0 to 1, or a percentage: 0.25, 25%
	KindPercent  ParamKind = "percent"  // above 0, at most 100
	KindCount    ParamKind = "count"    // a whole number, at least 1
	KindSize     ParamKind = "size"     // a byte size, at least 1: 512MB, 1GiB, 4096
	KindStatus   ParamKind = "status"   // an HTTP status code, 100 to 599
	KindSignal   ParamKind = "signal"   // SIGKILL, TERM, 9
	KindChoice   ParamKind = "choice"   // one of Choices
	KindName     ParamKind = "name"     // any non-empty string
)

// ParamSpec describes one parameter of a scenario.
type ParamSpec struct {
	Name    string
	Kind    ParamKind
	Default string // "" means required unless Optional
	// Optional parameters may be left out and have no default.
	Optional bool
	Choices  []string
	Help     string
}

// Check reports whether v is a valid value of the parameter, with a message
// that completes "<path>: <value> ..." when it is not.
func (p ParamSpec) Check(v string) error {
	var err error
	switch p.Kind {
	case KindDuration:
		var d time.Duration
		if d, err = time.ParseDuration(v); err != nil || d <= 0 {
			return fmt.Errorf("must be a positive duration such as 200ms")
		}
	case KindDelay:
		var d time.Duration
		if d, err = time.ParseDuration(v); err != nil || d < 0 {
			return fmt.Errorf("must be a duration of 0 or more, such as 20ms")
		}
	case KindFraction:
		if _, err = ParseFraction(v); err != nil {
			return err
		}
	case KindPercent:
		f, perr := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		if perr != nil || f <= 0 || f > 100 || math.IsNaN(f) {
			return fmt.Errorf("must be a percentage above 0 and at most 100")
		}
	case KindCount:
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 {
			return fmt.Errorf("must be a whole number of at least 1")
		}
	case KindSize:
		if _, err = ParseSize(v); err != nil {
			return err
		}
	case KindStatus:
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 100 || n > 599 {
			return fmt.Errorf("must be an HTTP status code from 100 to 599")
		}
	case KindSignal:
		if _, err = ParseSignal(v); err != nil {
			return err
		}
	case KindChoice:
		if !slices.Contains(p.Choices, v) {
			return fmt.Errorf("must be one of %s", strings.Join(p.Choices, ", "))
		}
	case KindName:
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("must not be empty")
		}
	}
	return nil
}

// ParseFraction parses "0.25" or "25%" into 0.25; it must lie in [0, 1].
func ParseFraction(v string) (float64, error) {
	s, pct := strings.CutSuffix(strings.TrimSpace(v), "%")
	f, err := strconv.ParseFloat(s, 64)
	if pct {
		f /= 100
	}
	if err != nil || f < 0 || f > 1 || math.IsNaN(f) {
		return 0, fmt.Errorf("must be a fraction from 0 to 1, or a percentage such as 25%%")
	}
	return f, nil
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1000, "kb": 1000, "m": 1000 * 1000, "mb": 1000 * 1000, "g": 1000 * 1000 * 1000, "gb": 1000 * 1000 * 1000,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}

// ParseSize parses a byte size such as "512MB", "1GiB" or "4096".
func ParseSize(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	mult, ok := sizeUnits[unit]
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || f < 1 || f*float64(mult) > math.MaxInt64/2 {
		return 0, fmt.Errorf("must be a size of at least 1 byte, such as 64MB or 1GiB")
	}
	return int64(f * float64(mult)), nil
}

// ParseSignal parses a signal name ("SIGKILL", "kill") or number ("9").
func ParseSignal(v string) (syscall.Signal, error) {
	s := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(v)), "SIG")
	if sig, ok := signals[s]; ok {
		return sig, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		for _, sig := range signals {
			if int(sig) == n {
				return sig, nil
			}
		}
	}
	names := make([]string, 0, len(signals))
	for n := range signals {
		names = append(names, "SIG"+n)
	}
	sort.Strings(names)
	return 0, fmt.Errorf("must be a signal: one of %s", strings.Join(names, ", "))
}

// Duration returns the named parameter as a duration, or 0 when it is absent
// or malformed (Validate reports those).
func (p Params) Duration(name string) time.Duration {
	d, _ := time.ParseDuration(p[name])
	return d
}

// Float returns the named parameter as a number; fractions and percentages
// ("25%") become 0.25.
func (p Params) Float(name string) float64 {
	v := p[name]
	if strings.HasSuffix(v, "%") {
		f, _ := ParseFraction(v)
		return f
	}
	f, _ := strconv.ParseFloat(v, 64)
	return f
}

// Int returns the named parameter as an int.
func (p Params) Int(name string) int {
	n, _ := strconv.Atoi(p[name])
	return n
}

// Size returns the named parameter as a number of bytes.
func (p Params) Size(name string) int64 {
	n, _ := ParseSize(p[name])
	return n
}

// Signal returns the named parameter as a signal.
func (p Params) Signal(name string) syscall.Signal {
	s, _ := ParseSignal(p[name])
	return s
}

// Clone returns a copy of p.
func (p Params) Clone() Params {
	if p == nil {
		return nil
	}
	q := make(Params, len(p))
	for k, v := range p {
		q[k] = v
	}
	return q
}

// Scenario is a fault users name in experiments, files and the CLI.
type Scenario struct {
	Name    string
	Summary string
	Params  []ParamSpec
	// New builds the injector from parameters that Validate accepted, with
	// defaults filled in.
	New func(c FaultConfig) (Injector, error)
}

// FaultConfig is what a scenario builds its injector from.
type FaultConfig struct {
	// Params are validated, with defaults filled in.
	Params Params
	// Seed makes the fault's random choices repeatable; it is derived from
	// the run's recorded seed.
	Seed int64
}

// Param returns the named parameter spec.
func (s Scenario) Param(name string) (ParamSpec, bool) {
	for _, p := range s.Params {
		if p.Name == name {
			return p, true
		}
	}
	return ParamSpec{}, false
}

// WithDefaults returns p with every missing parameter that has a default
// filled in.
func (s Scenario) WithDefaults(p Params) Params {
	q := p.Clone()
	if q == nil {
		q = Params{}
	}
	for _, spec := range s.Params {
		if _, ok := q[spec.Name]; !ok && spec.Default != "" {
			q[spec.Name] = spec.Default
		}
	}
	return q
}

// scenarios is the process-wide scenario registry, filled by
// RegisterScenario the way database/sql drivers register.
var scenarios = struct {
	sync.RWMutex
	m map[string]Scenario
}{m: map[string]Scenario{}}

// RegisterScenario makes a scenario available by name. It panics if the name
// is empty, already registered, or New is nil. The built-in catalogue
// registers itself when package github.com/chaoslab-dev/chaoslab/scenario is
// imported.
func RegisterScenario(s Scenario) {
	scenarios.Lock()
	defer scenarios.Unlock()
	if s.Name == "" || s.New == nil {
		panic("chaoslab: RegisterScenario needs a name and a New function")
	}
	if _, dup := scenarios.m[s.Name]; dup {
		panic("chaoslab: RegisterScenario called twice for " + s.Name)
	}
	scenarios.m[s.Name] = s
}

// LookupScenario returns the registered scenario of that name.
func LookupScenario(name string) (Scenario, bool) {
	scenarios.RLock()
	defer scenarios.RUnlock()
	s, ok := scenarios.m[name]
	return s, ok
}

// Scenarios returns every registered scenario, sorted by name.
func Scenarios() []Scenario {
	scenarios.RLock()
	defer scenarios.RUnlock()
	out := make([]Scenario, 0, len(scenarios.m))
	for _, s := range scenarios.m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func scenarioNames() string {
	var names []string
	for _, s := range Scenarios() {
		names = append(names, s.Name)
	}
	if len(names) == 0 {
		return "none registered (import github.com/chaoslab-dev/chaoslab/scenario)"
	}
	return strings.Join(names, ", ")
}
