package scenario

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// processKill signals the target's process once (SIGKILL by default); the
// provider restarts it according to the target's restart policy. The fault
// is instantaneous: recovery is measured from the kill.
var processKill = chaoslab.Scenario{
	Name:    "process_kill",
	Summary: "kill the target's process; the provider restarts it",
	Params: []chaoslab.ParamSpec{
		{Name: "signal", Kind: chaoslab.KindSignal, Default: "SIGKILL", Help: "the signal sent"},
	},
	New: func(c chaoslab.FaultConfig) (chaoslab.Injector, error) {
		return killInjector{sig: c.Params.Signal("signal")}, nil
	},
}

type killInjector struct{ sig syscall.Signal }

func (k killInjector) Inject(ctx context.Context, t chaoslab.Target) (chaoslab.Undo, error) {
	s, err := signaler(t, "process_kill")
	if err != nil {
		return nil, err
	}
	if err := s.Signal(ctx, k.sig); err != nil {
		return nil, fmt.Errorf("process_kill: %w", err)
	}
	// Nothing to revert: bringing the process back is the provider's job,
	// and how long that takes is what the experiment measures.
	return func(context.Context) error { return nil }, nil
}

// Window makes the kill instantaneous.
func (killInjector) Window() time.Duration { return 0 }
