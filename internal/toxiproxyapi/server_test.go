package toxiproxyapi

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

func TestVersion(t *testing.T) {
	a := newAPI(t)
	if m := a.must(http.StatusOK, "GET", "/version", nil); m["version"] != DefaultVersion {
		t.Fatalf("version %v", m)
	}
	b := newAPI(t, WithVersion("9.9.9"))
	if m := b.must(http.StatusOK, "GET", "/version", nil); m["version"] != "9.9.9" {
		t.Fatalf("version %v", m)
	}
}

func TestProxyEndpoints(t *testing.T) {
	a := newAPI(t)
	up := echoServer(t)

	m := a.must(http.StatusCreated, "POST", "/proxies", map[string]any{"name": "db", "listen": "localhost:0", "upstream": up})
	listen := m["listen"].(string)
	if host, port, _ := net.SplitHostPort(listen); host != "127.0.0.1" || port == "0" {
		t.Fatalf("listen %q: want the bound loopback address", listen)
	}
	if m["name"] != "db" || m["upstream"] != up || m["enabled"] != true {
		t.Fatalf("created %v", m)
	}
	if tx, ok := m["toxics"].([]any); !ok || len(tx) != 0 {
		t.Fatalf("toxics %#v, want []", m["toxics"])
	}
	roundTrip(t, dial(t, listen))

	a.fails(http.StatusConflict, "proxy already exists", "POST", "/proxies", map[string]any{"name": "db", "upstream": up})
	a.fails(http.StatusBadRequest, "missing required field: name", "POST", "/proxies", map[string]any{"upstream": up})
	a.fails(http.StatusBadRequest, "missing required field: upstream", "POST", "/proxies", map[string]any{"name": "x"})
	a.fails(http.StatusBadRequest, "bad request body", "POST", "/proxies", "{nope")
	a.fails(http.StatusInternalServerError, "address already in use", "POST", "/proxies", map[string]any{"name": "clash", "listen": listen, "upstream": up})
	a.fails(http.StatusNotFound, "proxy not found", "GET", "/proxies/nope", nil)
	a.fails(http.StatusNotFound, "proxy not found", "POST", "/proxies/nope", map[string]any{"enabled": false})
	a.fails(http.StatusNotFound, "proxy not found", "DELETE", "/proxies/nope", nil)

	if m := a.must(http.StatusOK, "GET", "/proxies/db", nil); m["listen"] != listen {
		t.Fatalf("show %v", m)
	}
	all := a.must(http.StatusOK, "GET", "/proxies", nil)
	if len(all) != 1 || all["db"].(map[string]any)["listen"] != listen {
		t.Fatalf("index %v", all)
	}

	// Disabling closes the listener and the connections; enabling
	// listens on the same address again.
	c := dial(t, listen)
	roundTrip(t, c)
	if m := a.must(http.StatusOK, "POST", "/proxies/db", map[string]any{"enabled": false}); m["enabled"] != false || m["listen"] != listen {
		t.Fatalf("disabled %v", m)
	}
	if _, err := readAll(c); err != nil && !isReset(err) {
		t.Fatalf("connection through a disabled proxy: %v", err)
	}
	if _, err := net.Dial("tcp", listen); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial a disabled proxy: %v, want refused", err)
	}
	if m := a.must(http.StatusOK, "PATCH", "/proxies/db", map[string]any{"enabled": true}); m["enabled"] != true || m["listen"] != listen {
		t.Fatalf("enabled %v", m)
	}
	roundTrip(t, dial(t, listen))

	// Another upstream restarts the proxy on the same address.
	up2 := sourceServer(t, 5)
	if m := a.must(http.StatusOK, "POST", "/proxies/db", map[string]any{"upstream": up2}); m["upstream"] != up2 || m["listen"] != listen || m["enabled"] != true {
		t.Fatalf("changed %v", m)
	}
	if data, err := readAll(dial(t, listen)); string(data) != "sssss" || err != nil {
		t.Fatalf("through the new upstream: %q, %v", data, err)
	}

	a.must(http.StatusNoContent, "DELETE", "/proxies/db", nil)
	a.fails(http.StatusNotFound, "proxy not found", "GET", "/proxies/db", nil)
	if _, err := net.Dial("tcp", listen); err == nil {
		t.Fatal("a deleted proxy still listens")
	}
	if all := a.must(http.StatusOK, "GET", "/proxies", nil); len(all) != 0 {
		t.Fatalf("index after delete %v", all)
	}
}

