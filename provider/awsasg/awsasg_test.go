package awsasg_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/internal/awsfake"
	"github.com/chaoslab-dev/chaoslab/provider/awsasg"
	"github.com/chaoslab-dev/chaoslab/provider/providertest"
	_ "github.com/chaoslab-dev/chaoslab/scenario"
)

func TestConformance(t *testing.T) {
	srv := startFake(t, []awsfake.Option{awsfake.WithPendingFor(100 * time.Millisecond), awsfake.WithTerminateFor(100 * time.Millisecond)}, web())
	lb := loadBalancer(t, func() bool { g, _ := srv.Group("web"); return g.Healthy > 0 })
	p := awsasg.New(awsasg.WithConfig(sdkConfig(t, srv)), awsasg.WithAllowed("web"))
	withLB := fleetSpec("web")
	withLB.Kind, withLB.Address, withLB.HealthPath = chaoslab.TargetAddress, lb.URL, "/health"
	providertest.Run(t, providertest.Harness{
		Provider: p,
		Targets: []providertest.Case{
			{Name: "load-balancer", Spec: withLB},
			{Name: "capacity-only", Spec: fleetSpec("web"), NoEndpoint: true},
		},
		// What a target leaves behind would be suspended processes.
		Live: func(context.Context) (int, error) {
			g, _ := srv.Group("web")
			return len(g.SuspendedProcesses), nil
		},
		Disruptive: true,
		Timeout:    20 * time.Second,
	})
}

// TestEnvironmentOnly configures the SDK through the environment alone,
// AWS_ENDPOINT_URL included, and terminates one instance.
func TestEnvironmentOnly(t *testing.T) {
	srv := startFake(t, []awsfake.Option{awsfake.WithCredentials("AKIDENVTEST", "env-secret"), awsfake.WithRegion("eu-west-1")}, web())
	setEnv(t, srv)
	p := awsasg.New(awsasg.WithGroup("web"), awsasg.WithAllowed("web"))
	tgt := provision(t, p, chaoslab.TargetSpec{Kind: chaoslab.TargetFleet})
	assert.Equal(t, "web", tgt.Group())
	assert.Equal(t, "", tgt.Endpoint())

	ins, err := tgt.Instances(context.Background())
	require.NoError(t, err)
	require.Len(t, ins, 3)
	zones := map[string]bool{}
	for _, in := range ins {
		assert.True(t, in.Healthy, "%+v", in)
		assert.Equal(t, "InService", in.State)
		zones[in.Zone] = true
	}
	assert.Len(t, zones, 3, "spread over the region's three zones: %v", zones)
	s, err := tgt.Sample(context.Background())
	require.NoError(t, err)
	assert.Equal(t, chaoslab.Sample{DesiredCapacity: 3, HealthyCapacity: 3}, s)

	require.NoError(t, tgt.Terminate(context.Background(), []string{ins[1].ID}, false))
	g, _ := srv.Group("web")
	i := slices.IndexFunc(g.Instances, func(in awsfake.InstanceStatus) bool { return in.ID == ins[1].ID })
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, awsfake.LifecycleTerminating, g.Instances[i].LifecycleState)
	assert.Equal(t, 3, g.Desired)
	s, err = tgt.Sample(context.Background())
	require.NoError(t, err)
	assert.Equal(t, chaoslab.Sample{DesiredCapacity: 3, HealthyCapacity: 2}, s)

	// A wrong secret is refused by the fake's signature check.
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	_, err = awsasg.New(awsasg.WithGroup("web"), awsasg.WithAllowed("web"),
		awsasg.WithLoadOptions(config.WithRetryMaxAttempts(1))).Provision(context.Background(), chaoslab.TargetSpec{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "SignatureDoesNotMatch")
}

func TestNoRegion(t *testing.T) {
	srv := startFake(t, nil, web())
	setEnv(t, srv)
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	_, err := awsasg.New(awsasg.WithGroup("web"), awsasg.WithAllowed("web")).Provision(context.Background(), chaoslab.TargetSpec{})
	require.ErrorContains(t, err, "no AWS region")
}

