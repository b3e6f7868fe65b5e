package netfault

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestFaultChurnUnderLoad adds, changes and removes faults over and over
// while a thousand connections exchange data, one of them held by a stall:
// every change returns although data is held, no connection is dropped and
// every byte arrives intact and in order.
func TestFaultChurnUnderLoad(t *testing.T) {
	const conns, rounds = 1000, 10
	p := startProxy(t, echoServer(t))
	cs := make([]*net.TCPConn, conns)
	for i := range cs {
		cs[i] = dial(t, p.Addr())
	}
	// A loaded 2-core machine needs more than dial's 10 s for all of it.
	for _, c := range cs {
		c.SetDeadline(time.Now().Add(2 * time.Minute))
	}

	// A stall on a share of connections holds their data in the proxy;
	// changes must not wait for it.
	stop := make(chan struct{})
	churned := make(chan error, 1)
	go func() {
		defer close(churned)
		faults := []Fault{
			Latency{Latency: time.Millisecond, Direction: Both},
			Slicer{Size: 7, Share: all(Both)},
			Bandwidth{Rate: 1 << 30, Share: Share{Toxicity: 0.5, Direction: Both}},
			Loss{Mode: LossStall, Share: Share{Toxicity: 0.1, Direction: Upstream}},
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f := faults[i%len(faults)]
			remove, err := p.Apply(f)
			if err != nil {
				churned <- fmt.Errorf("apply %v: %w", f, err)
				return
			}
			runtime.Gosched()
			remove()
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i, c := range cs {
		wg.Go(func() {
			msg := bytes.Repeat([]byte{byte(i)}, 100+i%900)
			got := make([]byte, len(msg))
			for r := range rounds {
				if _, err := c.Write(msg); err != nil {
					errs <- fmt.Errorf("conn %d round %d: write: %w", i, r, err)
					return
				}
				if _, err := io.ReadFull(c, got); err != nil {
					errs <- fmt.Errorf("conn %d round %d: read: %w", i, r, err)
					return
				}
				if !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("conn %d round %d: got other bytes back", i, r)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	if err := <-churned; err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every connection is still open once all faults are gone.
	for i, c := range cs {
		if _, err := c.Write([]byte{1}); err != nil {
			t.Fatalf("conn %d: %v", i, err)
		}
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatalf("conn %d after the churn: %v", i, err)
		}
	}
}

// TestTCPBulkSwitchesPathsIntact streams data while a latency fault comes
// and goes many times, so the transfer moves between the fast path and the
// delay queue: the bytes arrive intact and in order.
func TestTCPBulkSwitchesPathsIntact(t *testing.T) {
	data := randomBytes(32 << 20)
	p := startProxy(t, sourceServer(t, data))
	c := dial(t, p.Addr())
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			remove, err := p.Apply(Latency{Latency: time.Millisecond, Direction: Downstream})
			if err != nil {
				t.Error(err)
				return
			}
			runtime.Gosched()
			remove()
		}
	})
	h := sha256.New()
	_, err := io.Copy(h, c)
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("client received different bytes")
	}
}

// TestIdleConnectionsHoldNoBuffers opens idle connections through the
// proxy and checks that the Go memory it holds per connection is far below
// one read buffer.
func TestIdleConnectionsHoldNoBuffers(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("idle connections hold no buffer on the Linux fast path only")
	}
	const n = 300
	p := startProxy(t, echoServer(t))
	// Warm up: pools, one connection.
	roundTrip(t, dial(t, p.Addr()))
	before := goMemory()
	for range n {
		roundTrip(t, dial(t, p.Addr()))
	}
	per := (goMemory() - before) / n
	t.Logf("Go memory per idle connection (proxy and test together): %d bytes", per)
	if per > readBufSize/2 {
		t.Fatalf("%d bytes of Go memory per idle connection, want well under one %d-byte read buffer", per, readBufSize)
	}
}

func goMemory() int64 {
	runtime.GC()
	runtime.GC() // the second one empties the pools' victim caches
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse)
}
