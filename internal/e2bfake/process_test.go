//go:build unix

package e2bfake_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestStartStreamsOutputAndEnd(t *testing.T) {
	f := start(t)
	sb := f.create(map[string]any{"envVars": map[string]string{"GREETING": "hé", "OVER": "sandbox"}})

	// As the SDKs send a command: /bin/bash -l -c, with the request's envs.
	r := f.openStream(sb, "process.Process/Start", map[string]any{
		"process": map[string]any{
			"cmd":  "/bin/bash",
			"args": []string{"-l", "-c", `printf '%s %s %s\n' "$GREETING" "$OVER" "$E2B_SANDBOX_ID"; echo oops >&2; pwd`},
			"envs": map[string]string{"OVER": "request"},
		},
		"stdin": false,
	}, nil).collect()
	if r.err != nil {
		t.Fatalf("end of stream: %+v", r.err)
	}
	if r.pid <= 0 {
		t.Errorf("pid %d", r.pid)
	}
	lines := strings.Split(strings.TrimSpace(string(r.stdout)), "\n")
	if len(lines) != 2 || lines[0] != "hé request "+sb.SandboxID || !strings.HasSuffix(lines[1], "/home/user") {
		t.Errorf("stdout %q", r.stdout)
	}
	if string(r.stderr) != "oops\n" {
		t.Errorf("stderr %q", r.stderr)
	}
	// Exit code 0 is a zero value: proto JSON leaves it out.
	if _, ok := r.end["exitCode"]; ok {
		t.Errorf("end event of a success has exitCode: %v", r.end)
	}
	if _, ok := r.end["error"]; ok {
		t.Errorf("end event of a success has error: %v", r.end)
	}
	if string(r.end["exited"]) != "true" || endStr(t, r.end, "status") != "exit status 0" {
		t.Errorf("end event %v", r.end)
	}

	r = f.startCmd(sb, "exit 3", nil).collect()
	if code, ok := endInt(t, r.end, "exitCode"); !ok || code != 3 || endStr(t, r.end, "error") != "exit status 3" || endStr(t, r.end, "status") != "exit status 3" {
		t.Errorf("end event of exit 3: %v", r.end)
	}
}

func TestStartRaw(t *testing.T) {
	f := start(t)
	sb := f.create(nil)
	s := f.openStream(sb, "process.Process/Start", `{"process":{"cmd":"/bin/echo","args":["a","b"],"cwd":"/tmp"}}`, nil)
	_, msg, err := s.next()
	if err != nil {
		t.Fatal(err)
	}
	// pid is a uint32: a JSON number.
	if !bytes.HasPrefix(msg, []byte(`{"event":{"start":{"pid":`)) || bytes.Contains(msg, []byte(`"pid":"`)) {
		t.Errorf("start event %s", msg)
	}
	_, msg, _ = s.next()
	want := `{"event":{"data":{"stdout":"` + base64.StdEncoding.EncodeToString([]byte("a b\n")) + `"}}}`
	if string(msg) != want {
		t.Errorf("data event %s, want %s", msg, want)
	}
	_, msg, _ = s.next()
	if string(msg) != `{"event":{"end":{"exited":true,"status":"exit status 0"}}}` {
		t.Errorf("end event %s", msg)
	}
	flags, msg, _ := s.next()
	if flags != 2 || string(msg) != "{}" {
		t.Errorf("end of stream %d %s", flags, msg)
	}
}

func TestOutputChunksAsRead(t *testing.T) {
	f := start(t)
	sb := f.create(nil)
	// 100 000 bytes, multibyte characters across the 32 KiB read size.
	r := f.startCmd(sb, `for i in $(seq 50000); do printf 'é'; done`, nil).collect()
	if want := strings.Repeat("é", 50000); string(r.stdout) != want {
		t.Errorf("got %d bytes, want %d", len(r.stdout), len(want))
	}
	if r.chunks < 2 {
		t.Errorf("%d data events for 100 000 bytes", r.chunks)
	}
}

