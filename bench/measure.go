package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

// bulk reads from a source behind addr for window, starting at the first
// byte, and returns the throughput in MiB/s.
func bulk(ctx context.Context, addr string, window time.Duration) (float64, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 256<<10)
	if err := c.SetReadDeadline(time.Now().Add(window + 10*time.Second)); err != nil {
		return 0, err
	}
	if _, err := io.ReadFull(c, buf[:1]); err != nil {
		return 0, fmt.Errorf("first byte: %w", err)
	}
	start := time.Now()
	if err := c.SetReadDeadline(start.Add(window)); err != nil {
		return 0, err
	}
	var total int64
	for {
		n, err := c.Read(buf)
		total += int64(n)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			return 0, fmt.Errorf("bulk read: %w", err)
		}
	}
	return float64(total) / (1 << 20) / time.Since(start).Seconds(), nil
}

// roundTrip writes msg and reads as many bytes back.
func roundTrip(c net.Conn, msg, reply []byte) error {
	if _, err := c.Write(msg); err != nil {
		return err
	}
	_, err := io.ReadFull(c, reply[:len(msg)])
	return err
}

// rtts measures n round trips of a 64-byte message on one connection to an
// echo server behind addr, after warm round trips that are not recorded.
func rtts(ctx context.Context, addr string, warm, n int) ([]time.Duration, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	msg, reply := make([]byte, 64), make([]byte, 64)
	out := make([]time.Duration, 0, n)
	for i := range warm + n {
		t := time.Now()
		if err := roundTrip(c, msg, reply); err != nil {
			return nil, fmt.Errorf("round trip: %w", err)
		}
		if i >= warm {
			out = append(out, time.Since(t))
		}
	}
	return out, nil
}

// connects measures n times: dial addr, one 64-byte round trip, close.
func connects(ctx context.Context, addr string, n int) ([]time.Duration, error) {
	var d net.Dialer
	msg, reply := make([]byte, 64), make([]byte, 64)
	out := make([]time.Duration, 0, n)
	for range n {
		t := time.Now()
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		err = roundTrip(c, msg, reply)
		out = append(out, time.Since(t))
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // no TIME_WAIT pile-up across thousands of runs
		}
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("round trip: %w", err)
		}
	}
	return out, nil
}

// overshoots opens conns connections to an echo server behind addr whose
// replies are delayed by latency, makes one unrecorded round trip on each,
// then seq recorded round trips on each, and returns every round trip minus
// latency. The connections start latency/conns apart, so that their delays
// end spread over time rather than in one burst.
func overshoots(ctx context.Context, addr string, latency time.Duration, conns, seq int) ([]time.Duration, error) {
	return concurrently(conns, seq, latency, func(record func(time.Duration)) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		msg, reply := make([]byte, 64), make([]byte, 64)
		for i := range seq + 1 {
			t := time.Now()
			if err := roundTrip(c, msg, reply); err != nil {
				return fmt.Errorf("round trip: %w", err)
			}
			if i > 0 {
				record(time.Since(t) - latency)
			}
		}
		return nil
	})
}

// timerOvershoots runs the same pattern as overshoots with a bare
// time.Timer of d in place of each round trip.
func timerOvershoots(d time.Duration, conns, seq int) ([]time.Duration, error) {
	return concurrently(conns, seq, d, func(record func(time.Duration)) error {
		for range seq {
			t := time.Now()
			tm := time.NewTimer(d)
			<-tm.C
			record(time.Since(t) - d)
		}
		return nil
	})
}

// concurrently runs n copies of f, started spread/n apart, and collects
// what they record.
func concurrently(n, each int, spread time.Duration, f func(record func(time.Duration)) error) ([]time.Duration, error) {
	var (
		mu   sync.Mutex
		out  = make([]time.Duration, 0, n*each)
		errs = make([]error, n)
		wg   sync.WaitGroup
	)
	record := func(d time.Duration) {
		mu.Lock()
		out = append(out, d)
		mu.Unlock()
	}
	for i := range n {
		if i > 0 {
			time.Sleep(spread / time.Duration(n))
		}
		wg.Go(func() { errs[i] = f(record) })
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// percentile returns the p-th percentile (0 to 100) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// median returns the median of xs (the mean of the middle two when even).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
