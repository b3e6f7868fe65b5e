// Package providertest is the conformance suite for chaoslab providers.
// Every Provider implementation runs it from a test in a few lines:
//
//	func TestConformance(t *testing.T) {
//		providertest.Run(t, providertest.Harness{
//			Provider: myprovider.New(),
//			Targets: []providertest.Case{
//				{Name: "demo", Spec: chaoslab.TargetSpec{Kind: chaoslab.TargetDemo}},
//			},
//			Live: countMySandboxes, // optional leak check
//		})
//	}
//
// For each Case the suite checks the contracts of chaoslab.Provider and
// chaoslab.Target: Provision returns a ready target whose Endpoint answers
// HTTP; ids are non-empty and unique; Close is idempotent, safe for
// concurrent use and works after the provisioning context was cancelled; a
// Provision whose context is cancelled before or during the call fails with
// context.Canceled and leaks nothing. It then exercises every optional
// capability the target has (found by type assertion, as the Runner does):
// Router, Sampler, LogSource, Execer, Stressor, Signaler and Fleet. A capability
// that the target lacks, or whose method returns an error wrapping
// chaoslab.ErrUnsupported, is skipped, not failed. A target with a
// "PID() int" method (the pid of its main process, 0 when none runs) is
// also checked to run a new process after SIGKILL.
//
// A Case with NoEndpoint is a target that has no HTTP endpoint (a fleet
// without a load balancer): its Endpoint must be "" and nothing is sent to
// it. A Fleet is checked to list its instances and to refuse to terminate
// one it does not have; with Harness.Disruptive it must also replace an
// instance the suite terminates.
//
// A target must not depend on the context that provisioned it: it keeps
// answering after that context is cancelled, and Close on a fresh context
// releases it. A closed target's methods return instead of hanging, and
// those that start something (Exec, Signal, Stress) return an error. With
// Harness.Parallel, that many targets are provisioned at once.
//
// The suite provisions many targets one after another; with a cloud
// provider it costs real time.
package providertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// Harness says what Run tests.
type Harness struct {
	// Provider is the provider under test.
	Provider chaoslab.Provider
	// Targets are the specs to provision; the suite runs once for each,
	// as a subtest named after Case.Name.
	Targets []Case
	// Live, when set, counts the resources the provider has alive:
	// processes, sandboxes, instances, directories. After every subtest
	// the count must come back to what it was when Run started (polled
	// until Timeout).
	Live func(ctx context.Context) (int, error)
	// Timeout bounds each Provision, each Close and each wait for a
	// target to answer again or for resources to be released. Default
	// 60s.
	Timeout time.Duration
	// CloseNeedsContext says that Close needs a live context to release
	// everything (it calls a remote API). By default the suite checks that
	// Close with an already-cancelled context releases everything.
	CloseNeedsContext bool
	// Disruptive lets the suite terminate an instance of a target that is
	// a Fleet (without decrementing its desired capacity) and wait, up to
	// Timeout, for the fleet to be back at its desired capacity with
	// every instance healthy, as its Sampler reports.
	Disruptive bool
	// Parallel, when 2 or more, makes the suite provision that many
	// targets of each case at once, as parallel runs do, and check that
	// each is its own and that all are released.
	Parallel int
}

// Case is one target spec to run the suite on.
type Case struct {
	// Name names the subtest.
	Name string
	Spec chaoslab.TargetSpec
	// NoEndpoint says the target has no HTTP endpoint: Endpoint must
	// return "".
	NoEndpoint bool
}

// DefaultTimeout is the default of Harness.Timeout.
const DefaultTimeout = 60 * time.Second

// Run runs the conformance suite. It fails t for every broken contract.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Provider == nil {
		t.Fatal("providertest: Harness.Provider is nil")
	}
	if len(h.Targets) == 0 {
		t.Fatal("providertest: Harness.Targets is empty")
	}
	if h.Timeout <= 0 {
		h.Timeout = DefaultTimeout
	}
	s := &suite{h: h}
	if h.Live != nil {
		ctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
		n, err := h.Live(ctx)
		cancel()
		if err != nil {
			t.Fatalf("providertest: Live: %v", err)
		}
		s.baseline = n
	}
	t.Run("Name", func(t *testing.T) {
		if h.Provider.Name() == "" {
			t.Error("Provider.Name() is empty")
		}
	})
	for _, c := range h.Targets {
		t.Run(c.Name, func(t *testing.T) { s.runCase(t, c) })
	}
}

