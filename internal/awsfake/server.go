package awsfake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"
)

// Sentinel errors of the server's life cycle.
var (
	// ErrStarted is returned by Start on a server already started.
	ErrStarted = errors.New("awsfake: server already started")
	// ErrClosed is returned by Start on a closed server.
	ErrClosed = errors.New("awsfake: server closed")
)

// maxBody caps a request body; query requests are small.
const maxBody = 1 << 20

// Option configures a Server.
type Option func(*config)

type config struct {
	clock     Clock
	pending   time.Duration
	terminate time.Duration
	retention time.Duration
	region    string
	seed      uint64
	accessKey string
	secretKey string
	logger    *slog.Logger
}

// WithClock sets the clock that drives the simulation (default: the wall
// clock). A ManualClock makes the simulation move only when the test says.
func WithClock(c Clock) Option { return func(o *config) { o.clock = c } }

// WithPendingFor sets how long a launched instance stays Pending (EC2
// pending) before it goes InService (running); default 1 s.
func WithPendingFor(d time.Duration) Option { return func(o *config) { o.pending = d } }

// WithTerminateFor sets how long a terminated instance stays Terminating
// (EC2 shutting-down) before it leaves its group (terminated); default 1 s.
func WithTerminateFor(d time.Duration) Option { return func(o *config) { o.terminate = d } }

// WithTerminatedRetention sets how long terminated instances stay visible
// to DescribeInstances; default 1 h, as on EC2.
func WithTerminatedRetention(d time.Duration) Option { return func(o *config) { o.retention = d } }

// WithRegion sets the region used in ARNs and default zone names; default
// us-east-1. Requests signed for any region are served.
func WithRegion(r string) Option { return func(o *config) { o.region = r } }

// WithSeed seeds the generator of instance, activity and request ids, which
// are the same on every run with the same seed; default 1.
func WithSeed(seed uint64) Option { return func(o *config) { o.seed = seed } }

// WithCredentials makes the server verify each request's SigV4 signature
// against these credentials; without it only the signature's form is
// checked.
func WithCredentials(accessKeyID, secretAccessKey string) Option {
	return func(o *config) { o.accessKey, o.secretKey = accessKeyID, secretAccessKey }
}

// WithLogger sets where each request is logged, at debug level; default:
// nowhere.
func WithLogger(l *slog.Logger) Option { return func(o *config) { o.logger = l } }

// Server is the fake endpoint of both services. Its methods are safe for
// concurrent use.
type Server struct {
	cfg    config
	world  *world
	faults faults

	mu      sync.Mutex
	srv     *http.Server
	ln      net.Listener
	url     string
	served  chan struct{} // closed when Serve returns
	closing chan struct{} // closed by Close: ends delays
	closed  bool
}

// New returns a Server with no groups. It does no I/O: call Start.
func New(opts ...Option) *Server {
	cfg := config{
		clock:     wallClock{},
		pending:   time.Second,
		terminate: time.Second,
		retention: time.Hour,
		region:    "us-east-1",
		seed:      1,
		logger:    slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&cfg)
	}
	return &Server{
		cfg: cfg,
		world: &world{
			clock:     cfg.clock,
			rng:       rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15)),
			region:    cfg.region,
			pending:   cfg.pending,
			terminate: cfg.terminate,
			retention: cfg.retention,
			groups:    map[string]*group{},
			instances: map[string]*instance{},
		},
		faults:  faults{throttle: map[string]int{}, fail: map[string][]failure{}, delay: map[string]time.Duration{}, calls: map[string]int{}},
		closing: make(chan struct{}),
	}
}

// Start listens on 127.0.0.1 on a free port and serves until Close. ctx
// bounds only the start.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.srv != nil:
		return ErrStarted
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("awsfake: listen: %w", err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln) // returns ErrServerClosed after Close
	}()
	return nil
}

// URL is the endpoint to give the SDK (AWS_ENDPOINT_URL or BaseEndpoint),
// such as http://127.0.0.1:41234; "" before Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Close stops the server: slow calls in progress end at once, every
// connection is closed and every goroutine of the server has returned
// when it returns. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	srv, served := s.srv, s.served
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(ctx) // waits for the handlers, which the closing channel has woken
	if err != nil {
		err = errors.Join(err, srv.Close())
	}
	<-served
	if err != nil {
		return fmt.Errorf("awsfake: close: %w", err)
	}
	return nil
}

// Default credentials Env hands out when the server has none of its own.
const (
	DefaultAccessKeyID     = "AKIAAWSFAKE000000000"
	DefaultSecretAccessKey = "awsfake-secret-access-key"
)