// TestRecoveryMatchesTheGroup terminates an instance in real time and
// measures, with the Sampler as the Runner would read it, how long the
// group takes to be back at its desired capacity, against the fake's own
// record of it.
func TestRecoveryMatchesTheGroup(t *testing.T) {
	srv := startFake(t, []awsfake.Option{awsfake.WithPendingFor(700 * time.Millisecond), awsfake.WithTerminateFor(500 * time.Millisecond)}, web())
	tgt := provision(t, awsasg.New(awsasg.WithConfig(sdkConfig(t, srv)), awsasg.WithAllowed("chaos=enabled")), fleetSpec("web"))
	ctx := context.Background()
	ins, err := tgt.Instances(ctx)
	require.NoError(t, err)

	start := time.Now()
	require.NoError(t, tgt.Terminate(ctx, []string{ins[0].ID}, false))
	var short bool
	var back time.Time
	var series []chaoslab.Sample
	poll(t, 15*time.Second, "the group to be back at its desired capacity", func() bool {
		s, err := tgt.Sample(ctx)
		require.NoError(t, err)
		series = append(series, s)
		if s.HealthyCapacity < s.DesiredCapacity {
			short = true
			return false
		}
		back = time.Now()
		return short
	})
	measured := back.Sub(start)
	real, ok := srv.LastRecovery("web")
	require.True(t, ok)
	t.Logf("measured %s, the group's own %s, %d samples", measured, real, len(series))
	assert.InDelta(t, real.Seconds(), measured.Seconds(), 2, "measured recovery within 2s of the real one; history %+v", srv.History("web"))
	assert.GreaterOrEqual(t, real, 1200*time.Millisecond, "terminate (500ms) then launch (700ms); history %+v", srv.History("web"))
	assert.Equal(t, chaoslab.Sample{DesiredCapacity: 3, HealthyCapacity: 2}, series[0], "series %v", series)
}

// TestRunnerMeasuresRecovery runs instance_termination through the
// Runner, with the capacity as a probe, and compares the result's recovery
// time with the group's.
func TestRunnerMeasuresRecovery(t *testing.T) {
	srv := startFake(t, []awsfake.Option{awsfake.WithPendingFor(600 * time.Millisecond), awsfake.WithTerminateFor(400 * time.Millisecond)}, web())
	p := awsasg.New(awsasg.WithConfig(sdkConfig(t, srv)), awsasg.WithGroup("web"), awsasg.WithAllowed("web"))
	// Kind address with the load balancer, because the root's Validate
	// does not know kind fleet yet.
	lb := loadBalancer(t, nil)
	exp := chaoslab.Experiment{
		Name:   "asg-termination",
		Target: chaoslab.TargetSpec{Kind: chaoslab.TargetAddress, Address: lb.URL},
		Load:   chaoslab.Load{Disabled: true},
		Hypothesis: chaoslab.Hypothesis{Probes: []chaoslab.Probe{{Name: "capacity", Check: func(ctx context.Context, t chaoslab.Target) error {
			s, err := t.(chaoslab.Sampler).Sample(ctx)
			if err == nil && s.HealthyCapacity < s.DesiredCapacity {
				err = errors.New("short of desired capacity")
			}
			return err
		}}}},
		Faults:       []chaoslab.Fault{{Scenario: "instance_termination", Params: chaoslab.Params{"count": "1"}}},
		Baseline:     600 * time.Millisecond,
		Duration:     2500 * time.Millisecond,
		StableWindow: 600 * time.Millisecond,
		Interval:     200 * time.Millisecond,
		Seed:         42,
	}
	res, err := chaoslab.New(chaoslab.WithProvider(p)).Run(context.Background(), exp)
	require.NoError(t, err)
	require.NotNil(t, res.Recovery.Seconds, "recovered: %+v", res.Recovery)
	real, ok := srv.LastRecovery("web")
	require.True(t, ok)
	t.Logf("result %.2fs, the group's own %s", *res.Recovery.Seconds, real)
	assert.InDelta(t, real.Seconds(), *res.Recovery.Seconds, 2)
	// The series carries the capacity, with the dip.
	minHealthy := math.MaxInt
	for _, pt := range res.Series {
		if pt.DesiredCapacity > 0 {
			minHealthy = min(minHealthy, pt.HealthyCapacity)
		}
	}
	assert.Equal(t, 2, minHealthy)
	assert.Equal(t, 3, res.Series[len(res.Series)-1].HealthyCapacity)
	var terminated int
	for _, e := range srv.History("web") {
		if e.Kind == awsfake.EventTerminating {
			terminated++
		}
	}
	assert.Equal(t, 1, terminated, "exactly one instance terminated")
}

