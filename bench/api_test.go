package main

// This test drives `chaoslab proxy --api` with the official Toxiproxy Go
// client (v2.12.0) and checks each toxic on real loopback traffic. Helper
// names start with "api" to stay clear of the benchmark's own.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

func TestToxiproxyClientDrivesChaoslabAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the chaoslab binary")
	}
	addr := apiStartChaoslab(t)
	client := toxiclient.NewClient(addr)

	v, err := client.Version()
	if err != nil || !bytes.Contains(v, []byte("version")) {
		t.Fatalf("Version: %s, %v", v, err)
	}
	echo := apiCreateProxy(t, client, "echo", apiEchoUpstream(t))
	source := apiCreateProxy(t, client, "source", apiSourceUpstream(t, 10_000))

	t.Run("latency", func(t *testing.T) {
		c := apiDial(t, echo.Listen)
		apiRoundTrip(t, c)
		if _, err := echo.AddToxic("", "latency", "", 1, toxiclient.Attributes{"latency": 150}); err != nil {
			t.Fatal(err)
		}
		if d := apiRoundTrip(t, c); d < 145*time.Millisecond {
			t.Fatalf("round trip %v under a 150 ms latency toxic", d)
		}
		// The update acts on the open connection, which stays open.
		if _, err := echo.UpdateToxic("latency_downstream", -1, toxiclient.Attributes{"latency": 300}); err != nil {
			t.Fatal(err)
		}
		if d := apiRoundTrip(t, c); d < 295*time.Millisecond {
			t.Fatalf("round trip %v after the update to 300 ms", d)
		}
		apiRemove(t, echo, "latency_downstream")
		if d := apiRoundTrip(t, c); d > 250*time.Millisecond {
			t.Fatalf("round trip %v once the toxic is removed", d)
		}
	})

	t.Run("bandwidth", func(t *testing.T) {
		// 20 KB/s: 10,000 bytes take about half a second.
		if _, err := source.AddToxic("bw", "bandwidth", "downstream", 1, toxiclient.Attributes{"rate": 20}); err != nil {
			t.Fatal(err)
		}
		data, d, err := apiTimedRead(t, source.Listen)
		if len(data) != 10_000 || err != nil || d < 350*time.Millisecond {
			t.Fatalf("at 20 KB/s: %d bytes in %v, %v", len(data), d, err)
		}
		apiRemove(t, source, "bw")
		if data, d, err = apiTimedRead(t, source.Listen); len(data) != 10_000 || err != nil || d > 350*time.Millisecond {
			t.Fatalf("without the toxic: %d bytes in %v, %v", len(data), d, err)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		c := apiDial(t, echo.Listen)
		apiRoundTrip(t, c)
		start := time.Now()
		if _, err := echo.AddToxic("", "timeout", "", 1, toxiclient.Attributes{"timeout": 300}); err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("lost"))
		data, err := apiReadAll(c)
		if d := time.Since(start); len(data) != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) || d < 300*time.Millisecond {
			t.Fatalf("under timeout 300: read %q, %v, closed after %v", data, err, d)
		}
		apiRemove(t, echo, "timeout_downstream")
		apiRoundTrip(t, apiDial(t, echo.Listen))
	})

	t.Run("reset_peer", func(t *testing.T) {
		if _, err := echo.AddToxic("", "reset_peer", "", 1, toxiclient.Attributes{"timeout": 0}); err != nil {
			t.Fatal(err)
		}
		apiExpectReset(t, echo.Listen)
		apiRemove(t, echo, "reset_peer_downstream")
		apiRoundTrip(t, apiDial(t, echo.Listen))
	})

	t.Run("slicer", func(t *testing.T) {
		// Pieces of 90 to 110 bytes, 1 ms apart: 10,000 bytes take at
		// least 90 ms and come in many reads.
		if _, err := source.AddToxic("", "slicer", "", 1, toxiclient.Attributes{"average_size": 100, "size_variation": 10, "delay": 1000}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		c := apiDial(t, source.Listen)
		reads, total, largest := 0, 0, 0
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				reads, total, largest = reads+1, total+n, max(largest, n)
			}
			if err != nil {
				break
			}
		}
		if d := time.Since(start); total != 10_000 || reads < 10 || d < 85*time.Millisecond {
			t.Fatalf("slicer: %d bytes in %d reads (largest %d) over %v", total, reads, largest, d)
		}
		apiRemove(t, source, "slicer_downstream")
		if data, _, err := apiTimedRead(t, source.Listen); len(data) != 10_000 || err != nil {
			t.Fatalf("without the toxic: %d bytes, %v", len(data), err)
		}
	})

	t.Run("limit_data", func(t *testing.T) {
		if _, err := source.AddToxic("", "limit_data", "", 1, toxiclient.Attributes{"bytes": 1000}); err != nil {
			t.Fatal(err)
		}
		if data, _, err := apiTimedRead(t, source.Listen); len(data) != 1000 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
			t.Fatalf("limit_data 1000: %d bytes, %v", len(data), err)
		}
		apiRemove(t, source, "limit_data_downstream")
		if data, _, err := apiTimedRead(t, source.Listen); len(data) != 10_000 || err != nil {
			t.Fatalf("without the toxic: %d bytes, %v", len(data), err)
		}
	})

	t.Run("disable and enable", func(t *testing.T) {
		c := apiDial(t, echo.Listen)
		apiRoundTrip(t, c)
		listen := echo.Listen
		if err := echo.Disable(); err != nil {
			t.Fatal(err)
		}
		if _, err := apiReadAll(c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("connection through a disabled proxy: %v", err)
		}
		if _, err := net.Dial("tcp", listen); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial a disabled proxy: %v, want refused", err)
		}
		if err := echo.Enable(); err != nil {
			t.Fatal(err)
		}
		if echo.Listen != listen {
			t.Fatalf("re-enabled on %s, was %s", echo.Listen, listen)
		}
		apiRoundTrip(t, apiDial(t, listen))
	})

	t.Run("reset state", func(t *testing.T) {
		if _, err := echo.AddToxic("", "timeout", "", 1, toxiclient.Attributes{"timeout": 0}); err != nil {
			t.Fatal(err)
		}
		if err := source.Disable(); err != nil {
			t.Fatal(err)
		}
		if err := client.ResetState(); err != nil {
			t.Fatal(err)
		}
		ps, err := client.Proxies()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if !p.Enabled || len(p.ActiveToxics) != 0 {
				t.Fatalf("after ResetState: %+v", p)
			}
		}
		apiRoundTrip(t, apiDial(t, echo.Listen))
		if data, _, err := apiTimedRead(t, source.Listen); len(data) != 10_000 || err != nil {
			t.Fatalf("source after ResetState: %d bytes, %v", len(data), err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, err := client.CreateProxy("echo", "127.0.0.1:0", echo.Upstream)
		var apiErr *toxiclient.ApiError
		if !errors.As(err, &apiErr) || apiErr.Status != 409 {
			t.Fatalf("duplicate proxy: %v", err)
		}
		if _, err := client.Proxy("nope"); !errors.As(err, &apiErr) || apiErr.Status != 404 {
			t.Fatalf("unknown proxy: %v", err)
		}
		if _, err := echo.AddToxic("", "slow_close", "", 1, toxiclient.Attributes{"delay": 10}); err == nil {
			t.Fatal("slow_close was accepted")
		}
		if err := echo.RemoveToxic("nope"); !errors.As(err, &apiErr) || apiErr.Status != 404 {
			t.Fatalf("unknown toxic: %v", err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		for _, p := range []*toxiclient.Proxy{echo, source} {
			if err := p.Delete(); err != nil {
				t.Fatal(err)
			}
			if _, err := net.Dial("tcp", p.Listen); err == nil {
				t.Fatalf("deleted proxy %s still listens", p.Name)
			}
		}
		if ps, err := client.Proxies(); err != nil || len(ps) != 0 {
			t.Fatalf("Proxies after Delete: %v, %v", ps, err)
		}
	})
}

// apiStartChaoslab builds the chaoslab binary, runs `chaoslab proxy --api
// 127.0.0.1:0` and returns the API's address. When the test ends it sends
// SIGINT and checks that the command exits 0 promptly.
func apiStartChaoslab(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "chaoslab")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/chaoslab")
	build.Dir = ".." // the chaoslab module
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, "proxy", "--api", "127.0.0.1:0")
	var stderr apiSyncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, r)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Errorf("SIGINT: %v", err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("chaoslab proxy --api exited with %v after SIGINT; stderr:\n%s", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("chaoslab proxy --api did not exit within 10 s of SIGINT; stderr:\n%s", stderr.String())
		}
	})

	var line string
	select {
	case line = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatalf("no address from chaoslab proxy --api; stderr:\n%s", stderr.String())
	}
	m := regexp.MustCompile(`^chaoslab proxy API listening on (127\.0\.0\.1:\d+)\n$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("first line %q; stderr:\n%s", line, stderr.String())
	}
	return m[1]
}

// apiCreateProxy creates a proxy on a free loopback port; it is deleted
// with the chaoslab process.
func apiCreateProxy(t *testing.T, c *toxiclient.Client, name, upstream string) *toxiclient.Proxy {
	t.Helper()
	p, err := c.CreateProxy(name, "127.0.0.1:0", upstream)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(p.Listen, ":0") {
		t.Fatalf("CreateProxy answered listen %q, not the bound address", p.Listen)
	}
	return p
}

func apiRemove(t *testing.T, p *toxiclient.Proxy, toxic string) {
	t.Helper()
	if err := p.RemoveToxic(toxic); err != nil {
		t.Fatal(err)
	}
}

// apiServe runs handle for every connection to a new loopback listener;
// the listener, connections and goroutines end with the test.
func apiServe(t *testing.T, handle func(net.Conn)) string {
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

// apiEchoUpstream echoes every connection.
func apiEchoUpstream(t *testing.T) string {
	return apiServe(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
}

// apiSourceUpstream sends n bytes on every connection, then ends it once
// the client has closed its side.
func apiSourceUpstream(t *testing.T, n int) string {
	return apiServe(t, func(c net.Conn) {
		if _, err := c.Write(bytes.Repeat([]byte{'s'}, n)); err != nil {
			return
		}
		c.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, c)
	})
}

// apiDial connects to addr; reads and writes must end within 10 s.
func apiDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// apiRoundTrip sends one byte and waits for its echo.
func apiRoundTrip(t *testing.T, c net.Conn) time.Duration {
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

// apiReadAll reads c to its end; the error is nil for a clean end.
func apiReadAll(c net.Conn) ([]byte, error) {
	var buf bytes.Buffer
	_, err := io.Copy(&buf, c)
	return buf.Bytes(), err
}

// apiTimedRead reads all a new connection to addr gets, and how long it
// took.
func apiTimedRead(t *testing.T, addr string) ([]byte, time.Duration, error) {
	t.Helper()
	start := time.Now()
	data, err := apiReadAll(apiDial(t, addr))
	return data, time.Since(start), err
}

// apiExpectReset connects to addr, writes, and expects a connection reset
// (which may come as soon as the connect on loopback).
func apiExpectReset(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.ECONNRESET) {
			return
		}
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
			return
		}
		t.Fatalf("write: %v, want a reset", err)
	}
	if data, err := apiReadAll(c); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read %q then %v, want ECONNRESET", data, err)
	}
}

// apiSyncBuffer is a bytes.Buffer safe for concurrent use.
type apiSyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *apiSyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *apiSyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
