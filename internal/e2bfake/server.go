//go:build unix

package e2bfake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"sync"
	"time"
)

// Errors returned by Start.
var (
	// ErrStarted is returned by Start on a Server already started.
	ErrStarted = errors.New("e2bfake: server already started")
	// ErrClosed is returned by Start on a Server already closed.
	ErrClosed = errors.New("e2bfake: server closed")
)

const (
	// EnvdPort is the port envd listens on inside every sandbox.
	EnvdPort = 49983
	// DefaultTimeout is the lifetime of a sandbox created without a
	// timeout, as the spec's NewSandbox.timeout default says.
	DefaultTimeout = 15 * time.Second
	// EnvdVersion is the envd version the fake reports for its sandboxes.
	EnvdVersion = "0.5.7"
)

// Option configures a Server.
type Option func(*Server)

// WithAPIKey sets the API key the control plane accepts in X-API-Key. The
// default is a random key of E2B's format, "e2b_" and 40 hex digits.
func WithAPIKey(key string) Option { return func(s *Server) { s.apiKey = key } }

// WithLogger sets where the Server logs; the default discards.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithDomain sets the domain the API reports in Sandbox.domain, and under
// which the sandbox listener routes hosts of the form {port}-{sandboxID}.{domain}.
// The default is "e2b.localhost".
func WithDomain(domain string) Option { return func(s *Server) { s.domain = domain } }

// WithBaseDir sets the directory under which sandbox directories are made;
// the default is os.TempDir().
func WithBaseDir(dir string) Option { return func(s *Server) { s.baseDir = dir } }

// WithMaxTimeout sets the longest lifetime a sandbox may be given (a team
// limit on E2B: 24 hours on Pro, the default here, 1 hour on Hobby).
func WithMaxTimeout(d time.Duration) Option { return func(s *Server) { s.maxTimeout = d } }

// Server fakes E2B: the control-plane REST API (APIURL) and, behind one
// shared sandbox host (SandboxURL), the envd of each sandbox and the ports
// its commands listen on. Its sandboxes are directories on this machine and
// their commands really run. The zero value is not usable; call New.
type Server struct {
	log        *slog.Logger
	apiKey     string
	domain     string
	baseDir    string
	maxTimeout time.Duration

	transport *http.Transport // to the ports commands listen on
	proxy     *httputil.ReverseProxy
	api       http.Handler

	closing chan struct{}
	bg      sync.WaitGroup // expiry callbacks in flight
	serveWG sync.WaitGroup

	mu        sync.Mutex
	started   bool
	closed    bool
	httpSrv   *http.Server
	apiAddr   string
	boxAddr   string
	sandboxes map[string]*sandbox
	faults    faults
}

// faults are the fault switches; guarded by Server.mu.
type faults struct {
	createFailures int
	createStatus   int
	retryAfter     time.Duration
	envdFailures   int
	dropStreams    int
	dropAfter      int
	apiLatency     time.Duration
	envdLatency    time.Duration
}

// New returns a Server configured by opts. It does no I/O: Start listens.
func New(opts ...Option) *Server {
	s := &Server{
		log:        slog.New(slog.DiscardHandler),
		domain:     "e2b.localhost",
		baseDir:    os.TempDir(),
		maxTimeout: 24 * time.Hour,
		closing:    make(chan struct{}),
		sandboxes:  map[string]*sandbox{},
	}
	for _, o := range opts {
		o(s)
	}
	if s.apiKey == "" {
		s.apiKey = "e2b_" + randomHex(20)
	}
	s.transport = &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	s.proxy = s.newPortProxy()
	s.api = s.apiRoutes()
	return s
}

// Start listens on two loopback ports, one for the control plane and one
// for the sandbox host, and serves them until Close. ctx bounds only the
// start itself.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.started:
		return ErrStarted
	}
	var lc net.ListenConfig
	apiLn, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("e2bfake: listen for the API: %w", err)
	}
	boxLn, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("e2bfake: listen for sandboxes: %w", err)
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	s.httpSrv = &http.Server{
		Handler:           http.HandlerFunc(s.route),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		Protocols:         &protocols,
	}
	s.apiAddr, s.boxAddr = apiLn.Addr().String(), boxLn.Addr().String()
	s.started = true
	for _, ln := range []net.Listener{apiLn, boxLn} {
		s.serveWG.Add(1)
		go func() {
			defer s.serveWG.Done()
			if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("e2bfake: serve", "addr", ln.Addr().String(), "err", err)
			}
		}()
	}
	s.log.Info("e2bfake: started", "api", s.apiAddr, "sandboxes", s.boxAddr)
	return nil
}

