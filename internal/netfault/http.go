package netfault

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

const (
	// maxHeaderBytes bounds the request line and headers of a client
	// request; a larger one is answered 431.
	maxHeaderBytes = 1 << 20
	// lingerTimeout bounds how long a client connection the proxy ends on
	// its own keeps being read after the proxy's FIN, so that what the
	// client still sends does not turn the proxy's last response into a
	// connection reset.
	lingerTimeout = 500 * time.Millisecond
)

// serveHTTP proxies HTTP/1.x requests from the client connection, one at a
// time, over one upstream connection made when the first request is
// forwarded. Injected errors are answered, and aborts reset the client
// connection, without touching upstream; HTTPDelay holds a response (or an
// injected answer) before it is written back. The upstream connection ends
// when the client connection does, and while the client connection is idle
// between requests an upstream close is passed on to it, as a TCP proxy
// would pass on the FIN. When the proxy itself ends the client connection
// it closes lingeringly (closeLingering), except after an abort.
//
// Limits of this version: a client that disconnects while a request is
// upstream is noticed when the response is written back; requests are
// always forwarded as HTTP/1.1; upstream response headers are not size
// limited.
func (s *session) serveHTTP() {
	log := s.p.cfg.log
	lr := &io.LimitedReader{R: s.client, N: math.MaxInt64}
	cr := bufio.NewReader(lr)
	cw := bufio.NewWriterSize(s.client, 32<<10)
	var ur *bufio.Reader
	for {
		var w *idleWatch
		if ur != nil {
			w = s.watchIdle(ur)
		}
		lr.N = maxHeaderBytes
		req, err := http.ReadRequest(cr)
		tooLarge := lr.N <= 0
		lr.N = math.MaxInt64
		upstreamGone := w != nil && w.stop()
		if err != nil {
			var ne net.Error
			switch {
			case upstreamGone:
				s.closeLingering()
			case tooLarge:
				log.Debug("netfault: request header too large", "limit", maxHeaderBytes)
				s.send(cw, ownResponse(nil, http.StatusRequestHeaderFieldsTooLarge, true, "chaoslab: request header too large\n"))
				s.closeLingering()
			case !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &ne):
				log.Debug("netfault: bad request", "err", err)
				s.send(cw, ownResponse(nil, http.StatusBadRequest, true, "chaoslab: bad request\n"))
				s.closeLingering()
			}
			return
		}
		if upstreamGone {
			ur = nil // the request reached no one yet: use a new connection
		}
		// The response's HTTPDelay is drawn as the request arrives, so
		// that draws follow arrival order.
		hold := s.p.faults.Load().httpDelay(req)
		if d, _ := s.p.faults.Load().delay(Upstream); !s.wait(d) {
			return
		}
		expect := strings.EqualFold(req.Header.Get("Expect"), "100-continue")
		if h := s.p.faults.Load().httpError(req); h != nil {
			if h.f.Abort {
				if d, _ := s.p.faults.Load().delay(Downstream); s.wait(d + hold) {
					s.resetClient()
				}
				return
			}
			// With Expect: 100-continue the client may or may not send
			// the body now: answer and close rather than guess.
			if !expect {
				if _, err := io.Copy(io.Discard, req.Body); err != nil {
					return
				}
			}
			closeConn := req.Close || expect
			if d, _ := s.p.faults.Load().delay(Downstream); !s.wait(d + hold) {
				return
			}
			resp := ownResponse(req, h.f.status(), closeConn, injectedBody)
			resp.Header.Set("X-Chaoslab-Fault", h.f.Kind())
			if !s.send(cw, resp) {
				return
			}
			if closeConn {
				s.closeLingering()
				return
			}
			continue
		}
		if expect && req.Body != http.NoBody {
			// Tell the client to go on ourselves; upstream sees no Expect.
			req.Header.Del("Expect")
			if _, err := io.WriteString(cw, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil || cw.Flush() != nil {
				return
			}
		}
		resp, newUR, err := s.roundTrip(req, ur, cw)
		if errors.Is(err, errStale) {
			s.closeLingering() // as a TCP proxy would: the client may retry
			return
		}
		if err != nil {
			if s.p.ctx.Err() != nil {
				return
			}
			log.Warn("netfault: upstream request failed", "err", err)
			s.send(cw, ownResponse(req, http.StatusBadGateway, true, "chaoslab: upstream unreachable\n"))
			s.closeLingering()
			return
		}
		ur = newUR
		if d, _ := s.p.faults.Load().delay(Downstream); !s.wait(d + hold) {
			resp.Body.Close()
			return
		}
		upgrade := resp.StatusCode == http.StatusSwitchingProtocols
		fitResponse(req, resp)
		resp.Body = flushingBody{resp.Body, ur, cw}
		err = resp.Write(writerOnly{cw})
		resp.Body.Close()
		if err != nil || cw.Flush() != nil {
			return
		}
		if upgrade {
			s.pipe(cr, ur)
			return
		}
		if req.Close || resp.Close {
			s.closeLingering()
			return
		}
	}
}

