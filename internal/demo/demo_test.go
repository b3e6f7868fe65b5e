package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// start runs the demo against downstream and returns its base URL and the
// log. The service is stopped, and Serve's result checked, at cleanup.
func start(t *testing.T, downstream string) (string, *syncBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, Config{Downstream: downstream, LogWriter: logs, Listener: ln}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String(), logs
}

func get(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: body is not JSON: %v", url, err)
	}
	return resp.StatusCode, body
}

func TestServe(t *testing.T) {
	down := httptest.NewServer(Downstream{})
	defer down.Close()
	base, logs := start(t, strings.TrimPrefix(down.URL, "http://"))

	code, body := get(t, base+"/")
	if code != 200 || body["ok"] != true {
		t.Errorf("GET / = %d %v, want 200 ok", code, body)
	}
	if ms, ok := body["downstream_ms"].(float64); !ok || ms < 0 {
		t.Errorf("downstream_ms = %v", body["downstream_ms"])
	}
	if code, body := get(t, base+"/health"); code != 200 || body["pid"] != float64(os.Getpid()) {
		t.Errorf("GET /health = %d %v, want 200 with this process's pid %d", code, body, os.Getpid())
	}
	if !strings.Contains(logs.String(), "demo service listening") {
		t.Errorf("no startup line in the log:\n%s", logs)
	}
}

func TestDownstreamFailure(t *testing.T) {
	var fail atomic.Bool // true: the downstream answers 503
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		Downstream{}.ServeHTTP(w, r)
	}))
	defer down.Close()
	base, logs := start(t, strings.TrimPrefix(down.URL, "http://"))

	fail.Store(true)
	code, body := get(t, base+"/")
	if code != http.StatusBadGateway || body["ok"] != false {
		t.Errorf("GET / with a failing downstream = %d %v, want 502", code, body)
	}
	if code, _ := get(t, base+"/health"); code != 200 {
		t.Errorf("GET /health must not depend on the downstream: %d", code)
	}
	if !strings.Contains(logs.String(), "ERROR") {
		t.Errorf("no ERROR line in the log:\n%s", logs)
	}
	fail.Store(false)
	if code, _ := get(t, base+"/"); code != 200 {
		t.Errorf("GET / after the downstream recovered = %d", code)
	}
}

func TestUnreachableDownstream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	base, _ := start(t, addr)
	if code, _ := get(t, base+"/"); code != http.StatusBadGateway {
		t.Errorf("GET / = %d, want 502", code)
	}
}

func TestServeErrors(t *testing.T) {
	if err := Serve(context.Background(), Config{}); err == nil {
		t.Error("no error without a downstream")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := Serve(context.Background(), Config{Addr: ln.Addr().String(), Downstream: "127.0.0.1:1"}); err == nil {
		t.Error("no error listening on a busy address")
	}
}
