//go:build unix

package e2bfake_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chaoslab-dev/chaoslab/internal/e2bfake"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fake is a started Server and an HTTP client for it. The requests below
// are built from E2B's specs, not from any client library.
type fake struct {
	t      *testing.T
	srv    *e2bfake.Server
	client *http.Client
}

// start starts a Server; it is closed, and checked to leave nothing
// behind, when the test ends.
func start(t *testing.T, opts ...e2bfake.Option) *fake {
	t.Helper()
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(b []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(b)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	base := t.TempDir()
	srv := e2bfake.New(append([]e2bfake.Option{e2bfake.WithLogger(log), e2bfake.WithBaseDir(base)}, opts...)...)
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	tr := &http.Transport{}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		tr.CloseIdleConnections()
		if n := srv.Live(); n != 0 {
			t.Errorf("Live() = %d after Close, want 0", n)
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("server log:\n%s", logs.String())
			mu.Unlock()
		}
	})
	return &fake{t: t, srv: srv, client: &http.Client{Transport: tr, Timeout: 20 * time.Second}}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// api sends a control-plane request with the API key; body is marshalled
// unless it is a string. It returns the status, headers and body.
func (f *fake) api(method, path string, body any) (int, http.Header, []byte) {
	f.t.Helper()
	return f.apiWithKey(f.srv.APIKey(), method, path, body)
}

func (f *fake) apiWithKey(key, method, path string, body any) (int, http.Header, []byte) {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, f.srv.APIURL()+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, data
}

// sandbox is the spec's Sandbox, as created.
type sandbox struct {
	TemplateID      string `json:"templateID"`
	SandboxID       string `json:"sandboxID"`
	ClientID        string `json:"clientID"`
	EnvdVersion     string `json:"envdVersion"`
	EnvdAccessToken string `json:"envdAccessToken"`
	Domain          string `json:"domain"`
}

// create creates a sandbox from body (templateID "base" if not given) and
// fails the test unless it is created.
func (f *fake) create(body map[string]any) sandbox {
	f.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	if _, ok := body["templateID"]; !ok {
		body["templateID"] = "base"
	}
	status, _, data := f.api("POST", "/sandboxes", body)
	if status != http.StatusCreated {
		f.t.Fatalf("create: %d %s", status, data)
	}
	var sb sandbox
	mustUnmarshal(f.t, data, &sb)
	return sb
}

func mustUnmarshal(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("unmarshal %s: %v", data, err)
	}
}

// envdRequest builds a request for port of sandbox sb on the sandbox host.
func (f *fake) envdRequest(sb sandbox, port int, method, path string, body io.Reader) *http.Request {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.SandboxURL()+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("E2b-Sandbox-Id", sb.SandboxID)
	req.Header.Set("E2b-Sandbox-Port", itoa(port))
	if sb.EnvdAccessToken != "" {
		req.Header.Set("X-Access-Token", sb.EnvdAccessToken)
	}
	return req
}

func itoa(n int) string { return strconv.Itoa(n) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// do sends req and returns the status, headers and body.
func (f *fake) do(req *http.Request) (int, http.Header, []byte) {
	f.t.Helper()
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("%s %s: read: %v", req.Method, req.URL, err)
	}
	return resp.StatusCode, resp.Header, data
}

