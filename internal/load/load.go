// Package load is chaoslab's open-model HTTP load generator: requests are
// sent at a constant rate whatever the target does, and each latency is
// measured from the time the request was scheduled, so a stalled target
// cannot hide its delay (no coordinated omission).
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Config describes the load.
type Config struct {
	// BaseURL is prefixed to each path, e.g. "http://127.0.0.1:8080".
	BaseURL string
	Paths   []string
	Method  string
	// Rate is requests per second; must be above 0.
	Rate float64
	// Timeout bounds each request.
	Timeout time.Duration
	// Client sends the requests; nil makes one that is closed when Run
	// returns.
	Client *http.Client
	// MaxInFlight caps concurrent requests; a request that would exceed it
	// is recorded as failed with ErrOverload. 0 means Rate×Timeout×2+64.
	MaxInFlight int
	// Scheduled, if set, is called with each request's scheduled time
	// before it is sent (and before it is refused for overload), from the
	// scheduling goroutine, so that callers can count requests in flight.
	Scheduled func(at time.Time)
}

// Sample is the outcome of one request.
type Sample struct {
	// Scheduled is when the request was due to be sent.
	Scheduled time.Time
	// Latency runs from Scheduled until the response was read or the
	// request failed; a timed-out request has a latency of at least the
	// timeout.
	Latency time.Duration
	Status  int
	// Err is a transport error, a timeout, ErrOverload or ErrStatus.
	Err error
}

// Failed reports whether the request counts as an error.
func (s Sample) Failed() bool { return s.Err != nil }

// Sentinel errors recorded in samples.
var (
	ErrOverload = errors.New("load: too many requests in flight")
	ErrStatus   = errors.New("load: server error status")
)

// Run sends requests until ctx is done, calling record (from many goroutines
// at once) with each outcome, and returns once every request in flight has
// ended. Requests still in flight when ctx is done are cancelled and not
// recorded.
//
// Samples are recorded as requests end, in any order; each carries the time
// it was scheduled, so a caller can attribute it to the moment it was sent. It returns an error only for an invalid Config.
func Run(ctx context.Context, cfg Config, record func(Sample)) error {
	if cfg.Rate <= 0 {
		return fmt.Errorf("load: rate %v must be above 0", cfg.Rate)
	}
	if len(cfg.Paths) == 0 {
		cfg.Paths = []string{"/"}
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodGet
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	client := cfg.Client
	if client == nil {
		tr := &http.Transport{
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		}
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr}
	}
	maxInFlight := cfg.MaxInFlight
	if maxInFlight <= 0 {
		maxInFlight = int(cfg.Rate*cfg.Timeout.Seconds()*2) + 64
	}
	slots := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()

	period := time.Duration(float64(time.Second) / cfg.Rate)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * period)
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			return nil // the timer and the end can be ready together
		}
		if cfg.Scheduled != nil {
			cfg.Scheduled(due)
		}
		select {
		case slots <- struct{}{}:
		default:
			record(Sample{Scheduled: due, Err: ErrOverload})
			continue
		}
		path := cfg.Paths[i%len(cfg.Paths)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if s := send(ctx, client, cfg, path, due); s.Err == nil || ctx.Err() == nil {
				record(s) // requests cut short by the end of the load are not outcomes
			}
		}()
	}
}

func send(ctx context.Context, client *http.Client, cfg Config, path string, due time.Time) Sample {
	s := Sample{Scheduled: due}
	// The deadline counts from the scheduled time: a request that could not
	// be sent on time has less time left, as it would for a real client.
	rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), due.Add(cfg.Timeout))
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	req, err := http.NewRequestWithContext(rctx, cfg.Method, cfg.BaseURL+path, nil)
	if err != nil {
		s.Err = err
		s.Latency = time.Since(due)
		return s
	}
	resp, err := client.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		s.Status = resp.StatusCode
		if err == nil && resp.StatusCode >= 500 {
			err = fmt.Errorf("%w %d", ErrStatus, resp.StatusCode)
		}
	}
	s.Latency = time.Since(due)
	s.Err = err
	return s
}