func TestSignals(t *testing.T) {
	f := start(t)
	sb := f.create(nil)
	for _, sig := range []any{"SIGNAL_SIGKILL", 15} {
		s, pid := f.startPID(sb, "exec sleep 30", nil)
		status, data := f.unary(sb, "process.Process/SendSignal", map[string]any{"process": map[string]any{"pid": pid}, "signal": sig})
		if status != http.StatusOK || string(data) != "{}" {
			t.Fatalf("signal %v: %d %s", sig, status, data)
		}
		r := s.collect()
		code, _ := endInt(t, r.end, "exitCode")
		want := map[any]string{"SIGNAL_SIGKILL": "signal: killed", 15: "signal: terminated"}[sig]
		if code != -1 || endStr(t, r.end, "status") != want || endStr(t, r.end, "error") != want {
			t.Errorf("signal %v: end %v", sig, r.end)
		}
		if _, ok := r.end["exited"]; ok {
			t.Errorf("signal %v: exited in %v", sig, r.end)
		}
		eventually(t, 5*time.Second, "the process to go", func() bool { return !alive(pid) })
	}
	s, pid := f.startPID(sb, "exec sleep 30", nil)
	status, data := f.unary(sb, "process.Process/SendSignal", map[string]any{"process": map[string]any{"pid": pid}, "signal": "SIGNAL_UNSPECIFIED"})
	var e connectErr
	mustUnmarshal(t, data, &e)
	if status != http.StatusNotImplemented || e.Code != "unimplemented" {
		t.Errorf("unspecified signal: %d %s", status, data)
	}
	status, data = f.unary(sb, "process.Process/SendSignal", map[string]any{"process": map[string]any{"pid": 1}, "signal": 9})
	mustUnmarshal(t, data, &e)
	if status != http.StatusNotFound || e.Code != "not_found" {
		t.Errorf("unknown pid: %d %s", status, data)
	}
	// A pid as a string is valid proto JSON for a uint32.
	status, data = f.unary(sb, "process.Process/SendSignal", `{"process":{"pid":"`+itoa(pid)+`"},"signal":"SIGNAL_SIGKILL"}`)
	if status != http.StatusOK {
		t.Errorf("pid as a string: %d %s", status, data)
	}
	s.collect()
}

func TestClientLeavingKeepsProcess(t *testing.T) {
	f := start(t)
	sb := f.create(nil)
	s, pid := f.startPID(sb, "exec sleep 30", map[string]any{"tag": "server"})
	s.close()

	list := func() []map[string]json.RawMessage {
		status, data := f.unary(sb, "process.Process/List", map[string]any{})
		var resp struct {
			Processes []map[string]json.RawMessage `json:"processes"`
		}
		mustUnmarshal(t, data, &resp)
		if status != http.StatusOK {
			t.Fatalf("list: %d %s", status, data)
		}
		return resp.Processes
	}
	procs := list()
	if len(procs) != 1 || string(procs[0]["pid"]) != itoa(pid) || string(procs[0]["tag"]) != `"server"` ||
		!bytes.Contains(procs[0]["config"], []byte(`"cmd":"/bin/bash"`)) {
		t.Fatalf("list: %v", procs)
	}
	if !alive(pid) {
		t.Fatal("the process died with its stream")
	}

	// Connect by tag: a start event, then the end once it is killed.
	c := f.openStream(sb, "process.Process/Connect", map[string]any{"process": map[string]any{"tag": "server"}}, nil)
	ev, _ := c.nextEvent()
	if ev == nil || string(ev.Start["pid"]) != itoa(pid) {
		t.Fatalf("connect: first event %+v", ev)
	}
	if status, data := f.unary(sb, "process.Process/SendSignal", map[string]any{"process": map[string]any{"tag": "server"}, "signal": "SIGNAL_SIGKILL"}); status != http.StatusOK {
		t.Fatalf("kill: %d %s", status, data)
	}
	if r := c.collect(); r.end == nil || r.err != nil {
		t.Errorf("connect: end %v, error %+v", r.end, r.err)
	}
	eventually(t, 5*time.Second, "the list to empty", func() bool { return len(list()) == 0 })
	if status, data := f.unary(sb, "process.Process/List", map[string]any{}); status != http.StatusOK || string(data) != "{}" {
		t.Errorf("empty list: %d %s", status, data)
	}
}

func TestStdin(t *testing.T) {
	f := start(t)
	sb := f.create(nil)
	s, pid := f.startPID(sb, "exec cat", map[string]any{"stdin": true})
	sel := map[string]any{"pid": pid}
	status, data := f.unary(sb, "process.Process/SendInput", map[string]any{"process": sel, "input": map[string]any{"stdin": base64.StdEncoding.EncodeToString([]byte("ping\n"))}})
	if status != http.StatusOK {
		t.Fatalf("send input: %d %s", status, data)
	}
	ev, _ := s.nextEvent()
	if ev == nil || string(decodeB64(t, ev.Data["stdout"])) != "ping\n" {
		t.Fatalf("echo: %+v", ev)
	}
	if status, data := f.unary(sb, "process.Process/SendInput", map[string]any{"process": sel, "input": map[string]any{"stdin": "%%%"}}); status != http.StatusBadRequest {
		t.Errorf("bad base64: %d %s", status, data)
	}
	if status, data := f.unary(sb, "process.Process/CloseStdin", map[string]any{"process": sel}); status != http.StatusOK {
		t.Fatalf("close stdin: %d %s", status, data)
	}
	if r := s.collect(); string(r.end["exited"]) != "true" {
		t.Errorf("end after EOF: %v", r.end)
	}
}

