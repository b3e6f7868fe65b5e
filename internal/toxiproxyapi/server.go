// Package toxiproxyapi serves Toxiproxy's HTTP control API (as of Toxiproxy
// v2.12.0) over chaoslab's fault proxy, internal/netfault, so that
// Toxiproxy clients and the test suites written with them can drive
// chaoslab unchanged.
//
// A Server manages named TCP proxies, each a netfault.Proxy, and maps
// Toxiproxy's toxics onto netfault faults:
//
//	latency    {latency, jitter ms}          Latency (toxicity 1, or 0 for no effect)
//	bandwidth  {rate KB/s}                   Bandwidth of rate×1000 B/s; rate 0 stalls (Loss in stall mode)
//	timeout    {timeout ms}                  Timeout: data held, connection closed after timeout; 0 holds until removed
//	reset_peer {timeout ms}                  Loss in reset mode; with a timeout, data held, then reset (see below)
//	slicer     {average_size, size_variation bytes, delay µs}  Slicer
//	limit_data {bytes}                       LimitData; 0 closes at once
//	noop       {}                            nothing
//
// chaoslab's own stream scenario names are toxic types too: network_delay,
// bandwidth_limit, network_loss, network_partition, timeout, limit_data and
// slicer, with their scenario parameters as string attributes (such as
// {"latency": "100ms"} or {"rate": "64KB"}), built by netfault.FromLinkFault.
// timeout, limit_data and slicer are also Toxiproxy names: their attributes
// are Toxiproxy's unless one of them is a JSON string. For these types the
// stream may also be "both"; it defaults to the scenario's direction, and a
// direction attribute overrides it.
//
// Where netfault cannot do what Toxiproxy does, the API says so with 400:
// slow_close is not supported, nor a latency toxicity other than 0 or 1.
// Known differences from Toxiproxy:
//
//   - reset_peer without a timeout resets connections at once (open ones
//     when it is added, new ones when accepted), not at their first data.
//     With a timeout it holds their data from when the toxic is applied
//     (added, updated, or its proxy enabled) and resets every affected
//     connection, and any that comes later, once the timeout has passed
//     since then; Toxiproxy times each connection from its first data.
//   - timeout, and bandwidth at rate 0, hold data rather than drop it, and
//     removing them lets it through instead of closing the connection.
//   - limit_data 0 closes connections as soon as it meets them, not at
//     their first data; updating limit_data starts its count afresh.
//   - GET /metrics is not served.
//
// Proxies listen on the address given ("localhost:0" and "127.0.0.1:PORT"
// alike); an empty one means "127.0.0.1:0", a loopback port picked by the
// system, rather than Toxiproxy's every interface. Disabling a proxy closes
// its listener and connections; enabling it listens again on the address
// it had.
package toxiproxyapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultAddr is where Toxiproxy's API listens by default.
const DefaultAddr = "127.0.0.1:8474"

// DefaultVersion is what GET /version reports unless WithVersion says
// otherwise: the Toxiproxy version whose API the Server speaks, marked as
// chaoslab's (semantic versioning ignores the "+" part when comparing).
const DefaultVersion = "2.12.0+chaoslab"

// maxBody bounds a request body.
const maxBody = 1 << 20

// Server serves Toxiproxy's HTTP API and manages the proxies it creates.
// Its methods, and its Handler, are safe for concurrent use.
type Server struct {
	cfg     config
	handler http.Handler

	mu      sync.Mutex // serialises every change, and guards the fields below
	closed  bool
	proxies map[string]*proxy
	toxics  int64 // toxics made so far; numbers their seeds
}

type config struct {
	log     *slog.Logger
	version string
	seed    int64
}

// Option configures a Server made by New.
type Option func(*config)

// WithLogger sets the logger of the server and of its proxies; by default
// they log nothing.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// WithVersion sets the version GET /version reports; the default is
// DefaultVersion.
func WithVersion(v string) Option { return func(c *config) { c.version = v } }

// WithSeed sets the random seed of the toxics: the nth toxic made draws
// from seed+n, so a run can be repeated. The default is 1.
func WithSeed(seed int64) Option { return func(c *config) { c.seed = seed } }

// New returns a server with no proxies. It does no I/O: proxies listen
// when they are created through the API.
func New(opts ...Option) *Server {
	cfg := config{log: slog.New(slog.DiscardHandler), version: DefaultVersion, seed: 1}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{cfg: cfg, proxies: map[string]*proxy{}}
	s.handler = s.routes()
	return s
}

// Handler returns the HTTP handler of the API. Serve it on loopback: like
// Toxiproxy's, the API has no authentication. Requests from browsers
// (a User-Agent beginning "Mozilla/") are refused with 403, as Toxiproxy
// refuses them, so that web pages cannot drive it.
func (s *Server) Handler() http.Handler { return s.handler }

