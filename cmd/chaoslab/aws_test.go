package main

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaoslab-dev/chaoslab/internal/awsfake"
)

// startAWS starts the AWS fake with a group "web" of three instances and
// points the standard AWS configuration chain at it, through the
// environment only.
func startAWS(t *testing.T) *awsfake.Server {
	t.Helper()
	s := awsfake.New(awsfake.WithPendingFor(time.Second), awsfake.WithTerminateFor(time.Second))
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { s.Close() })
	require.NoError(t, s.AddGroup(awsfake.GroupConfig{Name: "web", Desired: 3, Min: 1, Max: 6}))
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return s
}

func terminations(s *awsfake.Server) []string {
	var ids []string
	for _, e := range s.History("web") {
		if e.Kind == awsfake.EventTerminating {
			ids = append(ids, e.InstanceID)
		}
	}
	return ids
}

func TestAWSInstanceTerminationRecovery(t *testing.T) {
	s := startAWS(t)
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "--provider", "aws-asg", "--asg", "web",
		"--scenario", "instance_termination:count=1", "--baseline", "1s", "--duration", "2s", "--out", out, "--quiet")
	require.NotEqual(t, exitError, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	res := readResult(t, out)
	assert.Len(t, terminations(s), 1, "exactly one instance terminated")
	assert.Equal(t, "aws-asg", res.Provider)
	assert.True(t, res.Load.Disabled, "no load balancer: the group is judged by its capacity")
	require.True(t, res.Recovery.Recovered, res.Reason)
	real, ok := s.LastRecovery("web")
	require.True(t, ok)
	got := *res.Recovery.Seconds
	t.Logf("recovery: measured %.2f s, the group's %.2f s", got, real.Seconds())
	assert.Less(t, math.Abs(got-real.Seconds()), 2.0)
	var short bool
	for _, p := range res.Series {
		short = short || (p.DesiredCapacity == 3 && p.HealthyCapacity < 3)
	}
	assert.True(t, short, "the series shows the group short of an instance")
	assert.Contains(t, res.Faults[0].Detail, terminations(s)[0])
}

func TestAWSDryRunTouchesNothing(t *testing.T) {
	s := startAWS(t)
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "--provider", "aws-asg", "--asg", "web", "--dry-run",
		"--baseline", "1s", "--duration", "1s", "--out", out, "--quiet")
	require.NotEqual(t, exitError, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Empty(t, terminations(s))
	res := readResult(t, out)
	require.Len(t, res.Faults, 1)
	assert.Equal(t, "true", res.Faults[0].Params["dry_run"])
	g, _ := s.Group("web")
	var named bool
	for _, in := range g.Instances {
		named = named || strings.Contains(res.Faults[0].Detail, in.ID)
	}
	assert.True(t, named, "the detail names an instance of the group: %q", res.Faults[0].Detail)
	assert.Contains(t, stdout, "instance_termination: "+res.Faults[0].Detail, "the dry run's choice is printed")
}

func TestAWSRefusesAGroupNotAllowed(t *testing.T) {
	s := startAWS(t)
	code, _, stderr := runCLI(t, "run", "--provider", "aws-asg", "--asg", "web", "--allow", "staging-*",
		"--baseline", "1s", "--duration", "1s", "--out", t.TempDir(), "--quiet")
	assert.NotEqual(t, exitPass, code)
	assert.Contains(t, stderr, "allow")
	assert.Empty(t, terminations(s))
}
