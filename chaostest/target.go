package chaostest

import (
	"context"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/provider/local"
)

// Target provisions a target (with the local provider, or the one given)
// for a test that drives it itself, and closes it with t.Cleanup. Faults
// can be put on it with the scenario injectors or its capabilities:
//
//	tg := chaostest.Target(t, chaoslab.TargetSpec{Kind: chaoslab.TargetDemo})
//	resp, err := http.Get(tg.Endpoint() + "/")
func Target(t testing.TB, spec chaoslab.TargetSpec, opts ...Option) chaoslab.Target {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.provider == nil {
		cfg.provider = local.New()
	}
	tg, err := cfg.provider.Provision(t.Context(), spec)
	if err != nil {
		t.Fatalf("chaostest: provision a %s target with %s: %v", spec.Kind, cfg.provider.Name(), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := tg.Close(ctx); err != nil {
			t.Errorf("chaostest: close target %s: %v", tg.ID(), err)
		}
	})
	return tg
}

// Inject puts a registered scenario's fault on a target and reverts it with
// t.Cleanup (or earlier, through the returned function). Parameters are
// key=value strings, as for FaultProxy.Inject.
func Inject(t testing.TB, tg chaoslab.Target, scenario string, params ...string) (revert func()) {
	t.Helper()
	s, ps := lookup(t, scenario, params)
	inj, err := s.New(chaoslab.FaultConfig{Params: s.WithDefaults(ps)})
	if err != nil {
		t.Fatalf("chaostest: %s: %v", scenario, err)
	}
	undo, err := inj.Inject(t.Context(), tg)
	if err != nil {
		t.Fatalf("chaostest: inject %s: %v", scenario, err)
	}
	revert = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := undo(ctx); err != nil {
			t.Errorf("chaostest: revert %s: %v", scenario, err)
		}
	}
	t.Cleanup(revert)
	return revert
}