type suite struct {
	h        Harness
	baseline int
}

// caseState is what one Case's subtests share.
type caseState struct {
	*suite
	c Case
	// provisionTime is how long a Provision took, to pick moments to
	// cancel one in the middle.
	provisionTime time.Duration
}

func (s *suite) runCase(t *testing.T, c Case) {
	cs := &caseState{suite: s, c: c}
	t.Run("ProvisionReady", cs.testProvisionReady)
	t.Run("UniqueIDs", cs.testUniqueIDs)
	t.Run("CloseIdempotent", cs.testCloseIdempotent)
	t.Run("CancelledBeforeProvision", cs.testCancelledBefore)
	t.Run("CancelledDuringProvision", cs.testCancelledDuring)
	t.Run("Capabilities", cs.testCapabilities)
	t.Run("StopThenClose", cs.testStopThenClose)
	t.Run("CloseAfterCancel", cs.testCloseAfterCancel)
	t.Run("UseAfterClose", cs.testUseAfterClose)
	t.Run("Parallel", cs.testParallel)
}

// checkLeaks makes t check, after everything else it cleans up, that the
// provider's live resources are back to the baseline.
func (s *suite) checkLeaks(t *testing.T) {
	t.Helper()
	if s.h.Live == nil {
		return
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(s.h.Timeout)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
			n, err := s.h.Live(ctx)
			cancel()
			if err == nil && n == s.baseline {
				return
			}
			if time.Now().After(deadline) {
				if err != nil {
					t.Errorf("Live: %v", err)
				} else {
					t.Errorf("leak: %d live resources after the subtest, %d before the suite", n, s.baseline)
				}
				return
			}
			time.Sleep(50 * time.Millisecond) // polling a count; not synchronisation
		}
	})
}

// provision provisions the case's spec and closes the target at cleanup.
func (cs *caseState) provision(t *testing.T) chaoslab.Target {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cs.h.Timeout)
	defer cancel()
	tgt, err := cs.h.Provider.Provision(ctx, cs.c.Spec)
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if tgt == nil {
		t.Fatal("Provision returned a nil Target and no error")
	}
	t.Cleanup(func() { cs.close(t, tgt) })
	return tgt
}

// close closes tgt on a fresh context.
func (cs *caseState) close(t *testing.T, tgt chaoslab.Target) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cs.h.Timeout)
	defer cancel()
	if err := tgt.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// get requests the endpoint and returns the status code. It keeps no
// connection open afterwards, so the suite leaves no goroutines behind.
func get(ctx context.Context, endpoint string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return 0, err
	}
	client := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		Timeout:   10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

// answers reports whether endpoint answers without a 5xx.
func answers(ctx context.Context, endpoint string) error {
	code, err := get(ctx, endpoint)
	if err != nil {
		return err
	}
	if code >= 500 {
		return fmt.Errorf("answered %d", code)
	}
	return nil
}

// waitAnswers polls the endpoint until it answers without a 5xx.
func (cs *caseState) waitAnswers(t *testing.T, endpoint string) {
	t.Helper()
	if cs.c.NoEndpoint {
		return
	}
	deadline := time.Now().Add(cs.h.Timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := answers(ctx, endpoint)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer again within %s: %v", endpoint, cs.h.Timeout, err)
		}
		time.Sleep(50 * time.Millisecond) // polling the target; not synchronisation
	}
}

func (cs *caseState) testProvisionReady(t *testing.T) {
	cs.checkLeaks(t)
	start := time.Now()
	tgt := cs.provision(t)
	cs.provisionTime = time.Since(start)
	if tgt.ID() == "" {
		t.Error("ID() is empty")
	}
	if cs.c.NoEndpoint {
		if e := tgt.Endpoint(); e != "" {
			t.Errorf("Endpoint() = %q, want \"\" for a case with NoEndpoint", e)
		}
		return
	}
	u, err := url.Parse(tgt.Endpoint())
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		t.Fatalf("Endpoint() = %q, want an http(s) base URL", tgt.Endpoint())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := answers(ctx, tgt.Endpoint()); err != nil {
		t.Errorf("a ready target's Endpoint %s must answer HTTP: %v", tgt.Endpoint(), err)
	}
}