// Env returns the environment (KEY=value) that points a process using the
// standard AWS configuration chain at the server: AWS_ENDPOINT_URL, the
// region, static credentials (those of WithCredentials, or the defaults),
// no shared config files and no instance metadata. Call it after Start.
func (s *Server) Env() []string {
	key, secret := s.cfg.accessKey, s.cfg.secretKey
	if secret == "" {
		key, secret = DefaultAccessKeyID, DefaultSecretAccessKey
	}
	return []string{
		"AWS_ENDPOINT_URL=" + s.URL(),
		"AWS_REGION=" + s.cfg.region,
		"AWS_ACCESS_KEY_ID=" + key,
		"AWS_SECRET_ACCESS_KEY=" + secret,
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// AddGroup seeds an Auto Scaling group whose Desired instances are
// InService at once. It returns ErrGroupExists or ErrInvalidGroup (wrapped)
// on a bad config.
func (s *Server) AddGroup(cfg GroupConfig) error { return s.world.addGroup(cfg) }

// Group returns a snapshot of the named group at the clock's current time.
func (s *Server) Group(name string) (GroupStatus, bool) {
	var (
		st GroupStatus
		ok bool
	)
	s.world.do(func(time.Time) {
		var g *group
		if g, ok = s.world.groups[name]; ok {
			st = g.status()
		}
	})
	return st, ok
}

// History returns every event of the named group so far, in time order.
func (s *Server) History(group string) []Event {
	var out []Event
	s.world.do(func(time.Time) {
		if g, ok := s.world.groups[group]; ok {
			out = append(out, g.events...)
		}
	})
	return out
}

// Recoveries returns every span during which the named group had fewer
// InService and Healthy instances than desired, the last one possibly
// still open (zero End).
func (s *Server) Recoveries(group string) []Recovery {
	var out []Recovery
	s.world.do(func(time.Time) {
		if g, ok := s.world.groups[group]; ok {
			out = append(out, g.recoveries...)
		}
	})
	return out
}

// LastRecovery returns how long the named group's last completed recovery
// took, from the first instance leaving service to the last replacement
// going InService; false if none has completed.
func (s *Server) LastRecovery(group string) (time.Duration, bool) {
	rs := s.Recoveries(group)
	for i := len(rs) - 1; i >= 0; i-- {
		if !rs[i].End.IsZero() {
			return rs[i].Duration(), true
		}
	}
	return 0, false
}

// TerminateInstance terminates an instance from outside both APIs, the way
// a spot interruption or a host failure would: EC2 shuts it down and its
// group's health check then replaces it. It reports whether the instance
// was running or pending.
func (s *Server) TerminateInstance(id string) bool {
	var ok bool
	s.world.do(func(now time.Time) {
		in := s.world.instances[id]
		if in == nil || (in.state != statePending && in.state != stateRunning) {
			return
		}
		ok = true
		s.world.ec2Terminate(in, now)
	})
	return ok
}

// ServeHTTP serves one query request of either service.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := s.requestID()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeQueryError(w, apiErr(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "request body over %d bytes", maxBody), reqID)
		return
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		writeQueryError(w, apiErr(http.StatusBadRequest, "MalformedQueryString", "%v", err), reqID)
		return
	}
	f := form(values)
	svc, apiE := s.route(r, f)
	if apiE != nil {
		svc.writeError(w, apiE, reqID)
		return
	}
	action := f.get("Action")
	s.cfg.logger.Debug("awsfake request", "service", svc.name, "action", action, "request_id", reqID)
	if r.Method != http.MethodPost {
		svc.writeError(w, apiErr(http.StatusMethodNotAllowed, "InvalidHttpRequest", "the fake serves POST requests only"), reqID)
		return
	}
	if apiE := s.authenticate(r, body, svc); apiE != nil {
		svc.writeError(w, apiE, reqID)
		return
	}
	if apiE := s.injectFaults(r.Context(), action, svc); apiE != nil {
		svc.writeError(w, apiE, reqID)
		return
	}
	handler, ok := svc.actions[action]
	if !ok {
		svc.writeError(w, svc.invalidAction(action), reqID)
		return
	}
	if err := handler(s, w, f, reqID); err != nil {
		s.cfg.logger.Error("awsfake: writing response", "action", action, "err", err)
	}
}

// requestID returns a fresh request id.
func (s *Server) requestID() string {
	s.world.mu.Lock()
	defer s.world.mu.Unlock()
	return s.world.uuid()
}

