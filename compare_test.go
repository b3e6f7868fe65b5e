package chaoslab_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaoslab-dev/chaoslab"
)

func comparison(t *testing.T, res *chaoslab.Result, metric, phase string) chaoslab.Comparison {
	t.Helper()
	for _, c := range res.Comparisons {
		if c.Metric == metric && c.Phase == phase {
			return c
		}
	}
	t.Fatalf("no comparison of %s in %s: %+v", metric, phase, res.Comparisons)
	return chaoslab.Comparison{}
}

func TestComparisonsAndScore(t *testing.T) {
	for _, tc := range []struct {
		latency     string
		wantVerdict string
		scoreBelow  float64
		scoreAbove  float64
	}{
		{"200ms", "fail", 70, -1},
		{"1ms", "pass", 100.1, 75},
	} {
		t.Run(tc.latency, func(t *testing.T) {
			exp := quick(chaoslab.Fault{Scenario: "test_delay", Params: chaoslab.Params{"latency": tc.latency}})
			exp.Hypothesis.MaxP99 = 100 * time.Millisecond
			exp.Baseline, exp.Duration = time.Second, time.Second
			exp.StableWindow = 500 * time.Millisecond
			res, err := chaoslab.New(chaoslab.WithProvider(&fakeProvider{})).Run(context.Background(), exp)
			require.NoError(t, err)
			c := comparison(t, res, chaoslab.MetricP99, chaoslab.WindowChaos)
			require.NotNil(t, c.Limit)
			assert.Equal(t, 100.0, *c.Limit)
			assert.Equal(t, tc.wantVerdict, c.Verdict, "%+v", c)
			assert.LessOrEqual(t, c.Interval[0], c.Effect)
			assert.GreaterOrEqual(t, c.Interval[1], c.Effect)
			e := comparison(t, res, chaoslab.MetricErrorRate, chaoslab.WindowChaos)
			assert.Equal(t, "pass", e.Verdict, "%+v", e)
			require.NotNil(t, res.Score)
			assert.Less(t, *res.Score, tc.scoreBelow)
			assert.Greater(t, *res.Score, tc.scoreAbove)
			assert.GreaterOrEqual(t, *res.Score, 0.0)
			assert.LessOrEqual(t, *res.Score, 100.0)
			b, err := json.Marshal(res)
			require.NoError(t, err)
			assert.Contains(t, string(b), `"comparisons":[{"metric":`)
			assert.Contains(t, string(b), `"score":`)
		})
	}
}

func TestTooFewIntervalsAreInconclusive(t *testing.T) {
	exp := quick(chaoslab.Fault{Scenario: "test_delay", Params: chaoslab.Params{"latency": "200ms"}})
	exp.Hypothesis.MaxP99 = 100 * time.Millisecond
	exp.Baseline = 300 * time.Millisecond // 3 intervals of 100 ms
	res, err := chaoslab.New(chaoslab.WithProvider(&fakeProvider{})).Run(context.Background(), exp)
	require.NoError(t, err)
	c := comparison(t, res, chaoslab.MetricP99, chaoslab.WindowChaos)
	assert.Equal(t, "inconclusive", c.Verdict)
	assert.Contains(t, c.Note, "too few")
}