func (cs *caseState) testUniqueIDs(t *testing.T) {
	cs.checkLeaks(t)
	a := cs.provision(t)
	b := cs.provision(t)
	if a.ID() == "" || a.ID() == b.ID() {
		t.Errorf("two targets have ids %q and %q, want unique non-empty ids", a.ID(), b.ID())
	}
}

func (cs *caseState) testCloseIdempotent(t *testing.T) {
	cs.checkLeaks(t)
	if !cs.h.CloseNeedsContext {
		t.Run("CancelledContext", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), cs.h.Timeout)
			tgt, err := cs.h.Provider.Provision(ctx, cs.c.Spec)
			cancel() // the context that made the target is gone
			if err != nil {
				t.Fatalf("Provision: %v", err)
			}
			if err := tgt.Close(ctx); err != nil {
				t.Errorf("Close with a cancelled context: %v", err)
			}
			cs.closeAgain(t, tgt)
		})
	}
	t.Run("Concurrent", func(t *testing.T) {
		tgt := cs.provision(t)
		// Four Close calls at once on a target that was never closed.
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), cs.h.Timeout)
				defer cancel()
				<-start
				errs[i] = tgt.Close(ctx)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("concurrent Close %d: %v", i, err)
			}
		}
		cs.closeAgain(t, tgt)
	})
}

// closeAgain checks that closing a closed target succeeds.
func (cs *caseState) closeAgain(t *testing.T, tgt chaoslab.Target) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cs.h.Timeout)
	defer cancel()
	if err := tgt.Close(ctx); err != nil {
		t.Errorf("Close after Close: %v", err)
	}
}

