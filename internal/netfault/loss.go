package netfault

import (
	"fmt"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// LossMode is what Loss does to an affected connection.
type LossMode int

const (
	// LossReset resets the connection (RST to both ends).
	LossReset LossMode = iota
	// LossStall silently stops forwarding in the affected way(s); the
	// held data goes on when the fault is removed.
	LossStall
)

// String returns "reset" or "stall".
func (m LossMode) String() string {
	if m == LossStall {
		return "stall"
	}
	return "reset"
}

// Loss loses a share of connections: each affected one is reset, or
// stalled, once After bytes have gone in the affected way(s) (counted from
// when the fault first met the connection, both ways together for Both).
// With After 0 a reset happens at once, on existing connections when the
// fault is added and on new ones when they are accepted (before upstream is
// dialled). A reset discards what the kernel had not yet sent, so the peer
// may get fewer than After bytes before it.
type Loss struct {
	Mode  LossMode
	After int64
	Share
}

// Kind returns "network_loss".
func (Loss) Kind() string { return "network_loss" }

// String describes the fault, for logs.
func (l Loss) String() string {
	return fmt.Sprintf("network_loss %v after %d bytes %v toxicity %g", l.Mode, l.After, l.Direction, l.Toxicity)
}

func (l Loss) activate(httpMode bool) (*active, error) {
	if err := l.check(l.Kind(), httpMode); err != nil {
		return nil, err
	}
	if l.After < 0 || l.Mode < LossReset || l.Mode > LossStall {
		return nil, fmt.Errorf("network_loss: mode %v, after %d bytes: %w", l.Mode, l.After, chaoslab.ErrInvalid)
	}
	return l.Share.activate(l.Kind(), lossRule{f: l}), nil
}

type lossRule struct {
	passRule
	f Loss
}

func (r lossRule) start(_ *session, c *connFault) action {
	if r.f.After == 0 && r.f.Mode == LossReset {
		return actReset
	}
	return actPass
}

func (r lossRule) take(c *connFault, _ Direction, n int, _ bool) (int, action) {
	if left := r.f.After - c.count; left > 0 {
		return int(min(int64(n), left)), actPass
	}
	if r.f.Mode == LossStall {
		return 0, actHold
	}
	return 0, actReset
}

func (r lossRule) sent(c *connFault, _ Direction, n int, _ time.Time, _ bool) (time.Duration, action) {
	c.count += int64(n)
	if c.count >= r.f.After && r.f.Mode == LossReset {
		return 0, actReset
	}
	return 0, actPass
}
