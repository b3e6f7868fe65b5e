//go:build unix

package e2bfake_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab/internal/e2bfake"
)

// apiErr is the spec's Error.
type apiErr struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// listed is the spec's ListedSandbox (and the part of SandboxDetail
// checked here).
type listed struct {
	SandboxID   string            `json:"sandboxID"`
	TemplateID  string            `json:"templateID"`
	ClientID    string            `json:"clientID"`
	StartedAt   time.Time         `json:"startedAt"`
	EndAt       time.Time         `json:"endAt"`
	CPUCount    int               `json:"cpuCount"`
	MemoryMB    int               `json:"memoryMB"`
	DiskSizeMB  int               `json:"diskSizeMB"`
	Metadata    map[string]string `json:"metadata"`
	State       string            `json:"state"`
	EnvdVersion string            `json:"envdVersion"`
}

func TestCreateGetListKill(t *testing.T) {
	f := start(t)
	sb := f.create(map[string]any{"metadata": map[string]string{"app": "shop", "run": "a b&c"}, "envVars": map[string]string{"X": "1"}})
	if !strings.HasPrefix(sb.SandboxID, "i") || sb.TemplateID != "base" || sb.ClientID == "" || sb.EnvdVersion == "" {
		t.Errorf("created %+v", sb)
	}
	if sb.EnvdAccessToken != "" {
		t.Errorf("envdAccessToken %q without secure", sb.EnvdAccessToken)
	}
	if sb.Domain != f.srv.Domain() {
		t.Errorf("domain %q, want %q", sb.Domain, f.srv.Domain())
	}
	other := f.create(map[string]any{"templateID": "other", "timeout": 60})
	if f.srv.Live() != 2 {
		t.Fatalf("Live() = %d, want 2", f.srv.Live())
	}

	status, _, data := f.api("GET", "/sandboxes/"+sb.SandboxID, nil)
	if status != http.StatusOK {
		t.Fatalf("get: %d %s", status, data)
	}
	var got listed
	mustUnmarshal(t, data, &got)
	if got.State != "running" || got.SandboxID != sb.SandboxID || got.Metadata["app"] != "shop" ||
		got.CPUCount < 1 || got.MemoryMB < 128 || got.EnvdVersion != e2bfake.EnvdVersion {
		t.Errorf("get: %s", data)
	}
	// No timeout: the spec's default of 15 seconds.
	if life := got.EndAt.Sub(got.StartedAt); life < 14*time.Second || life > 16*time.Second {
		t.Errorf("endAt - startedAt = %v, want the default 15s", life)
	}

	// The metadata filter: a query string whose keys and values are
	// URL-encoded, sent as one parameter (as the SDKs do).
	filter := url.Values{"metadata": {"app=shop&run=" + url.QueryEscape(url.QueryEscape("a b&c"))}}.Encode()
	for _, path := range []string{"/sandboxes?" + filter, "/v2/sandboxes?" + filter} {
		status, _, data = f.api("GET", path, nil)
		var list []listed
		mustUnmarshal(t, data, &list)
		if status != http.StatusOK || len(list) != 1 || list[0].SandboxID != sb.SandboxID {
			t.Errorf("GET %s: %d %s", path, status, data)
		}
	}
	status, _, data = f.api("GET", "/v2/sandboxes?metadata=app%3Dnone", nil)
	if status != http.StatusOK || string(data) != "[]" {
		t.Errorf("no match: %d %s", status, data)
	}
	status, hdr, data := f.api("GET", "/v2/sandboxes?state=running&limit=1&order=asc", nil)
	var page []listed
	mustUnmarshal(t, data, &page)
	if status != http.StatusOK || len(page) != 1 || page[0].SandboxID != sb.SandboxID || hdr.Get("X-Total-Running") != "2" || hdr.Get("X-Next-Token") == "" {
		t.Fatalf("page 1: %d %v %s", status, hdr, data)
	}
	status, hdr, data = f.api("GET", "/v2/sandboxes?state=running&limit=1&order=asc&nextToken="+hdr.Get("X-Next-Token"), nil)
	page = nil
	mustUnmarshal(t, data, &page)
	if status != http.StatusOK || len(page) != 1 || page[0].SandboxID != other.SandboxID || hdr.Get("X-Next-Token") != "" {
		t.Fatalf("page 2: %d %v %s", status, hdr, data)
	}
	status, _, data = f.api("GET", "/v2/sandboxes?state=paused", nil)
	if status != http.StatusOK || string(data) != "[]" {
		t.Errorf("paused: %d %s", status, data)
	}

	status, _, data = f.api("DELETE", "/sandboxes/"+sb.SandboxID, nil)
	if status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, data)
	}
	for _, m := range []string{"DELETE", "GET"} {
		status, _, data = f.api(m, "/sandboxes/"+sb.SandboxID, nil)
		var e apiErr
		mustUnmarshal(t, data, &e)
		if status != http.StatusNotFound || e.Code != 404 || !strings.Contains(e.Message, sb.SandboxID) {
			t.Errorf("%s after kill: %d %s", m, status, data)
		}
	}
	if f.srv.Live() != 1 {
		t.Errorf("Live() = %d, want 1", f.srv.Live())
	}
}