func (cs *caseState) testCancelledBefore(t *testing.T) {
	cs.checkLeaks(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tgt, err := cs.h.Provider.Provision(ctx, cs.c.Spec)
	if tgt != nil {
		cs.close(t, tgt)
		t.Fatal("Provision with a cancelled context returned a target")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Provision with a cancelled context: error %v, want one wrapping context.Canceled", err)
	}
}

func (cs *caseState) testCancelledDuring(t *testing.T) {
	cs.checkLeaks(t)
	d := cs.provisionTime
	if d <= 0 {
		d = 100 * time.Millisecond
	}
	for _, frac := range []float64{0.05, 0.25, 0.5, 0.75} {
		after := time.Duration(frac * float64(d))
		t.Run(fmt.Sprintf("after%s", after.Round(time.Millisecond)), func(t *testing.T) {
			cs.checkLeaks(t)
			ctx, cancel := context.WithTimeout(context.Background(), cs.h.Timeout)
			defer cancel()
			stop := time.AfterFunc(after, cancel)
			defer stop.Stop()
			tgt, err := cs.h.Provider.Provision(ctx, cs.c.Spec)
			switch {
			case err == nil && tgt != nil:
				// Provision won the race; the target must still close.
				cs.close(t, tgt)
			case err == nil:
				t.Error("Provision returned neither a target nor an error")
			case tgt != nil:
				cs.close(t, tgt)
				t.Errorf("Provision returned a target and an error: %v", err)
			case ctx.Err() == nil:
				t.Errorf("Provision failed before it was cancelled: %v", err)
			case !errors.Is(err, context.Canceled):
				t.Errorf("Provision cancelled midway: error %v, want one wrapping context.Canceled", err)
			}
		})
	}
}

func (cs *caseState) testCapabilities(t *testing.T) {
	cs.checkLeaks(t)
	tgt := cs.provision(t)
	t.Run("Router", func(t *testing.T) { cs.testRouter(t, tgt) })
	t.Run("Sampler", func(t *testing.T) { testSampler(t, tgt) })
	t.Run("LogSource", func(t *testing.T) { cs.testLogSource(t, tgt) })
	t.Run("Execer", func(t *testing.T) { testExecer(t, tgt) })
	t.Run("Stressor", func(t *testing.T) { testStressor(t, tgt) })
	t.Run("SignalKill", func(t *testing.T) { cs.testSignalKill(t, tgt) })
	t.Run("SignalStopContinue", func(t *testing.T) { cs.testSignalStopContinue(t, tgt) })
	t.Run("Fleet", func(t *testing.T) { cs.testFleet(t, tgt) })
}

// skipUnsupported skips t if err wraps ErrUnsupported.
func skipUnsupported(t *testing.T, what string, err error) {
	t.Helper()
	if errors.Is(err, chaoslab.ErrUnsupported) {
		t.Skipf("%s: %v", what, err)
	}
}

func (cs *caseState) testRouter(t *testing.T, tgt chaoslab.Target) {
	r, ok := tgt.(chaoslab.Router)
	if !ok {
		t.Skip("target is not a Router")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cs.h.Timeout)
	defer cancel()
	links := r.Links()
	if len(links) == 0 {
		t.Fatal("Links() is empty")
	}
	seen := map[string]bool{}
	for i, name := range links {
		if name == "" || seen[name] {
			t.Errorf("Links() = %q: names must be unique and non-empty", links)
		}
		seen[name] = true
		if name == "ingress" && i != 0 {
			t.Errorf("Links() = %q: ingress must come first", links)
		}
		if l, err := r.Link(name); err != nil || l == nil {
			t.Errorf("Link(%q) of a listed link = %v, %v", name, l, err)
		}
	}
	for _, d := range cs.c.Spec.Dependencies {
		if seen[d.Name] {
			continue
		}
		if _, err := r.Link(d.Name); !errors.Is(err, chaoslab.ErrUnsupported) {
			t.Errorf("Link(%q) of an unlisted dependency: error %v, want one wrapping ErrUnsupported", d.Name, err)
		}
	}
	if _, err := r.Link("providertest-no-such-link"); !errors.Is(err, chaoslab.ErrUnsupported) {
		t.Errorf("Link of an unknown name: error %v, want one wrapping ErrUnsupported", err)
	}
	l, err := r.Link(links[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Apply(ctx, chaoslab.LinkFault{Kind: "providertest_no_such_fault"}); !errors.Is(err, chaoslab.ErrUnsupported) {
		t.Errorf("Apply of an unknown fault kind: error %v, want one wrapping ErrUnsupported", err)
	}
	if seen["ingress"] {
		t.Run("IngressHTTPErrors", func(t *testing.T) { testIngressHTTPErrors(ctx, t, r, tgt) })
		t.Run("IngressDelay", func(t *testing.T) { testIngressDelay(ctx, t, r, tgt) })
	}
}

// testIngressHTTPErrors checks that http_errors at rate 1 on ingress makes
// every answer the status asked for, and that Undo (twice) ends it.
func testIngressHTTPErrors(ctx context.Context, t *testing.T, r chaoslab.Router, tgt chaoslab.Target) {
	l, err := r.Link("ingress")
	if err != nil {
		t.Fatal(err)
	}
	undo, err := l.Apply(ctx, chaoslab.LinkFault{Kind: "http_errors", Params: chaoslab.Params{"rate": "1", "status": "503"}, Seed: 1})
	skipUnsupported(t, "http_errors on ingress", err)
	if err != nil {
		t.Fatalf("Apply http_errors: %v", err)
	}
	for range 3 {
		if code, err := get(ctx, tgt.Endpoint()); err != nil || code != http.StatusServiceUnavailable {
			t.Errorf("under http_errors rate 1: %d, %v; want 503", code, err)
		}
	}
	if err := undo(ctx); err != nil {
		t.Errorf("Undo: %v", err)
	}
	if err := undo(ctx); err != nil {
		t.Errorf("second Undo: %v", err)
	}
	if err := answers(ctx, tgt.Endpoint()); err != nil {
		t.Errorf("after Undo of http_errors: %v", err)
	}
}

// testIngressDelay checks that network_delay on ingress slows requests
// down. Only a lower bound is checked: a delay cannot make anything faster.
func testIngressDelay(ctx context.Context, t *testing.T, r chaoslab.Router, tgt chaoslab.Target) {
	l, err := r.Link("ingress")
	if err != nil {
		t.Fatal(err)
	}
	const latency = 200 * time.Millisecond
	undo, err := l.Apply(ctx, chaoslab.LinkFault{Kind: "network_delay", Params: chaoslab.Params{"latency": latency.String()}, Seed: 1})
	skipUnsupported(t, "network_delay on ingress", err)
	if err != nil {
		t.Fatalf("Apply network_delay: %v", err)
	}
	defer undo(ctx)
	start := time.Now()
	if err := answers(ctx, tgt.Endpoint()); err != nil {
		t.Errorf("under network_delay: %v", err)
	}
	if took := time.Since(start); took < latency*9/10 {
		t.Errorf("a request under a %s network_delay took %s", latency, took)
	}
	if err := undo(ctx); err != nil {
		t.Errorf("Undo: %v", err)
	}
}

func testSampler(t *testing.T, tgt chaoslab.Target) {
	s, ok := tgt.(chaoslab.Sampler)
	if !ok {
		t.Skip("target is not a Sampler")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 2 {
		r, err := s.Sample(ctx)
		skipUnsupported(t, "Sample", err)
		if err != nil {
			t.Fatalf("Sample %d: %v", i, err)
		}
		for name, v := range map[string]float64{"CPUPercent": r.CPUPercent, "HostCPUPercent": r.HostCPUPercent} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Errorf("Sample %d: %s = %v, want a non-negative number", i, name, v)
			}
		}
		if r.HostCPUPercent > 100.5 {
			t.Errorf("Sample %d: HostCPUPercent = %v, want at most 100", i, r.HostCPUPercent)
		}
		if r == (chaoslab.Sample{}) {
			t.Errorf("Sample %d measured nothing", i)
		}
	}
}

// testLogSource follows the target's logs while giving it something to
// log: requests, and a restart when the target is a Signaler whose process
// comes back. It checks that fn is never called by two goroutines at once
// nor after FollowLogs returned, and that FollowLogs returns the context's
// error.
func (cs *caseState) testLogSource(t *testing.T, tgt chaoslab.Target) {
	ls, ok := tgt.(chaoslab.LogSource)
	if !ok {
		t.Skip("target is not a LogSource")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cs.h.Timeout)
	defer cancel()
	var (
		inFn     sync.Mutex
		overlaps atomic.Int32
		lines    atomic.Int32
		returned atomic.Bool
		late     atomic.Int32
		first    = make(chan struct{})
		once     sync.Once
	)
	fn := func(string) {
		if returned.Load() {
			late.Add(1)
		}
		if !inFn.TryLock() {
			overlaps.Add(1)
			return
		}
		// Stay a moment, so that a second goroutine calling fn would
		// find it busy.
		for range 100 {
			runtime.Gosched()
		}
		inFn.Unlock()
		lines.Add(1)
		once.Do(func() { close(first) })
	}
	followCtx, stopFollow := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		err := ls.FollowLogs(followCtx, fn)
		returned.Store(true)
		errc <- err
	}()
	var wg sync.WaitGroup
	wg.Go(func() {
		// Give the target something to do; it may or may not log.
		for followCtx.Err() == nil && !cs.c.NoEndpoint {
			_, _ = get(followCtx, tgt.Endpoint())
		}
	})
	// A restart makes most targets log (a process supervisor does, and
	// the service's startup does); this is all the suite can count on.
	restarted := false
	if sg, ok := tgt.(chaoslab.Signaler); ok && restarts(cs.c.Spec) {
		if err := sg.Signal(ctx, syscall.SIGKILL); err == nil {
			restarted = true
			cs.waitAnswers(t, tgt.Endpoint())
		}
	}
	if restarted {
		select {
		case <-first:
		case <-ctx.Done():
			t.Errorf("no log line within %s of a restart", cs.h.Timeout)
		}
	} else {
		t1 := time.NewTimer(500 * time.Millisecond) // a window for lines, if any come
		select {
		case <-first:
		case <-t1.C:
		}
		t1.Stop()
	}
	stopFollow()
	err := <-errc
	wg.Wait()
	skipUnsupported(t, "FollowLogs", err)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("FollowLogs returned %v once its context was done, want the context's error", err)
	}
	if overlaps.Load() > 0 {
		t.Error("FollowLogs called fn from more than one goroutine at a time")
	}
	if late.Load() > 0 {
		t.Error("FollowLogs called fn after it returned")
	}
	if lines.Load() == 0 {
		t.Log("no log line came: only the return of FollowLogs was checked")
	}
}

