package netfault

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// medianOf returns the median of ds.
func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// timed sends one request and returns how long it took; it fails the test
// unless the answer is 200 "ok".
func (c *client) timed(t *testing.T, method, path string) time.Duration {
	t.Helper()
	start := time.Now()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("body")
	}
	code, b := c.do(t, method, path, body)
	el := time.Since(start)
	if code != 200 || b != "ok" {
		t.Fatalf("%s %s: %d %q", method, path, code, b)
	}
	return el
}

// The request goes upstream at once and the response waits the delay; after
// removal requests are fast again. Tolerances: a delayed request takes at
// least the delay (a timer never fires early) and its median at most 250 ms
// more; the request reaches upstream, in the median, within a third of the
// delay; undelayed requests take under 50 ms in the median.
func TestHTTPDelayHoldsTheResponse(t *testing.T) {
	arrived := make(chan time.Time, 16)
	up := newHTTPUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- time.Now()
		io.WriteString(w, "ok")
	}))
	p := startProxy(t, up.Listener.Addr().String(), WithHTTP())
	c := newClient(t, p)
	c.timed(t, "GET", "/") // connect
	<-arrived

	const delay = 150 * time.Millisecond
	remove := apply(t, p, HTTPDelay{Rate: 1, Delay: delay})
	var took, reached []time.Duration
	for range 5 {
		start := time.Now()
		el := c.timed(t, "GET", "/")
		took = append(took, el)
		reached = append(reached, (<-arrived).Sub(start))
		if el < delay {
			t.Fatalf("a delayed request took %v, want at least %v", el, delay)
		}
	}
	if m := medianOf(took); m > delay+250*time.Millisecond {
		t.Fatalf("median delayed request took %v, want %v to %v", m, delay, delay+250*time.Millisecond)
	}
	if m := medianOf(reached); m > delay/3 {
		t.Fatalf("requests reached upstream after %v in the median, want them forwarded at once", m)
	}
	remove()
	took = took[:0]
	for range 5 {
		took = append(took, c.timed(t, "GET", "/"))
		<-arrived
	}
	if m := medianOf(took); m > 50*time.Millisecond {
		t.Fatalf("after removal the median request took %v, want < 50ms", m)
	}
	if n := c.reused.Load(); n != 10 {
		t.Fatalf("client reused its connection %d times, want 10", n)
	}
}

// delayedSequence sends n serial GET requests through a new proxy with f
// and reports which ones took longer than f.Delay/2.
func delayedSequence(t *testing.T, f HTTPDelay, n int) []bool {
	up := newHTTPUpstream(t, okHandler())
	p := startProxy(t, up.Listener.Addr().String(), WithHTTP())
	apply(t, p, f)
	c := newClient(t, p)
	out := make([]bool, n)
	for i := range out {
		out[i] = c.timed(t, "GET", "/") > f.Delay/2
	}
	return out
}

// The share of delayed requests follows Rate, and the same seed delays the
// same requests: two loopback runs in parallel, each serial, are compared
// with each other and with the fault's own draws (a request counts as
// delayed when it took more than half the delay).
func TestHTTPDelayRateAndReplay(t *testing.T) {
	f := HTTPDelay{Rate: 0.5, Delay: 150 * time.Millisecond, Seed: 42}
	const n = 30
	var a, b []bool
	t.Run("runs", func(t *testing.T) {
		t.Run("a", func(t *testing.T) { t.Parallel(); a = delayedSequence(t, f, n) })
		t.Run("b", func(t *testing.T) { t.Parallel(); b = delayedSequence(t, f, n) })
	})
	if t.Failed() {
		return
	}
	delayed := 0
	for _, d := range a {
		if d {
			delayed++
		}
	}
	t.Logf("%d of %d requests delayed", delayed, n)
	if delayed < 6 || delayed > 24 {
		t.Fatalf("%d of %d requests delayed, want 20%% to 80%%", delayed, n)
	}
	if !slices.Equal(a, b) {
		t.Fatalf("the same seed delayed different requests:\n%v\n%v", a, b)
	}
	st := httpDelayState{f: f, rng: newRand(f.Seed)}
	want := make([]bool, n)
	for i := range want {
		_, want[i] = st.sample(getReq(t, "/"))
	}
	if !slices.Equal(a, want) {
		t.Fatalf("delayed requests on loopback:\n%v\nthe fault's draws:\n%v", a, want)
	}
	// Over more requests than loopback runs take, the share is close to
	// Rate.
	for range 2000 - n {
		if _, ok := st.sample(getReq(t, "/")); ok {
			delayed++
		}
	}
	if delayed < 900 || delayed > 1100 {
		t.Fatalf("%d of 2000 requests delayed, want 45%% to 55%%", delayed)
	}
}

// getReq returns a parsed request such as the proxy reads.
func getReq(t *testing.T, target string) *http.Request {
	return readReq(t, "GET", target)
}

func TestHTTPDelayJitterReplaysAndStaysInRange(t *testing.T) {
	f := HTTPDelay{Rate: 0.7, Delay: 100 * time.Millisecond, Jitter: 40 * time.Millisecond, Seed: 3}
	draws := func(f HTTPDelay) []time.Duration {
		st := httpDelayState{f: f, rng: newRand(f.Seed)}
		out := make([]time.Duration, 200)
		for i := range out {
			if d, ok := st.sample(getReq(t, "/")); ok {
				out[i] = d
			} else {
				out[i] = -1
			}
		}
		return out
	}
	a := draws(f)
	if !slices.Equal(a, draws(f)) {
		t.Fatal("the same seed gave other delays")
	}
	g := f
	g.Seed = 4
	if slices.Equal(a, draws(g)) {
		t.Fatal("another seed gave the same delays")
	}
	delayed, distinct := 0, map[time.Duration]bool{}
	for _, d := range a {
		if d == -1 {
			continue
		}
		delayed++
		distinct[d] = true
		if d < 60*time.Millisecond || d > 140*time.Millisecond {
			t.Fatalf("delay %v outside 100ms±40ms", d)
		}
	}
	if delayed < 120 || delayed > 160 || len(distinct) < delayed/2 {
		t.Fatalf("%d of 200 delayed with %d distinct delays, want about 140 spread out", delayed, len(distinct))
	}
}