func TestAllowRules(t *testing.T) {
	srv := startFake(t, nil, web(), awsfake.GroupConfig{Name: "payments", Desired: 1, Min: 1, Max: 2, Tags: map[string]string{"env": "prod"}})
	cfg := sdkConfig(t, srv)
	cases := []struct {
		name     string
		operator []string
		group    string
		allow    string // the spec's
		want     error
		wantText string
	}{
		{"by name", []string{"web"}, "web", "", nil, ""},
		{"by glob", []string{"we*"}, "web", "", nil, ""},
		{"by tag", []string{"chaos=enabled"}, "web", "", nil, ""},
		{"by tag glob", []string{"team=sh*"}, "web", "", nil, ""},
		{"experiment only", nil, "web", "web", nil, ""},
		{"both lists", []string{"chaos=enabled"}, "web", "team=shop", nil, ""},
		{"other name", []string{"api"}, "web", "", awsasg.ErrNotAllowed, ""},
		{"tag absent", []string{"chaos=enabled"}, "payments", "", awsasg.ErrNotAllowed, ""},
		{"experiment narrows", []string{"web", "payments"}, "payments", "chaos=enabled", awsasg.ErrNotAllowed, ""},
		{"no rule", nil, "web", "", awsasg.ErrNotAllowed, ""},
		{"unknown group", []string{"*"}, "nope", "", awsasg.ErrGroupNotFound, ""},
		{"bad pattern", []string{"[web"}, "web", "", nil, "bad pattern"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := fleetSpec(c.group)
			if c.allow != "" {
				spec.Options[awsasg.OptionAllow] = c.allow
			}
			tgt, err := awsasg.New(awsasg.WithConfig(cfg), awsasg.WithAllowed(c.operator...)).Provision(context.Background(), spec)
			if c.wantText != "" {
				require.ErrorContains(t, err, c.wantText)
				return
			}
			if c.want != nil {
				require.ErrorIs(t, err, c.want)
				assert.Nil(t, tgt)
				t.Log(err)
				return
			}
			require.NoError(t, err)
			require.NoError(t, tgt.Close(context.Background()))
		})
	}
	// Provisioning, refused or not, changed nothing in the groups.
	for _, name := range []string{"web", "payments"} {
		for _, e := range srv.History(name) {
			assert.NotEqual(t, awsfake.EventTerminating, e.Kind, name)
			assert.NotEqual(t, awsfake.EventSuspended, e.Kind, name)
		}
	}
}

func TestInvalidSpecs(t *testing.T) {
	p := awsasg.New(awsasg.WithAllowed("*"))
	for name, spec := range map[string]chaoslab.TargetSpec{
		"demo":           {Kind: chaoslab.TargetDemo, Options: map[string]string{"group": "web"}},
		"command":        {Kind: chaoslab.TargetCommand, Command: []string{"x"}, Options: map[string]string{"group": "web"}},
		"no group":       {Kind: chaoslab.TargetFleet},
		"unknown option": {Kind: chaoslab.TargetFleet, Options: map[string]string{"group": "web", "gruop": "x"}},
		"dependencies":   {Kind: chaoslab.TargetFleet, Options: map[string]string{"group": "web"}, Dependencies: []chaoslab.Dependency{{Name: "db", Upstream: "db:5432"}}},
		"bad address":    {Kind: chaoslab.TargetAddress, Address: "ftp://x", Options: map[string]string{"group": "web"}},
	} {
		_, err := p.Provision(context.Background(), spec)
		assert.ErrorIs(t, err, chaoslab.ErrInvalid, name)
	}
}

