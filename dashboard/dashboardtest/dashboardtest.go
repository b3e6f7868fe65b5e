// Package dashboardtest is the conformance suite every chaoslab.Dashboarder
// runs. An implementation runs it in one test, handing it a constructor so
// that each case gets a fresh Dashboarder (and, say, a fresh temp
// directory or fake server):
//
//	func TestConformance(t *testing.T) {
//		dashboardtest.Run(t, func(t *testing.T) chaoslab.Dashboarder {
//			return html.New(t.TempDir())
//		})
//	}
package dashboardtest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/analyzer/analyzertest"
)

// ReturnWithin bounds how long Run waits for Publish on a cancelled context.
const ReturnWithin = 10 * time.Second

// Run checks that the Dashboarders newD makes conform to the
// chaoslab.Dashboarder contract:
//
//   - Publish returns a link with a non-empty kind for every realistic
//     result (the fixtures of analyzertest, with an analysis attached);
//   - publishing the same run id twice succeeds and updates in place: the
//     second link has the same kind and URL;
//   - the zero Result and a nil *Result make Publish fail or succeed, but
//     never panic;
//   - Publish does not change the result;
//   - on a cancelled context Publish returns within ReturnWithin.
func Run(t *testing.T, newD func(t *testing.T) chaoslab.Dashboarder) {
	t.Helper()
	t.Run("publish", func(t *testing.T) {
		d := newD(t)
		for _, f := range analyzertest.Fixtures() {
			r := f.Result
			if r.ID == "" {
				continue // the zero result has its own case
			}
			r.Analysis = chaoslab.Analysis{
				Summary:         "Latency rose under the fault; the target recovered.",
				Severity:        chaoslab.SeverityMedium,
				Recommendations: []string{"Set client timeouts."},
				Source:          "dashboardtest",
			}
			before := analyzertest.Clone(t, r)
			link, err := d.Publish(t.Context(), r)
			if err != nil {
				t.Fatalf("Publish(%s): %v", f.Name, err)
			}
			if link.Kind == "" {
				t.Errorf("Publish(%s) returned a link with an empty kind: %+v", f.Name, link)
			}
			if diff := cmp.Diff(before, analyzertest.Clone(t, r)); diff != "" {
				t.Errorf("Publish(%s) changed the result (-before +after):\n%s", f.Name, diff)
			}
		}
	})
	t.Run("same run twice", func(t *testing.T) {
		d := newD(t)
		r := analyzertest.NetworkDelay()
		first, err := d.Publish(t.Context(), r)
		if err != nil {
			t.Fatalf("first Publish: %v", err)
		}
		r.Analysis.Summary = "Updated after a second look."
		r.Dashboards = append(r.Dashboards, first)
		second, err := d.Publish(t.Context(), r)
		if err != nil {
			t.Fatalf("second Publish of the same run id: %v", err)
		}
		if first.Kind != second.Kind || first.URL != second.URL {
			t.Errorf("publishing run %s again moved it: first %+v, then %+v; want it updated in place", r.ID, first, second)
		}
	})
	t.Run("zero result", func(t *testing.T) {
		d := newD(t)
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("Publish of the zero Result panicked: %v", p)
			}
		}()
		link, err := d.Publish(t.Context(), &chaoslab.Result{})
		if err == nil && link.Kind == "" {
			t.Errorf("Publish of the zero Result succeeded with an empty kind: %+v", link)
		}
	})
	t.Run("nil result", func(t *testing.T) {
		d := newD(t)
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("Publish(nil) panicked: %v", p)
			}
		}()
		if _, err := d.Publish(t.Context(), nil); err == nil {
			t.Error("Publish(nil) returned no error")
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		d := newD(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = d.Publish(ctx, analyzertest.ProcessKill())
		}()
		select {
		case <-done:
		case <-time.After(ReturnWithin):
			t.Fatalf("Publish did not return within %s of a cancelled context", ReturnWithin)
		}
	})
}
