package scenario_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/internal/netfault"
	"github.com/chaoslab-dev/chaoslab/scenario"
)

// TestHTTPFaultsBuildProxyFaults checks that the HTTP fault scenarios, with
// their defaults and with each of their parameters, act on ingress and are
// faults an HTTP-mode proxy accepts (and a TCP-mode one refuses).
func TestHTTPFaultsBuildProxyFaults(t *testing.T) {
	cases := []struct {
		name   string
		params chaoslab.Params
		want   netfault.Fault
	}{
		{"http_errors", nil, netfault.HTTPError{Rate: 0.5, Status: 503, Seed: 1}},
		{"http_errors", chaoslab.Params{"rate": "1", "abort": "true", "method": "POST", "path_prefix": "/api/"},
			netfault.HTTPError{Rate: 1, Status: 503, Abort: true, HTTPMatch: netfault.HTTPMatch{Method: "POST", PathPrefix: "/api/"}, Seed: 1}},
		{"http_delay", nil, netfault.HTTPDelay{Rate: 1, Delay: 200 * time.Millisecond, Seed: 1}},
		{"http_delay", chaoslab.Params{"delay": "1s", "jitter": "50ms", "rate": "10%", "method": "GET", "path_prefix": "/"},
			netfault.HTTPDelay{Rate: 0.1, Delay: time.Second, Jitter: 50 * time.Millisecond, HTTPMatch: netfault.HTTPMatch{Method: "GET", PathPrefix: "/"}, Seed: 1}},
	}
	for _, c := range cases {
		s := mustScenario(t, c.name)
		params := s.WithDefaults(c.params)
		require.NoError(t, chaoslab.Experiment{Faults: []chaoslab.Fault{{Scenario: c.name, Params: params}}}.Validate(), c.name)
		tg := &capable{links: []string{"ingress", "db"}}
		_, _, err := inject(t, c.name, c.params, tg)
		require.NoError(t, err, c.name)
		require.Len(t, tg.applied, 1, c.name)
		assert.Regexp(t, "^ingress:"+c.name+":", tg.applied[0], "HTTP faults act on ingress by default")

		delete(params, "link")
		f, err := netfault.FromLinkFault(chaoslab.LinkFault{Kind: c.name, Params: params, Seed: 1})
		require.NoError(t, err, c.name)
		assert.Equal(t, c.want, f, c.name)
		hp := netfault.New("127.0.0.1:1", netfault.WithHTTP())
		remove, err := hp.Apply(f)
		require.NoError(t, err, c.name)
		remove()
		require.NoError(t, hp.Close())
		tp := netfault.New("127.0.0.1:1")
		_, err = tp.Apply(f)
		assert.ErrorIs(t, err, chaoslab.ErrUnsupported, c.name)
		require.NoError(t, tp.Close())
	}
}

// The parameters the scenarios cannot check themselves (method, path
// prefix) are refused when the fault is built.
func TestHTTPFaultsRefuseBadMatch(t *testing.T) {
	for _, name := range []string{"http_errors", "http_delay"} {
		s := mustScenario(t, name)
		for _, p := range []chaoslab.Params{{"method": "GET /"}, {"path_prefix": "api"}} {
			params := s.WithDefaults(p)
			_, err := netfault.FromLinkFault(chaoslab.LinkFault{Kind: name, Params: params})
			assert.ErrorIs(t, err, chaoslab.ErrInvalid, "%s %v", name, p)
		}
	}
}

func TestParseHTTPFaultParams(t *testing.T) {
	exp, err := scenario.Parse("x.yaml", []byte("faults:\n  - scenario: http_errors\n    params: {rate: 1, abort: true, method: GET, path_prefix: /api/}\n  - scenario: http_delay\n    params: {delay: 50ms, rate: 25%}\n"))
	require.NoError(t, err)
	assert.Equal(t, chaoslab.Params{"rate": "1", "abort": "true", "method": "GET", "path_prefix": "/api/"}, exp.Faults[0].Params)
	assert.Equal(t, chaoslab.Params{"delay": "50ms", "rate": "25%"}, exp.Faults[1].Params)
	_, err = scenario.Parse("x.yaml", []byte("faults:\n  - scenario: http_errors\n    params: {abort: maybe}\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "faults[0].params.abort")
	_, err = scenario.Parse("x.yaml", []byte("faults:\n  - scenario: http_delay\n    params: {delay: 0s}\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "faults[0].params.delay")
}
