package scenario

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// instanceTermination terminates instances of a fleet (an AWS Auto Scaling
// group); the fleet's controller replaces them unless decrement shrinks its
// desired capacity. The fault is instantaneous, and recovery is measured
// from the termination, unless suspend holds scaling processes suspended:
// then it lasts the fault's duration (or until the end of the chaos
// window), the processes are resumed when it ends, and recovery is
// measured from then.
//
// The instances are chosen among the healthy ones (in zone, when one is
// named) by the fault's seed: each candidate is ranked by a hash of the
// seed and its id, and the first ones are taken, so the same seed picks the
// same instances from the same list, and mostly the same ones from a list
// that changed a little.
var instanceTermination = chaoslab.Scenario{
	Name:    "instance_termination",
	Summary: "terminate instances of a fleet (an AWS Auto Scaling group); its controller replaces them",
	Params: []chaoslab.ParamSpec{
		{Name: "count", Kind: chaoslab.KindCount, Optional: true,
			Help: "how many instances to terminate (default 1 unless percent is set)"},
		{Name: "percent", Kind: chaoslab.KindPercent, Optional: true,
			Help: "terminate this share of the healthy instances instead of a count, rounded down but at least 1: 50 or 50%"},
		{Name: "zone", Kind: chaoslab.KindName, Optional: true,
			Help: "choose only among the instances in this availability zone (default: any)"},
		{Name: "decrement", Kind: chaoslab.KindChoice, Default: "false", Choices: []string{"false", "true"},
			Help: "true shrinks the desired capacity by as many, so that the instances are not replaced"},
		{Name: "max", Kind: chaoslab.KindCount, Default: "1",
			Help: "the blast-radius cap: the fault refuses to terminate more instances than this"},
		{Name: "dry_run", Kind: chaoslab.KindChoice, Default: "false", Choices: []string{"false", "true"},
			Help: "true only names the instances it would terminate, and touches nothing"},
		{Name: "suspend", Kind: chaoslab.KindName, Optional: true,
			Help: "comma-separated scaling processes to suspend for the fault's length, such as Launch or AZRebalance; resumed when it ends"},
	},
	New: newInstanceTermination,
}

// ProcessSuspender is a Fleet whose controller's automatic processes can
// be suspended for a while, such as the scaling processes of an AWS Auto
// Scaling group (Launch, Terminate, AZRebalance, ...).
//
// SuspendProcesses suspends the named processes and returns how to resume
// them. It leaves processes that were already suspended by someone else as
// they are, and its Undo does not resume them. Undo is idempotent, and a
// process still suspended when the target closes is resumed by Close.
type ProcessSuspender interface {
	SuspendProcesses(ctx context.Context, processes []string) (chaoslab.Undo, error)
}

// Planner is an injector that can say what it would do to a target
// without doing it, for dry runs.
type Planner interface {
	// Plan describes, in a line, what Inject would do to t now.
	Plan(ctx context.Context, t chaoslab.Target) (string, error)
}

// terminator is the instance_termination injector.
type terminator struct {
	count     int     // 0: use share
	share     float64 // of the healthy instances in scope, when count is 0
	zone      string
	decrement bool
	max       int
	dryRun    bool
	suspend   []string
	seed      int64

	mu     sync.Mutex
	detail string
}

// instantTerminator is a terminator whose fault is instantaneous: it holds
// nothing suspended.
type instantTerminator struct{ *terminator }

// Window makes the termination instantaneous.
func (instantTerminator) Window() time.Duration { return 0 }

func newInstanceTermination(c chaoslab.FaultConfig) (chaoslab.Injector, error) {
	p := c.Params
	tm := &terminator{
		zone:      strings.TrimSpace(p["zone"]),
		decrement: p["decrement"] == "true",
		dryRun:    p["dry_run"] == "true",
		max:       p.Int("max"),
		seed:      c.Seed,
	}
	if tm.max < 1 {
		tm.max = 1
	}
	_, hasCount := p["count"]
	_, hasPercent := p["percent"]
	switch {
	case hasCount && hasPercent:
		return nil, fmt.Errorf("instance_termination: %w: set count or percent, not both", chaoslab.ErrInvalid)
	case hasPercent:
		f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(p["percent"]), "%"), 64)
		if err != nil || f <= 0 || f > 100 || math.IsNaN(f) {
			return nil, fmt.Errorf("instance_termination: %w: percent %q must be above 0 and at most 100", chaoslab.ErrInvalid, p["percent"])
		}
		tm.share = f / 100
	case hasCount:
		tm.count = p.Int("count")
		if tm.count < 1 {
			return nil, fmt.Errorf("instance_termination: %w: count %q must be a whole number of at least 1", chaoslab.ErrInvalid, p["count"])
		}
	default:
		tm.count = 1
	}
	if tm.count > tm.max {
		return nil, fmt.Errorf("instance_termination: %w: count %d is above the blast-radius cap max=%d; raise max to allow it", chaoslab.ErrInvalid, tm.count, tm.max)
	}
	for _, s := range strings.Split(p["suspend"], ",") {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(tm.suspend, s) {
			tm.suspend = append(tm.suspend, s)
		}
	}
	if len(tm.suspend) == 0 || tm.dryRun {
		return instantTerminator{tm}, nil
	}
	return tm, nil
}

// Detail says what the last Inject did: the instances it terminated, or
// would have in a dry run, and the processes it suspended. It is "" before
// Inject.
func (tm *terminator) Detail() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.detail
}

func (tm *terminator) setDetail(s string) {
	tm.mu.Lock()
	tm.detail = s
	tm.mu.Unlock()
}