func TestAPIKey(t *testing.T) {
	f := start(t)
	if k := f.srv.APIKey(); !strings.HasPrefix(k, "e2b_") || len(k) != 44 {
		t.Errorf("APIKey() = %q", k)
	}
	for _, key := range []string{"", "e2b_0000000000000000000000000000000000000000"} {
		status, _, data := f.apiWithKey(key, "POST", "/sandboxes", map[string]any{"templateID": "base"})
		var e apiErr
		mustUnmarshal(t, data, &e)
		if status != http.StatusUnauthorized || e.Code != 401 || e.Message == "" {
			t.Errorf("key %q: %d %s", key, status, data)
		}
	}
	if f.srv.Live() != 0 {
		t.Errorf("a sandbox was created without a key")
	}
	fk := start(t, e2bfake.WithAPIKey("e2b_mine"))
	if status, _, data := fk.api("GET", "/sandboxes", nil); status != http.StatusOK || string(data) != "[]" {
		t.Errorf("own key: %d %s", status, data)
	}
}

func TestCreateValidation(t *testing.T) {
	f := start(t, e2bfake.WithMaxTimeout(time.Hour))
	for name, body := range map[string]string{
		"no body":          "",
		"not an object":    `["base"]`,
		"no templateID":    `{"timeout": 10}`,
		"templateID type":  `{"templateID": 7}`,
		"timeout string":   `{"templateID": "base", "timeout": "10"}`,
		"timeout fraction": `{"templateID": "base", "timeout": 1.5}`,
		"timeout negative": `{"templateID": "base", "timeout": -1}`,
		"timeout too long": `{"templateID": "base", "timeout": 3601}`,
		"metadata value":   `{"templateID": "base", "metadata": {"a": 1}}`,
		"envVars list":     `{"templateID": "base", "envVars": ["A=1"]}`,
		"secure string":    `{"templateID": "base", "secure": "true"}`,
		"unknown field":    `{"templateID": "base", "timeoutMs": 1000}`,
		"null templateID":  `{"templateID": null}`,
		"autoResume shape": `{"templateID": "base", "autoResume": {}}`,
		"private unsecure": `{"templateID": "base", "network": {"allowPublicTraffic": false}}`,
		"volume mounts":    `{"templateID": "base", "volumeMounts": [{"name": "v", "path": "/data"}]}`,
		"trailing data":    `{"templateID": "base"} {}`,
	} {
		status, _, data := f.api("POST", "/sandboxes", body)
		var e apiErr
		mustUnmarshal(t, data, &e)
		if status != http.StatusBadRequest || e.Code != 400 || e.Message == "" {
			t.Errorf("%s: %d %s", name, status, data)
		}
	}
	if f.srv.Live() != 0 {
		t.Errorf("Live() = %d after invalid creates", f.srv.Live())
	}
	status, _, data := f.api("POST", "/sandboxes/iunknown/timeout", `{"timeout": "5"}`)
	if status != http.StatusBadRequest {
		t.Errorf("timeout as a string: %d %s", status, data)
	}
	status, _, data = f.api("POST", "/sandboxes/iunknown/refreshes", `{"duration": 3601}`)
	if status != http.StatusBadRequest {
		t.Errorf("refresh over the maximum: %d %s", status, data)
	}
	status, _, data = f.api("POST", "/sandboxes/iunknown/timeout", `{"timeout": 5}`)
	if status != http.StatusNotFound {
		t.Errorf("timeout of an unknown sandbox: %d %s", status, data)
	}
	status, _, data = f.api("GET", "/v2/sandboxes?state=stopped", nil)
	if status != http.StatusBadRequest {
		t.Errorf("unknown state: %d %s", status, data)
	}
	status, _, data = f.api("GET", "/v2/sandboxes?limit=0", nil)
	if status != http.StatusBadRequest {
		t.Errorf("limit 0: %d %s", status, data)
	}
}

