package chaoslab_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaoslab-dev/chaoslab"
)

func TestRunAllKeepsTheLimit(t *testing.T) {
	p := &fakeProvider{}
	var exps []chaoslab.Experiment
	for i := range 6 {
		exp := quick(chaoslab.Fault{Scenario: "test_delay", Params: chaoslab.Params{"latency": "5ms"}})
		exp.Name = "run" + string(rune('a'+i))
		exps = append(exps, exp)
	}
	exps[4].Duration = -1 // invalid: its error is reported, the others run
	results, err := chaoslab.New(chaoslab.WithProvider(p)).RunAll(context.Background(), exps, 3)
	require.Len(t, results, len(exps))
	require.ErrorIs(t, err, chaoslab.ErrInvalid)
	assert.Contains(t, err.Error(), "experiment 4 (rune)")
	for i, res := range results {
		require.NotNil(t, res, i)
		if i != 4 {
			assert.Equal(t, chaoslab.VerdictPass, res.Verdict, "%s: %s", res.Name, res.Reason)
		}
	}
	p.mu.Lock()
	peak := p.peak
	p.mu.Unlock()
	assert.LessOrEqual(t, peak, 3, "targets live at once")
	assert.Greater(t, peak, 1, "runs overlapped")
	assert.Zero(t, p.live())
}

func TestRunAllCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := &fakeProvider{}
	f := chaoslab.Fault{Scenario: "test_delay", Params: chaoslab.Params{"latency": "5ms"}}
	results, err := chaoslab.New(chaoslab.WithProvider(p)).RunAll(ctx, []chaoslab.Experiment{quick(f), quick(f)}, 0)
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, results, 2)
	assert.NotNil(t, results[0])
	assert.Zero(t, p.live())
}
