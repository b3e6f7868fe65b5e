package netfault

import (
	"bytes"
	"testing"
)

func TestLimitDataClosesAfterBytes(t *testing.T) {
	data := randomBytes(200_000)
	p := startProxy(t, sourceServer(t, data))
	remove := apply(t, p, LimitData{Bytes: 10_000, Share: all(Downstream)})
	got, err := readErr(t, dial(t, p.Addr()))
	if err != nil || !bytes.Equal(got, data[:10_000]) {
		t.Fatalf("read %d bytes, %v; want the first 10000, then the end", len(got), err)
	}
	remove()
	if got, err := readErr(t, dial(t, p.Addr())); err != nil || len(got) != len(data) {
		t.Fatalf("after removal read %d bytes, %v; want %d", len(got), err, len(data))
	}
}

func TestLimitDataCountsFromWhenAdded(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	roundTrip(t, c)
	apply(t, p, LimitData{Bytes: 3, Share: all(Both)}) // both ways counted together
	roundTrip(t, c)                                    // 2 bytes
	c.Write([]byte("yz"))                              // the third goes, then the close
	got, _ := readErr(t, c)
	if len(got) != 0 {
		t.Fatalf("read %q after the limit, want nothing", got)
	}
}
