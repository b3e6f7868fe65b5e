package e2b

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// TestParallelProvisions: ten targets provisioned at once, each in its own
// sandbox, each answering, all gone after Close.
func TestParallelProvisions(t *testing.T) {
	e := start(t)
	const n = 10
	targets := make([]*Target, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			tgt, err := e.p.Provision(c, chaoslab.TargetSpec{})
			if err == nil {
				targets[i] = tgt.(*Target)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	defer func() {
		for _, tgt := range targets {
			if tgt != nil {
				wg.Go(func() {
					if err := tgt.Close(ctx(t, 30*time.Second)); err != nil {
						t.Errorf("Close: %v", err)
					}
				})
			}
		}
		wg.Wait()
	}()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tgt := range targets {
		if seen[tgt.SandboxID()] || seen[tgt.Endpoint()] {
			t.Errorf("sandbox %s or endpoint %s shared", tgt.SandboxID(), tgt.Endpoint())
		}
		seen[tgt.SandboxID()], seen[tgt.Endpoint()] = true, true
		if code, err := getStatus(tgt.Endpoint() + "/"); err != nil || code != http.StatusOK {
			t.Errorf("%s: %d, %v", tgt.ID(), code, err)
		}
	}
	if e.fake.Live() != n {
		t.Errorf("%d sandboxes live, want %d", e.fake.Live(), n)
	}
}

// TestCleanup kills the sandboxes whose run is gone, and only those.
func TestCleanup(t *testing.T) {
	e := start(t)
	alive := e.provision(chaoslab.TargetSpec{Options: map[string]string{"run_id": "alive"}})
	dead := e.provision(chaoslab.TargetSpec{Options: map[string]string{"run_id": "dead"}})
	boxes, err := e.p.Sandboxes(ctx(t, 5*time.Second))
	if err != nil || len(boxes) != 2 {
		t.Fatalf("Sandboxes: %+v, %v", boxes, err)
	}
	for _, b := range boxes {
		if OwnerGone(b) {
			t.Errorf("OwnerGone(%+v) for a sandbox of this process", b)
		}
		if b.PID == 0 || b.Host == "" || b.TargetID == "" {
			t.Errorf("metadata not read: %+v", b)
		}
	}
	killed, err := e.p.Cleanup(ctx(t, 10*time.Second), func(s Sandbox) bool { return s.RunID == "dead" })
	if err != nil || len(killed) != 1 || killed[0] != dead.SandboxID() {
		t.Fatalf("Cleanup = %v, %v; want [%s]", killed, err, dead.SandboxID())
	}
	if e.fake.Live() != 1 {
		t.Errorf("%d sandboxes live after the cleanup, want 1", e.fake.Live())
	}
	if code, err := getStatus(alive.Endpoint() + "/"); err != nil || code != http.StatusOK {
		t.Errorf("the live run's target: %d, %v", code, err)
	}
	b := Sandbox{Host: boxes[0].Host, PID: 1 << 22}
	if !OwnerGone(b) {
		t.Errorf("OwnerGone(%+v) = false for a pid that does not run", b)
	}
}
