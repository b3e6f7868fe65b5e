package scenario_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/scenario"
)

// fleet is a chaoslab.Fleet in memory that records what it is asked.
type fleet struct {
	bare
	mu          sync.Mutex
	instances   []chaoslab.Instance
	terminated  []string
	decremented bool
	calls       []string // "suspend:Launch", "terminate:i-1", "resume:Launch" in order
	failTerm    error
}

func (f *fleet) Instances(context.Context) ([]chaoslab.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.instances), nil
}

func (f *fleet) Terminate(_ context.Context, ids []string, decrement bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failTerm != nil {
		return f.failTerm
	}
	for _, id := range ids {
		f.calls = append(f.calls, "terminate:"+id)
	}
	f.terminated = append(f.terminated, ids...)
	f.decremented = decrement
	return nil
}

// suspendingFleet can also suspend scaling processes.
type suspendingFleet struct{ *fleet }

func (f suspendingFleet) SuspendProcesses(_ context.Context, procs []string) (chaoslab.Undo, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "suspend:"+strings.Join(procs, "+"))
	f.mu.Unlock()
	var once sync.Once
	return func(context.Context) error {
		once.Do(func() {
			f.mu.Lock()
			f.calls = append(f.calls, "resume:"+strings.Join(procs, "+"))
			f.mu.Unlock()
		})
		return nil
	}, nil
}

var _ scenario.ProcessSuspender = suspendingFleet{}

// newFleet makes n healthy instances i-00..i-NN spread over zones a, b, c.
func newFleet(n int) *fleet {
	f := &fleet{}
	for i := range n {
		f.instances = append(f.instances, chaoslab.Instance{
			ID: fmt.Sprintf("i-%02d", i), Zone: "us-east-1" + string(rune('a'+i%3)), State: "InService", Healthy: true,
		})
	}
	return f
}

// build makes the instance_termination injector with seed.
func build(t *testing.T, p chaoslab.Params, seed int64) (chaoslab.Injector, error) {
	t.Helper()
	s := mustScenario(t, "instance_termination")
	for k, v := range p {
		spec, ok := s.Param(k)
		require.True(t, ok, k)
		require.NoError(t, spec.Check(v), "%s=%s", k, v)
	}
	return s.New(chaoslab.FaultConfig{Params: s.WithDefaults(p), Seed: seed})
}

func mustBuild(t *testing.T, p chaoslab.Params, seed int64) chaoslab.Injector {
	t.Helper()
	inj, err := build(t, p, seed)
	require.NoError(t, err)
	return inj
}

func detail(inj chaoslab.Injector) string { return inj.(interface{ Detail() string }).Detail() }

func TestInstanceTerminationDefaultsToOne(t *testing.T) {
	f := newFleet(3)
	inj := mustBuild(t, nil, 7)
	assert.Equal(t, time.Duration(0), inj.(chaoslab.Windower).Window(), "instantaneous")
	undo, err := inj.Inject(context.Background(), f)
	require.NoError(t, err)
	require.Len(t, f.terminated, 1)
	assert.False(t, f.decremented)
	assert.Contains(t, detail(inj), "terminated "+f.terminated[0])
	require.NoError(t, undo(context.Background()))
	require.NoError(t, undo(context.Background()))
}

func TestInstanceTerminationSeedChoosesRepeatably(t *testing.T) {
	choose := func(seed int64, order []chaoslab.Instance) []string {
		f := &fleet{instances: order}
		_, err := mustBuild(t, chaoslab.Params{"count": "2", "max": "2"}, seed).Inject(context.Background(), f)
		require.NoError(t, err)
		return f.terminated
	}
	base := newFleet(8).instances
	picked := map[string]bool{}
	for seed := range int64(40) {
		first := choose(seed, base)
		shuffled := slices.Clone(base)
		rand.New(rand.NewPCG(uint64(seed), 1)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		assert.Equal(t, first, choose(seed, shuffled), "seed %d: the same list in another order", seed)
		assert.Len(t, first, 2)
		assert.NotEqual(t, first[0], first[1])
		for _, id := range first {
			picked[id] = true
		}
	}
	assert.Len(t, picked, 8, "over 40 seeds every instance is picked at some point")
}

func TestInstanceTerminationPercent(t *testing.T) {
	cases := []struct {
		percent, max string
		healthy      int
		want         int
	}{
		{"50", "10", 4, 2},
		{"50%", "10", 5, 2}, // rounded down
		{"10", "10", 4, 1},  // at least one
		{"100", "10", 3, 3},
	}
	for _, c := range cases {
		f := newFleet(c.healthy)
		_, err := mustBuild(t, chaoslab.Params{"percent": c.percent, "max": c.max}, 1).Inject(context.Background(), f)
		require.NoError(t, err, c.percent)
		assert.Len(t, f.terminated, c.want, "%s%% of %d", c.percent, c.healthy)
	}
	// Unhealthy and starting instances are not counted or chosen.
	f := newFleet(4)
	f.instances[0].Healthy, f.instances[0].State = false, "Pending"
	f.instances[1].Healthy = false
	_, err := mustBuild(t, chaoslab.Params{"percent": "100", "max": "4"}, 1).Inject(context.Background(), f)
	require.NoError(t, err)
	assert.Equal(t, []string{"i-02", "i-03"}, f.terminated)
}

func TestInstanceTerminationBlastRadiusCap(t *testing.T) {
	// A count above the cap is refused when the fault is built.
	_, err := build(t, chaoslab.Params{"count": "2"}, 1)
	assert.ErrorIs(t, err, chaoslab.ErrInvalid)
	assert.Contains(t, err.Error(), "max=1")
	// A share above it is refused at injection, touching nothing.
	f := newFleet(4)
	_, err = mustBuild(t, chaoslab.Params{"percent": "50"}, 1).Inject(context.Background(), f)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "blast-radius cap max=1")
	assert.Empty(t, f.terminated)
	// More than there are healthy instances.
	f = newFleet(2)
	_, err = mustBuild(t, chaoslab.Params{"count": "3", "max": "5"}, 1).Inject(context.Background(), f)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "only 2 healthy")
	assert.Empty(t, f.terminated)
	// count and percent exclude each other.
	_, err = build(t, chaoslab.Params{"count": "1", "percent": "10"}, 1)
	assert.ErrorIs(t, err, chaoslab.ErrInvalid)
}

