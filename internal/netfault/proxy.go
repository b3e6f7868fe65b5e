// Package netfault is chaoslab's fault proxy: it listens on a loopback
// address, forwards every connection to one upstream host:port and applies
// faults to the traffic it forwards: latency (TCP and HTTP), injected HTTP
// error responses (HTTP mode), and the stream faults of TCP mode (see
// Share): bandwidth limits, lost (reset or stalled) connections,
// partitions, timeouts, data limits and slicing.
//
// Faults are added and removed while the proxy runs; a change takes effect on
// the data that arrives after it, on existing connections too, and removing a
// fault never closes a connection by itself.
//
// In TCP mode each direction of a connection has a loop that waits for data
// without holding a buffer, so an idle connection costs two parked
// goroutines and no buffer. While no fault acts on a direction, the loop
// moves what arrives straight to the other side: on Linux with splice(2)
// through a pooled kernel pipe (no copy through user space; small
// request-response exchanges use read and write, which is cheaper for
// them), elsewhere through a pooled buffer. The fault set is checked each
// time data arrives, so a connection sees a fault added later at its next
// byte. While a latency fault acts on a direction, chunks go through a
// bounded queue to a writer goroutine, started on the first queued chunk,
// that releases each one at its arrival time plus the delay (slept
// precisely: see sleepUntil), so reading goes on while earlier chunks
// wait. While a stream fault is added, each chunk read is first passed
// through the stream faults' rules (stream.go), which may split it, pace
// it, hold it until the fault set changes, or end the connection. A client
// whose upstream cannot be reached is reset, as it would be by a refused
// connection.
//
// In HTTP mode (WithHTTP) the proxy reads one HTTP/1.x request at a time
// from each client connection (request headers up to 1 MiB; larger ones are
// answered 431), answers it itself when an HTTPError fires (or, with
// Abort, resets the client connection), and otherwise forwards it over an
// upstream connection of its own for that client connection and writes the
// response back. Latency delays whole requests and responses there, and
// HTTPDelay the responses to some requests. HTTP faults act on the requests
// their HTTPMatch (method, path prefix) matches. When upstream closes an
// idle connection, the client connection is closed too, as a TCP proxy
// would. Connections the proxy ends itself, after an answer of its own
// such as 502, are closed lingeringly, so that a client still sending a
// body reads the answer rather than a connection reset. A 101 Switching
// Protocols response turns the connection into a TCP tunnel.
package netfault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// Proxy forwards connections from a loopback listener to an upstream
// host:port, applying faults. Its methods are safe for concurrent use.
type Proxy struct {
	upstream string
	cfg      config

	faultMu sync.Mutex // serialises changes to faults
	faults  atomic.Pointer[faultSet]

	// queued counts the bytes held in the delay queues of all connections;
	// Close reports how many it dropped.
	queued atomic.Int64

	bufs  sync.Pool     // *[]byte read buffers of readBufSize
	pipes pipePool      // kernel pipes for splice (Linux)
	fine  chan struct{} // tokens for precise sleeps (sleepUntil)

	ctx    context.Context // cancelled by Close; bounds upstream dials
	cancel context.CancelFunc

	mu       sync.Mutex
	started  bool
	closed   bool
	ln       net.Listener
	sessions map[*session]struct{}
	wg       sync.WaitGroup
	closeErr error
}

type config struct {
	listen string
	http   bool
	log    *slog.Logger
}

// Option configures a Proxy made by New.
type Option func(*config)

// WithListen sets the address the proxy listens on; the default is
// "127.0.0.1:0" (a free loopback port).
func WithListen(addr string) Option { return func(c *config) { c.listen = addr } }

// WithHTTP makes the proxy parse HTTP/1.1 on its connections, which HTTP
// faults such as HTTPError need.
func WithHTTP() Option { return func(c *config) { c.http = true } }

// WithLogger sets the logger; by default the proxy logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// dialTimeout bounds each upstream dial.
const dialTimeout = 10 * time.Second

// New returns a proxy to upstream (a host:port). It does no I/O; Start binds
// the listener.
func New(upstream string, opts ...Option) *Proxy {
	cfg := config{listen: "127.0.0.1:0", log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{upstream: upstream, cfg: cfg, ctx: ctx, cancel: cancel, sessions: map[*session]struct{}{},
		fine: make(chan struct{}, maxFineSleepers)}
	p.faults.Store(newFaultSet(nil, 0))
	return p
}

// Start binds the listener and starts accepting connections in the
// background. ctx bounds only the start, not the proxy's life: Close ends
// the proxy. Start may be called once; a proxy that was closed cannot start.
func (p *Proxy) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return fmt.Errorf("netfault: start proxy to %s: %w", p.upstream, net.ErrClosed)
	case p.started:
		return fmt.Errorf("netfault: proxy to %s already started", p.upstream)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", p.cfg.listen)
	if err != nil {
		return fmt.Errorf("netfault: listen for proxy to %s: %w", p.upstream, err)
	}
	p.started, p.ln = true, ln
	p.wg.Go(p.accept)
	p.cfg.log.Info("netfault: proxy started", "addr", ln.Addr().String(), "upstream", p.upstream, "http", p.cfg.http)
	return nil
}

// Addr returns the address clients connect to, such as "127.0.0.1:40123",
// or "" before Start.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return ""
	}
	return p.ln.Addr().String()
}

// Upstream returns the host:port the proxy forwards to.
func (p *Proxy) Upstream() string { return p.upstream }

// HTTP reports whether the proxy runs in HTTP mode (WithHTTP).
func (p *Proxy) HTTP() bool { return p.cfg.http }

