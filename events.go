package chaoslab

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// dispatcher hands events to the observers from a goroutine of its own, so
// that a slow or stuck observer never holds up a run: when its queue is
// full, events are dropped and counted.
type dispatcher struct {
	ch      chan Event
	done    chan struct{}
	dropped atomic.Int64
	logger  *slog.Logger
}

const eventQueue = 1024

func newDispatcher(observers []func(Event), logger *slog.Logger) *dispatcher {
	d := &dispatcher{ch: make(chan Event, eventQueue), done: make(chan struct{}), logger: logger}
	go func() {
		defer close(d.done)
		dead := make([]bool, len(observers))
		for ev := range d.ch {
			for i, o := range observers {
				if dead[i] {
					continue
				}
				if err := protect("observer", func() error { o(ev); return nil }); err != nil {
					dead[i] = true
					logger.Error("chaoslab: observer dropped from the run", "err", err)
				}
			}
		}
	}()
	return d
}

// send queues ev without blocking.
func (d *dispatcher) send(ev Event) {
	select {
	case d.ch <- ev:
	default:
		d.dropped.Add(1)
	}
}

// close delivers what is queued, waiting at most wait for the observers.
func (d *dispatcher) close(wait time.Duration) {
	close(d.ch)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-d.done:
	case <-t.C:
		d.logger.Error("chaoslab: an observer is still busy; the run ends without waiting for it")
	}
	if n := d.dropped.Load(); n > 0 {
		d.logger.Warn("chaoslab: observers fell behind; events were dropped", "dropped", n)
	}
}