func TestReadyURL(t *testing.T) {
	srv := startFake(t, nil, web())
	cfg := sdkConfig(t, srv)
	var mu sync.Mutex
	up := false
	lb := loadBalancer(t, func() bool { mu.Lock(); defer mu.Unlock(); return up })

	// Never up: not ready in time.
	p := awsasg.New(awsasg.WithConfig(cfg), awsasg.WithAllowed("web"), awsasg.WithPollInterval(20*time.Millisecond),
		awsasg.WithHealthURL(lb.URL+"/health"))
	spec := fleetSpec("web")
	spec.ReadyTimeout = 300 * time.Millisecond
	_, err := p.Provision(context.Background(), spec)
	require.ErrorIs(t, err, chaoslab.ErrNotReady)

	// Up after a while: Provision waits; the Endpoint is the health URL's
	// base.
	time.AfterFunc(200*time.Millisecond, func() { mu.Lock(); up = true; mu.Unlock() })
	spec.ReadyTimeout = 10 * time.Second
	tgt := provision(t, p, spec)
	assert.Equal(t, lb.URL, tgt.Endpoint())
}

func TestTerminateOnlyMembers(t *testing.T) {
	srv := startFake(t, nil, web(), awsfake.GroupConfig{Name: "other", Desired: 1, Min: 0, Max: 1})
	cfg := sdkConfig(t, srv)
	tgt := provision(t, awsasg.New(awsasg.WithConfig(cfg), awsasg.WithAllowed("web")), fleetSpec("web"))
	ctx := context.Background()
	other, _ := srv.Group("other")
	ins, err := tgt.Instances(ctx)
	require.NoError(t, err)

	// An instance of another group is refused, and so is everything with it.
	err = tgt.Terminate(ctx, []string{ins[0].ID, other.Instances[0].ID}, false)
	require.ErrorIs(t, err, awsasg.ErrNotMember)
	assert.Contains(t, err.Error(), other.Instances[0].ID)
	g, _ := srv.Group("web")
	assert.Equal(t, 3, g.Healthy)
	other, _ = srv.Group("other")
	assert.Equal(t, 1, other.Healthy)

	// With decrement the group shrinks and does not replace it.
	require.NoError(t, tgt.Terminate(ctx, []string{ins[0].ID, ins[0].ID}, true))
	g, _ = srv.Group("web")
	assert.Equal(t, 2, g.Desired)
	// Already terminating.
	require.ErrorIs(t, tgt.Terminate(ctx, []string{ins[0].ID}, false), awsasg.ErrNotMember)
	s, err := tgt.Sample(ctx)
	require.NoError(t, err)
	assert.Equal(t, chaoslab.Sample{DesiredCapacity: 2, HealthyCapacity: 2}, s)
	require.NoError(t, tgt.Terminate(ctx, nil, false))
}

func TestSuspendResume(t *testing.T) {
	clock := awsfake.NewManualClock(epoch)
	cfgGroup := web()
	cfgGroup.SuspendedProcesses = []string{awsfake.ProcessAZRebalance} // someone else's
	srv := startFake(t, []awsfake.Option{awsfake.WithClock(clock)}, cfgGroup)
	var logs bytes.Buffer
	var logMu sync.Mutex
	p := awsasg.New(awsasg.WithConfig(sdkConfig(t, srv)), awsasg.WithAllowed("web"),
		awsasg.WithLogger(slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))))
	tgt := provision(t, p, fleetSpec("web"))
	ctx := context.Background()
	suspended := func() []string { g, _ := srv.Group("web"); return g.SuspendedProcesses }

	_, err := tgt.SuspendProcesses(ctx, []string{"Launch", "Sleep"})
	require.ErrorIs(t, err, chaoslab.ErrInvalid)
	_, err = tgt.SuspendProcesses(ctx, nil)
	require.ErrorIs(t, err, chaoslab.ErrInvalid, "never all processes by accident")

	undo1, err := tgt.SuspendProcesses(ctx, []string{"launch", "AZRebalance"})
	require.NoError(t, err)
	assert.Equal(t, []string{"AZRebalance", "Launch"}, suspended())
	assert.Equal(t, []string{"Launch"}, tgt.Suspended(), "AZRebalance is not ours")
	undo2, err := tgt.SuspendProcesses(ctx, []string{"Launch"})
	require.NoError(t, err)

	// Launch suspended: a terminated instance is not replaced.
	ins, err := tgt.Instances(ctx)
	require.NoError(t, err)
	require.NoError(t, tgt.Terminate(ctx, []string{ins[0].ID}, false))
	clock.Advance(10 * time.Second)
	g, _ := srv.Group("web")
	assert.Equal(t, 2, g.Healthy)
	assert.Len(t, g.Instances, 2)

	// Launch is held twice: the first undo keeps it.
	require.NoError(t, undo1(ctx))
	require.NoError(t, undo1(ctx))
	assert.Equal(t, []string{"AZRebalance", "Launch"}, suspended())
	require.NoError(t, undo2(ctx))
	assert.Equal(t, []string{"AZRebalance"}, suspended(), "someone else's suspension stays")
	assert.Empty(t, tgt.Suspended())
	clock.Advance(10 * time.Second)
	g, _ = srv.Group("web")
	assert.Equal(t, 3, g.Healthy, "replaced once Launch resumed")

	// Close resumes what no undo did, even on a cancelled context.
	_, err = tgt.SuspendProcesses(ctx, []string{"Launch", "HealthCheck"})
	require.NoError(t, err)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.NoError(t, tgt.Close(cancelled))
	assert.Equal(t, []string{"AZRebalance"}, suspended())
	require.NoError(t, tgt.Close(ctx))
	_, err = tgt.SuspendProcesses(ctx, []string{"Launch"})
	require.ErrorIs(t, err, awsasg.ErrClosed)
	require.ErrorIs(t, tgt.Terminate(ctx, []string{ins[1].ID}, false), awsasg.ErrClosed)
	logMu.Lock()
	assert.Contains(t, logs.String(), "resumed scaling processes")
	logMu.Unlock()
}