// unary makes a unary Connect call with the JSON codec.
func (f *fake) unary(sb sandbox, procedure string, msg any) (int, []byte) {
	f.t.Helper()
	var body []byte
	if s, ok := msg.(string); ok {
		body = []byte(s)
	} else {
		body = mustJSON(msg)
	}
	req := f.envdRequest(sb, e2bfake.EnvdPort, "POST", "/"+procedure, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Protocol-Version", "1")
	status, _, data := f.do(req)
	return status, data
}

// connectErr is a Connect error.
type connectErr struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// stream is a server-streaming Connect call being read.
type stream struct {
	t      *testing.T
	resp   *http.Response
	cancel context.CancelFunc
}

// envelope frames one Connect message.
func envelope(flags byte, msg []byte) []byte {
	buf := make([]byte, 5+len(msg))
	buf[0] = flags
	binary.BigEndian.PutUint32(buf[1:], uint32(len(msg)))
	copy(buf[5:], msg)
	return buf
}

// openStream starts a server-streaming call; header may add headers.
func (f *fake) openStream(sb sandbox, procedure string, msg any, header map[string]string) *stream {
	f.t.Helper()
	var body []byte
	if s, ok := msg.(string); ok {
		body = []byte(s)
	} else {
		body = mustJSON(msg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req := f.envdRequest(sb, e2bfake.EnvdPort, "POST", "/"+procedure, bytes.NewReader(envelope(0, body)))
	req = req.WithContext(ctx)
	req.Header.Set("Content-Type", "application/connect+json")
	req.Header.Set("Connect-Protocol-Version", "1")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		cancel()
		f.t.Fatalf("%s: %v", procedure, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/connect+json" {
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		f.t.Fatalf("%s: %d %s %s", procedure, resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	s := &stream{t: f.t, resp: resp, cancel: cancel}
	f.t.Cleanup(s.close)
	return s
}

func (s *stream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next reads the next envelope: its flags and message.
func (s *stream) next() (byte, []byte, error) {
	var head [5]byte
	if _, err := io.ReadFull(s.resp.Body, head[:]); err != nil {
		return 0, nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint32(head[1:]))
	if _, err := io.ReadFull(s.resp.Body, msg); err != nil {
		return 0, nil, err
	}
	return head[0], msg, nil
}

// event is a ProcessEvent, kept raw to check which fields are present.
type event struct {
	Start     map[string]json.RawMessage `json:"start"`
	Data      map[string]json.RawMessage `json:"data"`
	End       map[string]json.RawMessage `json:"end"`
	Keepalive map[string]json.RawMessage `json:"keepalive"`
}

// nextEvent reads the next message of a process stream; it returns nil
// and the end-of-stream error (nil for a clean end) at the end.
func (s *stream) nextEvent() (*event, *connectErr) {
	s.t.Helper()
	flags, msg, err := s.next()
	if err != nil {
		s.t.Fatalf("stream: %v", err)
	}
	if flags&2 != 0 {
		var end struct {
			Error *connectErr `json:"error"`
		}
		mustUnmarshal(s.t, msg, &end)
		return nil, end.Error
	}
	var resp struct {
		Event *event `json:"event"`
	}
	mustUnmarshal(s.t, msg, &resp)
	if resp.Event == nil {
		s.t.Fatalf("message without event: %s", msg)
	}
	return resp.Event, nil
}

// result is what a process stream carried.
type result struct {
	pid    int
	stdout []byte
	stderr []byte
	chunks int
	end    map[string]json.RawMessage
	err    *connectErr
}

// collect reads a process stream to its end.
func (s *stream) collect() result {
	s.t.Helper()
	var r result
	for {
		ev, cerr := s.nextEvent()
		if ev == nil {
			r.err = cerr
			return r
		}
		switch {
		case ev.Start != nil:
			mustUnmarshal(s.t, ev.Start["pid"], &r.pid)
		case ev.Data != nil:
			r.chunks++
			r.stdout = append(r.stdout, decodeB64(s.t, ev.Data["stdout"])...)
			r.stderr = append(r.stderr, decodeB64(s.t, ev.Data["stderr"])...)
		case ev.End != nil:
			r.end = ev.End
		}
	}
}

func decodeB64(t *testing.T, raw json.RawMessage) []byte {
	t.Helper()
	if raw == nil {
		return nil
	}
	var s string
	mustUnmarshal(t, raw, &s)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64 %q: %v", s, err)
	}
	return b
}

// startCmd starts command in sandbox sb as the SDKs do.
func (f *fake) startCmd(sb sandbox, command string, extra map[string]any) *stream {
	f.t.Helper()
	req := map[string]any{
		"process": map[string]any{"cmd": "/bin/bash", "args": []string{"-l", "-c", command}},
		"stdin":   false,
	}
	for k, v := range extra {
		req[k] = v
	}
	return f.openStream(sb, "process.Process/Start", req, map[string]string{"Keepalive-Ping-Interval": "50"})
}

// startPID starts command and returns the stream after its start event.
func (f *fake) startPID(sb sandbox, command string, extra map[string]any) (*stream, int) {
	f.t.Helper()
	s := f.startCmd(sb, command, extra)
	ev, cerr := s.nextEvent()
	if ev == nil || ev.Start == nil {
		f.t.Fatalf("first event: %+v, %+v", ev, cerr)
	}
	var pid int
	mustUnmarshal(f.t, ev.Start["pid"], &pid)
	return s, pid
}

// alive reports whether process pid exists and is not a zombie (an
// orphan's zombie may linger where nothing reaps them, as in containers).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) || runtime.GOOS != "linux"
	}
	// The state follows the command name, which is in parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func endInt(t *testing.T, end map[string]json.RawMessage, key string) (int, bool) {
	t.Helper()
	raw, ok := end[key]
	if !ok {
		return 0, false
	}
	var n int
	mustUnmarshal(t, raw, &n)
	return n, true
}

func endStr(t *testing.T, end map[string]json.RawMessage, key string) string {
	t.Helper()
	raw, ok := end[key]
	if !ok {
		return ""
	}
	var s string
	mustUnmarshal(t, raw, &s)
	return s
}
