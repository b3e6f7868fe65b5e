package netfault

import (
	"errors"
	"io"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// all affects every connection in dir.
func all(dir Direction) Share { return Share{Toxicity: 1, Direction: dir} }

// readErr reads c to its end (within 5 s) and returns what it read and how
// the read ended.
func readErr(t *testing.T, c net.Conn) ([]byte, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	return b, err
}

// wantReset fails unless c is reset by its peer.
func wantReset(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := readErr(t, c); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read ended with %v, want a connection reset", err)
	}
}

// wantNewReset fails unless a new connection to addr is reset, at the dial
// or at the first read.
func wantNewReset(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("dial %s: %v, want a connection reset", addr, err)
		}
		return
	}
	defer c.Close()
	wantReset(t, c)
}

// wantSilent fails unless c receives nothing for d and stays open.
func wantSilent(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	n, err := c.Read(b[:])
	var ne net.Error
	if n > 0 || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read %d bytes, err %v; want nothing for %v", n, err, d)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
}

func TestStreamFaultsNeedTCPMode(t *testing.T) {
	p := startProxy(t, echoServer(t), WithHTTP())
	for _, f := range []Fault{
		Bandwidth{Rate: 1000, Share: all(Both)}, Loss{Share: all(Both)}, Partition{Share: all(Both)},
		Timeout{Share: all(Both)}, LimitData{Bytes: 1, Share: all(Both)}, Slicer{Size: 1, Share: all(Both)},
	} {
		if _, err := p.Apply(f); !errors.Is(err, chaoslab.ErrUnsupported) {
			t.Errorf("%v on an HTTP proxy: %v, want ErrUnsupported", f, err)
		}
	}
}

func TestStreamFaultsCheckValues(t *testing.T) {
	p := startProxy(t, echoServer(t))
	for _, f := range []Fault{
		Bandwidth{Share: all(Both)}, Bandwidth{Rate: -1, Share: all(Both)},
		Loss{After: -1, Share: all(Both)}, Loss{Share: Share{Toxicity: 1.5}},
		Partition{Mode: 7, Share: all(Both)}, Timeout{Timeout: -time.Second, Share: all(Both)},
		LimitData{Share: all(Both)}, Slicer{Share: all(Both)}, Slicer{Size: 10, Variation: 10, Share: all(Both)},
		Slicer{Size: 10, Share: Share{Toxicity: 1, Direction: 9}}, (*Slicer)(nil),
	} {
		if _, err := p.Apply(f); !errors.Is(err, chaoslab.ErrInvalid) {
			t.Errorf("%v: %v, want ErrInvalid", f, err)
		}
	}
}

