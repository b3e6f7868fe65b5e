//go:build unix

package e2bfake_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab/internal/e2bfake"
)

func TestFailCreates(t *testing.T) {
	f := start(t)
	f.srv.FailCreates(2, http.StatusTooManyRequests, 2500*time.Millisecond)
	for range 2 {
		status, hdr, data := f.api("POST", "/sandboxes", map[string]any{"templateID": "base"})
		var e apiErr
		mustUnmarshal(t, data, &e)
		if status != http.StatusTooManyRequests || e.Code != 429 || hdr.Get("Retry-After") != "3" {
			t.Errorf("rate limited: %d %v %s", status, hdr, data)
		}
	}
	f.create(nil)
	f.srv.FailCreates(1, http.StatusServiceUnavailable, 0)
	status, hdr, data := f.api("POST", "/sandboxes", map[string]any{"templateID": "base"})
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") != "" || !strings.Contains(string(data), `"code":503`) {
		t.Errorf("unavailable: %d %v %s", status, hdr, data)
	}
	f.create(nil)
	if f.srv.Live() != 2 {
		t.Errorf("Live() = %d, want 2", f.srv.Live())
	}
}

func TestFailEnvd(t *testing.T) {
	f := start(t)
	sb := f.create(nil)
	f.srv.FailEnvd(1)
	status, data := f.unary(sb, "process.Process/List", map[string]any{})
	if status != http.StatusBadGateway || !strings.Contains(string(data), `"message":"The sandbox was not found"`) {
		t.Errorf("failed envd call: %d %s", status, data)
	}
	if status, data := f.unary(sb, "process.Process/List", map[string]any{}); status != http.StatusOK {
		t.Errorf("next envd call: %d %s", status, data)
	}
}

func TestDropStreams(t *testing.T) {
	f := start(t)
	sb := f.create(nil)
	f.srv.DropStreams(1, 2)
	// The start event and one data event, then the connection breaks.
	s := f.startCmd(sb, "echo one; read; echo two", map[string]any{"stdin": true})
	var pid int
	for i := range 2 {
		ev, cerr := s.nextEvent()
		switch {
		case ev == nil:
			t.Fatalf("event %d: end of stream %+v", i, cerr)
		case i == 0:
			mustUnmarshal(t, ev.Start["pid"], &pid)
		}
	}
	if _, _, err := s.next(); err == nil || !(errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "reset")) {
		t.Errorf("after the drop: %v, want a broken stream", err)
	}
	// The process lives on, and a new stream is not dropped.
	c := f.openStream(sb, "process.Process/Connect", map[string]any{"process": map[string]any{"pid": pid}}, nil)
	if ev, _ := c.nextEvent(); ev == nil || ev.Start == nil {
		t.Fatal("connect after the drop: no start event")
	}
	f.unary(sb, "process.Process/SendInput", map[string]any{"process": map[string]any{"pid": pid}, "input": map[string]any{"stdin": "Cg=="}})
	if r := c.collect(); string(r.stdout) != "two\n" || r.end == nil {
		t.Errorf("after reconnecting: %q, end %v", r.stdout, r.end)
	}
}

func TestLatency(t *testing.T) {
	f := start(t)
	sb := f.create(nil)
	f.srv.SetLatency(300*time.Millisecond, 200*time.Millisecond)
	began := time.Now()
	f.api("GET", "/sandboxes", nil)
	if d := time.Since(began); d < 300*time.Millisecond {
		t.Errorf("API answered in %v, before its latency", d)
	}
	began = time.Now()
	f.unary(sb, "process.Process/List", map[string]any{})
	if d := time.Since(began); d < 200*time.Millisecond {
		t.Errorf("envd answered in %v, before its latency", d)
	}
	f.srv.SetLatency(0, 0)
	// A client giving up on a slow call is not held.
	f.srv.SetLatency(time.Minute, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.APIURL()+"/sandboxes", nil)
	req.Header.Set("X-API-Key", f.srv.APIKey())
	if resp, err := f.client.Do(req); err == nil {
		resp.Body.Close()
		t.Error("a call with a minute of latency answered")
	}
}