func TestConnectValidation(t *testing.T) {
	f := start(t)
	sb := f.create(nil)
	for name, msg := range map[string]string{
		"args not a list":  `{"process":{"cmd":"/bin/echo","args":"a b"}}`,
		"cmd a number":     `{"process":{"cmd":7}}`,
		"unknown field":    `{"process":{"cmd":"/bin/echo"},"timeout":5}`,
		"envs not strings": `{"process":{"cmd":"/bin/echo","envs":{"A":1}}}`,
		"stdin a string":   `{"process":{"cmd":"/bin/echo"},"stdin":"no"}`,
		"not JSON":         `{"process":`,
		"missing cwd":      `{"process":{"cmd":"/bin/echo","cwd":"/nowhere"}}`,
		"no such command":  `{"process":{"cmd":"/no/such/command"}}`,
	} {
		r := f.openStream(sb, "process.Process/Start", msg, nil).collect()
		if r.err == nil || r.err.Code != "invalid_argument" || r.pid != 0 {
			t.Errorf("%s: error %+v, pid %d", name, r.err, r.pid)
		}
	}
	r := f.openStream(sb, "process.Process/Connect", `{"process":{"pid":1,"tag":"x"}}`, nil).collect()
	if r.err == nil || r.err.Code != "invalid_argument" {
		t.Errorf("two members of a oneof: %+v", r.err)
	}
	status, data := f.unary(sb, "process.Process/List", `{"all":true}`)
	var e connectErr
	mustUnmarshal(t, data, &e)
	if status != http.StatusBadRequest || e.Code != "invalid_argument" {
		t.Errorf("list with an unknown field: %d %s", status, data)
	}
	req := f.envdRequest(sb, 49983, "POST", "/process.Process/List", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/proto")
	if status, _, _ := f.do(req); status != http.StatusUnsupportedMediaType {
		t.Errorf("binary codec: %d", status)
	}
	status, data = f.unary(sb, "process.Process/Update", map[string]any{"process": map[string]any{"pid": 1}})
	if status != http.StatusNotImplemented {
		t.Errorf("update: %d %s", status, data)
	}
	req = f.envdRequest(sb, 49983, "POST", "/process.Process/List", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("nobody:")))
	if status, _, data := f.do(req); status != http.StatusUnauthorized {
		t.Errorf("unknown user: %d %s", status, data)
	}
}

func TestConnectTimeoutKillsProcess(t *testing.T) {
	f := start(t)
	sb := f.create(nil)
	s := f.openStream(sb, "process.Process/Start", map[string]any{"process": map[string]any{"cmd": "/bin/sleep", "args": []string{"30"}}},
		map[string]string{"Connect-Timeout-Ms": "300"})
	var pid int
	ev, _ := s.nextEvent()
	mustUnmarshal(t, ev.Start["pid"], &pid)
	for {
		ev, cerr := s.nextEvent()
		if ev == nil {
			if cerr == nil || cerr.Code != "deadline_exceeded" {
				t.Errorf("end of stream %+v, want deadline_exceeded", cerr)
			}
			break
		}
	}
	eventually(t, 5*time.Second, "the process to be killed at its timeout", func() bool { return !alive(pid) })
}

func TestKeepalive(t *testing.T) {
	f := start(t)
	sb := f.create(nil)
	s := f.openStream(sb, "process.Process/Start", map[string]any{"process": map[string]any{"cmd": "/bin/sleep", "args": []string{"30"}}},
		map[string]string{"Keepalive-Ping-Interval": "1"})
	if ev, _ := s.nextEvent(); ev == nil || ev.Start == nil {
		t.Fatal("no start event")
	}
	if ev, _ := s.nextEvent(); ev == nil || ev.Keepalive == nil {
		t.Errorf("second event %+v, want a keepalive", ev)
	}
}

func TestStreamInput(t *testing.T) {
	f := start(t)
	sb := f.create(nil)
	s, pid := f.startPID(sb, "exec cat", map[string]any{"stdin": true})
	var body bytes.Buffer
	for _, msg := range []string{
		`{"start":{"process":{"pid":` + itoa(pid) + `}}}`,
		`{"keepalive":{}}`,
		`{"data":{"input":{"stdin":"` + base64.StdEncoding.EncodeToString([]byte("a")) + `"}}}`,
		`{"data":{"input":{"stdin":"` + base64.StdEncoding.EncodeToString([]byte("b\n")) + `"}}}`,
	} {
		body.Write(envelope(0, []byte(msg)))
	}
	req := f.envdRequest(sb, 49983, "POST", "/process.Process/StreamInput", &body)
	req.Header.Set("Content-Type", "application/connect+json")
	status, hdr, data := f.do(req)
	// One message ({}), then the end of the stream ({}).
	want := string(envelope(0, []byte("{}"))) + string(envelope(2, []byte("{}")))
	if status != http.StatusOK || hdr.Get("Content-Type") != "application/connect+json" || string(data) != want {
		t.Errorf("stream input: %d %q", status, data)
	}
	var out []byte
	for len(out) < 3 {
		ev, _ := s.nextEvent()
		if ev == nil || ev.Data == nil {
			t.Fatalf("event %+v", ev)
		}
		out = append(out, decodeB64(t, ev.Data["stdout"])...)
	}
	if string(out) != "ab\n" {
		t.Errorf("echoed %q", out)
	}
}
