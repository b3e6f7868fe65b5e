package scenario_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/scenario"
)

func TestBuiltinsAreRegistered(t *testing.T) {
	want := []string{"network_delay", "http_errors", "http_delay", "bandwidth_limit", "network_loss", "network_partition", "timeout", "limit_data", "slicer", "process_kill", "process_pause", "cpu_stress", "memory_pressure", "disk_fill", "instance_termination"}
	for _, name := range want {
		s, ok := chaoslab.LookupScenario(name)
		require.True(t, ok, name)
		assert.NotEmpty(t, s.Summary)
		for _, p := range s.Params {
			if p.Default != "" {
				assert.NoError(t, p.Check(p.Default), "%s.%s default", name, p.Name)
			}
			assert.NotEmpty(t, p.Help, "%s.%s help", name, p.Name)
		}
	}
	assert.Equal(t, "latency=200ms jitter=0s direction=upstream [link]", scenario.Describe(mustScenario(t, "network_delay")))
	assert.Equal(t, "delay=200ms jitter=0s rate=1 [method] [path_prefix] [link]", scenario.Describe(mustScenario(t, "http_delay")))
	assert.Equal(t, "rate=0.5 status=503 abort=false [method] [path_prefix] [link]", scenario.Describe(mustScenario(t, "http_errors")))
}

func mustScenario(t *testing.T, name string) chaoslab.Scenario {
	s, ok := chaoslab.LookupScenario(name)
	require.True(t, ok)
	return s
}

func inject(t *testing.T, name string, p chaoslab.Params, tg chaoslab.Target) (chaoslab.Injector, chaoslab.Undo, error) {
	t.Helper()
	s := mustScenario(t, name)
	inj, err := s.New(chaoslab.FaultConfig{Params: s.WithDefaults(p), Seed: 42})
	require.NoError(t, err)
	undo, err := inj.Inject(context.Background(), tg)
	return inj, undo, err
}

// bare has no capabilities.
type bare struct{}

func (bare) ID() string                  { return "bare" }
func (bare) Endpoint() string            { return "http://127.0.0.1:1" }
func (bare) Close(context.Context) error { return nil }

// capable records what the scenarios ask of it.
type capable struct {
	bare
	links    []string
	applied  []string
	signals  []syscall.Signal
	stresses []chaoslab.Stress
}

func (c *capable) Links() []string { return c.links }
func (c *capable) Link(name string) (chaoslab.Link, error) {
	for _, l := range c.links {
		if l == name {
			return linkFunc(func(ctx context.Context, f chaoslab.LinkFault) (chaoslab.Undo, error) {
				c.applied = append(c.applied, name+":"+f.Kind+":"+f.Params["latency"]+f.Params["rate"])
				return func(context.Context) error { return nil }, nil
			}), nil
		}
	}
	return nil, errors.Join(chaoslab.ErrUnsupported, errors.New("no link "+name))
}
func (c *capable) Signal(_ context.Context, sig os.Signal) error {
	c.signals = append(c.signals, sig.(syscall.Signal))
	return nil
}
func (c *capable) Stress(_ context.Context, s chaoslab.Stress) (chaoslab.Undo, error) {
	c.stresses = append(c.stresses, s)
	return func(context.Context) error { return nil }, nil
}

type linkFunc func(ctx context.Context, f chaoslab.LinkFault) (chaoslab.Undo, error)

func (f linkFunc) Apply(ctx context.Context, lf chaoslab.LinkFault) (chaoslab.Undo, error) {
	return f(ctx, lf)
}

func TestScenariosNeedCapabilities(t *testing.T) {
	for _, s := range scenario.Builtins() {
		_, _, err := inject(t, s.Name, nil, bare{})
		assert.ErrorIs(t, err, chaoslab.ErrUnsupported, s.Name)
		assert.Contains(t, err.Error(), s.Name, "the error names the fault")
	}
}

