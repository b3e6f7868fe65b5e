package toxiproxyapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// api is a Server behind a real HTTP server on 127.0.0.1.
type api struct {
	t   *testing.T
	srv *Server
	url string
}

// newAPI starts a Server over HTTP; both end with the test.
func newAPI(t *testing.T, opts ...Option) *api {
	t.Helper()
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(b []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(b)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := New(append([]Option{WithLogger(log)}, opts...)...)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.Close()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("server log:\n%s", logs.String())
			mu.Unlock()
		}
	})
	return &api{t: t, srv: s, url: ts.URL}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// do sends a request with body (marshalled unless a string) and returns
// the status and the decoded JSON answer (nil when empty).
func (a *api) do(method, path string, body any) (int, any) {
	a.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewBufferString(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(a.t.Context(), method, a.url+path, r)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	var v any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &v); err != nil {
			a.t.Fatalf("%s %s: answer is not JSON: %v: %q", method, path, err, data)
		}
	}
	return resp.StatusCode, v
}

// must sends a request that must answer want, and returns the answer.
func (a *api) must(want int, method, path string, body any) map[string]any {
	a.t.Helper()
	code, v := a.do(method, path, body)
	if code != want {
		a.t.Fatalf("%s %s: status %d, want %d: %v", method, path, code, want, v)
	}
	m, _ := v.(map[string]any)
	return m
}

// fails sends a request that must fail with status, with an error message
// containing msg, in Toxiproxy's error shape.
func (a *api) fails(status int, msg, method, path string, body any) {
	a.t.Helper()
	code, v := a.do(method, path, body)
	m, _ := v.(map[string]any)
	if code != status || m == nil || m["status"] != float64(status) {
		a.t.Fatalf("%s %s: got %d %v, want status %d", method, path, code, v, status)
	}
	if got, _ := m["error"].(string); !contains(got, msg) {
		a.t.Fatalf("%s %s: error %q does not say %q", method, path, got, msg)
	}
}

func contains(s, sub string) bool { return bytes.Contains([]byte(s), []byte(sub)) }

// proxy creates a proxy to upstream on a free loopback port and returns
// its listen address.
func (a *api) proxy(name, upstream string) string {
	a.t.Helper()
	m := a.must(http.StatusCreated, "POST", "/proxies", map[string]any{"name": name, "listen": "127.0.0.1:0", "upstream": upstream})
	return m["listen"].(string)
}

// toxic adds a toxic to a proxy.
func (a *api) toxic(proxy string, toxic map[string]any) map[string]any {
	a.t.Helper()
	return a.must(http.StatusOK, "POST", "/proxies/"+proxy+"/toxics", toxic)
}

// serveTCP runs handle for every connection to a new loopback listener;
// the listener, connections and goroutines end with the test.
func serveTCP(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// echoServer echoes every connection.
func echoServer(t *testing.T) string {
	return serveTCP(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
}

// sourceServer sends n bytes on every connection, then closes it once the
// client has closed its side.
func sourceServer(t *testing.T, n int) string {
	return serveTCP(t, func(c net.Conn) {
		if _, err := c.Write(bytes.Repeat([]byte{'s'}, n)); err != nil {
			return
		}
		c.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, c)
	})
}

// dial connects to addr; every read and write must end within 10 s.
func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip sends one byte and waits for its echo.
func roundTrip(t *testing.T, c net.Conn) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := c.Write([]byte{'x'}); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// readAll reads c to its end and returns what came and the error that
// ended it (nil for a clean end of stream).
func readAll(c net.Conn) ([]byte, error) {
	var buf bytes.Buffer
	_, err := io.Copy(&buf, c)
	return buf.Bytes(), err
}

// isReset reports whether err is a connection reset.
func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// expectReset connects to addr, writes, and expects the connection to be
// reset (which may come as soon as the connect on loopback).
func expectReset(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		if isReset(err) {
			return
		}
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("ping")); err != nil {
		if isReset(err) || errors.Is(err, syscall.EPIPE) {
			return
		}
		t.Fatalf("write: %v, want a reset", err)
	}
	data, err := readAll(conn)
	if !isReset(err) {
		t.Fatalf("read %q then %v, want a connection reset", data, err)
	}
}

// expectStalled checks that nothing arrives on c for a while.
func expectStalled(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	n, err := c.Read(b[:])
	if n != 0 || !isTimeout(err) {
		t.Fatalf("read %d bytes, %v; want nothing for %v", n, err, d)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
}