// An injected error answer waits the delay too, and the delays of several
// HTTPDelays and a Latency add up.
func TestHTTPDelayAddsUp(t *testing.T) {
	up := newHTTPUpstream(t, okHandler())
	p := startProxy(t, up.Listener.Addr().String(), WithHTTP())
	c := newClient(t, p)
	apply(t, p, HTTPDelay{Rate: 1, Delay: 60 * time.Millisecond})
	apply(t, p, HTTPDelay{Rate: 1, Delay: 40 * time.Millisecond, HTTPMatch: HTTPMatch{PathPrefix: "/both"}})
	apply(t, p, Latency{Latency: 50 * time.Millisecond, Direction: Downstream})
	if el := c.timed(t, "GET", "/both"); el < 150*time.Millisecond || el > time.Second {
		t.Fatalf("request under 60+40+50ms of delays took %v", el)
	}
	removeErr := apply(t, p, HTTPError{Rate: 1, Status: 500})
	start := time.Now()
	if code, _ := c.do(t, "GET", "/", nil); code != 500 {
		t.Fatalf("status %d, want 500", code)
	}
	if el := time.Since(start); el < 110*time.Millisecond || el > time.Second {
		t.Fatalf("injected answer under 60+50ms of delays took %v", el)
	}
	removeErr()
	if n := up.hits.Load(); n != 1 {
		t.Fatalf("upstream saw %d requests, want 1", n)
	}
}

func TestHTTPDelayChecksValues(t *testing.T) {
	tcp := startProxy(t, echoServer(t))
	if _, err := tcp.Apply(HTTPDelay{Rate: 1, Delay: time.Second}); !errors.Is(err, chaoslab.ErrUnsupported) || !strings.Contains(err.Error(), "http_delay") {
		t.Fatalf("HTTPDelay on a TCP proxy: %v, want ErrUnsupported", err)
	}
	h := startProxy(t, echoServer(t), WithHTTP())
	for _, c := range []struct {
		f     Fault
		field string
	}{
		{HTTPDelay{Rate: -0.1}, "rate"},
		{HTTPDelay{Rate: 1.5}, "rate"},
		{HTTPDelay{Rate: nan()}, "rate"},
		{HTTPDelay{Rate: 1, Delay: -time.Millisecond}, "delay"},
		{HTTPDelay{Rate: 1, Jitter: -time.Millisecond}, "jitter"},
		{HTTPDelay{Rate: 1, HTTPMatch: HTTPMatch{Method: "GE T"}}, "method"},
		{HTTPDelay{Rate: 1, HTTPMatch: HTTPMatch{PathPrefix: "api/"}}, "path_prefix"},
		{(*HTTPDelay)(nil), "nil"},
	} {
		_, err := h.Apply(c.f)
		if !errors.Is(err, chaoslab.ErrInvalid) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("Apply(%v) = %v, want ErrInvalid naming %s", c.f, err, c.field)
		}
	}
	if h.faults.Load().all != nil {
		t.Fatal("a rejected fault was added")
	}
	if _, err := h.Apply(&HTTPDelay{Delay: time.Second}); err != nil {
		t.Fatalf("Apply(&HTTPDelay{}) = %v", err)
	}
	if s := (HTTPDelay{Rate: 0.25, Delay: time.Second, HTTPMatch: HTTPMatch{Method: "GET", PathPrefix: "/a"}}).String(); s != "http_delay 25% 1s±0s GET /a*" {
		t.Errorf("String() = %q", s)
	}
}

func TestHTTPDelayFromLinkFault(t *testing.T) {
	for _, c := range []struct {
		params chaoslab.Params
		want   Fault
	}{
		{chaoslab.Params{"delay": "200ms"}, HTTPDelay{Rate: 1, Delay: 200 * time.Millisecond, Seed: 5}},
		{chaoslab.Params{"delay": "1s", "jitter": "100ms", "rate": "25%", "method": "POST", "path_prefix": "/api/"},
			HTTPDelay{Rate: 0.25, Delay: time.Second, Jitter: 100 * time.Millisecond, HTTPMatch: HTTPMatch{Method: "POST", PathPrefix: "/api/"}, Seed: 5}},
		{chaoslab.Params{"delay": "0s", "jitter": "", "rate": "0"}, HTTPDelay{Seed: 5}},
	} {
		got, err := FromLinkFault(chaoslab.LinkFault{Kind: "http_delay", Params: c.params, Seed: 5})
		if err != nil || got != c.want {
			t.Errorf("%v: %#v, %v; want %#v", c.params, got, err, c.want)
		}
	}
	for _, bad := range []chaoslab.Params{
		{},
		{"delay": "soon"},
		{"delay": "-1s"},
		{"delay": "1s", "jitter": "x"},
		{"delay": "1s", "rate": "2"},
		{"delay": "1s", "method": "G(T"},
		{"delay": "1s", "path_prefix": "api"},
	} {
		_, err := FromLinkFault(chaoslab.LinkFault{Kind: "http_delay", Params: bad})
		if !errors.Is(err, chaoslab.ErrInvalid) || !strings.Contains(err.Error(), "http_delay") {
			t.Errorf("%v: %v, want ErrInvalid naming http_delay", bad, err)
		}
	}
}
