package netfault

import (
	"bufio"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func nan() float64 { return math.NaN() }

// readReq parses a request line as the proxy does.
func readReq(t *testing.T, method, target string) *http.Request {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(method + " " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestHTTPMatchMatches(t *testing.T) {
	for _, c := range []struct {
		m              HTTPMatch
		method, target string
		want           bool
	}{
		{HTTPMatch{}, "GET", "/", true},
		{HTTPMatch{}, "OPTIONS", "*", true},
		{HTTPMatch{Method: "GET"}, "GET", "/x", true},
		{HTTPMatch{Method: "GET"}, "HEAD", "/x", false},
		{HTTPMatch{Method: "get"}, "GET", "/x", false},
		{HTTPMatch{Method: "PURGE"}, "PURGE", "/x", true},
		{HTTPMatch{PathPrefix: "/"}, "GET", "/x", true},
		{HTTPMatch{PathPrefix: "/"}, "OPTIONS", "*", false},
		{HTTPMatch{PathPrefix: "/api"}, "GET", "/api", true},
		{HTTPMatch{PathPrefix: "/api"}, "GET", "/apix", true},
		{HTTPMatch{PathPrefix: "/api/"}, "GET", "/api", false},
		{HTTPMatch{PathPrefix: "/api/"}, "GET", "/api/v1?q=/api/", true},
		{HTTPMatch{PathPrefix: "/api/"}, "GET", "/x?q=/api/", false},
		{HTTPMatch{PathPrefix: "/a b/"}, "GET", "/a%20b/c", true},
		{HTTPMatch{PathPrefix: "/api/"}, "GET", "http://example.com/api/v1", true},
		{HTTPMatch{Method: "POST", PathPrefix: "/api/"}, "POST", "/api/v1", true},
		{HTTPMatch{Method: "POST", PathPrefix: "/api/"}, "GET", "/api/v1", false},
		{HTTPMatch{Method: "POST", PathPrefix: "/api/"}, "POST", "/v1", false},
	} {
		if got := c.m.matches(readReq(t, c.method, c.target)); got != c.want {
			t.Errorf("%+v on %s %s: %v, want %v", c.m, c.method, c.target, got, c.want)
		}
	}
}

func TestHTTPMatchCheck(t *testing.T) {
	for _, ok := range []HTTPMatch{{}, {Method: "GET"}, {Method: "M-SEARCH"}, {Method: "get"}, {PathPrefix: "/"}, {PathPrefix: "/api/"}} {
		if err := ok.check(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	for _, bad := range []HTTPMatch{{Method: " GET"}, {Method: "GET\r\n"}, {Method: "GÉT"}, {Method: "(GET)"}, {PathPrefix: "api"}, {PathPrefix: "*"}} {
		if err := bad.check(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// On loopback, an HTTPDelay holds the responses to the requests it matches
// only: those take at least the delay, the others well under it.
func TestHTTPDelayMatches(t *testing.T) {
	up := newHTTPUpstream(t, okHandler())
	p := startProxy(t, up.Listener.Addr().String(), WithHTTP())
	const delay = 150 * time.Millisecond
	apply(t, p, HTTPDelay{Rate: 1, Delay: delay, HTTPMatch: HTTPMatch{Method: "GET", PathPrefix: "/slow/"}})
	c := newClient(t, p)
	c.timed(t, "GET", "/") // connect
	for _, r := range []struct {
		method, path string
		delayed      bool
	}{
		{"GET", "/slow/x", true},
		{"GET", "/slow/", true},
		{"GET", "/slow", false},
		{"POST", "/slow/x", false},
		{"GET", "/fast", false},
	} {
		el := c.timed(t, r.method, r.path)
		if r.delayed && el < delay || !r.delayed && el >= delay {
			t.Errorf("%s %s took %v; delayed %v by %v", r.method, r.path, el, r.delayed, delay)
		}
	}
}

// Requests an HTTPDelay does not match draw nothing from its sequence.
func TestHTTPDelaySkipsUnmatchedDraws(t *testing.T) {
	f := HTTPDelay{Rate: 0.5, Delay: time.Second, Jitter: 500 * time.Millisecond, Seed: 8, HTTPMatch: HTTPMatch{Method: "GET"}}
	alone := httpDelayState{f: f, rng: newRand(f.Seed)}
	mixed := httpDelayState{f: f, rng: newRand(f.Seed)}
	var a, b []time.Duration
	for range 100 {
		d, _ := alone.sample(readReq(t, "GET", "/"))
		a = append(a, d)
		if d, ok := mixed.sample(readReq(t, "POST", "/")); ok || d != 0 {
			t.Fatalf("an unmatched request was delayed by %v", d)
		}
		d, _ = mixed.sample(readReq(t, "GET", "/"))
		b = append(b, d)
	}
	if !slices.Equal(a, b) {
		t.Fatal("unmatched requests changed the sequence")
	}
}
