package chaoslab

import (
	"context"
	"os"
	"time"
)

// A Provider makes targets: it starts (or attaches to) the system under
// test and hands back a Target that faults can act on.
//
// Provision must return a ready Target (its Endpoint answers) or an error; on
// error it has already released everything it made. Provision must honour ctx:
// a cancelled Provision leaks nothing. Constructors of providers do no I/O.
type Provider interface {
	// Name is the short name users type, such as "local" or "e2b".
	Name() string
	Provision(ctx context.Context, spec TargetSpec) (Target, error)
}

// A Target is a provisioned system under test.
//
// Close releases everything the provider made for it (processes, proxies,
// sandboxes, files). Close is idempotent, safe for concurrent use, and must
// work after the context that made the target was cancelled; the Runner
// calls it on a fresh context with a deadline.
//
// A Target may have optional capabilities, found with type assertions the way
// io.WriterTo is: Signaler, Router, Sampler, Stressor, LogSource, Execer,
// Fleet.
// An Injector that needs a capability the target lacks returns an error that
// wraps ErrUnsupported.
type Target interface {
	// ID names the target uniquely within its provider.
	ID() string
	// Endpoint is the base URL that load and probes are sent to, for
	// example "http://127.0.0.1:40123".
	Endpoint() string
	Close(ctx context.Context) error
}

// Signaler is a Target whose main process can be signalled: killed (a
// provider with a restart policy starts it again), stopped and continued.
type Signaler interface {
	Signal(ctx context.Context, sig os.Signal) error
}

// Router is a Target whose traffic passes through fault proxies. Each link
// has a name: "ingress" is the path from clients (load and probes) to the
// target; every dependency the TargetSpec names is a link of that name.
type Router interface {
	// Links lists the link names, "ingress" first when there is one.
	Links() []string
	// Link returns the named link, or an error wrapping ErrUnsupported that
	// lists the links there are.
	Link(name string) (Link, error)
}

// A Link is one fault proxy on a route of the target's traffic.
type Link interface {
	// Apply adds a fault to the link and returns how to remove it. The
	// fault affects traffic until Undo; removing it never closes a
	// connection by itself.
	Apply(ctx context.Context, f LinkFault) (Undo, error)
}

// LinkFault describes a fault on a link in the provider-neutral form that a
// fault proxy understands, wherever it runs.
type LinkFault struct {
	// Kind is the fault's scenario name, such as "network_delay" or
	// "http_errors".
	Kind string
	// Params are the scenario's parameters, validated and with defaults
	// filled in.
	Params Params
	// Seed makes the fault's random choices repeatable.
	Seed int64
}

// Sampler is a Target that reports resource use.
type Sampler interface {
	Sample(ctx context.Context) (Sample, error)
}

// Sample is one reading of resource use. Zero fields were not measured.
type Sample struct {
	// CPUPercent is the target process's CPU use (100 = one core busy).
	CPUPercent float64
	// MemoryBytes is the target process's resident memory.
	MemoryBytes uint64
	// HostCPUPercent is the whole machine's CPU use (0 to 100).
	HostCPUPercent float64
	// HostMemoryBytes is the memory in use on the machine.
	HostMemoryBytes uint64
	// DiskUsedBytes is the space in use on the file system of the
	// target's working directory.
	DiskUsedBytes uint64
	// DesiredCapacity and HealthyCapacity are, for a Fleet, the number of
	// instances it should run and the number in service and healthy.
	// DesiredCapacity 0 means the target is not a fleet.
	DesiredCapacity, HealthyCapacity int
}

// Stressor is a Target that can put resource pressure on the machine it
// runs on. Stress returns once the pressure is applied; Undo lifts it.
type Stressor interface {
	Stress(ctx context.Context, s Stress) (Undo, error)
}

// StressKind names a kind of resource pressure.
type StressKind string

// The kinds of resource pressure a Stressor applies.
const (
	StressCPU    StressKind = "cpu"
	StressMemory StressKind = "memory"
	StressDisk   StressKind = "disk"
)