func TestTimeoutAndRefresh(t *testing.T) {
	f := start(t)
	sb := f.create(map[string]any{"timeout": 100})
	endAt := func() time.Duration {
		_, _, data := f.api("GET", "/sandboxes/"+sb.SandboxID, nil)
		var l listed
		mustUnmarshal(t, data, &l)
		return time.Until(l.EndAt)
	}
	if d := endAt(); d < 90*time.Second || d > 101*time.Second {
		t.Errorf("created with 100s: ends in %v", d)
	}
	// The timeout can shorten the lifetime; a refresh only extends it.
	if status, _, data := f.api("POST", "/sandboxes/"+sb.SandboxID+"/timeout", map[string]any{"timeout": 30}); status != http.StatusNoContent {
		t.Fatalf("timeout: %d %s", status, data)
	}
	if d := endAt(); d < 20*time.Second || d > 31*time.Second {
		t.Errorf("after timeout 30: ends in %v", d)
	}
	if status, _, data := f.api("POST", "/sandboxes/"+sb.SandboxID+"/refreshes", map[string]any{"duration": 20}); status != http.StatusNoContent {
		t.Fatalf("refresh: %d %s", status, data)
	}
	if d := endAt(); d < 20*time.Second {
		t.Errorf("a shorter refresh shortened the lifetime: ends in %v", d)
	}
	if status, _, data := f.api("POST", "/sandboxes/"+sb.SandboxID+"/refreshes", nil); status != http.StatusNoContent {
		t.Fatalf("refresh without a body: %d %s", status, data)
	}
	if status, _, data := f.api("POST", "/sandboxes/"+sb.SandboxID+"/refreshes", map[string]any{"duration": 300}); status != http.StatusNoContent {
		t.Fatalf("refresh 300: %d %s", status, data)
	}
	if d := endAt(); d < 290*time.Second {
		t.Errorf("after refresh 300: ends in %v", d)
	}
}

func TestExpiryKillsEverything(t *testing.T) {
	f := start(t)
	sb := f.create(map[string]any{"timeout": 1})
	dir, ok := f.srv.Dir(sb.SandboxID)
	if !ok {
		t.Fatal("no directory")
	}
	// A process, and a child of it in the same group that outlives it.
	s, pid := f.startPID(sb, "sleep 30 & echo $!; wait", nil)
	ev, _ := s.nextEvent()
	if ev == nil || ev.Data == nil {
		t.Fatalf("no output: %+v", ev)
	}
	var child int
	mustUnmarshal(t, []byte(strings.TrimSpace(string(decodeB64(t, ev.Data["stdout"])))), &child)
	if !alive(pid) || !alive(child) {
		t.Fatal("processes not running")
	}
	eventually(t, 10*time.Second, "the sandbox to expire", func() bool { return f.srv.Live() == 0 })
	if alive(pid) || alive(child) {
		t.Errorf("processes %d, %d still running after expiry", pid, child)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory %s left: %v", dir, err)
	}
	// The stream was cut, as when the VM goes: no end event, no end of stream.
	if _, _, err := s.next(); err == nil {
		t.Error("the stream of the killed sandbox went on")
	}
	status, _, data := f.api("GET", "/sandboxes/"+sb.SandboxID, nil)
	if status != http.StatusNotFound {
		t.Errorf("get after expiry: %d %s", status, data)
	}
	req := f.envdRequest(sb, e2bfake.EnvdPort, "GET", "/health", nil)
	status, _, data = f.do(req)
	var edge struct {
		SandboxID string `json:"sandboxId"`
		Message   string `json:"message"`
		Code      int    `json:"code"`
	}
	mustUnmarshal(t, data, &edge)
	if status != http.StatusBadGateway || edge.Code != 502 || edge.Message != "The sandbox was not found" || edge.SandboxID != sb.SandboxID {
		t.Errorf("envd after expiry: %d %s", status, data)
	}
}