func testExecer(t *testing.T, tgt chaoslab.Target) {
	e, ok := tgt.(chaoslab.Execer)
	if !ok {
		t.Skip("target is not an Execer")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := e.Exec(ctx, []string{"echo", "providertest-exec"})
	skipUnsupported(t, "Exec", err)
	if err != nil {
		t.Fatalf("Exec echo: %v", err)
	}
	if !strings.Contains(string(out), "providertest-exec") {
		t.Errorf("Exec echo output = %q", out)
	}
	if _, err := e.Exec(ctx, []string{"false"}); err == nil {
		t.Error("Exec of a failing command returned no error")
	}
	done, cancelDone := context.WithCancel(ctx)
	cancelDone()
	if _, err := e.Exec(done, []string{"echo", "x"}); err == nil {
		t.Error("Exec with a cancelled context returned no error")
	}
}

func testStressor(t *testing.T, tgt chaoslab.Target) {
	st, ok := tgt.(chaoslab.Stressor)
	if !ok {
		t.Skip("target is not a Stressor")
	}
	for _, s := range []chaoslab.Stress{
		{Kind: chaoslab.StressCPU, Cores: 1, Percent: 50},
		{Kind: chaoslab.StressMemory, Bytes: 16 << 20},
		{Kind: chaoslab.StressDisk, Bytes: 1 << 20},
	} {
		t.Run(string(s.Kind), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			undo, err := st.Stress(ctx, s)
			skipUnsupported(t, "Stress", err)
			if err != nil {
				t.Fatalf("Stress %+v: %v", s, err)
			}
			if undo == nil {
				t.Fatal("Stress returned a nil Undo")
			}
			if err := undo(ctx); err != nil {
				t.Errorf("Undo: %v", err)
			}
			if err := undo(ctx); err != nil {
				t.Errorf("second Undo: %v", err)
			}
		})
	}
}

