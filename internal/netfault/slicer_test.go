package netfault

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// reads reads c to its end, returning the data, the size of each read and
// the time it took.
func reads(t *testing.T, c net.Conn) ([]byte, []int, time.Duration) {
	t.Helper()
	start := time.Now()
	var all []byte
	var sizes []int
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			all = append(all, buf[:n]...)
			sizes = append(sizes, n)
		}
		if err == io.EOF {
			return all, sizes, time.Since(start)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestSlicerSplitsWrites(t *testing.T) {
	data := randomBytes(10_000)
	p := startProxy(t, sourceServer(t, data))
	remove := apply(t, p, Slicer{Size: 1000, Variation: 200, Delay: 50 * time.Millisecond, Share: all(Downstream)})
	got, sizes, d := reads(t, dial(t, p.Addr()))
	t.Logf("sliced reads %v in %v", sizes, d)
	if !bytes.Equal(got, data) {
		t.Fatal("data changed")
	}
	for _, n := range sizes {
		if n > 1200 {
			t.Fatalf("read of %d bytes, want at most 1200", n)
		}
	}
	// At least 9 pieces with 50 ms between each.
	if len(sizes) < 5 || d < 350*time.Millisecond {
		t.Fatalf("%d reads in %v, want at least 5 in at least 350ms", len(sizes), d)
	}
	remove()
	got, _, d = reads(t, dial(t, p.Addr()))
	if !bytes.Equal(got, data) || d > 300*time.Millisecond {
		t.Fatalf("after removal: %d bytes in %v, want all of them at once", len(got), d)
	}
}
