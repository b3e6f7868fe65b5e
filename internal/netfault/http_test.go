package netfault

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// httpUpstream is a test server that counts requests and connections.
type httpUpstream struct {
	*httptest.Server
	hits, conns atomic.Int64
}

func newHTTPUpstream(t *testing.T, h http.Handler) *httpUpstream {
	u := &httpUpstream{}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		h.ServeHTTP(w, r)
	}))
	u.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.conns.Add(1)
		}
	}
	u.Start()
	t.Cleanup(u.Close)
	return u
}

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})
}

// client is an HTTP client whose idle connections close with the test; it
// counts the connections it reuses.
type client struct {
	*http.Client
	base   string
	reused atomic.Int64
}

func newClient(t *testing.T, p *Proxy) *client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{Client: &http.Client{Transport: tr, Timeout: 10 * time.Second}, base: "http://" + p.Addr()}
}

// do sends a request and returns the status and body.
func (c *client) do(t *testing.T, method, path string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, c.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) {
			if i.Reused {
				c.reused.Add(1)
			}
		},
	}))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestHTTPErrorsAll(t *testing.T) {
	up := newHTTPUpstream(t, okHandler())
	p := startProxy(t, up.Listener.Addr().String(), WithHTTP())
	apply(t, p, HTTPError{Rate: 1, Status: 503})
	c := newClient(t, p)
	for i := range 20 {
		method, body := "GET", io.Reader(nil)
		if i%2 == 1 {
			method, body = "POST", strings.NewReader("payload")
		}
		code, b := c.do(t, method, "/", body)
		if code != 503 || b != injectedBody {
			t.Fatalf("request %d: %d %q, want 503 %q", i, code, b, injectedBody)
		}
	}
	if n := up.hits.Load(); n != 0 {
		t.Fatalf("upstream saw %d requests, want 0", n)
	}
	if n := c.reused.Load(); n != 19 {
		t.Fatalf("client reused its connection %d times, want 19", n)
	}
}

// codes sends n GET requests through a new proxy with f and returns the
// statuses.
func codes(t *testing.T, f Fault, n int) []int {
	up := newHTTPUpstream(t, okHandler())
	p := startProxy(t, up.Listener.Addr().String(), WithHTTP())
	apply(t, p, f)
	c := newClient(t, p)
	out := make([]int, n)
	for i := range out {
		out[i], _ = c.do(t, "GET", "/", nil)
	}
	if up.conns.Load() != 1 {
		t.Errorf("upstream saw %d connections, want 1", up.conns.Load())
	}
	return out
}

func TestHTTPErrorsRateAndReplay(t *testing.T) {
	f := HTTPError{Rate: 0.5, Status: 500, Seed: 42}
	a := codes(t, f, 200)
	failed := 0
	for _, c := range a {
		if c == 500 {
			failed++
		} else if c != 200 {
			t.Fatalf("unexpected status %d", c)
		}
	}
	t.Logf("%d of 200 requests failed", failed)
	if failed < 60 || failed > 140 {
		t.Fatalf("%d of 200 requests failed, want 30%% to 70%%", failed)
	}
	b := codes(t, f, 200)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("the same seed gave a different sequence")
	}
}

func TestHTTPErrorsRemovedKeepAlive(t *testing.T) {
	up := newHTTPUpstream(t, okHandler())
	p := startProxy(t, up.Listener.Addr().String(), WithHTTP())
	c := newClient(t, p)
	if code, b := c.do(t, "GET", "/", nil); code != 200 || b != "ok" {
		t.Fatalf("before fault: %d %q", code, b)
	}
	remove := apply(t, p, HTTPError{Rate: 1})
	for range 5 {
		if code, _ := c.do(t, "GET", "/", nil); code != 503 {
			t.Fatalf("with fault: %d", code)
		}
	}
	remove()
	for range 5 {
		if code, b := c.do(t, "POST", "/", strings.NewReader("x")); code != 200 || b != "ok" {
			t.Fatalf("after removal: %d %q", code, b)
		}
	}
	if n := c.reused.Load(); n != 10 {
		t.Fatalf("client reused its connection %d times, want 10", n)
	}
	if n := up.conns.Load(); n != 1 {
		t.Fatalf("upstream saw %d connections, want 1", n)
	}
}