func TestInstanceTerminationZone(t *testing.T) {
	for seed := range int64(10) {
		f := newFleet(9)
		_, err := mustBuild(t, chaoslab.Params{"zone": "us-east-1b", "count": "2", "max": "3"}, seed).Inject(context.Background(), f)
		require.NoError(t, err)
		require.Len(t, f.terminated, 2)
		for _, id := range f.terminated {
			i := slices.IndexFunc(f.instances, func(in chaoslab.Instance) bool { return in.ID == id })
			assert.Equal(t, "us-east-1b", f.instances[i].Zone)
		}
	}
	f := newFleet(3)
	_, err := mustBuild(t, chaoslab.Params{"zone": "eu-west-1a"}, 1).Inject(context.Background(), f)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "us-east-1a, us-east-1b, us-east-1c")
	assert.Empty(t, f.terminated)
}

func TestInstanceTerminationDryRun(t *testing.T) {
	f := suspendingFleet{newFleet(5)}
	inj := mustBuild(t, chaoslab.Params{"dry_run": "true", "count": "2", "max": "2", "suspend": "Launch"}, 3)
	assert.Equal(t, time.Duration(0), inj.(chaoslab.Windower).Window())
	undo, err := inj.Inject(context.Background(), f)
	require.NoError(t, err)
	require.NoError(t, undo(context.Background()))
	assert.Empty(t, f.calls, "a dry run touches nothing")
	d := detail(inj)
	assert.True(t, strings.HasPrefix(d, "dry run: would terminate "), d)
	assert.True(t, strings.HasSuffix(d, "; would suspend scaling processes: Launch"), d)
	// It names the instances a real run with the same seed terminates.
	real := suspendingFleet{newFleet(5)}
	_, err = mustBuild(t, chaoslab.Params{"count": "2", "max": "2"}, 3).Inject(context.Background(), real)
	require.NoError(t, err)
	for _, id := range real.terminated {
		assert.Contains(t, d, id)
	}
	plan, err := inj.(scenario.Planner).Plan(context.Background(), f)
	require.NoError(t, err)
	assert.Contains(t, plan, real.terminated[0])
	assert.Empty(t, f.calls)
}

func TestInstanceTerminationDecrementAndSuspend(t *testing.T) {
	f := suspendingFleet{newFleet(3)}
	inj := mustBuild(t, chaoslab.Params{"decrement": "true", "suspend": "AZRebalance, Launch"}, 1)
	_, windowed := inj.(chaoslab.Windower)
	assert.False(t, windowed, "with processes suspended the fault lasts until it is reverted")
	undo, err := inj.Inject(context.Background(), f)
	require.NoError(t, err)
	assert.True(t, f.decremented)
	require.Len(t, f.calls, 2)
	assert.Equal(t, "suspend:AZRebalance+Launch", f.calls[0], "suspended before the termination")
	assert.True(t, strings.HasPrefix(f.calls[1], "terminate:"))
	assert.Contains(t, detail(inj), "decrementing the desired capacity; scaling processes suspended: AZRebalance, Launch")
	require.NoError(t, undo(context.Background()))
	require.NoError(t, undo(context.Background()))
	assert.Equal(t, "resume:AZRebalance+Launch", f.calls[2])
	assert.Len(t, f.calls, 3)

	// A failed termination resumes what it suspended.
	f = suspendingFleet{newFleet(3)}
	f.failTerm = errors.New("boom")
	_, err = mustBuild(t, chaoslab.Params{"suspend": "Launch"}, 1).Inject(context.Background(), f)
	require.ErrorContains(t, err, "boom")
	assert.Equal(t, []string{"suspend:Launch", "resume:Launch"}, f.calls)

	// A fleet that cannot suspend is not touched.
	plain := newFleet(3)
	_, err = mustBuild(t, chaoslab.Params{"suspend": "Launch"}, 1).Inject(context.Background(), plain)
	assert.ErrorIs(t, err, chaoslab.ErrUnsupported)
	assert.Empty(t, plain.terminated)
}

func TestInstanceTerminationParamsValidate(t *testing.T) {
	for _, p := range []chaoslab.Params{{"percent": "0"}, {"percent": "150"}, {"count": "0"}, {"max": "-1"}, {"decrement": "yes"}, {"nope": "1"}} {
		exp := chaoslab.Experiment{Faults: []chaoslab.Fault{{Scenario: "instance_termination", Params: p}}}
		assert.ErrorIs(t, exp.Validate(), chaoslab.ErrInvalid, "%v", p)
	}
	exp := chaoslab.Experiment{Faults: []chaoslab.Fault{{Scenario: "instance_termination", Params: chaoslab.Params{"percent": "25%", "zone": "us-east-1a", "max": "3", "suspend": "Launch"}}}}
	assert.NoError(t, exp.Validate())
}
