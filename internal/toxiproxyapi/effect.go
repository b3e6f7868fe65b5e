package toxiproxyapi

import (
	"sync"
	"time"

	"github.com/chaoslab-dev/chaoslab/internal/netfault"
)

// effect is how a toxic acts on a netfault proxy.
type effect interface {
	// apply adds the effect to p and returns how to take it off again. It
	// returns an error, and adds nothing, when p rejects the faults. undo
	// is idempotent and never closes a connection by itself.
	apply(p *netfault.Proxy) (undo func(), err error)
}

// faultEffect is one netfault fault.
type faultEffect struct{ f netfault.Fault }

func (e faultEffect) apply(p *netfault.Proxy) (func(), error) { return p.Apply(e.f) }

// noEffect is a toxic that does nothing: noop, or a toxicity of 0 on a
// fault that has no toxicity of its own.
type noEffect struct{}

func (noEffect) apply(*netfault.Proxy) (func(), error) { return func() {}, nil }

// delayedReset holds the data of the affected connections, then, after a
// while, resets them and every connection that comes later. It stands for
// Toxiproxy's reset_peer toxic with a timeout: netfault has no fault that
// resets a connection some time after it first meets it, so the time runs
// from when the toxic is applied (added, or its proxy enabled), for all
// connections together.
type delayedReset struct {
	hold  netfault.Timeout // with a Timeout of 0: holds data, never closes
	reset netfault.Loss    // resets at once
	after time.Duration
}

func (d delayedReset) apply(p *netfault.Proxy) (func(), error) {
	removeHold, err := p.Apply(d.hold)
	if err != nil {
		return nil, err
	}
	var (
		mu     sync.Mutex
		done   bool
		remove = removeHold
	)
	timer := time.AfterFunc(d.after, func() {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		removeReset, err := p.Apply(d.reset)
		if err != nil {
			// Not reached: the reset has the hold's share, which p
			// accepted.
			return
		}
		remove()
		remove = removeReset
	})
	return func() {
		timer.Stop()
		mu.Lock()
		defer mu.Unlock()
		if !done {
			done = true
			remove()
		}
	}, nil
}
