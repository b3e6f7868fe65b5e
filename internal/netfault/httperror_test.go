package netfault

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// An aborted request gets a TCP reset and no byte of answer, reaches no
// one, and the abort ends with the fault's removal.
func TestHTTPErrorAbortResets(t *testing.T) {
	up := newHTTPUpstream(t, okHandler())
	p := startProxy(t, up.Listener.Addr().String(), WithHTTP())
	remove := apply(t, p, HTTPError{Rate: 1, Status: 500, Abort: true})

	c := dial(t, p.Addr())
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	got, err := io.ReadAll(c)
	if !errors.Is(err, syscall.ECONNRESET) || len(got) != 0 {
		t.Fatalf("read %q, %v; want nothing and a connection reset", got, err)
	}

	// A client still sending a large body fails too, without an answer.
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, _ := http.NewRequestWithContext(t.Context(), "POST", "http://"+p.Addr()+"/", bytes.NewReader(make([]byte, 4<<20)))
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("POST of 4 MiB under abort: %d, want an error", resp.StatusCode)
	}
	if n := up.hits.Load(); n != 0 {
		t.Fatalf("upstream saw %d requests, want 0", n)
	}

	remove()
	if code, b := newClient(t, p).do(t, "POST", "/", strings.NewReader("x")); code != 200 || b != "ok" {
		t.Fatalf("after removal: %d %q", code, b)
	}
}

// abortSequence sends n GET requests, each on a new connection, through a
// new proxy with f, and reports which ones failed. A new connection each
// time keeps Go's transport from resending a request it could not get an
// answer to on a reused connection.
func abortSequence(t *testing.T, f HTTPError, n int) []bool {
	up := newHTTPUpstream(t, okHandler())
	p := startProxy(t, up.Listener.Addr().String(), WithHTTP())
	apply(t, p, f)
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	out := make([]bool, n)
	for i := range out {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+p.Addr()+"/", nil)
		resp, err := hc.Do(req)
		if err != nil {
			out[i] = true
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("request %d: %d %q %v", i, resp.StatusCode, b, err)
		}
	}
	failed := 0
	for _, a := range out {
		if a {
			failed++
		}
	}
	if got := int64(n - failed); up.hits.Load() != got {
		t.Fatalf("upstream saw %d requests, want the %d not aborted", up.hits.Load(), got)
	}
	return out
}

func TestHTTPErrorAbortRateAndReplay(t *testing.T) {
	f := HTTPError{Rate: 0.5, Abort: true, Seed: 11}
	const n = 100
	a := abortSequence(t, f, n)
	failed := 0
	for _, x := range a {
		if x {
			failed++
		}
	}
	t.Logf("%d of %d requests aborted", failed, n)
	if failed < 30 || failed > 70 {
		t.Fatalf("%d of %d requests aborted, want 30%% to 70%%", failed, n)
	}
	if b := abortSequence(t, f, n); !slices.Equal(a, b) {
		t.Fatal("the same seed aborted other requests")
	}
}

// A fault acts on the requests it matches only.
func TestHTTPErrorMatches(t *testing.T) {
	up := newHTTPUpstream(t, okHandler())
	p := startProxy(t, up.Listener.Addr().String(), WithHTTP())
	apply(t, p, HTTPError{Rate: 1, Status: 500, HTTPMatch: HTTPMatch{Method: "POST", PathPrefix: "/api/"}})
	apply(t, p, HTTPError{Rate: 1, Status: 418, HTTPMatch: HTTPMatch{Method: "DELETE"}})
	c := newClient(t, p)
	for _, r := range []struct {
		method, path string
		want         int
	}{
		{"POST", "/api/orders", 500},
		{"POST", "/api/", 500},
		{"POST", "/api/orders?x=1", 500},
		{"POST", "/api", 200},
		{"POST", "/other/api/", 200},
		{"GET", "/api/orders", 200},
		{"PUT", "/api/orders", 200},
		{"DELETE", "/api/orders", 418},
		{"DELETE", "/", 418},
	} {
		var body io.Reader
		if r.method == "POST" || r.method == "PUT" {
			body = strings.NewReader("body")
		}
		if code, _ := c.do(t, r.method, r.path, body); code != r.want {
			t.Errorf("%s %s: %d, want %d", r.method, r.path, code, r.want)
		}
	}
	if n := up.hits.Load(); n != 4 {
		t.Fatalf("upstream saw %d requests, want 4", n)
	}
}