// APIURL is the control plane's base URL, for E2B_API_URL; empty before
// Start.
func (s *Server) APIURL() string { return s.url(&s.apiAddr) }

// SandboxURL is the shared sandbox host's base URL, for E2B_SANDBOX_URL:
// requests to it name their sandbox and port in the E2b-Sandbox-Id and
// E2b-Sandbox-Port headers. Empty before Start.
func (s *Server) SandboxURL() string { return s.url(&s.boxAddr) }

func (s *Server) url(addr *string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if *addr == "" {
		return ""
	}
	return "http://" + *addr
}

// Domain is the sandbox domain the API reports (Sandbox.domain).
func (s *Server) Domain() string { return s.domain }

// APIKey is the key the control plane accepts in the X-API-Key header.
func (s *Server) APIKey() string { return s.apiKey }

// Live is the number of sandboxes not yet killed and cleaned up, paused
// ones included.
func (s *Server) Live() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sandboxes)
}

// Dir is the directory standing for the root of sandbox id's file system.
func (s *Server) Dir(id string) (string, bool) {
	sb := s.lookup(id)
	if sb == nil {
		return "", false
	}
	return sb.root, true
}

// Kill kills sandbox id as its expiry would: its processes are killed and
// its directory removed, and from then on its envd answers 502. It reports
// whether the sandbox was live.
func (s *Server) Kill(id string) bool {
	sb := s.lookup(id)
	if sb == nil {
		return false
	}
	if err := s.killSandbox(sb); err != nil {
		s.log.Warn("e2bfake: kill", "sandbox", id, "err", err)
	}
	return true
}

// FailCreates makes the next n sandbox creations fail with HTTP status
// (429 or 503 as E2B gives under load; any 4xx or 5xx is accepted). A
// retryAfter above zero is sent as a Retry-After header, in whole seconds.
// n = 0 clears the switch.
func (s *Server) FailCreates(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.createFailures, s.faults.createStatus, s.faults.retryAfter = n, status, retryAfter
}

// FailEnvd makes the next n requests to the sandbox host answer as the
// E2B edge does for a sandbox it cannot find: 502 with
// {"sandboxId":…,"message":"The sandbox was not found","code":502}.
func (s *Server) FailEnvd(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.envdFailures = n
}

// DropStreams makes the next n process streams (Start or Connect) break
// after afterEvents events have been sent (the start event counts): the
// connection is closed with no end event and no end-of-stream message, as
// when the network or the edge drops it. The process keeps running.
func (s *Server) DropStreams(n, afterEvents int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.dropStreams, s.faults.dropAfter = n, afterEvents
}

// SetLatency delays every answer of the control plane by api and every
// answer of the sandbox host by envd (before anything is done). Zero
// removes a delay.
func (s *Server) SetLatency(api, envd time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.apiLatency, s.faults.envdLatency = api, envd
}

// Close kills every sandbox (its processes, by process group, and its
// directory), stops serving and waits for its goroutines. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	boxes := make([]*sandbox, 0, len(s.sandboxes))
	for _, sb := range s.sandboxes {
		boxes = append(boxes, sb)
	}
	srv := s.httpSrv
	s.mu.Unlock()

	var errs []error
	for _, sb := range boxes {
		if err := s.killSandbox(sb); err != nil {
			errs = append(errs, err)
		}
	}
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		cancel()
		s.serveWG.Wait()
	}
	s.transport.CloseIdleConnections()
	s.bg.Wait()
	return errors.Join(errs...)
}

// route sends a request to the control plane or the sandbox host, by the
// listener it came in on.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && addr.String() == s.boxAddr {
		s.serveSandboxHost(w, r)
		return
	}
	s.api.ServeHTTP(w, r)
}

// wait sleeps for d unless ctx ends or the Server closes first; it reports
// whether the whole delay passed.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.closing:
	}
	return false
}

// lookup returns live sandbox id (paused included), or nil.
func (s *Server) lookup(id string) *sandbox {
	s.mu.Lock()
	sb := s.sandboxes[id]
	s.mu.Unlock()
	if sb == nil || sb.stateOf() == stateKilled {
		return nil
	}
	return sb
}

// takeFault decrements *n if positive and reports whether it was.
func takeFault(n *int) bool {
	if *n <= 0 {
		return false
	}
	*n--
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// randomID returns n characters of lowercase letters and digits.
func randomID(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
