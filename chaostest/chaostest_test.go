package chaostest_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/chaostest"
)

func TestMain(m *testing.M) {
	// Under -race every process sleeps a second at exit; the demo service
	// processes these tests start need not.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	goleak.VerifyTestMain(m)
}

// echoServer answers each line with the same line.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(t *testing.T, rw *bufio.ReadWriter) time.Duration {
	start := time.Now()
	_, err := rw.WriteString("ping\n")
	require.NoError(t, err)
	require.NoError(t, rw.Flush())
	line, err := rw.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ping\n", line)
	return time.Since(start)
}

func TestProxyInjectsAndRemovesDelay(t *testing.T) {
	p := chaostest.Proxy(t, echoServer(t))
	conn, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer conn.Close()
	rw := bufio.NewReadWriter(bufio.NewReader(conn), bufio.NewWriter(conn))

	assert.Less(t, roundTrip(t, rw), 50*time.Millisecond)
	remove := p.Inject(t, "network_delay", "latency=100ms")
	assert.GreaterOrEqual(t, roundTrip(t, rw), 95*time.Millisecond)
	remove()
	assert.Less(t, roundTrip(t, rw), 50*time.Millisecond, "the same connection is fast again")
}

// recorder captures what chaostest reports instead of failing the test.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func quickDemo(faults ...chaoslab.Fault) chaoslab.Experiment {
	return chaoslab.Experiment{
		Target:       chaoslab.TargetSpec{Kind: chaoslab.TargetDemo},
		Load:         chaoslab.Load{Rate: 40},
		Faults:       faults,
		Baseline:     2 * time.Second,
		Duration:     3 * time.Second,
		StableWindow: time.Second,
	}
}

func TestRunOnTheDemoService(t *testing.T) {
	dir := t.TempDir()
	exp := quickDemo(chaoslab.Fault{Scenario: "network_delay", Params: chaoslab.Params{"latency": "150ms"}})
	exp.Hypothesis = chaoslab.Hypothesis{MaxP99: 100 * time.Millisecond, MaxErrorRate: 0.01}
	rec := &recorder{TB: t}
	res := chaostest.Run(rec, exp, chaostest.WithReportDir(dir))

	assert.Equal(t, chaoslab.VerdictFail, res.Verdict)
	require.Len(t, rec.errors, 1)
	assert.Contains(t, rec.errors[0], "verdict fail, want pass")
	assert.Regexp(t, `chaos +latency_p99_ms: limit 100, observed (1[5-9]|2\d)\d`, rec.errors[0])
	assert.FileExists(t, filepath.Join(dir, "report.html"))
	assert.FileExists(t, filepath.Join(dir, "result.json"))
}

func TestRunExpectVerdict(t *testing.T) {
	exp := quickDemo(chaoslab.Fault{Scenario: "http_errors", Params: chaoslab.Params{"rate": "1"}})
	res := chaostest.Run(t, exp, chaostest.ExpectVerdict(chaoslab.VerdictFail))
	chaos, _ := res.Window(chaoslab.WindowChaos)
	assert.Greater(t, chaos.ErrRate, 0.9)
	_, err := os.Stat(filepath.Join(t.ArtifactDir(), "report.html"))
	assert.NoError(t, err, "the report is kept in the artifact directory")
}

func TestFailuresLines(t *testing.T) {
	res := &chaoslab.Result{Status: chaoslab.StatusCompleted, Hypothesis: []chaoslab.Check{
		{Window: "chaos", Metric: chaoslab.MetricP99, Limit: 300, Observed: 412.345, OK: false},
		{Window: "chaos", Metric: chaoslab.MetricErrorRate, Limit: 0.01, Observed: 0, OK: true},
	}, Recovery: chaoslab.Recovery{Recovered: true}}
	assert.Equal(t, []string{"chaos    latency_p99_ms: limit 300, observed 412.3"}, chaostest.Failures(res))
	assert.True(t, strings.HasPrefix(chaostest.Failures(&chaoslab.Result{Status: chaoslab.StatusCompleted, Recovery: chaoslab.Recovery{StableWindow: 3}})[0], "recovery:"))
}

func TestTargetAndInject(t *testing.T) {
	var tg chaoslab.Target
	t.Run("use", func(t *testing.T) {
		tg = chaostest.Target(t, chaoslab.TargetSpec{Kind: chaoslab.TargetDemo})
		get := func() int {
			resp, err := http.Get(tg.Endpoint() + "/")
			require.NoError(t, err)
			resp.Body.Close()
			return resp.StatusCode
		}
		assert.Equal(t, http.StatusOK, get())
		revert := chaostest.Inject(t, tg, "http_errors", "rate=1", "status=503")
		assert.Equal(t, http.StatusServiceUnavailable, get())
		revert()
		assert.Equal(t, http.StatusOK, get())
	})
	// The subtest's cleanup closed the target.
	_, err := http.Get(tg.Endpoint() + "/")
	assert.Error(t, err)
}