func TestCreateDisabledProxy(t *testing.T) {
	a := newAPI(t)
	up := echoServer(t)
	m := a.must(http.StatusCreated, "POST", "/proxies", map[string]any{"name": "off", "listen": "127.0.0.1:0", "upstream": up, "enabled": false})
	if m["enabled"] != false || m["listen"] != "127.0.0.1:0" {
		t.Fatalf("created %v", m)
	}
	// Toxics may be added while it is disabled, and act once enabled.
	a.toxic("off", map[string]any{"type": "limit_data", "attributes": map[string]any{"bytes": 3}})
	m = a.must(http.StatusOK, "POST", "/proxies/off", map[string]any{"enabled": true})
	c := dial(t, m["listen"].(string))
	c.Write([]byte("hello"))
	if data, _ := readAll(c); string(data) != "hel" {
		t.Fatalf("got %q through limit_data 3", data)
	}
}

func TestToxicEndpoints(t *testing.T) {
	a := newAPI(t)
	a.proxy("db", echoServer(t))

	m := a.toxic("db", map[string]any{"type": "latency", "attributes": map[string]any{"latency": 10}})
	want := map[string]any{"name": "latency_downstream", "type": "latency", "stream": "downstream", "toxicity": float64(1),
		"attributes": map[string]any{"latency": float64(10), "jitter": float64(0)}}
	assertJSON(t, m, want)
	a.fails(http.StatusConflict, "toxic already exists", "POST", "/proxies/db/toxics", map[string]any{"type": "latency"})
	a.toxic("db", map[string]any{"name": "up", "type": "bandwidth", "stream": "Upstream", "toxicity": 0.5, "attributes": map[string]any{"rate": 100}})

	list := func() []any {
		_, v := a.do("GET", "/proxies/db/toxics", nil)
		return v.([]any)
	}
	if l := list(); len(l) != 2 || l[0].(map[string]any)["name"] != "up" || l[1].(map[string]any)["name"] != "latency_downstream" {
		t.Fatalf("toxics %v: want upstream ones first", l)
	}
	if m := a.must(http.StatusOK, "GET", "/proxies/db/toxics/up", nil); m["toxicity"] != 0.5 || m["stream"] != "upstream" {
		t.Fatalf("show %v", m)
	}
	if p := a.must(http.StatusOK, "GET", "/proxies/db", nil); len(p["toxics"].([]any)) != 2 {
		t.Fatalf("proxy %v", p)
	}

	// Updates merge the attributes and keep the toxicity unless given.
	m = a.must(http.StatusOK, "POST", "/proxies/db/toxics/latency_downstream", map[string]any{"attributes": map[string]any{"jitter": 5}})
	want["attributes"] = map[string]any{"latency": float64(10), "jitter": float64(5)}
	assertJSON(t, m, want)
	m = a.must(http.StatusOK, "PATCH", "/proxies/db/toxics/up", map[string]any{"toxicity": 0.25})
	if m["toxicity"] != 0.25 || m["attributes"].(map[string]any)["rate"] != float64(100) {
		t.Fatalf("updated %v", m)
	}

	for _, tc := range []struct {
		status int
		msg    string
		body   any
	}{
		{400, "stream was invalid", map[string]any{"type": "latency", "stream": "sideways"}},
		{400, `invalid toxic type "nope"`, map[string]any{"type": "nope"}},
		{400, "invalid toxic type", map[string]any{}},
		{400, `unsupported toxic type "slow_close"`, map[string]any{"type": "slow_close", "attributes": map[string]any{"delay": 10}}},
		{400, "toxicity 0.5 is not supported", map[string]any{"type": "latency", "name": "l2", "toxicity": 0.5}},
		{400, "toxicity 2 must be from 0 to 1", map[string]any{"type": "timeout", "toxicity": 2}},
		{400, "bad request body", map[string]any{"type": "latency", "name": "l3", "attributes": map[string]any{"latency": "100"}}},
		{400, "bad request body", "[1,2"},
		{400, "latency: latency -1", map[string]any{"type": "latency", "name": "l4", "attributes": map[string]any{"latency": -1}}},
		{400, "slicer: average_size 0", map[string]any{"type": "slicer", "attributes": map[string]any{"average_size": 0}}},
		{400, "slicer: average_size 10", map[string]any{"type": "slicer", "attributes": map[string]any{"average_size": 10, "size_variation": 10}}},
		{400, "bandwidth: rate -1", map[string]any{"type": "bandwidth", "attributes": map[string]any{"rate": -1}}},
		{400, "limit_data: bytes -1", map[string]any{"type": "limit_data", "attributes": map[string]any{"bytes": -1}}},
		{400, "timeout: timeout -1", map[string]any{"type": "timeout", "attributes": map[string]any{"timeout": -1}}},
		{400, "reset_peer: timeout -1", map[string]any{"type": "reset_peer", "attributes": map[string]any{"timeout": -1}}},
		{400, `"link" is not an attribute of network_delay`, map[string]any{"type": "network_delay", "attributes": map[string]any{"link": "db"}}},
		{400, "must be a positive duration", map[string]any{"type": "network_delay", "attributes": map[string]any{"latency": "soon"}}},
		{400, "stream \"sideways\" is invalid", map[string]any{"type": "network_loss", "stream": "sideways"}},
		{400, "attributes: x: ", map[string]any{"type": "network_loss", "attributes": map[string]any{"x": []int{1}}}},
		{400, "unsupported toxic type \"http_errors\"", map[string]any{"type": "http_errors", "attributes": map[string]any{"rate": "1"}}},
	} {
		a.fails(tc.status, tc.msg, "POST", "/proxies/db/toxics", tc.body)
	}
	a.fails(404, "proxy not found", "POST", "/proxies/nope/toxics", map[string]any{"type": "latency"})
	a.fails(404, "proxy not found", "GET", "/proxies/nope/toxics", nil)
	a.fails(404, "toxic not found", "GET", "/proxies/db/toxics/nope", nil)
	a.fails(404, "toxic not found", "POST", "/proxies/db/toxics/nope", map[string]any{"toxicity": 1})
	a.fails(404, "toxic not found", "DELETE", "/proxies/db/toxics/nope", nil)
	// A rejected update leaves the toxic as it was.
	a.fails(400, "latency: latency -5", "POST", "/proxies/db/toxics/latency_downstream", map[string]any{"attributes": map[string]any{"latency": -5}})
	a.fails(400, "toxicity 0.5 is not supported", "POST", "/proxies/db/toxics/latency_downstream", map[string]any{"toxicity": 0.5})
	assertJSON(t, a.must(http.StatusOK, "GET", "/proxies/db/toxics/latency_downstream", nil), want)
	if l := list(); len(l) != 2 {
		t.Fatalf("failed requests changed the toxics: %v", l)
	}

	a.must(http.StatusNoContent, "DELETE", "/proxies/db/toxics/up", nil)
	a.fails(404, "toxic not found", "GET", "/proxies/db/toxics/up", nil)
	if l := list(); len(l) != 1 {
		t.Fatalf("toxics %v", l)
	}
}

