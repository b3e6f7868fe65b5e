package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaoslab-dev/chaoslab"
)

// fakeResult is a result whose chaos intervals have about chaosP99 ms of
// p99 latency.
func fakeResult(name string, start time.Time, chaosP99 float64, score float64) *chaoslab.Result {
	r := &chaoslab.Result{SchemaVersion: chaoslab.SchemaVersion, ID: name + "-id", Name: "checkout", StartedAt: start, Status: chaoslab.StatusCompleted,
		Verdict: chaoslab.VerdictPass, Score: &score}
	secs := 1.5
	r.Recovery = chaoslab.Recovery{Recovered: true, Seconds: &secs}
	for i := range 30 {
		w, p99 := chaoslab.WindowBaseline, 10.0
		if i >= 10 && i < 20 {
			w, p99 = chaoslab.WindowChaos, chaosP99
		} else if i >= 20 {
			w = chaoslab.WindowRecovery
		}
		p99 += float64(i % 3)
		r.Series = append(r.Series, chaoslab.Point{T: start.Add(time.Duration(i) * time.Second), Window: w,
			Requests: 50, RPS: 50, Latency: chaoslab.Latencies{P50: p99 / 2, P99: p99}})
	}
	return r
}

func TestCompareAndHistory(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	before, after := filepath.Join(dir, "before.json"), filepath.Join(dir, "after.json")
	require.NoError(t, chaoslab.WriteResultFile(before, fakeResult("before", start, 300, 40)))
	require.NoError(t, chaoslab.WriteResultFile(after, fakeResult("after", start.Add(time.Hour), 20, 95)))

	code, out, stderr := runCLI(t, "compare", before, after)
	require.Equal(t, exitPass, code, stderr)
	m := regexp.MustCompile(`chaos +latency_p99_ms +[\d.]+ +[\d.]+ +([+-][\d.]+) +\[([+-][\d.]+), ([+-][\d.]+)\]`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	effect, _ := strconv.ParseFloat(m[1], 64)
	hi, _ := strconv.ParseFloat(m[3], 64)
	assert.InDelta(t, -280, effect, 5, out)
	assert.Less(t, hi, 0.0, "the interval excludes 0: the fix helped\n%s", out)
	assert.Regexp(t, `baseline +latency_p99_ms +[\d.]+ +[\d.]+ +[+-]0\.00`, out, "no change in the baseline")

	code, out, stderr = runCLI(t, "history", dir)
	require.Equal(t, exitPass, code, stderr)
	assert.Regexp(t, `(?s)checkout +pass +40 +1\.5s +before-id.*checkout +pass +95 +1\.5s +after-id`, out)

	code, _, stderr = runCLI(t, "compare", before)
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, "two result files")
	code, _, stderr = runCLI(t, "compare", before, filepath.Join(dir, "missing.json"))
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, "missing.json", fmt.Sprint(stderr))
}