func TestHTTPStreamingBothWays(t *testing.T) {
	next := make(chan struct{})
	up := newHTTPUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/echo" {
			b, _ := io.ReadAll(r.Body)
			w.Write(b)
			return
		}
		io.WriteString(w, "one\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "two\n")
	}))
	p := startProxy(t, up.Listener.Addr().String(), WithHTTP())
	c := newClient(t, p)

	// A chunked request body.
	pr, pw := io.Pipe()
	go func() {
		for i := range 100 {
			fmt.Fprintf(pw, "line %d\n", i)
		}
		pw.Close()
	}()
	code, body := c.do(t, "POST", "/echo", pr)
	if code != 200 || strings.Count(body, "\n") != 100 || !strings.HasPrefix(body, "line 0\nline 1\n") {
		t.Fatalf("chunked echo: %d, %d bytes", code, len(body))
	}

	// A streamed response: "one" must arrive before "two" is written.
	req, _ := http.NewRequestWithContext(ctxTimeout(t, 5*time.Second), "GET", c.base+"/stream", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "one\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(next)
	if line, err := br.ReadString('\n'); err != nil || line != "two\n" {
		t.Fatalf("second line %q, %v", line, err)
	}
}

func TestHTTPLatency(t *testing.T) {
	up := newHTTPUpstream(t, okHandler())
	p := startProxy(t, up.Listener.Addr().String(), WithHTTP())
	c := newClient(t, p)
	c.do(t, "GET", "/", nil) // connect
	// medianGet is the median time of 5 GET requests.
	medianGet := func() time.Duration {
		ds := make([]time.Duration, 5)
		for i := range ds {
			start := time.Now()
			if code, _ := c.do(t, "GET", "/", nil); code != 200 {
				t.Fatalf("status %d", code)
			}
			ds[i] = time.Since(start)
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	for _, dir := range []Direction{Upstream, Downstream} {
		remove := apply(t, p, Latency{Latency: 100 * time.Millisecond, Direction: dir})
		el := medianGet()
		remove()
		if el < 95*time.Millisecond || el > 250*time.Millisecond {
			t.Fatalf("%v: median request took %v, want 95ms to 250ms", dir, el)
		}
	}
	if el := medianGet(); el > 50*time.Millisecond {
		t.Fatalf("after removal the median request took %v, want < 50ms", el)
	}
}

func TestHTTPUpstreamDownIs502(t *testing.T) {
	p := startProxy(t, downAddr(t), WithHTTP())
	if code, _ := newClient(t, p).do(t, "GET", "/", nil); code != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", code)
	}
}

// A client still sending a large body when the proxy answers 502 reads the
// answer, not a connection reset.
func TestHTTPUpstreamDownIs502ForLargePost(t *testing.T) {
	p := startProxy(t, downAddr(t), WithHTTP())
	body := make([]byte, 4<<20)
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	const tries = 20
	got502 := 0
	var errs []string
	for range tries {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", "http://"+p.Addr()+"/", bytes.NewReader(body))
		resp, err := hc.Do(req)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusBadGateway {
			got502++
		}
	}
	if got502 < tries-1 {
		t.Fatalf("%d of %d POSTs of 4 MiB got 502; errors: %q", got502, tries, errs)
	}
}

func TestHTTPUpgradeTunnels(t *testing.T) {
	up := newHTTPUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		io.Copy(conn, brw)
	}))
	p := startProxy(t, up.Listener.Addr().String(), WithHTTP())
	apply(t, p, Latency{Latency: 50 * time.Millisecond})
	c := dial(t, p.Addr())
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	start := time.Now()
	io.WriteString(c, "raw bytes")
	got := make([]byte, 9)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "raw bytes" {
		t.Fatalf("tunnel echo %q, %v", got, err)
	}
	if el := time.Since(start); el < 45*time.Millisecond {
		t.Fatalf("tunnel round trip %v, want latency applied", el)
	}
}

func TestHTTPRetriesWhenUpstreamClosesAsRequestArrives(t *testing.T) {
	// An upstream that answers the first request on each connection and
	// closes the connection, unanswered, when a second request arrives: an
	// idle close that crosses the request.
	var posts atomic.Int64
	addr := serveTCP(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil || i > 0 {
				return
			}
			if req.Method == "POST" {
				posts.Add(1)
			}
			io.Copy(io.Discard, req.Body)
			body := req.Method[:2]
			if req.Method == "HEAD" {
				body = ""
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"+body)
		}
	})
	p := startProxy(t, addr, WithHTTP())
	c := newClient(t, p)
	for i := range 3 {
		if code, b := c.do(t, "GET", "/", nil); code != 200 || b != "GE" {
			t.Fatalf("request %d: %d %q", i, code, b)
		}
	}
	if code, b := c.do(t, "HEAD", "/", nil); code != 200 || b != "" {
		t.Fatalf("HEAD: %d %q", code, b)
	}
	if c.reused.Load() != 3 {
		t.Fatalf("client reused its connection %d times, want 3", c.reused.Load())
	}
	// A POST may have had effects upstream: it is not sent again, the
	// client connection is closed instead (the client sees what it would
	// see without the proxy).
	req, _ := http.NewRequestWithContext(t.Context(), "POST", c.base+"/", strings.NewReader("once"))
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("POST on a connection upstream closed: %d, want an error", resp.StatusCode)
	}
	if n := posts.Load(); n != 0 {
		t.Fatalf("upstream answered %d POSTs, want 0", n)
	}
	if code, b := c.do(t, "POST", "/", strings.NewReader("again")); code != 200 || b != "PO" {
		t.Fatalf("POST on a new connection: %d %q", code, b)
	}
}

