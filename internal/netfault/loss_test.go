package netfault

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

func TestLossResetsExistingAndNewConnections(t *testing.T) {
	p := startProxy(t, echoServer(t))
	old := dial(t, p.Addr())
	roundTrip(t, old)
	remove := apply(t, p, Loss{Share: all(Both)})
	wantReset(t, old)
	wantNewReset(t, p.Addr())
	remove()
	roundTrip(t, dial(t, p.Addr()))
}

func TestLossResetsAfterBytes(t *testing.T) {
	p := startProxy(t, sourceServer(t, randomBytes(200_000)))
	apply(t, p, Loss{After: 10_000, Share: all(Downstream)})
	// On loopback the reset can beat the end of connect: then it is the
	// dial that sees it, with nothing read.
	var got []byte
	c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
	if err == nil {
		t.Cleanup(func() { c.Close() })
		got, err = readErr(t, c)
	}
	if !errors.Is(err, syscall.ECONNRESET) || len(got) > 10_000 {
		t.Fatalf("read %d bytes, then %v; want at most 10000, then a reset", len(got), err)
	}
}

func TestLossStallHoldsUntilRemoved(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	roundTrip(t, c)
	remove := apply(t, p, Loss{Mode: LossStall, Share: all(Upstream)})
	if _, err := c.Write([]byte{'x'}); err != nil {
		t.Fatal(err)
	}
	wantSilent(t, c, 300*time.Millisecond)
	remove()
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 'x' {
		t.Fatalf("after removal read %q, %v; want the held byte", b, err)
	}
	roundTrip(t, c)
}

func TestLossToxicityIsAShareOfConnections(t *testing.T) {
	p := startProxy(t, echoServer(t))
	apply(t, p, Loss{Share: Share{Toxicity: 0.5, Direction: Both, Seed: 3}})
	const n = 40
	lost := 0
	for range n {
		// A reset can come as early as the dial.
		c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
		if err != nil {
			lost++
			continue
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte{'x'})
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			lost++
		}
		c.Close()
	}
	t.Logf("%d of %d connections lost at toxicity 0.5", lost, n)
	if lost < n/4 || lost > 3*n/4 {
		t.Fatalf("%d of %d connections lost, want about half", lost, n)
	}
}