// TestUndoAfterCancel: an Undo called with a context that is already done
// still resumes.
func TestUndoAfterCancel(t *testing.T) {
	srv := startFake(t, nil, web())
	tgt := provision(t, awsasg.New(awsasg.WithConfig(sdkConfig(t, srv)), awsasg.WithAllowed("web")), fleetSpec("web"))
	undo, err := tgt.SuspendProcesses(context.Background(), []string{"Launch"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, undo(ctx))
	g, _ := srv.Group("web")
	assert.Empty(t, g.SuspendedProcesses)
}

// TestCancelledRunResumes cancels a run while instance_termination holds
// Launch suspended: the processes are resumed before Run returns.
func TestCancelledRunResumes(t *testing.T) {
	srv := startFake(t, []awsfake.Option{awsfake.WithPendingFor(100 * time.Millisecond), awsfake.WithTerminateFor(100 * time.Millisecond)}, web())
	p := awsasg.New(awsasg.WithConfig(sdkConfig(t, srv)), awsasg.WithGroup("web"), awsasg.WithAllowed("web"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lb := loadBalancer(t, nil)
	exp := chaoslab.Experiment{
		Target:   chaoslab.TargetSpec{Kind: chaoslab.TargetAddress, Address: lb.URL},
		Load:     chaoslab.Load{Disabled: true},
		Faults:   []chaoslab.Fault{{Scenario: "instance_termination", Params: chaoslab.Params{"suspend": "Launch,AZRebalance"}}},
		Baseline: 200 * time.Millisecond,
		Duration: time.Minute,
		Interval: 100 * time.Millisecond,
	}
	observed := make(chan struct{})
	var once sync.Once
	r := chaoslab.New(chaoslab.WithProvider(p), chaoslab.WithObserver(func(e chaoslab.Event) {
		if e.Phase == chaoslab.PhaseObserving {
			once.Do(func() {
				g, _ := srv.Group("web")
				assert.Equal(t, []string{"AZRebalance", "Launch"}, g.SuspendedProcesses, "suspended during the fault")
				close(observed)
				cancel()
			})
		}
	}))
	res, err := r.Run(ctx, exp)
	require.ErrorIs(t, err, context.Canceled)
	select {
	case <-observed:
	default:
		t.Fatalf("the fault was never observed: %v", res.Errors)
	}
	g, _ := srv.Group("web")
	assert.Empty(t, g.SuspendedProcesses, "resumed although the run was cancelled")
	assert.Equal(t, 3, g.Desired)
}

func TestThrottlingIsRetried(t *testing.T) {
	srv := startFake(t, nil, web())
	srv.Throttle("DescribeAutoScalingGroups", 2)
	srv.Throttle("TerminateInstanceInAutoScalingGroup", 1)
	srv.Throttle("DescribeInstances", 1)
	srv.Throttle("ResumeProcesses", 2)
	tgt := provision(t, awsasg.New(awsasg.WithConfig(sdkConfig(t, srv)), awsasg.WithAllowed("web")), fleetSpec("web"))
	assert.Equal(t, 3, srv.Calls("DescribeAutoScalingGroups"))
	ctx := context.Background()
	ins, err := tgt.Instances(ctx)
	require.NoError(t, err)
	require.NoError(t, tgt.Terminate(ctx, []string{ins[2].ID}, false))
	assert.Equal(t, 2, srv.Calls("TerminateInstanceInAutoScalingGroup"))
	undo, err := tgt.SuspendProcesses(ctx, []string{"Launch"})
	require.NoError(t, err)
	require.NoError(t, undo(ctx))
	assert.Equal(t, 3, srv.Calls("ResumeProcesses"))
	g, _ := srv.Group("web")
	assert.Empty(t, g.SuspendedProcesses)
}

// TestResumeFailureIsRetriedByClose: an Undo whose resumption fails
// leaves the process held, and Close resumes it.
func TestResumeFailureIsRetriedByClose(t *testing.T) {
	srv := startFake(t, nil, web())
	p := awsasg.New(awsasg.WithConfig(sdkConfig(t, srv)), awsasg.WithAllowed("web"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tgt, err := p.Provision(ctx, fleetSpec("web"))
	require.NoError(t, err)
	undo, err := tgt.(*awsasg.Target).SuspendProcesses(ctx, []string{"Launch"})
	require.NoError(t, err)
	srv.FailNext("ResumeProcesses", 1, awsfake.APIError{Status: http.StatusBadRequest, Code: "ResourceInUse", Message: "try later"})
	require.ErrorContains(t, undo(ctx), "ResourceInUse")
	g, _ := srv.Group("web")
	assert.Equal(t, []string{"Launch"}, g.SuspendedProcesses)
	require.NoError(t, tgt.Close(ctx))
	require.NoError(t, undo(ctx), "nothing left to resume")
	g, _ = srv.Group("web")
	assert.Empty(t, g.SuspendedProcesses)
}

// TestEC2CrossCheck: an instance EC2 shut down counts as unhealthy before
// the group's health check notices; without permission for
// DescribeInstances the group's view is used.
func TestEC2CrossCheck(t *testing.T) {
	cfgGroup := web()
	cfgGroup.SuspendedProcesses = []string{awsfake.ProcessHealthCheck}
	srv := startFake(t, nil, cfgGroup)
	tgt := provision(t, awsasg.New(awsasg.WithConfig(sdkConfig(t, srv)), awsasg.WithAllowed("web")), fleetSpec("web"))
	ctx := context.Background()
	ins, err := tgt.Instances(ctx)
	require.NoError(t, err)
	require.True(t, srv.TerminateInstance(ins[0].ID))
	g, _ := srv.Group("web")
	assert.Equal(t, 3, g.Healthy, "the group has not noticed")
	s, err := tgt.Sample(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, s.HealthyCapacity)

	srv.FailNext("DescribeInstances", 1, awsfake.APIError{Status: http.StatusForbidden, Code: "UnauthorizedOperation", Message: "You are not authorized to perform this operation."})
	s, err = tgt.Sample(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, s.HealthyCapacity, "the group's view alone")
	calls := srv.Calls("DescribeInstances")
	_, err = tgt.Sample(ctx)
	require.NoError(t, err)
	assert.Equal(t, calls, srv.Calls("DescribeInstances"), "not asked again")
}

func TestUseAfterClose(t *testing.T) {
	srv := startFake(t, nil, web())
	p := awsasg.New(awsasg.WithConfig(sdkConfig(t, srv)), awsasg.WithAllowed("web"))
	tgt, err := p.Provision(context.Background(), fleetSpec("web"))
	require.NoError(t, err)
	require.NoError(t, tgt.Close(context.Background()))
	_, err = tgt.(chaoslab.Fleet).Instances(context.Background())
	require.ErrorIs(t, err, awsasg.ErrClosed)
	_, err = tgt.(chaoslab.Sampler).Sample(context.Background())
	require.ErrorIs(t, err, awsasg.ErrClosed)
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