// notifyConn reports its first Close.
type notifyConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *notifyConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func TestHTTPPassesUpstreamIdleCloseOn(t *testing.T) {
	upClosed := make(chan struct{}, 10)
	up := httptest.NewUnstartedServer(okHandler())
	up.Config.IdleTimeout = 50 * time.Millisecond
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			upClosed <- struct{}{}
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	p := startProxy(t, up.Listener.Addr().String(), WithHTTP())

	conns := make(chan *notifyConn, 10)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		nc := &notifyConn{Conn: c, closed: make(chan struct{})}
		conns <- nc
		return nc, nil
	}}
	t.Cleanup(tr.CloseIdleConnections)
	c := &client{Client: &http.Client{Transport: tr, Timeout: 10 * time.Second}, base: "http://" + p.Addr()}

	if code, b := c.do(t, "POST", "/", strings.NewReader("first")); code != 200 || b != "ok" {
		t.Fatalf("first POST: %d %q", code, b)
	}
	first := <-conns
	timeout := time.After(5 * time.Second)
	select {
	case <-upClosed: // upstream's idle timeout
	case <-timeout:
		t.Fatal("upstream did not close its idle connection")
	}
	select {
	case <-first.closed: // the client's transport saw the close passed on
	case <-timeout:
		t.Fatal("the proxy kept the client connection open after upstream closed its idle connection")
	}
	if code, b := c.do(t, "POST", "/", strings.NewReader("second")); code != 200 || b != "ok" {
		t.Fatalf("POST after upstream's idle close: %d %q", code, b)
	}
}

func TestHTTP10ClientGetsNoChunks(t *testing.T) {
	up := newHTTPUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fixed" {
			io.WriteString(w, "fixed") // sent with a Content-Length
			return
		}
		io.WriteString(w, "streamed ")
		w.(http.Flusher).Flush() // no length: chunked to an HTTP/1.1 client
		io.WriteString(w, "body")
	}))
	p := startProxy(t, up.Listener.Addr().String(), WithHTTP())
	c := dial(t, p.Addr())
	io.WriteString(c, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
	raw, err := io.ReadAll(c) // the body ends with the connection
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(raw), "\r\n\r\n")
	if strings.Contains(strings.ToLower(head), "chunked") || body != "streamed body" {
		t.Fatalf("response to HTTP/1.0 request:\n%s", raw)
	}

	// A keep-alive HTTP/1.0 client with a body of known length keeps its
	// connection.
	c = dial(t, p.Addr())
	br := bufio.NewReader(c)
	for i := range 2 {
		io.WriteString(c, "POST /fixed HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
		resp, err := http.ReadResponse(br, &http.Request{Method: "POST"})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.Close || string(b) != "fixed" {
			t.Fatalf("request %d: close %v, body %q", i, resp.Close, b)
		}
	}
}

func TestHTTPHeaderTooLargeIs431(t *testing.T) {
	var hits atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	up.Config.MaxHeaderBytes = 16 << 20 // the proxy, not upstream, must refuse
	up.Start()
	t.Cleanup(up.Close)
	p := startProxy(t, up.Listener.Addr().String(), WithHTTP())
	c := dial(t, p.Addr())
	wrote := make(chan error, 1)
	go func() {
		_, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 2<<20)+"\r\n\r\n")
		wrote <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || !strings.HasPrefix(string(b), "chaoslab:") {
		t.Fatalf("%d %q, want 431 from the proxy", resp.StatusCode, b)
	}
	if err := <-wrote; err != nil {
		t.Logf("write of the large header: %v", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("upstream saw %d requests, want 0", n)
	}
}

func TestHTTPExpectContinue(t *testing.T) {
	up := newHTTPUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	p := startProxy(t, up.Listener.Addr().String(), WithHTTP(), WithListen("127.0.0.1:0"))
	tr := &http.Transport{ExpectContinueTimeout: 10 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	post := func() (int, string) {
		req, _ := http.NewRequestWithContext(ctxTimeout(t, 5*time.Second), "POST", "http://"+p.Addr()+"/", strings.NewReader("body"))
		req.Header.Set("Expect", "100-continue")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, b := post(); code != 200 || b != "body" {
		t.Fatalf("got %d %q", code, b)
	}
	remove := apply(t, p, HTTPError{Rate: 1, Status: 500})
	if code, _ := post(); code != 500 {
		t.Fatalf("with fault: %d", code)
	}
	remove()
	if code, b := post(); code != 200 || b != "body" {
		t.Fatalf("after removal: %d %q", code, b)
	}
}
