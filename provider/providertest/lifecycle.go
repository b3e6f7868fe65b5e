package providertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// This file holds the lifecycle checks that go beyond one target at a
// time: a target outliving the context that made it, targets provisioned
// in parallel, and a closed target's methods.

// testCloseAfterCancel checks that a target does not depend on the context
// that provisioned it: once that context is cancelled, the target still
// answers, and Close on a fresh context releases everything.
func (cs *caseState) testCloseAfterCancel(t *testing.T) {
	cs.checkLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), cs.h.Timeout)
	tgt, err := cs.h.Provider.Provision(ctx, cs.c.Spec)
	cancel()
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	defer cs.close(t, tgt)
	if !cs.c.NoEndpoint {
		actx, acancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer acancel()
		if err := answers(actx, tgt.Endpoint()); err != nil {
			t.Errorf("after the provisioning context was cancelled, the target stopped answering: %v", err)
		}
	}
	if s, ok := tgt.(chaoslab.Sampler); ok {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if _, err := s.Sample(sctx); err != nil && !errors.Is(err, chaoslab.ErrUnsupported) {
			t.Errorf("Sample after the provisioning context was cancelled: %v", err)
		}
	}
}

// testParallel provisions Harness.Parallel targets of the case at once,
// as parallel runs do: each must be its own (ids and endpoints unique, each
// answering), and closing them all, at once too, releases everything.
func (cs *caseState) testParallel(t *testing.T) {
	n := cs.h.Parallel
	if n < 2 {
		t.Skip("Harness.Parallel is below 2")
	}
	cs.checkLeaks(t)
	targets := make([]chaoslab.Target, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), cs.h.Timeout)
			defer cancel()
			targets[i], errs[i] = cs.h.Provider.Provision(ctx, cs.c.Spec)
			if errs[i] != nil && targets[i] != nil {
				errs[i] = fmt.Errorf("returned a target and an error: %w", errs[i])
			}
		})
	}
	wg.Wait()
	defer func() {
		for _, tgt := range targets {
			if tgt != nil {
				wg.Go(func() { cs.close(t, tgt) })
			}
		}
		wg.Wait()
	}()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Provision %d of %d at once: %v", i+1, n, err)
		}
	}
	ids, endpoints := map[string]bool{}, map[string]bool{}
	for _, tgt := range targets {
		if tgt == nil {
			continue
		}
		if ids[tgt.ID()] {
			t.Errorf("two targets provisioned at once share the id %q", tgt.ID())
		}
		ids[tgt.ID()] = true
		if cs.c.NoEndpoint {
			continue
		}
		if endpoints[tgt.Endpoint()] {
			t.Errorf("two targets provisioned at once share the endpoint %s", tgt.Endpoint())
		}
		endpoints[tgt.Endpoint()] = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := answers(ctx, tgt.Endpoint()); err != nil {
			t.Errorf("target %s, one of %d provisioned at once: %v", tgt.ID(), n, err)
		}
		cancel()
	}
}

// testUseAfterClose checks that a closed target's methods return rather
// than hang or panic, and that those which would start something (Exec,
// Signal, Stress) refuse with an error.
func (cs *caseState) testUseAfterClose(t *testing.T) {
	cs.checkLeaks(t)
	tgt := cs.provision(t)
	cs.close(t, tgt)
	ctx, cancel := context.WithTimeout(context.Background(), cs.h.Timeout)
	defer cancel()
	var mu sync.Mutex
	var problems []string
	fail := func(msg string) {
		mu.Lock()
		problems = append(problems, msg)
		mu.Unlock()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if e, ok := tgt.(chaoslab.Execer); ok {
			if _, err := e.Exec(ctx, []string{"true"}); err == nil {
				fail("Exec on a closed target returned no error")
			}
		}
		if s, ok := tgt.(chaoslab.Signaler); ok {
			if err := s.Signal(ctx, syscall.SIGKILL); err == nil {
				fail("Signal on a closed target returned no error")
			}
		}
		if st, ok := tgt.(chaoslab.Stressor); ok {
			if undo, err := st.Stress(ctx, chaoslab.Stress{Kind: chaoslab.StressCPU, Cores: 1, Percent: 10}); err == nil {
				fail("Stress on a closed target returned no error")
				_ = undo(ctx)
			}
		}
		if s, ok := tgt.(chaoslab.Sampler); ok {
			_, _ = s.Sample(ctx)
		}
		if r, ok := tgt.(chaoslab.Router); ok {
			for _, name := range r.Links() {
				if l, err := r.Link(name); err == nil {
					if undo, err := l.Apply(ctx, chaoslab.LinkFault{Kind: "network_delay", Params: chaoslab.Params{"latency": "1ms"}}); err == nil {
						_ = undo(ctx)
					}
				}
			}
		}
		if ls, ok := tgt.(chaoslab.LogSource); ok {
			fctx, fcancel := context.WithTimeout(ctx, 100*time.Millisecond)
			_ = ls.FollowLogs(fctx, func(string) {})
			fcancel()
		}
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("a method of a closed target did not return within %s", cs.h.Timeout)
	}
	for _, p := range problems {
		t.Error(p)
	}
}
