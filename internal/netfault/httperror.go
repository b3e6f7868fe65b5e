package netfault

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"

	"github.com/chaoslab-dev/chaoslab"
)

// HTTPError answers a share Rate (0 to 1) of the requests that match
// HTTPMatch with Status instead of forwarding them; Status 0 means 503.
// Rate 0 fails no request; set 1 to fail every matching one. It needs an
// HTTP-mode proxy (WithHTTP).
//
// With Abort the chosen requests get no answer at all: once a request's
// headers are read the proxy resets the client connection (TCP RST, as
// network_loss does), without reading the body or forwarding anything, and
// Status is not used. A reset rather than a clean close (FIN) because it is
// what the client sees in any case while it is still sending a body, so it
// is the one outcome the proxy can promise, and because it reads as the
// failure it stands for (a server that died, a middlebox that dropped the
// connection) rather than as a server that ended a connection on purpose.
// Clients that resend an idempotent request when a reused keep-alive
// connection fails (Go's net/http does) send it again on a new connection,
// where it is drawn again, so fewer than Rate of such requests may fail
// for them.
//
// Seed makes the choice of requests repeatable for serial traffic (one
// request at a time); 0 means a fixed default. The fault draws from one
// random sequence shared by all the proxy's connections, once for each
// matching request in the order they arrive, so under concurrent traffic
// the share is kept but which requests fail depends on that order. When
// several HTTPErrors match a request, the first added that fires answers
// it and the later ones draw nothing for it.
type HTTPError struct {
	Rate   float64
	Status int
	Abort  bool
	HTTPMatch
	Seed int64
}

// Kind returns "http_errors".
func (HTTPError) Kind() string { return "http_errors" }

// String describes the fault, for logs.
func (h HTTPError) String() string {
	what := fmt.Sprintf("status %d", h.status())
	if h.Abort {
		what = "abort"
	}
	return fmt.Sprintf("http_errors %g%% %s%s", 100*h.Rate, what, h.describe())
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
	if err := h.check(); err != nil {
		return nil, fmt.Errorf("http_errors: %w: %w", err, chaoslab.ErrInvalid)
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

// fires reports whether the fault acts on req; it draws only for a
// matching request.
func (h *httpErrorState) fires(req *http.Request) bool {
	if !h.f.matches(req) {
		return false
	}
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