// restarts reports whether the spec declares that a killed process comes
// back. An unset policy is the provider's default, which restarts for the
// kinds that run a process (see chaoslab.TargetSpec.Restart).
func restarts(spec chaoslab.TargetSpec) bool {
	return spec.Restart != chaoslab.RestartNever
}

// pider is a target that tells the pid of its main process (0 when none
// runs), as the local provider's targets do. The suite uses it to check
// that SIGKILL really restarts the process.
type pider interface{ PID() int }

func (cs *caseState) testSignalKill(t *testing.T, tgt chaoslab.Target) {
	sg, ok := tgt.(chaoslab.Signaler)
	if !ok {
		t.Skip("target is not a Signaler")
	}
	if !restarts(cs.c.Spec) {
		t.Skip("the spec's restart policy is never")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cs.h.Timeout)
	defer cancel()
	var old int
	if p, ok := tgt.(pider); ok {
		old = p.PID()
	}
	err := sg.Signal(ctx, syscall.SIGKILL)
	skipUnsupported(t, "Signal", err)
	if err != nil {
		t.Fatalf("Signal SIGKILL: %v", err)
	}
	cs.waitAnswers(t, tgt.Endpoint())
	if p, ok := tgt.(pider); ok && old != 0 {
		if pid := p.PID(); pid == old {
			t.Errorf("after SIGKILL the target answers from the same process %d: the signal did nothing", pid)
		}
	}
}

func (cs *caseState) testSignalStopContinue(t *testing.T, tgt chaoslab.Target) {
	sg, ok := tgt.(chaoslab.Signaler)
	if !ok {
		t.Skip("target is not a Signaler")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cs.h.Timeout)
	defer cancel()
	err := sg.Signal(ctx, syscall.SIGSTOP)
	skipUnsupported(t, "Signal", err)
	if err != nil {
		t.Fatalf("Signal SIGSTOP: %v", err)
	}
	// A stopped process answers nothing.
	if !cs.c.NoEndpoint {
		sctx, scancel := context.WithTimeout(ctx, time.Second)
		if err := answers(sctx, tgt.Endpoint()); err == nil {
			t.Error("the target answered while its process was stopped: SIGSTOP did nothing")
		}
		scancel()
	}
	if err := sg.Signal(ctx, syscall.SIGCONT); err != nil {
		t.Fatalf("Signal SIGCONT: %v", err)
	}
	cs.waitAnswers(t, tgt.Endpoint())
}