// route finds the service a request is for.
func (s *Server) route(r *http.Request, f form) (*service, *APIError) {
	version := f.get("Version")
	byVersion := serviceByVersion(version)
	scope := ""
	if a, err := parseAuthorization(r.Header.Get("Authorization")); err == nil {
		scope = a.service
	}
	svc := byVersion
	if scope != "" {
		svc = serviceByName(scope)
		if svc == nil {
			return asgService, apiErr(http.StatusBadRequest, "InvalidAction", "the fake serves only the autoscaling and ec2 services, not %q", scope)
		}
	}
	if svc == nil {
		if version == "" {
			return asgService, apiErr(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter Version")
		}
		return asgService, apiErr(http.StatusBadRequest, "NoSuchVersion", "The requested version (%s) of service is not known", version)
	}
	if f.get("Action") == "" {
		return svc, apiErr(http.StatusBadRequest, "MissingAction", "The request must contain the parameter Action")
	}
	if version == "" {
		return svc, apiErr(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter Version")
	}
	if version != svc.version {
		return svc, apiErr(http.StatusBadRequest, "NoSuchVersion", "The requested version (%s) of service %s does not exist", version, svc.title)
	}
	return svc, nil
}

// service is one of the two APIs the fake serves.
type service struct {
	name, title, version string
	actions              map[string]handlerFunc
	writeError           func(http.ResponseWriter, *APIError, string)
	invalidAction        func(action string) *APIError
	throttled            func() *APIError
	authError            func(code, msg string) *APIError
}

// handlerFunc serves one action; it returns only errors of writing.
type handlerFunc func(s *Server, w http.ResponseWriter, f form, reqID string) error

func serviceByVersion(v string) *service {
	switch v {
	case asgVersion:
		return asgService
	case ec2Version:
		return ec2Service
	}
	return nil
}

func serviceByName(n string) *service {
	switch n {
	case "autoscaling":
		return asgService
	case "ec2":
		return ec2Service
	}
	return nil
}

// faults holds the injected faults and the call counts.
type faults struct {
	mu       sync.Mutex
	throttle map[string]int
	fail     map[string][]failure
	delay    map[string]time.Duration
	calls    map[string]int
}

type failure struct {
	n   int
	err APIError
}

// Throttle makes the next n calls of action (an Action name such as
// "DescribeAutoScalingGroups"; "" for any action) fail with the service's
// throttling error: Auto Scaling's Throttling (400, "Rate exceeded") or
// EC2's RequestLimitExceeded (503). The SDK's retryer retries both.
// Throttles add up; n <= 0 clears them.
func (s *Server) Throttle(action string, n int) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if n <= 0 {
		delete(s.faults.throttle, action)
		return
	}
	s.faults.throttle[action] += n
}

// FailNext makes the next n calls of action ("" for any) fail with err,
// written in the error XML of the service called. Failures queue up after
// each other.
func (s *Server) FailNext(action string, n int, err APIError) {
	if n <= 0 {
		return
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.fail[action] = append(s.faults.fail[action], failure{n: n, err: err})
}

// SetDelay makes every call of action ("" for any) wait d before it is
// answered (or failed by a fault); 0 removes the delay. A delayed call ends
// early if its client goes away or the server closes.
func (s *Server) SetDelay(action string, d time.Duration) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if d <= 0 {
		delete(s.faults.delay, action)
		return
	}
	s.faults.delay[action] = d
}

// Calls returns how many requests for action ("" for all) reached the
// server after authentication, throttled and failed ones included.
func (s *Server) Calls(action string) int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.calls[action]
}

// injectFaults counts the call, waits out its delay and returns the fault
// it must fail with, if any.
func (s *Server) injectFaults(ctx context.Context, action string, svc *service) *APIError {
	f := &s.faults
	f.mu.Lock()
	f.calls[action]++
	f.calls[""]++
	d := max(f.delay[action], f.delay[""])
	f.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return apiErr(http.StatusServiceUnavailable, "ServiceUnavailable", "client went away")
		case <-s.closing:
			return apiErr(http.StatusServiceUnavailable, "ServiceUnavailable", "server closing")
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, key := range []string{action, ""} {
		if f.throttle[key] > 0 {
			f.throttle[key]--
			return svc.throttled()
		}
	}
	for _, key := range []string{action, ""} {
		if q := f.fail[key]; len(q) > 0 {
			e := q[0].err
			if q[0].n--; q[0].n == 0 {
				f.fail[key] = q[1:]
			}
			return &e
		}
	}
	return nil
}
