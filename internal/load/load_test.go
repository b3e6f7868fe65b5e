package load

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func collect(t *testing.T, h http.Handler, cfg Config, d time.Duration) []Sample {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	cfg.BaseURL = srv.URL
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var out []Sample
	if err := Run(ctx, cfg, func(s Sample) { mu.Lock(); out = append(out, s); mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRateIsOpenModel(t *testing.T) {
	var hits atomic.Int64
	// A handler slower than the request period: a closed-model generator
	// with one worker would send far fewer requests.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		time.Sleep(50 * time.Millisecond)
	})
	samples := collect(t, h, Config{Rate: 200, Timeout: time.Second}, time.Second)
	// 200 rps for 1 s: allow wide slack for a loaded machine, but far above
	// the 20 a single closed-loop worker could do.
	if n := len(samples); n < 100 || n > 210 {
		t.Fatalf("recorded %d samples in 1s at 200 rps", n)
	}
	for _, s := range samples {
		if s.Err != nil {
			t.Fatalf("unexpected error: %v", s.Err)
		}
		if s.Latency < 50*time.Millisecond {
			t.Fatalf("latency %v below the handler's 50ms", s.Latency)
		}
	}
}

func TestServerErrorsAndTimeouts(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	samples := collect(t, h, Config{Rate: 50, Paths: []string{"/", "/slow"}, Timeout: 100 * time.Millisecond}, 700*time.Millisecond)
	var status, timeouts int
	for _, s := range samples {
		switch {
		case errors.Is(s.Err, ErrStatus):
			status++
		case s.Err != nil:
			timeouts++
			if s.Latency < 100*time.Millisecond {
				t.Errorf("timed-out request has latency %v, below the timeout", s.Latency)
			}
		default:
			t.Errorf("request to %d succeeded", s.Status)
		}
	}
	if status == 0 || timeouts == 0 {
		t.Fatalf("status errors %d, timeouts %d: want both", status, timeouts)
	}
}

func TestInvalidRate(t *testing.T) {
	if err := Run(context.Background(), Config{Rate: 0}, func(Sample) {}); err == nil {
		t.Fatal("rate 0 accepted")
	}
}

func TestOverloadAndScheduledCallback(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer close(release)
	var scheduled atomic.Int64
	var mu sync.Mutex
	var samples []Sample
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := Run(ctx, Config{BaseURL: srv.URL, Rate: 100, Timeout: 5 * time.Second, MaxInFlight: 1,
		Scheduled: func(time.Time) { scheduled.Add(1) }},
		func(s Sample) { mu.Lock(); samples = append(samples, s); mu.Unlock() })
	require.NoError(t, err)
	// One request hangs in flight (cut short at the end, not recorded);
	// every other one was refused for overload.
	assert.EqualValues(t, len(samples)+1, scheduled.Load())
	assert.Greater(t, len(samples), 20)
	for _, s := range samples {
		assert.ErrorIs(t, s.Err, ErrOverload)
	}
}
