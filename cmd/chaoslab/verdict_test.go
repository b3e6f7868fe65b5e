package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaoslab-dev/chaoslab"
)

// TestVerdictOnTheDemo: on the demo service, a 200 ms delay on its
// dependency against a tolerance of p99 < 100 ms fails, a 1 ms delay
// passes, both within a chaos window under 30 s, and the statistics agree.
func TestVerdictOnTheDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo service")
	}
	for _, tc := range []struct {
		latency string
		want    chaoslab.Verdict
		code    int
	}{
		{"200ms", chaoslab.VerdictFail, exitViolated},
		{"1ms", chaoslab.VerdictPass, exitPass},
	} {
		t.Run(tc.latency, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := filepath.Join(dir, "exp.yaml")
			require.NoError(t, os.WriteFile(file, []byte(`name: verdict
target: {kind: demo}
hypothesis: {max_p99: 100ms, max_error_rate: 0.01}
faults:
  - scenario: network_delay
    params: {latency: `+tc.latency+`}
baseline: 5s
duration: 10s
`), 0o644))
			out := filepath.Join(dir, "out")
			code, stdout, stderr := runCLI(t, "run", "--out", out, "--quiet", file)
			res := readResult(t, out)
			assert.Equal(t, tc.want, res.Verdict, "%s\nstdout:\n%s\nstderr:\n%s", res.Reason, stdout, stderr)
			assert.Equal(t, tc.code, code)
			for _, c := range res.Comparisons {
				if c.Metric == chaoslab.MetricP99 && c.Phase == chaoslab.WindowChaos {
					assert.Equal(t, string(tc.want), c.Verdict, "the statistics agree: %+v", c)
				}
			}
			require.NotNil(t, res.Score)
		})
	}
}
