package netfault

import (
	"fmt"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// Timeout stops all data in the affected way(s) of an affected connection
// and closes the connection Timeout after the fault first met it (when the
// fault is added, for existing connections; when accepted, for new ones),
// as Toxiproxy's timeout toxic does. Timeout 0 never closes: data is held
// until the fault is removed, and then goes on.
type Timeout struct {
	Timeout time.Duration
	Share
}

// Kind returns "timeout".
func (Timeout) Kind() string { return "timeout" }

// String describes the fault, for logs.
func (t Timeout) String() string {
	return fmt.Sprintf("timeout %v %v toxicity %g", t.Timeout, t.Direction, t.Toxicity)
}

func (t Timeout) activate(httpMode bool) (*active, error) {
	if err := t.check(t.Kind(), httpMode); err != nil {
		return nil, err
	}
	if t.Timeout < 0 {
		return nil, fmt.Errorf("timeout: %v must not be negative: %w", t.Timeout, chaoslab.ErrInvalid)
	}
	return t.Share.activate(t.Kind(), timeoutRule{d: t.Timeout}), nil
}

type timeoutRule struct {
	passRule
	d time.Duration
}

func (r timeoutRule) start(s *session, c *connFault) action {
	if r.d > 0 {
		f := c.f
		c.timer = time.AfterFunc(r.d, func() {
			if s.p.faults.Load().has(f) {
				s.abort()
			}
		})
	}
	return actPass
}

func (timeoutRule) take(*connFault, Direction, int, bool) (int, action) { return 0, actHold }