// testStopThenClose checks that a paused target still closes completely.
func (cs *caseState) testStopThenClose(t *testing.T) {
	cs.checkLeaks(t)
	tgt := cs.provision(t)
	sg, ok := tgt.(chaoslab.Signaler)
	if !ok {
		t.Skip("target is not a Signaler")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cs.h.Timeout)
	defer cancel()
	err := sg.Signal(ctx, syscall.SIGSTOP)
	skipUnsupported(t, "Signal", err)
	if err != nil {
		t.Fatalf("Signal SIGSTOP: %v", err)
	}
	if err := tgt.Close(ctx); err != nil {
		t.Errorf("Close of a stopped target: %v", err)
	}
}

// testFleet checks a Fleet's listing, that it refuses to terminate an
// instance it does not have and, with Harness.Disruptive, that it replaces
// one the suite terminates.
func (cs *caseState) testFleet(t *testing.T, tgt chaoslab.Target) {
	f, ok := tgt.(chaoslab.Fleet)
	if !ok {
		t.Skip("target is not a Fleet")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cs.h.Timeout)
	defer cancel()
	before, err := f.Instances(ctx)
	skipUnsupported(t, "Instances", err)
	if err != nil {
		t.Fatalf("Instances: %v", err)
	}
	seen := map[string]bool{}
	var healthy []string
	for _, in := range before {
		if in.ID == "" || seen[in.ID] {
			t.Errorf("Instances() = %+v: ids must be unique and non-empty", before)
		}
		seen[in.ID] = true
		if in.State == "" {
			t.Errorf("instance %s has no State", in.ID)
		}
		if in.Healthy {
			healthy = append(healthy, in.ID)
		}
	}
	if err := f.Terminate(ctx, nil, false); err != nil {
		t.Errorf("Terminate of no instance: %v", err)
	}
	const stranger = "providertest-no-such-instance"
	if err := f.Terminate(ctx, []string{stranger}, false); err == nil {
		t.Errorf("Terminate(%q), an instance the fleet does not have, returned no error", stranger)
	}
	if len(healthy) > 0 {
		// Nothing of the fleet may go with a stranger.
		if err := f.Terminate(ctx, []string{healthy[0], stranger}, false); err == nil {
			t.Errorf("Terminate of a member and a stranger returned no error")
		}
		after, err := f.Instances(ctx)
		if err != nil {
			t.Fatalf("Instances: %v", err)
		}
		if !slices.ContainsFunc(after, func(in chaoslab.Instance) bool { return in.ID == healthy[0] && in.Healthy }) {
			t.Errorf("instance %s is no longer healthy after a refused Terminate", healthy[0])
		}
	}
	s, isSampler := tgt.(chaoslab.Sampler)
	if isSampler {
		r, err := s.Sample(ctx)
		if err == nil && (r.DesiredCapacity < 0 || r.HealthyCapacity < 0 || r.HealthyCapacity > len(before)+r.DesiredCapacity) {
			t.Errorf("Sample of a fleet: desired %d, healthy %d with %d instances", r.DesiredCapacity, r.HealthyCapacity, len(before))
		}
	}
	if !cs.h.Disruptive {
		return
	}
	if !isSampler {
		t.Fatal("a Fleet must be a Sampler that reports its capacity")
	}
	if len(healthy) == 0 {
		t.Skip("the fleet has no healthy instance to terminate")
	}
	victim := healthy[0]
	if err := f.Terminate(ctx, []string{victim}, false); err != nil {
		t.Fatalf("Terminate(%s): %v", victim, err)
	}
	deadline := time.Now().Add(cs.h.Timeout)
	for {
		r, serr := s.Sample(ctx)
		ins, ierr := f.Instances(ctx)
		victimHealthy := slices.ContainsFunc(ins, func(in chaoslab.Instance) bool { return in.ID == victim && in.Healthy })
		if serr == nil && ierr == nil && !victimHealthy && r.DesiredCapacity > 0 && r.HealthyCapacity >= r.DesiredCapacity {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fleet was not back at its desired capacity within %s of terminating %s: sample %+v (%v), victim healthy %v, instances error %v",
				cs.h.Timeout, victim, r, serr, victimHealthy, ierr)
		}
		time.Sleep(50 * time.Millisecond) // polling the fleet; not synchronisation
	}
}
