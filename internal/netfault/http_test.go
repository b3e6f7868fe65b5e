package netfault

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
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
	p.Add(HTTPError{Rate: 1, Status: 503})
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
	p.Add(f)
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
	remove := p.Add(HTTPError{Rate: 1})
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
	for _, dir := range []Direction{Upstream, Downstream} {
		remove := p.Add(Latency{Latency: 100 * time.Millisecond, Direction: dir})
		start := time.Now()
		if code, _ := c.do(t, "GET", "/", nil); code != 200 {
			t.Fatalf("status %d", code)
		}
		el := time.Since(start)
		remove()
		if el < 95*time.Millisecond || el > 150*time.Millisecond {
			t.Fatalf("%v: request took %v, want 95ms to 150ms", dir, el)
		}
	}
	start := time.Now()
	c.do(t, "GET", "/", nil)
	if el := time.Since(start); el > 30*time.Millisecond {
		t.Fatalf("after removal a request took %v", el)
	}
}

func TestHTTPUpstreamDownIs502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := startProxy(t, addr, WithHTTP())
	if code, _ := newClient(t, p).do(t, "GET", "/", nil); code != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", code)
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
	p.Add(Latency{Latency: 50 * time.Millisecond})
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

func TestHTTPRetriesWhenUpstreamClosedIdleConnection(t *testing.T) {
	// An upstream that answers one request per connection, then closes it
	// without saying so.
	addr := serveTCP(t, func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		body := req.Method[:2]
		if req.Method == "HEAD" {
			body = ""
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"+body)
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
	remove := p.Add(HTTPError{Rate: 1, Status: 500})
	if code, _ := post(); code != 500 {
		t.Fatalf("with fault: %d", code)
	}
	remove()
	if code, b := post(); code != 200 || b != "body" {
		t.Fatalf("after removal: %d %q", code, b)
	}
}