func TestScenarioToxics(t *testing.T) {
	a := newAPI(t)
	a.proxy("db", echoServer(t))
	m := a.toxic("db", map[string]any{"type": "network_delay", "attributes": map[string]any{"latency": "20ms"}})
	assertJSON(t, m, map[string]any{"name": "network_delay_upstream", "type": "network_delay", "stream": "upstream", "toxicity": float64(1),
		"attributes": map[string]any{"latency": "20ms", "jitter": "0s", "direction": "upstream"}})
	m = a.toxic("db", map[string]any{"type": "network_loss", "toxicity": 0.5, "attributes": map[string]any{"mode": "stall", "after": 4096}})
	assertJSON(t, m, map[string]any{"name": "network_loss_both", "type": "network_loss", "stream": "both", "toxicity": 0.5,
		"attributes": map[string]any{"mode": "stall", "after": "4096", "direction": "both", "toxicity": "0.5"}})
	m = a.toxic("db", map[string]any{"type": "bandwidth_limit", "stream": "upstream", "attributes": map[string]any{"rate": "1MB"}})
	if m["name"] != "bandwidth_limit_upstream" || m["stream"] != "upstream" {
		t.Fatalf("bandwidth_limit %v", m)
	}
	m = a.toxic("db", map[string]any{"type": "network_partition", "stream": "upstream", "attributes": map[string]any{"mode": "blackhole"}, "toxicity": 0})
	if m["name"] != "network_partition_both" || m["stream"] != "both" {
		t.Fatalf("network_partition %v", m)
	}
	// timeout, limit_data and slicer take chaoslab's string parameters too.
	m = a.toxic("db", map[string]any{"type": "timeout", "name": "t", "attributes": map[string]any{"timeout": "0s"}, "toxicity": 0})
	if m["stream"] != "both" || m["attributes"].(map[string]any)["timeout"] != "0s" {
		t.Fatalf("timeout %v", m)
	}
	m = a.toxic("db", map[string]any{"type": "slicer", "name": "s", "attributes": map[string]any{"size": "1KB", "direction": "upstream"}})
	if m["stream"] != "upstream" || m["attributes"].(map[string]any)["delay"] != "1ms" {
		t.Fatalf("slicer %v", m)
	}
	// A direction attribute moves the toxic to that stream.
	m = a.must(http.StatusOK, "POST", "/proxies/db/toxics/s", map[string]any{"attributes": map[string]any{"direction": "both"}})
	if m["stream"] != "both" || m["attributes"].(map[string]any)["size"] != "1KB" {
		t.Fatalf("updated slicer %v", m)
	}
	// Parameters left out take the scenario's defaults.
	m = a.toxic("db", map[string]any{"type": "limit_data", "attributes": map[string]any{"direction": "upstream"}})
	if m["name"] != "limit_data_upstream" || m["attributes"].(map[string]any)["bytes"] != "64KB" {
		t.Fatalf("limit_data %v", m)
	}
	a.fails(400, `"bytes" is not an attribute of bandwidth_limit`, "POST", "/proxies/db/toxics", map[string]any{"type": "bandwidth_limit", "attributes": map[string]any{"bytes": "1"}})
}

