package scenario

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// processPause freezes the target's process with SIGSTOP for a duration,
// then resumes it with SIGCONT.
var processPause = chaoslab.Scenario{
	Name:    "process_pause",
	Summary: "freeze the target's process (SIGSTOP), then resume it (SIGCONT)",
	Params: []chaoslab.ParamSpec{
		{Name: "duration", Kind: chaoslab.KindDuration, Default: "5s", Help: "how long the process stays frozen"},
	},
	New: func(c chaoslab.FaultConfig) (chaoslab.Injector, error) {
		return pauseInjector{d: c.Params.Duration("duration")}, nil
	},
}

type pauseInjector struct{ d time.Duration }

func (p pauseInjector) Inject(ctx context.Context, t chaoslab.Target) (chaoslab.Undo, error) {
	s, err := signaler(t, "process_pause")
	if err != nil {
		return nil, err
	}
	if err := s.Signal(ctx, syscall.SIGSTOP); err != nil {
		return nil, fmt.Errorf("process_pause: %w", err)
	}
	var once sync.Once
	return func(ctx context.Context) error {
		var err error
		once.Do(func() {
			if e := s.Signal(ctx, syscall.SIGCONT); e != nil {
				err = fmt.Errorf("process_pause: resume: %w", e)
			}
		})
		return err
	}, nil
}

// Window is the pause's length: the Runner resumes the process after it.
func (p pauseInjector) Window() time.Duration { return p.d }