func TestStreamFromLinkFault(t *testing.T) {
	cases := []struct {
		kind   string
		params chaoslab.Params
		want   Fault
	}{
		{"bandwidth_limit", chaoslab.Params{"rate": "1MB"}, Bandwidth{Rate: 1_000_000, Share: Share{Toxicity: 1, Direction: Downstream, Seed: 7}}},
		{"bandwidth_limit", chaoslab.Params{"rate": "2KiB", "direction": "both", "toxicity": "50%"}, Bandwidth{Rate: 2048, Share: Share{Toxicity: 0.5, Direction: Both, Seed: 7}}},
		{"network_loss", chaoslab.Params{}, Loss{Share: Share{Toxicity: 1, Direction: Both, Seed: 7}}},
		{"network_loss", chaoslab.Params{"mode": "stall", "after": "10KB", "direction": "upstream", "toxicity": "0"}, Loss{Mode: LossStall, After: 10_000, Share: Share{Direction: Upstream, Seed: 7}}},
		{"network_partition", chaoslab.Params{"mode": "refuse"}, Partition{Mode: Refuse, Share: Share{Toxicity: 1, Direction: Both, Seed: 7}}},
		{"timeout", chaoslab.Params{"timeout": "0s"}, Timeout{Share: Share{Toxicity: 1, Direction: Both, Seed: 7}}},
		{"limit_data", chaoslab.Params{"bytes": "4096"}, LimitData{Bytes: 4096, Share: Share{Toxicity: 1, Direction: Downstream, Seed: 7}}},
		{"slicer", chaoslab.Params{"size": "100", "variation": "10", "delay": "1ms"}, Slicer{Size: 100, Variation: 10, Delay: time.Millisecond, Share: Share{Toxicity: 1, Direction: Downstream, Seed: 7}}},
	}
	for _, c := range cases {
		got, err := FromLinkFault(chaoslab.LinkFault{Kind: c.kind, Params: c.params, Seed: 7})
		if err != nil || got != c.want {
			t.Errorf("%s %v: got %#v, %v; want %#v", c.kind, c.params, got, err, c.want)
		}
	}
	for _, c := range []struct {
		kind   string
		params chaoslab.Params
	}{
		{"bandwidth_limit", chaoslab.Params{}}, {"bandwidth_limit", chaoslab.Params{"rate": "0"}},
		{"network_loss", chaoslab.Params{"mode": "drop"}}, {"network_loss", chaoslab.Params{"toxicity": "2"}},
		{"network_partition", chaoslab.Params{"mode": "x"}}, {"timeout", chaoslab.Params{}},
		{"limit_data", chaoslab.Params{"bytes": "-1"}}, {"slicer", chaoslab.Params{"size": "1", "direction": "up"}},
	} {
		if _, err := FromLinkFault(chaoslab.LinkFault{Kind: c.kind, Params: c.params}); !errors.Is(err, chaoslab.ErrInvalid) {
			t.Errorf("%s %v: %v, want ErrInvalid", c.kind, c.params, err)
		}
	}
}

// lostPattern opens n connections one after another through a proxy with
// a Loss of the given share and seed, and says which were lost.
func lostPattern(t *testing.T, n int, share Share) []bool {
	p := startProxy(t, echoServer(t))
	apply(t, p, Loss{Share: share})
	lost := make([]bool, n)
	for i := range lost {
		c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
		if err != nil {
			lost[i] = true
			continue
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte{'x'})
		var b [1]byte
		_, err = io.ReadFull(c, b[:])
		lost[i] = err != nil
		c.Close()
	}
	return lost
}

func TestStreamToxicityReplaysFromSeed(t *testing.T) {
	share := Share{Toxicity: 0.5, Direction: Both, Seed: 11}
	a, b := lostPattern(t, 20, share), lostPattern(t, 20, share)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different connections lost:\n%v\n%v", a, b)
	}
}

func TestStreamFaultsSpareUnaffectedConnections(t *testing.T) {
	p := startProxy(t, echoServer(t))
	conns := make([]*net.TCPConn, 200)
	for i := range conns {
		conns[i] = dial(t, p.Addr())
		roundTrip(t, conns[i])
	}
	remove := apply(t, p, Loss{Share: Share{Toxicity: 0.3, Direction: Both, Seed: 5}})
	var alive []*net.TCPConn
	for _, c := range conns {
		c.Write([]byte{'x'})
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err == nil {
			alive = append(alive, c)
		}
	}
	t.Logf("%d of %d connections spared at toxicity 0.3", len(alive), len(conns))
	if len(alive) < len(conns)/2 || len(alive) > 9*len(conns)/10 {
		t.Fatalf("%d of %d connections spared, want about 70%%", len(alive), len(conns))
	}
	remove()
	// Adding and removing faults leaves the spared connections working.
	for _, f := range []Fault{Bandwidth{Rate: 1 << 20, Share: all(Both)}, Slicer{Size: 1, Share: all(Both)}, Latency{Latency: time.Millisecond}} {
		rm := apply(t, p, f)
		for _, c := range alive {
			roundTrip(t, c)
		}
		rm()
	}
	for _, c := range alive {
		roundTrip(t, c)
	}
}