func TestPopulate(t *testing.T) {
	a := newAPI(t)
	up1, up2 := echoServer(t), sourceServer(t, 3)
	code, v := a.do("POST", "/populate", []map[string]any{
		{"name": "one", "listen": "127.0.0.1:0", "upstream": up1},
		{"name": "two", "listen": "127.0.0.1:0", "upstream": up1, "enabled": false},
	})
	if code != http.StatusCreated {
		t.Fatalf("populate: %d %v", code, v)
	}
	ps := v.(map[string]any)["proxies"].([]any)
	one := ps[0].(map[string]any)
	if len(ps) != 2 || one["enabled"] != true || ps[1].(map[string]any)["enabled"] != false {
		t.Fatalf("populated %v", ps)
	}
	listen := one["listen"].(string)
	a.toxic("one", map[string]any{"type": "latency"})

	// The same list again keeps the proxies as they are, toxics and all.
	code, v = a.do("POST", "/populate", []map[string]any{{"name": "one", "listen": listen, "upstream": up1}})
	if ps := v.(map[string]any)["proxies"].([]any); code != http.StatusCreated || len(ps[0].(map[string]any)["toxics"].([]any)) != 1 {
		t.Fatalf("populate again: %d %v", code, v)
	}
	// Another upstream replaces the proxy.
	code, v = a.do("POST", "/populate", []map[string]any{{"name": "one", "listen": listen, "upstream": up2}})
	if ps := v.(map[string]any)["proxies"].([]any); code != http.StatusCreated || len(ps[0].(map[string]any)["toxics"].([]any)) != 0 {
		t.Fatalf("populate changed: %d %v", code, v)
	}
	if data, err := readAll(dial(t, listen)); string(data) != "sss" || err != nil {
		t.Fatalf("through the replaced proxy: %q %v", data, err)
	}

	code, v = a.do("POST", "/populate", []map[string]any{{"name": "three", "upstream": up1}, {"upstream": up1}})
	if m := v.(map[string]any); code != 400 || m["error"] != "missing required field: name at proxy 2" || m["status"] != float64(400) {
		t.Fatalf("populate without a name: %d %v", code, v)
	}
	code, v = a.do("POST", "/populate", "{}")
	if m := v.(map[string]any); code != 400 || !strings.HasPrefix(m["error"].(string), "bad request body") {
		t.Fatalf("populate an object: %d %v", code, v)
	}
	// A failure part way answers the proxies made before it.
	code, v = a.do("POST", "/populate", []map[string]any{{"name": "four", "upstream": up1}, {"name": "five", "listen": listen, "upstream": up1}})
	if m := v.(map[string]any); code != 500 || len(m["proxies"].([]any)) != 1 || !strings.Contains(m["error"].(string), "address already in use") {
		t.Fatalf("populate on a busy address: %d %v", code, v)
	}
}

