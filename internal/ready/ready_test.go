package ready

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chaoslab-dev/chaoslab"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPoll(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	if err := Poll(ctx, srv.URL, 10*time.Second, time.Second, nil); err != nil {
		t.Fatalf("ready after two 503s: %v", err)
	}
	if calls.Load() != 3 {
		t.Errorf("%d GETs, want 3", calls.Load())
	}

	calls.Store(-1 << 20) // 503 from now on
	err := Poll(ctx, srv.URL, 100*time.Millisecond, time.Second, nil)
	if !errors.Is(err, chaoslab.ErrNotReady) {
		t.Errorf("never ready: %v, want ErrNotReady", err)
	}
	stopped := errors.New("gave up")
	if err := Poll(ctx, srv.URL, 10*time.Second, time.Second, func() error { return stopped }); !errors.Is(err, stopped) {
		t.Errorf("stop: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := Poll(cctx, srv.URL, 10*time.Second, time.Second, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if err := Poll(ctx, "http://[::1", time.Second, time.Second, nil); !errors.Is(err, chaoslab.ErrInvalid) {
		t.Errorf("bad URL: %v", err)
	}
}
