package netfault

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

func TestCloseWithOpenConnections(t *testing.T) {
	// TCP: one idle connection and one with data waiting in a delay queue.
	tp := New(echoServer(t))
	if tp.Addr() != "" {
		t.Fatalf("Addr before Start = %q", tp.Addr())
	}
	if err := tp.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := tp.Start(t.Context()); err == nil {
		t.Fatal("second Start succeeded")
	}
	apply(t, tp, Latency{Latency: time.Minute})
	idle := dial(t, tp.Addr())
	busy := dial(t, tp.Addr())
	busy.Write([]byte("waits a minute"))
	waitFor(t, func() bool { return int(tp.queued.Load()) > 0 })

	// HTTP: one request in flight upstream.
	started := make(chan struct{})
	up := newHTTPUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	}))
	hp := New(up.Listener.Addr().String(), WithHTTP(), WithLogger(slog.New(slog.DiscardHandler)))
	if err := hp.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, hp)
	failed := make(chan error, 1)
	go func() {
		resp, err := c.Get(c.base + "/")
		if err == nil {
			resp.Body.Close()
		}
		failed <- err
	}()
	<-started

	closed := make(chan error, 2)
	go func() { closed <- tp.Close() }()
	go func() { closed <- hp.Close() }()
	for range 2 {
		select {
		case err := <-closed:
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return within 5s")
		}
	}
	waitClosed(t, idle)
	waitClosed(t, busy)
	if err := <-failed; err == nil {
		t.Fatal("in-flight request succeeded after Close")
	}
	if err := tp.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := tp.Start(t.Context()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if _, err := tp.ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want the listener closed", err)
	}
}

func TestApplyRejectsWhatCannotWork(t *testing.T) {
	tcp := startProxy(t, echoServer(t))
	f, err := FromLinkFault(chaoslab.LinkFault{Kind: "http_errors", Params: chaoslab.Params{"rate": "50%"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tcp.Apply(f); !errors.Is(err, chaoslab.ErrUnsupported) || !strings.Contains(err.Error(), "HTTP mode") {
		t.Fatalf("Apply(http_errors) on TCP proxy: %v, want ErrUnsupported", err)
	}
	if _, err := tcp.Apply(&HTTPError{}); !errors.Is(err, chaoslab.ErrUnsupported) {
		t.Fatalf("Apply(&HTTPError{}) on TCP proxy: %v, want ErrUnsupported", err)
	}
	for _, bad := range []Fault{
		Latency{Latency: -time.Second},
		Latency{Direction: 7},
		(*Latency)(nil),
		(*HTTPError)(nil),
		nil,
	} {
		if _, err := tcp.Apply(bad); !errors.Is(err, chaoslab.ErrInvalid) {
			t.Errorf("Apply(%v) = %v, want ErrInvalid", bad, err)
		}
	}
	h := startProxy(t, echoServer(t), WithHTTP())
	for _, bad := range []Fault{HTTPError{Rate: 2}, HTTPError{Rate: 0.5, Status: 99}} {
		if _, err := h.Apply(bad); !errors.Is(err, chaoslab.ErrInvalid) {
			t.Errorf("Apply(%v) on HTTP proxy = %v, want ErrInvalid", bad, err)
		}
	}
	if tcp.faults.Load().all != nil || h.faults.Load().all != nil {
		t.Fatal("a rejected fault was added")
	}
	// The TCP proxy still works.
	if d := roundTrip(t, dial(t, tcp.Addr())); d > time.Second {
		t.Fatalf("round trip %v", d)
	}
}

func TestFromLinkFault(t *testing.T) {
	tests := []struct {
		kind    string
		params  chaoslab.Params
		want    Fault
		wantErr error
	}{
		{"network_delay", chaoslab.Params{"latency": "200ms"}, Latency{Latency: 200 * time.Millisecond, Seed: 9}, nil},
		{"network_delay", chaoslab.Params{"latency": "1s", "jitter": "0s", "direction": "both"}, Latency{Latency: time.Second, Direction: Both, Seed: 9}, nil},
		{"network_delay", chaoslab.Params{"latency": "50ms", "jitter": "10ms", "direction": "downstream"}, Latency{Latency: 50 * time.Millisecond, Jitter: 10 * time.Millisecond, Direction: Downstream, Seed: 9}, nil},
		{"network_delay", chaoslab.Params{}, nil, chaoslab.ErrInvalid},
		{"network_delay", chaoslab.Params{"latency": "soon"}, nil, chaoslab.ErrInvalid},
		{"network_delay", chaoslab.Params{"latency": "1s", "direction": "sideways"}, nil, chaoslab.ErrInvalid},
		{"http_errors", chaoslab.Params{"rate": "0.5"}, HTTPError{Rate: 0.5, Status: 503, Seed: 9}, nil},
		{"http_errors", chaoslab.Params{"rate": "25%", "status": "500"}, HTTPError{Rate: 0.25, Status: 500, Seed: 9}, nil},
		{"http_errors", chaoslab.Params{"rate": "150%"}, nil, chaoslab.ErrInvalid},
		{"http_errors", chaoslab.Params{"rate": "1", "status": "42"}, nil, chaoslab.ErrInvalid},
		{"http_errors", nil, nil, chaoslab.ErrInvalid},
		{"cpu_stress", chaoslab.Params{"percent": "50"}, nil, chaoslab.ErrUnsupported},
	}
	for _, tt := range tests {
		got, err := FromLinkFault(chaoslab.LinkFault{Kind: tt.kind, Params: tt.params, Seed: 9})
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("%s %v: error %v, want %v", tt.kind, tt.params, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("%s %v: %#v, want %#v", tt.kind, tt.params, got, tt.want)
		}
		if err != nil && !strings.Contains(err.Error(), tt.kind) {
			t.Errorf("error %q does not name %s", err, tt.kind)
		}
	}
}

func TestDirectionStrings(t *testing.T) {
	for _, d := range []Direction{Upstream, Downstream, Both} {
		got, err := ParseDirection(d.String())
		if err != nil || got != d {
			t.Errorf("ParseDirection(%q) = %v, %v", d, got, err)
		}
	}
	if s := Direction(5).String(); s != "Direction(5)" {
		t.Errorf("Direction(5).String() = %q", s)
	}
}
