package netfault

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

func TestPartitionBlackhole(t *testing.T) {
	var accepted atomic.Int32
	up := serveTCP(t, func(c net.Conn) {
		accepted.Add(1)
		io.Copy(c, c)
	})
	p := startProxy(t, up)
	old := dial(t, p.Addr())
	roundTrip(t, old)
	remove := apply(t, p, Partition{Mode: Blackhole, Share: all(Upstream)}) // direction is ignored
	fresh := dial(t, p.Addr())
	for _, c := range []net.Conn{old, fresh} {
		if _, err := c.Write([]byte{'x'}); err != nil {
			t.Fatal(err)
		}
	}
	wantSilent(t, old, 300*time.Millisecond)
	wantSilent(t, fresh, 10*time.Millisecond)
	if n := accepted.Load(); n != 1 {
		t.Fatalf("upstream saw %d connections during the partition, want 1", n)
	}
	remove()
	for _, c := range []net.Conn{old, fresh} {
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 'x' {
			t.Fatalf("after removal read %q, %v; want the held byte", b, err)
		}
		roundTrip(t, c)
	}
}

func TestPartitionRefuse(t *testing.T) {
	p := startProxy(t, echoServer(t))
	old := dial(t, p.Addr())
	roundTrip(t, old)
	remove := apply(t, p, Partition{Mode: Refuse, Share: all(Both)})
	wantReset(t, old)
	wantNewReset(t, p.Addr())
	remove()
	roundTrip(t, dial(t, p.Addr()))
}