// Close closes every proxy and the connections through them, and makes
// the API answer 503 from then on. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var errs []error
	for name, p := range s.proxies {
		if err := p.close(); err != nil {
			errs = append(errs, fmt.Errorf("toxiproxyapi: close proxy %s: %w", name, err))
		}
		delete(s.proxies, name)
	}
	return errors.Join(errs...)
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, f handlerFunc) {
		mux.Handle(pattern, s.wrap(f))
	}
	h("POST /reset", s.reset)
	h("GET /proxies", s.proxyIndex)
	h("POST /proxies", s.proxyCreate)
	h("POST /populate", s.populate)
	h("GET /proxies/{proxy}", s.proxyShow)
	h("POST /proxies/{proxy}", s.proxyUpdate)
	h("PATCH /proxies/{proxy}", s.proxyUpdate)
	h("DELETE /proxies/{proxy}", s.proxyDelete)
	h("GET /proxies/{proxy}/toxics", s.toxicIndex)
	h("POST /proxies/{proxy}/toxics", s.toxicCreate)
	h("GET /proxies/{proxy}/toxics/{toxic}", s.toxicShow)
	h("POST /proxies/{proxy}/toxics/{toxic}", s.toxicUpdate)
	h("PATCH /proxies/{proxy}/toxics/{toxic}", s.toxicUpdate)
	h("DELETE /proxies/{proxy}/toxics/{toxic}", s.toxicDelete)
	h("GET /version", s.version)
	return s.guard(mux)
}

// guard refuses browsers, bounds request bodies and logs every request.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		if strings.HasPrefix(r.UserAgent(), "Mozilla/") {
			writeJSON(sw, http.StatusForbidden, &apiError{Message: "user agent not allowed", Status: http.StatusForbidden})
		} else {
			r.Body = http.MaxBytesReader(sw, r.Body, maxBody)
			next.ServeHTTP(sw, r)
		}
		s.cfg.log.Debug("toxiproxyapi: request", "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "duration", time.Since(start), "client", r.RemoteAddr)
	})
}

// statusWriter records the status of a response, for the log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// handlerFunc handles a request and returns the status and body of the
// answer (no body when nil), or an error to answer instead.
type handlerFunc func(r *http.Request) (status int, body any, err error)

// wrap turns a handlerFunc into an http.Handler that answers in JSON, and
// answers errors in Toxiproxy's shape.
func (s *Server) wrap(f handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, body, err := f(r)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				s.cfg.log.Warn("toxiproxyapi: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
				ae = &apiError{Message: err.Error(), Status: http.StatusInternalServerError}
			}
			status, body = ae.Status, ae
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, body)
	})
}

// apiError is an error answered to a client, in Toxiproxy's shape:
// {"error": "proxy not found", "status": 404}.
type apiError struct {
	Message string `json:"error"`
	Status  int    `json:"status"`
}

func (e *apiError) Error() string { return e.Message }

func badRequest(format string, args ...any) *apiError {
	return &apiError{Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// badBody is the error of a request body that does not decode.
func badBody(err error) *apiError {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return &apiError{Message: fmt.Sprintf("request body larger than %d bytes", tooLarge.Limit), Status: http.StatusRequestEntityTooLarge}
	}
	return &apiError{Message: "bad request body: " + err.Error(), Status: http.StatusBadRequest}
}

func missingField(what string) *apiError {
	return &apiError{Message: "missing required field: " + what, Status: http.StatusBadRequest}
}

// The errors Toxiproxy answers, with its messages.
var (
	errProxyNotFound = &apiError{Message: "proxy not found", Status: http.StatusNotFound}
	errProxyExists   = &apiError{Message: "proxy already exists", Status: http.StatusConflict}
	errInvalidStream = &apiError{Message: "stream was invalid, can be either upstream or downstream", Status: http.StatusBadRequest}
	errToxicExists   = &apiError{Message: "toxic already exists", Status: http.StatusConflict}
	errToxicNotFound = &apiError{Message: "toxic not found", Status: http.StatusNotFound}
	errServerClosed  = &apiError{Message: "server closed", Status: http.StatusServiceUnavailable}
)

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Not reached: every answer marshals.
		b, status = []byte(`{"error":"cannot encode the answer","status":500}`), http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// readBody reads a request body whole, before any lock is taken.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, badBody(err)
	}
	return b, nil
}

// decode decodes a JSON body into v; an empty body leaves v as it is.
func decode(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badBody(err)
	}
	return nil
}

// lock takes the server's lock, unless the server is closed.
func (s *Server) lock() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errServerClosed
	}
	return nil
}

// get returns the named proxy; the lock must be held.
func (s *Server) get(name string) (*proxy, error) {
	p, ok := s.proxies[name]
	if !ok {
		return nil, errProxyNotFound
	}
	return p, nil
}

// GET /version.
func (s *Server) version(*http.Request) (int, any, error) {
	return http.StatusOK, map[string]string{"version": s.cfg.version}, nil
}