// fitResponse adapts an upstream response to a request of HTTP/1.0, which
// the proxy forwarded as HTTP/1.1: such a client cannot read a chunked body,
// so the body is sent as is and ended by closing the connection, and a
// client that asked to keep the connection alive is told it may when the
// body has a length.
func fitResponse(req *http.Request, resp *http.Response) {
	if req.ProtoAtLeast(1, 1) {
		return
	}
	switch {
	case len(resp.TransferEncoding) > 0:
		resp.TransferEncoding = nil
		resp.ContentLength = -1
		resp.Close = true
	case !req.Close && !resp.Close:
		resp.Header.Set("Connection", "keep-alive")
	}
}

// idleWatch watches an upstream connection while the session waits for
// the client's next request.
type idleWatch struct {
	s    *session
	up   net.Conn
	done chan struct{} // closed when the watching goroutine ends

	mu          sync.Mutex
	busy        bool // stop was called: leave the client alone
	gone        bool // upstream closed or sent what nobody asked for
	interrupted bool // the client's read was cut short
}

// watchIdle starts watching the session's upstream connection, which ur
// reads, until stop. If upstream closes the connection (or sends bytes no
// request asked for) before the client sends a request, the client's read
// is cut short so that the session passes the close on.
func (s *session) watchIdle(ur *bufio.Reader) *idleWatch {
	s.mu.Lock()
	up := s.up
	s.mu.Unlock()
	w := &idleWatch{s: s, up: up, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		_, err := ur.Peek(1)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return // stopped
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		w.gone = true
		if !w.busy {
			w.interrupted = true
			s.client.SetReadDeadline(time.Unix(1, 0))
		}
	}()
	return w
}

// stop ends the watch and reports whether the upstream connection is gone.
// It undoes the cut-short read, so a request that was read in full can be
// served on a new upstream connection.
func (w *idleWatch) stop() (gone bool) {
	w.mu.Lock()
	w.busy = true
	w.mu.Unlock()
	w.up.SetReadDeadline(time.Unix(1, 0))
	<-w.done
	w.up.SetReadDeadline(time.Time{})
	if w.interrupted {
		w.s.client.SetReadDeadline(time.Time{})
	}
	return w.gone
}

// resetClient makes the session end the client connection with a TCP
// reset rather than a FIN when it closes it, which serve does once
// serveHTTP returns. What the proxy wrote before has been flushed; the
// reset may still discard it if the client has not read it yet.
func (s *session) resetClient() {
	if c, ok := s.client.(interface{ SetLinger(sec int) error }); ok {
		c.SetLinger(0)
	}
}

// closeLingering sends the client a FIN, then reads and discards what the
// client still sends, until it closes or lingerTimeout passes, so that an
// unread request body does not make the kernel answer with a reset that
// could destroy the proxy's last response before the client reads it. The
// session's abort closes the connection afterwards.
func (s *session) closeLingering() {
	if cw, ok := s.client.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	s.client.SetReadDeadline(time.Now().Add(lingerTimeout))
	io.Copy(io.Discard, s.client)
}