// fleet returns the target's Fleet.
func fleet(t chaoslab.Target) (chaoslab.Fleet, error) {
	f, ok := t.(chaoslab.Fleet)
	if !ok {
		return nil, fmt.Errorf("instance_termination: target %s is not a fleet of instances: %w", t.ID(), chaoslab.ErrUnsupported)
	}
	return f, nil
}

// choose picks the instances to terminate from the fleet's list.
func (tm *terminator) choose(ins []chaoslab.Instance) ([]chaoslab.Instance, error) {
	var cands []chaoslab.Instance
	zones := map[string]bool{}
	for _, in := range ins {
		if !in.Healthy {
			continue
		}
		zones[in.Zone] = true
		if tm.zone == "" || in.Zone == tm.zone {
			cands = append(cands, in)
		}
	}
	scope := "the fleet"
	if tm.zone != "" {
		scope = "zone " + tm.zone
	}
	if len(cands) == 0 {
		if tm.zone != "" {
			names := make([]string, 0, len(zones))
			for z := range zones {
				names = append(names, z)
			}
			slices.Sort(names)
			return nil, fmt.Errorf("instance_termination: no healthy instance in zone %s (zones with healthy instances: %s)", tm.zone, strings.Join(names, ", "))
		}
		return nil, fmt.Errorf("instance_termination: %s has no healthy instance (%d instances)", scope, len(ins))
	}
	n := tm.count
	if n == 0 {
		n = max(1, int(math.Floor(tm.share*float64(len(cands))+1e-9)))
	}
	if n > tm.max {
		return nil, fmt.Errorf("instance_termination: %.4g%% of %d healthy instances in %s is %d, above the blast-radius cap max=%d; raise max to allow it", tm.share*100, len(cands), scope, n, tm.max)
	}
	if n > len(cands) {
		return nil, fmt.Errorf("instance_termination: %d instances asked for, but %s has only %d healthy", n, scope, len(cands))
	}
	rank := func(id string) uint64 {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(tm.seed))
		sum := sha256.Sum256(append(b[:], id...))
		return binary.BigEndian.Uint64(sum[:8])
	}
	slices.SortFunc(cands, func(a, b chaoslab.Instance) int {
		return cmp.Or(cmp.Compare(rank(a.ID), rank(b.ID)), cmp.Compare(a.ID, b.ID))
	})
	chosen := cands[:n:n]
	slices.SortFunc(chosen, func(a, b chaoslab.Instance) int { return cmp.Compare(a.ID, b.ID) })
	return chosen, nil
}

// plan lists the fleet and chooses.
func (tm *terminator) plan(ctx context.Context, f chaoslab.Fleet) ([]chaoslab.Instance, error) {
	ins, err := f.Instances(ctx)
	if err != nil {
		return nil, fmt.Errorf("instance_termination: listing instances: %w", err)
	}
	return tm.choose(ins)
}

// Plan names the instances Inject would terminate now, and touches
// nothing.
func (tm *terminator) Plan(ctx context.Context, t chaoslab.Target) (string, error) {
	f, err := fleet(t)
	if err != nil {
		return "", err
	}
	chosen, err := tm.plan(ctx, f)
	if err != nil {
		return "", err
	}
	return tm.describe("would terminate", chosen), nil
}

// describe puts a termination in words.
func (tm *terminator) describe(verb string, chosen []chaoslab.Instance) string {
	parts := make([]string, len(chosen))
	for i, in := range chosen {
		parts[i] = in.ID
		if in.Zone != "" {
			parts[i] += " (" + in.Zone + ")"
		}
	}
	s := verb + " " + strings.Join(parts, ", ")
	if tm.decrement {
		s += ", decrementing the desired capacity"
	}
	if len(tm.suspend) > 0 {
		if verb == "terminated" {
			s += "; scaling processes suspended: " + strings.Join(tm.suspend, ", ")
		} else {
			s += "; would suspend scaling processes: " + strings.Join(tm.suspend, ", ")
		}
	}
	return s
}

// Inject terminates the chosen instances, after suspending the scaling
// processes asked for. A dry run only records what it would do (see
// Detail).
func (tm *terminator) Inject(ctx context.Context, t chaoslab.Target) (chaoslab.Undo, error) {
	f, err := fleet(t)
	if err != nil {
		return nil, err
	}
	var sus ProcessSuspender
	if len(tm.suspend) > 0 {
		var ok bool
		if sus, ok = t.(ProcessSuspender); !ok {
			return nil, fmt.Errorf("instance_termination: target %s cannot suspend scaling processes (%s): %w", t.ID(), strings.Join(tm.suspend, ", "), chaoslab.ErrUnsupported)
		}
	}
	chosen, err := tm.plan(ctx, f)
	if err != nil {
		return nil, err
	}
	nothing := func(context.Context) error { return nil }
	if tm.dryRun {
		tm.setDetail("dry run: " + tm.describe("would terminate", chosen))
		return nothing, nil
	}
	undo := chaoslab.Undo(nothing)
	if sus != nil {
		if undo, err = sus.SuspendProcesses(ctx, tm.suspend); err != nil {
			return nil, fmt.Errorf("instance_termination: %w", err)
		}
	}
	ids := make([]string, len(chosen))
	for i, in := range chosen {
		ids[i] = in.ID
	}
	if err := f.Terminate(ctx, ids, tm.decrement); err != nil {
		// Terminated instances cannot come back; suspended processes can.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		uerr := undo(uctx)
		cancel()
		if uerr != nil {
			return nil, fmt.Errorf("instance_termination: %w (and resuming: %v)", err, uerr)
		}
		return nil, fmt.Errorf("instance_termination: %w", err)
	}
	tm.setDetail(tm.describe("terminated", chosen))
	// Nothing to revert but the suspension: replacing the instances is the
	// fleet's job, and how long it takes is what the experiment measures.
	return undo, nil
}
