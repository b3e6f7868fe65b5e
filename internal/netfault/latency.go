package netfault

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// Direction says which way of a connection a fault acts on.
type Direction int

// Directions. The zero value is Upstream.
const (
	// Upstream is client to server: requests.
	Upstream Direction = iota
	// Downstream is server to client: responses.
	Downstream
	// Both is either way.
	Both
)

// String returns "upstream", "downstream" or "both".
func (d Direction) String() string {
	switch d {
	case Upstream:
		return "upstream"
	case Downstream:
		return "downstream"
	case Both:
		return "both"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// ParseDirection parses "upstream", "downstream" or "both"; "" is Upstream.
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "", "upstream":
		return Upstream, nil
	case "downstream":
		return Downstream, nil
	case "both":
		return Both, nil
	}
	return 0, fmt.Errorf("direction %q: must be upstream, downstream or both", s)
}

// Latency delays traffic going in Direction by Latency plus a jitter drawn
// uniformly from [-Jitter, +Jitter] (the total never goes below zero).
//
// In TCP mode each chunk read in an affected direction is released at its
// arrival time plus the delay, in order, without limiting throughput beyond
// a bounded queue. In HTTP mode a request (Upstream) is delayed before it is
// forwarded and a response (Downstream) before it is written back; Both
// delays each.
//
// Seed makes the jitter repeatable for serial traffic; 0 means a fixed
// default. The fault draws from one random sequence shared by all the
// proxy's connections, in the order chunks or messages arrive, so under
// concurrent traffic which one gets which delay depends on that order.
type Latency struct {
	Latency, Jitter time.Duration
	Direction       Direction
	Seed            int64
}

// Kind returns "network_delay".
func (Latency) Kind() string { return "network_delay" }

// String describes the fault, for logs.
func (l Latency) String() string {
	return fmt.Sprintf("network_delay %v±%v %v", l.Latency, l.Jitter, l.Direction)
}

func (l Latency) activate(bool) (*active, error) {
	switch {
	case l.Latency < 0 || l.Jitter < 0:
		return nil, fmt.Errorf("network_delay: latency %v and jitter %v must not be negative: %w", l.Latency, l.Jitter, chaoslab.ErrInvalid)
	case l.Direction < Upstream || l.Direction > Both:
		return nil, fmt.Errorf("network_delay: %v: %w", l.Direction, chaoslab.ErrInvalid)
	}
	return &active{latency: &latencyState{f: l, rng: newRand(l.Seed)}}, nil
}

// latencyState is an added Latency with its random source, shared by every
// connection of the proxy (so draws follow arrival order).
type latencyState struct {
	f   Latency
	mu  sync.Mutex
	rng *rand.Rand
}

func (l *latencyState) affects(dir Direction) bool {
	return l.f.Direction == Both || l.f.Direction == dir
}

func (l *latencyState) sample() time.Duration {
	d := l.f.Latency
	if j := int64(l.f.Jitter); j > 0 {
		l.mu.Lock()
		d += time.Duration(l.rng.Int64N(2*j+1) - j)
		l.mu.Unlock()
	}
	return max(d, 0)
}