func TestReset(t *testing.T) {
	a := newAPI(t)
	up := echoServer(t)
	l1, l2 := a.proxy("one", up), a.proxy("two", up)
	a.toxic("one", map[string]any{"type": "timeout"})
	a.toxic("two", map[string]any{"type": "reset_peer"})
	a.must(http.StatusOK, "POST", "/proxies/two", map[string]any{"enabled": false})
	a.must(http.StatusNoContent, "POST", "/reset", nil)
	all := a.must(http.StatusOK, "GET", "/proxies", nil)
	for _, name := range []string{"one", "two"} {
		p := all[name].(map[string]any)
		if p["enabled"] != true || len(p["toxics"].([]any)) != 0 {
			t.Fatalf("after reset: %v", p)
		}
	}
	roundTrip(t, dial(t, l1))
	roundTrip(t, dial(t, l2))
}

func TestBrowsersAreRefused(t *testing.T) {
	a := newAPI(t)
	req, _ := http.NewRequestWithContext(t.Context(), "GET", a.url+"/proxies", nil)
	req.Header.Set("User-Agent", "Mozilla/5.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	a := newAPI(t)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"PUT", "/proxies", http.StatusMethodNotAllowed},
		{"GET", "/metrics", http.StatusNotFound},
		{"GET", "/reset", http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), tc.method, a.url+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
}

func TestCloseEndsProxies(t *testing.T) {
	a := newAPI(t)
	listen := a.proxy("db", echoServer(t))
	c := dial(t, listen)
	roundTrip(t, c)
	if err := a.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(c); err != nil && !isReset(err) {
		t.Fatalf("connection after Close: %v", err)
	}
	if _, err := net.Dial("tcp", listen); err == nil {
		t.Fatal("a proxy still listens after Close")
	}
	a.fails(http.StatusServiceUnavailable, "server closed", "GET", "/proxies", nil)
	if err := a.srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// assertJSON checks that got has every key of want with its value.
func assertJSON(t *testing.T, got, want map[string]any) {
	t.Helper()
	for k, w := range want {
		if wm, ok := w.(map[string]any); ok {
			gm, ok := got[k].(map[string]any)
			if !ok || len(gm) != len(wm) {
				t.Fatalf("%s: got %v, want %v", k, got[k], w)
			}
			assertJSON(t, gm, wm)
			continue
		}
		if got[k] != w {
			t.Fatalf("%s: got %#v, want %#v (in %v)", k, got[k], w, got)
		}
	}
}
