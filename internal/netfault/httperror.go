package netfault

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"

	"github.com/chaoslab-dev/chaoslab"
)

// HTTPError answers a share Rate (0 to 1) of requests with Status instead of
// forwarding them; Status 0 means 503. It needs an HTTP-mode proxy
// (WithHTTP).
//
// Seed makes the choice of requests repeatable for serial traffic (one
// request at a time); 0 means a fixed default. The fault draws from one
// random sequence shared by all the proxy's connections, in the order
// requests arrive, so under concurrent traffic the share is kept but which
// requests fail depends on that order.
type HTTPError struct {
	Rate   float64
	Status int
	Seed   int64
}

// Kind returns "http_errors".
func (HTTPError) Kind() string { return "http_errors" }

// String describes the fault, for logs.
func (h HTTPError) String() string {
	return fmt.Sprintf("http_errors %g%% status %d", 100*h.Rate, h.status())
}

func (h HTTPError) status() int {
	if h.Status == 0 {
		return http.StatusServiceUnavailable
	}
	return h.Status
}

func (h HTTPError) activate(httpMode bool) (*active, error) {
	switch {
	case !httpMode:
		return nil, fmt.Errorf("http_errors needs a proxy in HTTP mode: %w", chaoslab.ErrUnsupported)
	case math.IsNaN(h.Rate) || h.Rate < 0 || h.Rate > 1:
		return nil, fmt.Errorf("http_errors: rate %g must be from 0 to 1: %w", h.Rate, chaoslab.ErrInvalid)
	case h.status() < 200 || h.status() > 599:
		return nil, fmt.Errorf("http_errors: status %d must be from 200 to 599: %w", h.Status, chaoslab.ErrInvalid)
	}
	return &active{httpErr: &httpErrorState{f: h, rng: newRand(h.Seed)}}, nil
}

// httpErrorState is an added HTTPError with its random source, shared by
// every connection of the proxy (so draws follow arrival order).
type httpErrorState struct {
	f   HTTPError
	mu  sync.Mutex
	rng *rand.Rand
}

func (h *httpErrorState) fires() bool {
	switch h.f.Rate {
	case 0:
		return false
	case 1:
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rng.Float64() < h.f.Rate
}

// injectedBody is the body of every injected error response.
const injectedBody = "chaoslab: injected fault\n"
