package netfault

import (
	"io"
	"testing"
	"time"
)

// throughput reads c to its end and returns the bytes per second.
func throughput(t *testing.T, c io.Reader, want int) float64 {
	t.Helper()
	start := time.Now()
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != int64(want) {
		t.Fatalf("read %d bytes, %v; want %d", n, err, want)
	}
	return float64(n) / time.Since(start).Seconds()
}

func TestBandwidthDownstream(t *testing.T) {
	const size, rate = 3_000_000, 4_000_000 // 0.75 s
	p := startProxy(t, sourceServer(t, randomBytes(size)))
	remove := apply(t, p, Bandwidth{Rate: rate, Share: all(Downstream)})
	got := throughput(t, dial(t, p.Addr()), size)
	t.Logf("throughput at %d B/s: %.0f B/s", rate, got)
	if got < 0.8*rate || got > 1.2*rate {
		t.Fatalf("throughput %.0f B/s, want %d ±20%%", got, rate)
	}
	remove()
	if got := throughput(t, dial(t, p.Addr()), size); got < 3*rate {
		t.Fatalf("throughput after removal %.0f B/s, want well above %d", got, rate)
	}
}

func TestBandwidthUpstream(t *testing.T) {
	const size, rate = 2_000_000, 4_000_000 // 0.5 s
	p := startProxy(t, sinkServer(t))
	apply(t, p, Bandwidth{Rate: rate, Share: all(Upstream)})
	c := dial(t, p.Addr())
	start := time.Now()
	if _, err := c.Write(randomBytes(size)); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	if _, err := io.ReadAll(c); err != nil { // the sink answers once it has all
		t.Fatal(err)
	}
	got := size / time.Since(start).Seconds()
	t.Logf("upstream throughput at %d B/s: %.0f B/s", rate, got)
	if got < 0.8*rate || got > 1.2*rate {
		t.Fatalf("throughput %.0f B/s, want %d ±20%%", got, rate)
	}
}

func TestBandwidthRemovedMidTransfer(t *testing.T) {
	const size, rate = 8_000_000, 2_000_000 // 4 s if limited throughout
	p := startProxy(t, sourceServer(t, randomBytes(size)))
	remove := apply(t, p, Bandwidth{Rate: rate, Share: all(Both)})
	c := dial(t, p.Addr())
	start := time.Now()
	if _, err := io.CopyN(io.Discard, c, 500_000); err != nil {
		t.Fatal(err)
	}
	remove()
	if n, err := io.Copy(io.Discard, c); err != nil || n != size-500_000 {
		t.Fatalf("read %d more bytes, %v", n, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("transfer took %v after the limit was removed, want < 2s", d)
	}
}
