package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/chaoslab-dev/chaoslab"
)

const mainEnv = "CHAOSLAB_CLI_TEST_ARGS"

func TestMain(m *testing.M) {
	// The SIGINT test runs this test binary as the CLI.
	if args, ok := os.LookupEnv(mainEnv); ok {
		os.Exit(mainWithSignals(strings.Split(args, "\x1f")))
	}
	// Under -race every process sleeps a second at exit; the demo service
	// processes these tests start need not.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	goleak.VerifyTestMain(m)
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	c := &cli{stdout: &o, stderr: &e, stdin: strings.NewReader(""), isTerminal: func() bool { return false }}
	code = c.main(t.Context(), args)
	return code, o.String(), e.String()
}

func TestScenariosListsEveryScenario(t *testing.T) {
	code, out, _ := runCLI(t, "scenarios")
	require.Equal(t, exitPass, code)
	for _, s := range chaoslab.Scenarios() {
		assert.Contains(t, out, s.Name)
		for _, p := range s.Params {
			assert.Contains(t, out, p.Name)
		}
	}
	assert.Regexp(t, `latency +200ms`, out)
}

func TestBadInputExits2(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("name: x\nfaults:\n  - scenario: network_delay\n    params: {latency: 10ms}\n    colour: red\n"), 0o644))
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown scenario", []string{"run", "--scenario", "network_dleay"}, []string{`"network_dleay" is not a scenario; valid names: `, "network_delay", "process_kill"}},
		{"negative duration", []string{"run", "--duration", "-5s"}, []string{`duration: "-5s" must be a positive duration`}},
		{"bad param", []string{"run", "--scenario", "network_delay:latency=-5ms"}, []string{`faults[0].params.latency: "-5ms" must be a positive duration`}},
		{"unknown param", []string{"run", "--scenario", "network_delay:latncy=5ms"}, []string{`faults[0].params.latncy: "5ms" is not a parameter of network_delay; valid parameters: latency, jitter, direction, link`}},
		{"malformed scenario flag", []string{"run", "--scenario", "network_delay:latency"}, []string{"key=value"}},
		{"unknown key in file", []string{"run", bad}, []string{`bad.yaml:5: unknown key "colour" in faults[0]`}},
		{"validate unknown key", []string{"validate", bad}, []string{`bad.yaml:5: unknown key "colour"`}},
		{"missing file", []string{"run", filepath.Join(dir, "nope.yaml")}, []string{"no such file"}},
		{"unknown provider", []string{"run", "--provider", "mars"}, []string{`unknown provider "mars"`}},
		{"unknown command", []string{"fly"}, []string{`unknown command "fly"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, c.args...)
			assert.Equal(t, exitError, code)
			for _, w := range c.want {
				assert.Contains(t, stderr, w)
			}
		})
	}
}

func TestValidateExamples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/experiments/*")
	require.NotEmpty(t, files)
	for _, f := range files {
		code, out, stderr := runCLI(t, "validate", f)
		assert.Equal(t, exitPass, code, stderr)
		assert.Contains(t, out, "valid experiment")
	}
}

func TestParseScenarioFlag(t *testing.T) {
	f, err := parseScenarioFlag("http_errors:rate=0.3,status=500,start=2s,for=3s")
	require.NoError(t, err)
	assert.Equal(t, chaoslab.Fault{Scenario: "http_errors", Params: chaoslab.Params{"rate": "0.3", "status": "500"}, Start: 2 * time.Second, Duration: 3 * time.Second}, f)
	_, err = parseScenarioFlag("x:start=-1s")
	assert.Error(t, err)
}

func readResult(t *testing.T, dir string) *chaoslab.Result {
	t.Helper()
	res, err := chaoslab.ReadResultFile(filepath.Join(dir, "result.json"))
	require.NoError(t, err)
	info, err := os.Stat(filepath.Join(dir, "report.html"))
	require.NoError(t, err)
	assert.Greater(t, info.Size(), int64(1000))
	return res
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	return xs[len(xs)/2]
}

// pointsBetween returns the p50 of the points that lie inside [from, to].
func pointsBetween(res *chaoslab.Result, window string) []float64 {
	var out []float64
	for _, p := range res.Series {
		if p.Window == window && p.Requests > 0 {
			out = append(out, p.Latency.P50)
		}
	}
	return out
}

// The main job: the demo service under 200 ms of dependency latency.
func TestDefaultRunShowsTheDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo service for about 15 s")
	}
	dir := t.TempDir()
	start := time.Now()
	code, out, stderr := runCLI(t, "run", "--duration", "5s", "--baseline", "3s", "--out", dir)
	require.Contains(t, []int{exitPass, exitViolated}, code, stderr)
	assert.Less(t, time.Since(start), 25*time.Second, "duration plus 20 s")
	res := readResult(t, dir)
	assert.Contains(t, out, "result: ")

	require.Len(t, res.Faults, 1)
	assert.Equal(t, "network_delay", res.Faults[0].Scenario)
	base := median(pointsBetween(res, chaoslab.WindowBaseline))
	chaos := median(pointsBetween(res, chaoslab.WindowChaos))
	rec := median(pointsBetween(res, chaoslab.WindowRecovery))
	assert.GreaterOrEqual(t, chaos-base, 180.0, "baseline p50 %.1f ms, chaos p50 %.1f ms", base, chaos)
	assert.InDelta(t, base, rec, 20, "recovery p50 %.1f ms is back near the baseline's %.1f ms", rec, base)
	assert.Equal(t, chaoslab.VerdictPass, res.Verdict, res.Reason)
	assert.Equal(t, "rules", res.Analysis.Source)
	require.Len(t, res.Dashboards, 1)
	assert.Equal(t, "html", res.Dashboards[0].Kind)
}

func TestProcessKillIsRecovered(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo service for about 12 s")
	}
	dir := t.TempDir()
	code, _, stderr := runCLI(t, "run", "--scenario", "process_kill", "--duration", "5s", "--baseline", "2s", "--out", dir)
	require.Contains(t, []int{exitPass, exitViolated}, code, stderr)
	res := readResult(t, dir)
	require.True(t, res.Recovery.Recovered, res.Reason)
	secs := *res.Analysis.Metrics.RecoveryTimeSeconds
	assert.Greater(t, secs, 0.0)
	assert.Less(t, secs, 10.0)
	var dip bool
	for _, p := range res.Series {
		dip = dip || (p.Window == chaoslab.WindowChaos && p.ErrRate > 0)
	}
	assert.True(t, dip, "the kill shows as errors in the series")
}

// descendants lists the processes below pid: its children, theirs, and so
// on.
func descendants(t *testing.T, pid int) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	children := map[int][]int{}
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		p, _ := strconv.Atoi(filepath.Base(filepath.Dir(s)))
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return out
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestInterruptRevertsAndExits130(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo service")
	}
	dir := t.TempDir()
	args := strings.Join([]string{"run", "--duration", "30s", "--baseline", "1s", "--out", dir}, "\x1f")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainEnv+"="+args)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	// Wait until the fault is in: the progress lines say "observing".
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stderr.String(), "observing") {
		require.True(t, time.Now().Before(deadline), "the run never reached the fault:\n%s", stderr.String())
		time.Sleep(50 * time.Millisecond)
	}
	children := descendants(t, cmd.Process.Pid)
	require.NotEmpty(t, children, "the demo service runs as a child process")

	sent := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err := cmd.Wait()
	took := time.Since(sent)
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, stderr.String())
	assert.Equal(t, exitInterrupted, ee.ExitCode(), stderr.String())
	assert.Less(t, took, 3*time.Second)
	for _, pid := range children {
		assert.False(t, alive(pid), "process %d, started by the CLI, outlived it", pid)
	}
	res := readResult(t, dir)
	assert.Equal(t, chaoslab.StatusAborted, res.Status)
	require.NotNil(t, res.Faults[0].RevertedAt, "the fault was reverted")
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
