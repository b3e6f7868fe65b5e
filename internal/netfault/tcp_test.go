package netfault

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"testing"
	"time"
)

func TestTCPRoundTrip(t *testing.T) {
	p := startProxy(t, echoServer(t))
	if p.HTTP() || p.Upstream() == "" {
		t.Fatalf("HTTP() = %v, Upstream() = %q", p.HTTP(), p.Upstream())
	}
	c := dial(t, p.Addr())
	for _, msg := range []string{"hello", "world", string(bytes.Repeat([]byte("z"), 200<<10))} {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Fatalf("echo of %d bytes differs", len(msg))
		}
	}
}

func TestTCPHalfClose(t *testing.T) {
	p := startProxy(t, sinkServer(t))
	c := dial(t, p.Addr())
	msg := []byte("half-close me")
	c.Write(msg)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(msg); !bytes.Equal(got, want[:]) {
		t.Fatalf("reply %x, want %x", got, want)
	}
}

func TestTCPLatency(t *testing.T) {
	p := startProxy(t, echoServer(t))
	apply(t, p, Latency{Latency: 100 * time.Millisecond})
	c := dial(t, p.Addr())
	m := median(t, c, 5)
	t.Logf("median round trip with 100ms upstream latency: %v", m)
	if m < 95*time.Millisecond || m >= 250*time.Millisecond {
		t.Fatalf("median round trip %v, want 95ms to 250ms", m)
	}
}

func TestTCPLatencyOnExistingConnection(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	if d := median(t, c, 5); d > 50*time.Millisecond {
		t.Fatalf("median round trip without fault %v, want < 50ms", d)
	}
	remove := apply(t, p, Latency{Latency: 50 * time.Millisecond, Direction: Both})
	if d := median(t, c, 5); d < 95*time.Millisecond {
		t.Fatalf("median round trip with 50ms both ways %v, want ≥ 95ms", d)
	}
	remove()
	remove() // idempotent
	if d := median(t, c, 5); d > 50*time.Millisecond {
		t.Fatalf("median round trip after removal %v, want < 50ms", d)
	}
}

func TestTCPOrderKeptWhenLatencyRemoved(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	remove := apply(t, p, Latency{Latency: 150 * time.Millisecond, Direction: Downstream})
	start := time.Now()
	roundTrip(t, c)
	a := bytes.Repeat([]byte("a"), 1000)
	c.Write(a)
	// Wait until the echo of a is queued downstream.
	waitFor(t, func() bool { return int(p.queued.Load()) >= len(a) })
	remove()
	c.Write([]byte("b"))
	got := make([]byte, len(a)+1)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 290*time.Millisecond {
		t.Errorf("a and b arrived after %v, want two delays of 150ms", el)
	}
	if want := string(a) + "b"; string(got) != want {
		t.Fatalf("got %q, want a...ab", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTCPDialFailureResetsClient(t *testing.T) {
	p := startProxy(t, downAddr(t))
	// The reset may come before the client's connect returns.
	c, err := net.Dial("tcp", p.Addr())
	if err == nil {
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Read(make([]byte, 1))
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read from proxy to a down upstream: %v, want connection reset", err)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{1}).Read(b)
	return b
}

const bulkSize = 64 << 20

func TestTCPBulkIdle(t *testing.T) {
	data := randomBytes(bulkSize)
	p := startProxy(t, sinkServer(t))
	c := dial(t, p.Addr())
	start := time.Now()
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	if want := sha256.Sum256(data); !bytes.Equal(got, want[:]) {
		t.Fatal("upstream received different bytes")
	}
	t.Logf("64 MiB through idle proxy: %v, %.0f MiB/s", el, bulkSize/el.Seconds()/(1<<20))
}

func TestTCPBulkWithLatency(t *testing.T) {
	data := randomBytes(bulkSize)
	p := startProxy(t, sourceServer(t, data))
	apply(t, p, Latency{Latency: 100 * time.Millisecond, Direction: Downstream})
	c := dial(t, p.Addr())
	start := time.Now()
	h := sha256.New()
	if _, err := io.Copy(h, c); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("client received different bytes")
	}
	rate := bulkSize / el.Seconds() / (1 << 20)
	t.Logf("64 MiB under 100ms latency: %v, %.0f MiB/s", el, rate)
	// Bound by round trips (a window per 100ms) it would take over a minute; the
	// bound is low so that a loaded machine under -race passes.
	if rate < 10 {
		t.Fatalf("bulk throughput under latency %.0f MiB/s, want > 10", rate)
	}
}

func TestJitterRepeatsAndStaysInRange(t *testing.T) {
	l := Latency{Latency: 100 * time.Millisecond, Jitter: 20 * time.Millisecond, Seed: 7}
	a, _ := l.activate(false)
	b, _ := l.activate(false)
	seen := map[time.Duration]bool{}
	for range 100 {
		x, y := a.latency.sample(), b.latency.sample()
		if x != y {
			t.Fatalf("same seed gave %v and %v", x, y)
		}
		if x < 80*time.Millisecond || x > 120*time.Millisecond {
			t.Fatalf("sample %v outside 100ms±20ms", x)
		}
		seen[x] = true
	}
	if len(seen) < 50 {
		t.Fatalf("only %d distinct samples", len(seen))
	}
}