// roundTrip forwards req upstream and reads the final response, passing
// interim (1xx) responses to cw. ur reads the current upstream connection,
// nil when there is none. When a reused connection fails before a response,
// an idempotent request without a body is retried once on a new connection;
// other requests fail with errStale.
func (s *session) roundTrip(req *http.Request, ur *bufio.Reader, cw *bufio.Writer) (*http.Response, *bufio.Reader, error) {
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header["User-Agent"] = []string{""} // do not add Go's
	}
	for attempt := 0; ; attempt++ {
		reused := ur != nil
		if ur == nil {
			up, err := s.dialUpstream()
			if err != nil {
				return nil, nil, err
			}
			ur = bufio.NewReader(up)
		}
		s.mu.Lock()
		up := s.up
		s.mu.Unlock()
		resp, err := s.exchange(req, up, ur, cw)
		if err == nil {
			return resp, ur, nil
		}
		switch {
		case !reused || s.p.ctx.Err() != nil:
			return nil, nil, err
		case attempt > 0 || req.Body != http.NoBody || !idempotent[req.Method]:
			return nil, nil, fmt.Errorf("%w: %w", errStale, err)
		}
		ur = nil
	}
}

// errStale: a kept-alive upstream connection failed before it answered.
var errStale = errors.New("netfault: upstream connection closed before answering")

var idempotent = map[string]bool{"GET": true, "HEAD": true, "OPTIONS": true, "TRACE": true}

func (s *session) exchange(req *http.Request, up net.Conn, ur *bufio.Reader, cw *bufio.Writer) (*http.Response, error) {
	if err := req.Write(up); err != nil {
		return nil, fmt.Errorf("netfault: write request upstream: %w", err)
	}
	for {
		resp, err := http.ReadResponse(ur, req)
		if err != nil {
			return nil, fmt.Errorf("netfault: read response from upstream: %w", err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
		// Interim response such as 103 Early Hints: pass it on.
		fmt.Fprintf(cw, "HTTP/%d.%d %s\r\n", resp.ProtoMajor, resp.ProtoMinor, resp.Status)
		resp.Header.Write(cw)
		io.WriteString(cw, "\r\n")
		if err := cw.Flush(); err != nil {
			return nil, err
		}
	}
}

// send writes a response of the proxy's own; it reports whether that
// worked.
func (s *session) send(cw *bufio.Writer, resp *http.Response) bool {
	return resp.Write(cw) == nil && cw.Flush() == nil
}

// ownResponse is an answer of the proxy's own to req (nil for a request that
// could not be read). close asks the client to close the connection.
func ownResponse(req *http.Request, status int, close bool, body string) *http.Response {
	if req == nil {
		req = &http.Request{Method: http.MethodGet, ProtoMajor: 1, ProtoMinor: 1}
	}
	resp := &http.Response{
		StatusCode: status,
		ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
		Close:   close,
		Request: req,
	}
	if !close && !req.ProtoAtLeast(1, 1) {
		resp.Header.Set("Connection", "keep-alive")
	}
	if bodyAllowed(status) {
		resp.ContentLength = int64(len(body))
		resp.Body = io.NopCloser(strings.NewReader(body))
	}
	return resp
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// writerOnly hides bufio.Writer's ReadFrom, so that body copies go through
// Read calls that flushingBody can flush before.
type writerOnly struct{ io.Writer }

// flushingBody flushes the client writer before a read of the upstream body
// may block, so streamed responses reach the client as they come while small
// responses leave in one write.
type flushingBody struct {
	io.ReadCloser
	ur *bufio.Reader
	cw *bufio.Writer
}

func (b flushingBody) Read(p []byte) (int, error) {
	if b.ur.Buffered() == 0 {
		if err := b.cw.Flush(); err != nil {
			return 0, err
		}
	}
	return b.ReadCloser.Read(p)
}