func TestScenariosActThroughCapabilities(t *testing.T) {
	c := &capable{links: []string{"ingress", "downstream"}}
	_, _, err := inject(t, "network_delay", chaoslab.Params{"latency": "150ms"}, c)
	require.NoError(t, err)
	_, _, err = inject(t, "http_errors", chaoslab.Params{"rate": "30%"}, c)
	require.NoError(t, err)
	_, _, err = inject(t, "network_delay", chaoslab.Params{"link": "ingress"}, c)
	require.NoError(t, err)
	_, _, err = inject(t, "http_delay", chaoslab.Params{"rate": "20%"}, c)
	require.NoError(t, err)
	assert.Equal(t, []string{"downstream:network_delay:150ms", "ingress:http_errors:30%", "ingress:network_delay:200ms", "ingress:http_delay:20%"}, c.applied)
	_, _, err = inject(t, "network_delay", chaoslab.Params{"link": "db"}, c)
	assert.ErrorIs(t, err, chaoslab.ErrUnsupported)

	kill, _, err := inject(t, "process_kill", nil, c)
	require.NoError(t, err)
	assert.Equal(t, time.Duration(0), kill.(chaoslab.Windower).Window())
	pause, undo, err := inject(t, "process_pause", chaoslab.Params{"duration": "2s"}, c)
	require.NoError(t, err)
	assert.Equal(t, 2*time.Second, pause.(chaoslab.Windower).Window())
	require.NoError(t, undo(context.Background()))
	require.NoError(t, undo(context.Background()), "undo is idempotent")
	assert.Equal(t, []syscall.Signal{syscall.SIGKILL, syscall.SIGSTOP, syscall.SIGCONT}, c.signals)

	for _, name := range []string{"cpu_stress", "memory_pressure", "disk_fill"} {
		_, _, err := inject(t, name, nil, c)
		require.NoError(t, err)
	}
	assert.Equal(t, []chaoslab.Stress{
		{Kind: chaoslab.StressCPU, Cores: 1, Percent: 100},
		{Kind: chaoslab.StressMemory, Bytes: 256_000_000},
		{Kind: chaoslab.StressDisk, Bytes: 512_000_000},
	}, c.stresses)
}

func TestParseExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/experiments/*")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		exp, err := scenario.Load(f)
		require.NoError(t, err, f)
		assert.NotEmpty(t, exp.Faults, f)
	}
	exp, err := scenario.Load("../examples/experiments/demo-kill.json")
	require.NoError(t, err)
	assert.Equal(t, 500*time.Millisecond, exp.Hypothesis.MaxP99)
	assert.Equal(t, 3*time.Second, exp.StableWindow)
}

func TestParseReportsProblemsWithLines(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []string
	}{
		{"unknown key", "name: x\nload:\n  rate: 5\n  timout: 1s\nfaults:\n  - scenario: process_kill\n",
			[]string{`x.yaml:4: unknown key "timout" in load; valid keys: rate, paths, method, timeout, disabled`}},
		{"unknown top key", "nmae: x\nfaults: [{scenario: process_kill}]\n",
			[]string{`x.yaml:1: unknown key "nmae"; valid keys: name, target,`}},
		{"unknown key in list", "faults:\n  - scenario: process_kill\n    parms: {}\n",
			[]string{`x.yaml:3: unknown key "parms" in faults[0]`}},
		{"invalid value", "faults:\n  - scenario: network_delay\n    params:\n      latency: -5ms\n",
			[]string{`x.yaml:4: faults[0].params.latency: "-5ms" must be a positive duration`}},
		{"unknown scenario", "faults:\n  - scenario: network_dely\n",
			[]string{`x.yaml:2: faults[0].scenario: "network_dely" is not a scenario; valid names: `, "network_delay"}},
		{"negative duration", "duration: -10s\nfaults: [{scenario: process_kill}]\n",
			[]string{`x.yaml:1: duration: "-10s" must be a positive duration`}},
		{"bad type", "duration: ten\nfaults: [{scenario: process_kill}]\n",
			[]string{`x.yaml:1:`, "duration"}},
		{"syntax", "faults: [\n", []string{"x.yaml:"}},
		{"empty", "", []string{"empty"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := scenario.Parse("x.yaml", []byte(c.doc))
			require.Error(t, err)
			assert.ErrorIs(t, err, chaoslab.ErrInvalid)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestParseJSONNumbersAsParams(t *testing.T) {
	exp, err := scenario.Parse("x.json", []byte(`{"faults":[{"scenario":"http_errors","params":{"rate":0.25,"status":500}}]}`))
	require.NoError(t, err)
	assert.Equal(t, chaoslab.Params{"rate": "0.25", "status": "500"}, exp.Faults[0].Params)
	_, err = scenario.Parse("x.json", []byte(`{"faults":[{"scenario":"http_errors","params":{"rate":2}}]}`))
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), `x.json:1: faults[0].params.rate: "2" must be a fraction`), err.Error())
}
