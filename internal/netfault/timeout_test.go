package netfault

import (
	"io"
	"testing"
	"time"
)

func TestTimeoutClosesAfterDuration(t *testing.T) {
	p := startProxy(t, echoServer(t))
	old := dial(t, p.Addr())
	roundTrip(t, old)
	start := time.Now()
	remove := apply(t, p, Timeout{Timeout: 200 * time.Millisecond, Share: all(Both)})
	old.Write([]byte{'x'})
	got, err := readErr(t, old)
	if d := time.Since(start); len(got) > 0 || d < 150*time.Millisecond || d > 3*time.Second {
		t.Fatalf("read %d bytes, %v, after %v; want nothing, closed after about 200ms", len(got), err, d)
	}
	fresh := dial(t, p.Addr())
	start = time.Now()
	fresh.Write([]byte{'x'})
	if got, _ := readErr(t, fresh); len(got) > 0 || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("new connection read %d bytes, closed after %v; want nothing for about 200ms", len(got), time.Since(start))
	}
	remove()
	roundTrip(t, dial(t, p.Addr()))
}

func TestTimeoutRemovedBeforeItFires(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	remove := apply(t, p, Timeout{Timeout: 300 * time.Millisecond, Share: all(Downstream)})
	c.Write([]byte{'x'})
	wantSilent(t, c, 100*time.Millisecond)
	remove()
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatalf("after removal: %v, want the held byte", err)
	}
	wantSilent(t, c, 400*time.Millisecond) // past the timeout: still open
	roundTrip(t, c)
}

func TestTimeoutZeroHoldsWithoutClosing(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	remove := apply(t, p, Timeout{Share: all(Upstream)})
	c.Write([]byte{'x'})
	wantSilent(t, c, 300*time.Millisecond)
	remove()
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatalf("after removal: %v, want the held byte", err)
	}
}