func TestPauseResume(t *testing.T) {
	f := start(t)
	sb := f.create(map[string]any{"timeout": 60})
	_, pid := f.startPID(sb, "sleep 30", nil)
	if status, _, data := f.api("POST", "/sandboxes/"+sb.SandboxID+"/pause", nil); status != http.StatusNoContent {
		t.Fatalf("pause: %d %s", status, data)
	}
	if status, _, data := f.api("POST", "/sandboxes/"+sb.SandboxID+"/pause", nil); status != http.StatusConflict {
		t.Errorf("pause again: %d %s", status, data)
	}
	_, _, data := f.api("GET", "/sandboxes/"+sb.SandboxID, nil)
	var l listed
	mustUnmarshal(t, data, &l)
	if l.State != "paused" {
		t.Errorf("state %q, want paused", l.State)
	}
	if status, _, _ := f.do(f.envdRequest(sb, e2bfake.EnvdPort, "GET", "/health", nil)); status != http.StatusBadGateway {
		t.Errorf("envd of a paused sandbox: %d", status)
	}
	if !alive(pid) {
		t.Fatal("a memory pause killed the process")
	}
	status, _, data := f.api("POST", "/sandboxes/"+sb.SandboxID+"/connect", map[string]any{"timeout": 30})
	var resumed sandbox
	mustUnmarshal(t, data, &resumed)
	if status != http.StatusCreated || resumed.SandboxID != sb.SandboxID {
		t.Fatalf("connect to resume: %d %s", status, data)
	}
	if status, _, data := f.api("POST", "/sandboxes/"+sb.SandboxID+"/connect", map[string]any{"timeout": 30}); status != http.StatusOK {
		t.Errorf("connect to a running sandbox: %d %s", status, data)
	}
	status, data = f.unary(sb, "process.Process/List", map[string]any{})
	var list struct {
		Processes []struct {
			Pid int `json:"pid"`
		} `json:"processes"`
	}
	mustUnmarshal(t, data, &list)
	if status != http.StatusOK || len(list.Processes) != 1 || list.Processes[0].Pid != pid {
		t.Errorf("processes after resume: %d %s", status, data)
	}
}

func TestMetrics(t *testing.T) {
	f := start(t)
	sb := f.create(nil)
	f.startPID(sb, "sleep 30", nil)
	status, _, data := f.api("GET", "/sandboxes/"+sb.SandboxID+"/metrics", nil)
	var ms []map[string]json.RawMessage
	mustUnmarshal(t, data, &ms)
	if status != http.StatusOK || len(ms) != 1 {
		t.Fatalf("metrics: %d %s", status, data)
	}
	for _, k := range []string{"timestamp", "timestampUnix", "cpuCount", "cpuUsedPct", "memUsed", "memTotal", "memCache", "diskUsed", "diskTotal"} {
		if _, ok := ms[0][k]; !ok {
			t.Errorf("metric without %s: %s", k, data)
		}
	}
	var memUsed int64
	mustUnmarshal(t, ms[0]["memUsed"], &memUsed)
	if memUsed <= 0 {
		t.Errorf("memUsed %d with a process running", memUsed)
	}
	status, _, data = f.api("GET", "/sandboxes/metrics?sandbox_ids="+sb.SandboxID+",inone", nil)
	var all struct {
		Sandboxes map[string]json.RawMessage `json:"sandboxes"`
	}
	mustUnmarshal(t, data, &all)
	if status != http.StatusOK || len(all.Sandboxes) != 1 || all.Sandboxes[sb.SandboxID] == nil {
		t.Errorf("metrics of many: %d %s", status, data)
	}
	if status, _, data := f.api("GET", "/sandboxes/inone/metrics", nil); status != http.StatusNotFound {
		t.Errorf("metrics of an unknown sandbox: %d %s", status, data)
	}
	if status, _, data := f.api("GET", "/sandboxes/"+sb.SandboxID+"/metrics?start=-1", nil); status != http.StatusBadRequest {
		t.Errorf("negative start: %d %s", status, data)
	}
}
