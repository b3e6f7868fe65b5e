package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaoslab-dev/chaoslab/internal/grafanafake"
)

func TestDashboardGrafana(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo service")
	}
	s, err := grafanafake.Start("glsa_test_token")
	require.NoError(t, err)
	t.Cleanup(s.Close)
	t.Setenv("GRAFANA_URL", s.URL())
	t.Setenv("GRAFANA_SERVICE_ACCOUNT_TOKEN", "glsa_test_token")

	run := func() (int, string) {
		out := t.TempDir()
		code, stdout, stderr := runCLI(t, "run", "--dashboard", "grafana", "--duration", "2s", "--baseline", "1s", "--out", out)
		require.NotEqual(t, exitError, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		assert.FileExists(t, out+"/report.html")
		return code, out
	}
	_, out := run()
	res := readResult(t, out)
	var link string
	for _, d := range res.Dashboards {
		if d.Kind == "grafana" {
			link = d.URL
		}
	}
	require.NotEmpty(t, link, "the dashboard's link is in result.json: %+v, errors %q", res.Dashboards, res.Errors)
	require.Len(t, s.Dashboards(), 1)
	assert.Len(t, s.Annotations(), len(res.Faults), "one annotation per fault window")
	uid := s.Dashboards()[0].UID

	// Publishing the same experiment again updates the same dashboard.
	run()
	require.Len(t, s.Dashboards(), 1)
	assert.Equal(t, uid, s.Dashboards()[0].UID)

	// Grafana down: the run still ends by its verdict and writes its files.
	require.NoError(t, s.SetDown(true))
	code, out := run()
	assert.Contains(t, []int{exitPass, exitViolated}, code)
	res = readResult(t, out)
	assert.NotEmpty(t, res.Errors, "the Grafana error is recorded")
}
