package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/internal/e2bfake"
)

// startE2B starts the E2B fake and points chaoslab at it through the
// environment variables of E2B's SDKs only.
func startE2B(t *testing.T) *e2bfake.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the demo service in sandboxes")
	}
	s := e2bfake.New()
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { s.Close() })
	t.Setenv("E2B_API_KEY", s.APIKey())
	t.Setenv("E2B_API_URL", s.APIURL())
	t.Setenv("E2B_SANDBOX_URL", s.SandboxURL())
	return s
}

func TestE2BRunsTheDemoInASandbox(t *testing.T) {
	s := startE2B(t)
	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, res *chaoslab.Result)
	}{
		{"network_delay", []string{"--duration", "10s"}, func(t *testing.T, res *chaoslab.Result) {
			base, chaos := median(pointsBetween(res, "baseline")), median(pointsBetween(res, "chaos"))
			assert.GreaterOrEqual(t, chaos-base, 150.0, "p50 baseline %.1f ms, chaos %.1f ms", base, chaos)
		}},
		{"process_kill", []string{"--scenario", "process_kill", "--duration", "4s"}, func(t *testing.T, res *chaoslab.Result) {
			require.True(t, res.Recovery.Recovered, res.Reason)
			assert.Greater(t, *res.Recovery.Seconds, 0.0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"run", "--provider", "e2b", "--baseline", "2s", "--out", out, "--quiet"}, tc.args...)
			code, stdout, stderr := runCLI(t, args...)
			require.NotEqual(t, exitError, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			res := readResult(t, out)
			assert.Equal(t, "e2b", res.Provider)
			assert.Equal(t, chaoslab.StatusCompleted, res.Status, res.Reason)
			assert.FileExists(t, out+"/report.html")
			tc.check(t, res)
			assert.Zero(t, s.Live(), "sandboxes left after the run")
		})
	}
}

func TestE2BInterruptKillsTheSandbox(t *testing.T) {
	s := startE2B(t)
	dir := t.TempDir()
	args := strings.Join([]string{"run", "--provider", "e2b", "--duration", "30s", "--baseline", "1s", "--out", dir}, "\x1f")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainEnv+"="+args)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(stderr.String(), "observing") {
		require.True(t, time.Now().Before(deadline), "the run never reached the fault:\n%s", stderr.String())
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, 1, s.Live(), "one sandbox runs the target")
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err := cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, stderr.String())
	assert.Equal(t, exitInterrupted, ee.ExitCode(), stderr.String())
	assert.Zero(t, s.Live(), "the sandbox outlived the CLI")
	res := readResult(t, dir)
	require.NotNil(t, res.Faults[0].RevertedAt, "the fault was reverted")
}

func TestE2BCleanupKillsOrphans(t *testing.T) {
	s := startE2B(t)
	// A chaoslab that is killed outright leaves its sandbox behind.
	dir := t.TempDir()
	args := strings.Join([]string{"run", "--provider", "e2b", "--duration", "30s", "--baseline", "1s", "--out", dir}, "\x1f")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainEnv+"="+args)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(90 * time.Second)
	for s.Live() == 0 || !strings.Contains(stderr.String(), "baseline") {
		require.True(t, time.Now().Before(deadline), "no sandbox was made:\n%s", stderr.String())
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.Equal(t, 1, s.Live())

	code, stdout, stderrOut := runCLI(t, "cleanup", "--provider", "e2b", "--dry-run")
	require.Equal(t, exitPass, code, stderrOut)
	assert.Contains(t, stdout, "1 of them orphaned")
	assert.Equal(t, 1, s.Live(), "a dry run kills nothing")

	code, stdout, stderrOut = runCLI(t, "cleanup", "--provider", "e2b")
	require.Equal(t, exitPass, code, stderrOut)
	assert.Contains(t, stdout, "killed 1")
	assert.Zero(t, s.Live())
}