// Apply adds f to the proxy and returns how to remove it. It returns an
// error, and adds nothing, when f has invalid values (the error wraps
// chaoslab.ErrInvalid) or cannot act on this proxy: an HTTP fault on a
// TCP-mode proxy is an error that wraps chaoslab.ErrUnsupported. remove is
// idempotent and never closes a connection by itself.
func (p *Proxy) Apply(f Fault) (remove func(), err error) {
	if isNil(f) {
		return nil, fmt.Errorf("netfault: nil fault: %w", chaoslab.ErrInvalid)
	}
	a, err := f.activate(p.cfg.http)
	if err != nil {
		return nil, fmt.Errorf("netfault: proxy to %s: %w", p.upstream, err)
	}
	p.change(func(s *faultSet) *faultSet { return s.with(a) })
	p.cfg.log.Info("netfault: fault added", "upstream", p.upstream, "fault", f)
	var once sync.Once
	return func() {
		once.Do(func() {
			p.change(func(s *faultSet) *faultSet { return s.without(a) })
			p.cfg.log.Info("netfault: fault removed", "upstream", p.upstream, "fault", f)
		})
	}, nil
}

// change replaces the fault set with edit's result, wakes connections
// waiting for a change and, when stream faults are or were in the set, lets
// every open connection catch up with it (so a reset or a timeout starts at
// once on existing connections). It does not block on traffic.
func (p *Proxy) change(edit func(*faultSet) *faultSet) {
	p.faultMu.Lock()
	defer p.faultMu.Unlock()
	old := p.faults.Load()
	set := edit(old)
	p.faults.Store(set)
	close(old.changed)
	if len(old.stream) == 0 && len(set.stream) == 0 {
		return
	}
	p.mu.Lock()
	open := make([]*session, 0, len(p.sessions))
	for s := range p.sessions {
		open = append(open, s)
	}
	p.mu.Unlock()
	for _, s := range open {
		s.act(s.refresh(set))
	}
}

// Close stops the listener, closes every connection and waits until all the
// proxy's goroutines have ended. It is idempotent; later calls return the
// first call's result.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return p.closeErr
	}
	p.closed = true
	p.cancel()
	if p.ln != nil {
		if err := p.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			p.closeErr = fmt.Errorf("netfault: close listener: %w", err)
		}
	}
	open := make([]*session, 0, len(p.sessions))
	for s := range p.sessions {
		open = append(open, s)
	}
	p.mu.Unlock()
	dropped := p.queued.Load()
	for _, s := range open {
		s.abort()
	}
	p.wg.Wait()
	p.pipes.close()
	p.cfg.log.Info("netfault: proxy closed", "upstream", p.upstream, "delayed_bytes_dropped", dropped)
	return p.closeErr
}

func isNil(f Fault) bool {
	switch v := f.(type) {
	case nil:
		return true
	case *Latency:
		return v == nil
	case *HTTPError:
		return v == nil
	case *HTTPDelay:
		return v == nil
	case *Bandwidth:
		return v == nil
	case *Loss:
		return v == nil
	case *Partition:
		return v == nil
	case *Timeout:
		return v == nil
	case *LimitData:
		return v == nil
	case *Slicer:
		return v == nil
	}
	return false
}

func (p *Proxy) accept() {
	backoff := time.Duration(0)
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			if p.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors or similar: wait and retry.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			p.cfg.log.Warn("netfault: accept", "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-p.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		s := &session{p: p, client: conn, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			conn.Close()
			return
		}
		p.sessions[s] = struct{}{}
		p.wg.Go(s.serve)
		p.mu.Unlock()
	}
}

func (p *Proxy) forget(s *session) {
	p.mu.Lock()
	delete(p.sessions, s)
	p.mu.Unlock()
}

// dial opens a fresh upstream connection for s.
func (p *Proxy) dial() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(p.ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", p.upstream)
	if err != nil {
		return nil, fmt.Errorf("netfault: dial upstream %s: %w", p.upstream, err)
	}
	return c, nil
}

// session is one client connection and the upstream connection made for it.
type session struct {
	p      *Proxy
	client net.Conn
	done   chan struct{} // closed by abort

	mu     sync.Mutex
	up     net.Conn
	closed bool

	// The state of the stream faults on this connection (stream.go).
	fmu   sync.Mutex
	seen  uint64 // generation of the fault set last caught up with
	conns map[*streamFault]*connFault
}

func (s *session) serve() {
	defer s.p.forget(s)
	defer s.abort()
	log := s.p.cfg.log
	log.Debug("netfault: connection opened", "client", s.client.RemoteAddr().String())
	defer log.Debug("netfault: connection closed", "client", s.client.RemoteAddr().String())
	if s.p.cfg.http {
		s.serveHTTP()
		return
	}
	if !s.admit() {
		return
	}
	up, err := s.dialUpstream()
	if err != nil {
		// Reset the client connection, which is what it would have seen
		// without the proxy (a refused connection) rather than a clean
		// end of stream.
		if tc, ok := s.client.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		return
	}
	s.pipe(s.client, up)
}

// dialUpstream dials and records a new upstream connection, closing the
// previous one; it logs failures.
func (s *session) dialUpstream() (net.Conn, error) {
	up, err := s.p.dial()
	if err != nil {
		if s.p.ctx.Err() == nil {
			s.p.cfg.log.Warn("netfault: upstream unreachable", "err", err)
		}
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		up.Close()
		return nil, net.ErrClosed
	}
	if s.up != nil {
		s.up.Close()
	}
	s.up = up
	return up, nil
}

// abort closes both connections, which ends every goroutine of the session.
// It is idempotent.
func (s *session) abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.done)
	s.stopFaults()
	s.client.Close()
	if s.up != nil {
		s.up.Close()
	}
}

// wait blocks for d or until the session is aborted; it reports whether the
// session is still open.
func (s *session) wait(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}
