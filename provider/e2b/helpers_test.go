package e2b

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/internal/e2bfake"
)

// testAgent is the agent built once for the tests, by the provider's own
// build (buildAgent), for linux/amd64: the fake runs commands on this
// machine.
var testAgent string

type mainRunner struct{ m *testing.M }

func (r mainRunner) Run() int {
	dir, err := os.MkdirTemp("", "chaoslab-e2b-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	testAgent, err = buildAgent(ctx, dir, "amd64")
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "build the agent:", err)
		return 1
	}
	return r.m.Run()
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(mainRunner{m}) }

// env is a started fake E2B and a provider configured for it, the way a
// user would: API key, API URL and sandbox URL.
type env struct {
	t    *testing.T
	fake *e2bfake.Server
	p    *Provider
	logs *syncBuffer
}

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

// start starts a fake and a provider for it. When the test ends, it checks
// that no sandbox is left, then closes the fake.
func start(t *testing.T, opts ...Option) *env {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fake := e2bfake.New(e2bfake.WithBaseDir(t.TempDir()), e2bfake.WithLogger(log.With("side", "fake")))
	if err := fake.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	all := append([]Option{
		WithAPIKey(fake.APIKey()),
		WithAPIURL(fake.APIURL()),
		WithSandboxURL(fake.SandboxURL()),
		WithAgent("amd64", testAgent),
		WithLogger(log.With("side", "provider")),
		WithCreateRetries(5, 10*time.Millisecond),
	}, opts...)
	e := &env{t: t, fake: fake, p: New(all...), logs: logs}
	t.Cleanup(func() {
		if n := fake.Live(); n != 0 {
			t.Errorf("%d sandboxes live after the test, want 0", n)
		}
		if err := fake.Close(); err != nil {
			t.Errorf("fake Close: %v", err)
		}
		if tr, ok := e.p.cfg.client.Transport.(interface{ CloseIdleConnections() }); ok {
			tr.CloseIdleConnections()
		}
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	return e
}

// provision provisions spec and closes the target when the test ends.
func (e *env) provision(spec chaoslab.TargetSpec) *Target {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tgt, err := e.p.Provision(ctx, spec)
	if err != nil {
		e.t.Fatalf("Provision: %v", err)
	}
	t := tgt.(*Target)
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := t.Close(ctx); err != nil {
			e.t.Errorf("Close: %v", err)
		}
	})
	return t
}

// ctx returns a context for one step of a test.
func ctx(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

// poll calls f until it returns nil or d passes, and returns its last
// error.
func poll(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond) // polling a condition; not synchronisation
	}
}