// Stress describes resource pressure.
type Stress struct {
	Kind StressKind
	// Cores and Percent: for StressCPU, how many cores to load and how
	// busy to keep each (1 to 100).
	Cores   int
	Percent float64
	// Bytes: for StressMemory, how much memory to hold; for StressDisk, how
	// much to write to the target's working directory.
	Bytes int64
}

// Fleet is a Target made of interchangeable instances that a controller
// keeps at a desired capacity, such as an AWS Auto Scaling group. Its
// Sampler reports DesiredCapacity and HealthyCapacity.
type Fleet interface {
	// Instances lists the fleet's current instances, including those
	// starting or terminating.
	Instances(ctx context.Context) ([]Instance, error)
	// Terminate terminates the instances with the given IDs. With
	// decrement the desired capacity shrinks by as many, so that they are
	// not replaced.
	Terminate(ctx context.Context, ids []string, decrement bool) error
}

// Instance is one member of a Fleet.
type Instance struct {
	ID string `json:"id"`
	// Zone is the availability zone or similar failure domain.
	Zone string `json:"zone,omitempty"`
	// State is the provider's lifecycle state, such as "InService" or
	// "Pending".
	State string `json:"state"`
	// Healthy reports whether the instance is in service and healthy.
	Healthy bool `json:"healthy"`
}

// LogSource is a Target whose log lines can be followed.
type LogSource interface {
	// FollowLogs calls fn with each log line the target writes from now on,
	// until ctx is done, and then returns ctx's error. fn is called from one
	// goroutine at a time.
	FollowLogs(ctx context.Context, fn func(line string)) error
}

// Execer is a Target that can run a command on the machine it runs on.
type Execer interface {
	Exec(ctx context.Context, argv []string) (output []byte, err error)
}

// Undo reverts one fault. It is idempotent, and the Runner calls it on a
// fresh context with a deadline whatever happened to the run.
type Undo func(ctx context.Context) error

// An Injector puts one fault on a target. It returns an error wrapping
// ErrUnsupported when the target lacks a capability it needs. On error it has
// reverted whatever it did.
type Injector interface {
	Inject(ctx context.Context, t Target) (Undo, error)
}

// InjectorFunc adapts a function to an Injector.
type InjectorFunc func(ctx context.Context, t Target) (Undo, error)

// Inject calls f.
func (f InjectorFunc) Inject(ctx context.Context, t Target) (Undo, error) { return f(ctx, t) }

// Windower is an Injector whose fault has a natural length: the Runner
// reverts it after Window unless the Fault says otherwise. A window of 0
// makes the fault instantaneous (process_kill): it is reverted right after it
// is injected, and recovery is measured from then.
type Windower interface {
	Window() time.Duration
}

// Detailer is an Injector that says what it did once injected, such as the
// instances it chose; the Runner records it as the fault's detail in the
// result.
type Detailer interface {
	Detail() string
}

// An Analyzer explains a result. It must not change the verdict, the
// hypothesis checks or the measurements; it returns its reading of them.
type Analyzer interface {
	Analyze(ctx context.Context, r *Result) (Analysis, error)
}

// A Dashboarder publishes a result somewhere people look. Publishing the same
// run id again updates the earlier publication in place.
type Dashboarder interface {
	Publish(ctx context.Context, r *Result) (DashboardLink, error)
}

// A Store keeps results for history and comparison.
type Store interface {
	// Save stores r under r.ID, replacing an earlier save of the same id.
	Save(ctx context.Context, r *Result) error
	// Load returns the result saved under id, or an error wrapping
	// ErrNotFound.
	Load(ctx context.Context, id string) (*Result, error)
	// List returns every stored result, oldest first.
	List(ctx context.Context) ([]*Result, error)
}

type runIDKey struct{}

// ContextWithRunID returns a context that carries a run's ID. The Runner passes
// such a context to Provision, so that providers can label what they make
// (E2B sandbox metadata, tags) with the run that made it.
func ContextWithRunID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, runIDKey{}, id)
}

// RunIDFromContext returns the run ID that ctx carries, or "".
func RunIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(runIDKey{}).(string)
	return id
}
