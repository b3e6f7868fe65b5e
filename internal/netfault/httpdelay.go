package netfault

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// HTTPDelay delays the response to a share Rate (0 to 1) of the requests
// that match HTTPMatch by Delay plus a jitter drawn uniformly from
// [-Jitter, +Jitter] (the total never goes below zero). Rate 0 delays no
// request; set 1 to delay every matching one. It needs an HTTP-mode proxy
// (WithHTTP).
//
// The request goes upstream at once; its response waits the delay once it
// is back, before it is written to the client. The client sees the request
// take Delay longer while upstream serves it undelayed. An answer the proxy
// gives in its place, an HTTPError's status or abort, waits the same. A
// Latency fault's delays add to this one. Whether a request is delayed,
// and by how much, is drawn when it arrives; removing the fault does not
// shorten a wait that has begun.
//
// Seed makes the draws repeatable for serial traffic (one request at a
// time); 0 means a fixed default. The fault draws from one random sequence
// shared by all the proxy's connections, for each matching request in the
// order they arrive: whether it is delayed (when Rate is neither 0 nor 1),
// then its jitter (when it is delayed and Jitter is above 0).
type HTTPDelay struct {
	Rate          float64
	Delay, Jitter time.Duration
	HTTPMatch
	Seed int64
}

// Kind returns "http_delay".
func (HTTPDelay) Kind() string { return "http_delay" }

// String describes the fault, for logs.
func (h HTTPDelay) String() string {
	return fmt.Sprintf("http_delay %g%% %v±%v%s", 100*h.Rate, h.Delay, h.Jitter, h.describe())
}

func (h HTTPDelay) activate(httpMode bool) (*active, error) {
	switch {
	case !httpMode:
		return nil, fmt.Errorf("http_delay needs a proxy in HTTP mode: %w", chaoslab.ErrUnsupported)
	case math.IsNaN(h.Rate) || h.Rate < 0 || h.Rate > 1:
		return nil, fmt.Errorf("http_delay: rate %g must be from 0 to 1: %w", h.Rate, chaoslab.ErrInvalid)
	case h.Delay < 0:
		return nil, fmt.Errorf("http_delay: delay %v must not be negative: %w", h.Delay, chaoslab.ErrInvalid)
	case h.Jitter < 0:
		return nil, fmt.Errorf("http_delay: jitter %v must not be negative: %w", h.Jitter, chaoslab.ErrInvalid)
	}
	if err := h.check(); err != nil {
		return nil, fmt.Errorf("http_delay: %w: %w", err, chaoslab.ErrInvalid)
	}
	return &active{httpDelay: &httpDelayState{f: h, rng: newRand(h.Seed)}}, nil
}

// httpDelayState is an added HTTPDelay with its random source, shared by
// every connection of the proxy (so draws follow arrival order).
type httpDelayState struct {
	f   HTTPDelay
	mu  sync.Mutex
	rng *rand.Rand
}

// sample returns the delay the fault gives the response to req and whether
// it delays it at all; it draws only for a matching request.
func (h *httpDelayState) sample(req *http.Request) (time.Duration, bool) {
	if h.f.Rate == 0 || !h.f.matches(req) {
		return 0, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.f.Rate < 1 && h.rng.Float64() >= h.f.Rate {
		return 0, false
	}
	d := h.f.Delay
	if j := int64(h.f.Jitter); j > 0 {
		d += time.Duration(h.rng.Int64N(2*j+1) - j)
	}
	return max(d, 0), true
}