func TestKill(t *testing.T) {
	f := start(t)
	sb := f.create(nil)
	_, pid := f.startPID(sb, "exec sleep 30", nil)
	if !f.srv.Kill(sb.SandboxID) || f.srv.Kill(sb.SandboxID) {
		t.Error("Kill: want true, then false")
	}
	if alive(pid) || f.srv.Live() != 0 {
		t.Errorf("after Kill: process alive %v, Live() %d", alive(pid), f.srv.Live())
	}
	status, data := f.unary(sb, "process.Process/List", map[string]any{})
	if status != http.StatusBadGateway || !strings.Contains(string(data), `"sandboxId":"`+sb.SandboxID+`"`) {
		t.Errorf("envd of a killed sandbox: %d %s", status, data)
	}
}

func TestSandboxPorts(t *testing.T) {
	f := start(t)
	sb := f.create(nil)
	// A server listening on 127.0.0.1:N stands for one a command of the
	// sandbox opened (commands share this machine's network).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("E2b-Sandbox-Id") != "" {
			http.Error(w, "routing headers leaked", http.StatusBadRequest)
			return
		}
		io.WriteString(w, "hello from "+r.URL.Path)
	})}
	done := make(chan struct{})
	go func() { defer close(done); svc.Serve(ln) }()
	defer func() { svc.Close(); <-done }()
	port := ln.Addr().(*net.TCPAddr).Port

	status, _, data := f.do(f.envdRequest(sb, port, "GET", "/x", nil))
	if status != http.StatusOK || string(data) != "hello from /x" {
		t.Errorf("by headers: %d %s", status, data)
	}
	// The same by host, {port}-{sandboxID}.{domain}, as getHost(port) gives.
	req, _ := http.NewRequest("GET", f.srv.SandboxURL()+"/y", nil)
	req.Host = itoa(port) + "-" + sb.SandboxID + "." + f.srv.Domain()
	if status, _, data := f.do(req); status != http.StatusOK || string(data) != "hello from /y" {
		t.Errorf("by host: %d %s", status, data)
	}
	svc.Close()
	<-done
	status, _, data = f.do(f.envdRequest(sb, port, "GET", "/x", nil))
	if status != http.StatusBadGateway || !strings.Contains(string(data), "port is not open") || !strings.Contains(string(data), `"port":`+itoa(port)) {
		t.Errorf("closed port: %d %s", status, data)
	}
	req, _ = http.NewRequest("GET", f.srv.SandboxURL()+"/health", nil)
	if status, _, _ := f.do(req); status != http.StatusBadRequest {
		t.Errorf("no sandbox named: %d", status)
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	base := t.TempDir()
	srv := e2bfake.New(e2bfake.WithBaseDir(base))
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := &fake{t: t, srv: srv, client: &http.Client{Transport: &http.Transport{}}}
	defer f.client.Transport.(*http.Transport).CloseIdleConnections()
	var pids []int
	for range 2 {
		sb := f.create(map[string]any{"timeout": 300})
		// A process, its background child, and a stream left open.
		s, pid := f.startPID(sb, "sleep 30 & echo $!; wait", nil)
		ev, _ := s.nextEvent()
		var child int
		mustUnmarshal(t, []byte(strings.TrimSpace(string(decodeB64(t, ev.Data["stdout"])))), &child)
		pids = append(pids, pid, child)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d alive after Close", pid)
		}
	}
	if entries, err := os.ReadDir(base); err != nil || len(entries) != 0 {
		t.Errorf("left in the base directory: %v, %v", entries, err)
	}
	if srv.Live() != 0 {
		t.Errorf("Live() = %d", srv.Live())
	}
	if err := srv.Start(context.Background()); !errors.Is(err, e2bfake.ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
}