// Requests a fault does not match draw nothing from its sequence: the
// requests it matches fail the same way whatever is sent in between.
func TestHTTPErrorSkipsUnmatchedDraws(t *testing.T) {
	f := HTTPError{Rate: 0.5, Status: 500, Seed: 9, HTTPMatch: HTTPMatch{PathPrefix: "/a/"}}
	run := func(between bool) []int {
		up := newHTTPUpstream(t, okHandler())
		p := startProxy(t, up.Listener.Addr().String(), WithHTTP())
		apply(t, p, f)
		c := newClient(t, p)
		var out []int
		for range 40 {
			if between {
				if code, _ := c.do(t, "GET", "/b", nil); code != 200 {
					t.Fatalf("unmatched request: %d", code)
				}
			}
			code, _ := c.do(t, "GET", "/a/x", nil)
			out = append(out, code)
		}
		return out
	}
	alone, mixed := run(false), run(true)
	if !slices.Equal(alone, mixed) {
		t.Fatalf("unmatched requests changed the sequence:\n%v\n%v", alone, mixed)
	}
	if !slices.Contains(alone, 500) || !slices.Contains(alone, 200) {
		t.Fatalf("statuses %v, want both 200 and 500", alone)
	}
}

func TestHTTPErrorChecksMatch(t *testing.T) {
	h := startProxy(t, echoServer(t), WithHTTP())
	for _, c := range []struct {
		f     HTTPError
		field string
	}{
		{HTTPError{Rate: 1, HTTPMatch: HTTPMatch{Method: "GET /"}}, "method"},
		{HTTPError{Rate: 1, HTTPMatch: HTTPMatch{PathPrefix: "*"}}, "path_prefix"},
		{HTTPError{Rate: 1, Abort: true, Status: 42}, "status"},
	} {
		_, err := h.Apply(c.f)
		if !errors.Is(err, chaoslab.ErrInvalid) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("Apply(%v) = %v, want ErrInvalid naming %s", c.f, err, c.field)
		}
	}
	for f, want := range map[HTTPError]string{
		{Rate: 0.5}:            "http_errors 50% status 503",
		{Rate: 1, Abort: true}: "http_errors 100% abort",
		{Rate: 0.1, Status: 500, HTTPMatch: HTTPMatch{Method: "PUT", PathPrefix: "/x/"}}: "http_errors 10% status 500 PUT /x/*",
	} {
		if s := f.String(); s != want {
			t.Errorf("String() = %q, want %q", s, want)
		}
	}
}

func TestHTTPErrorFromLinkFault(t *testing.T) {
	for _, c := range []struct {
		params chaoslab.Params
		want   Fault
	}{
		{chaoslab.Params{"rate": "1", "status": "503", "abort": "true"}, HTTPError{Rate: 1, Status: 503, Abort: true, Seed: 5}},
		{chaoslab.Params{"rate": "0.5", "abort": "false", "method": "GET", "path_prefix": "/v1"},
			HTTPError{Rate: 0.5, Status: 503, HTTPMatch: HTTPMatch{Method: "GET", PathPrefix: "/v1"}, Seed: 5}},
	} {
		got, err := FromLinkFault(chaoslab.LinkFault{Kind: "http_errors", Params: c.params, Seed: 5})
		if err != nil || got != c.want {
			t.Errorf("%v: %#v, %v; want %#v", c.params, got, err, c.want)
		}
	}
	for _, bad := range []chaoslab.Params{
		{"rate": "1", "abort": "yes"},
		{"rate": "1", "method": "G T"},
		{"rate": "1", "path_prefix": "v1"},
	} {
		_, err := FromLinkFault(chaoslab.LinkFault{Kind: "http_errors", Params: bad})
		if !errors.Is(err, chaoslab.ErrInvalid) || !strings.Contains(err.Error(), "http_errors") {
			t.Errorf("%v: %v, want ErrInvalid naming http_errors", bad, err)
		}
	}
}
