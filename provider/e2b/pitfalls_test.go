package e2b

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// The pitfalls E2B's users hit, each checked against the fake.

// getSandbox reads the fake's GET /sandboxes/{id} (the spec's
// SandboxDetail), as a map.
func (e *env) getSandbox(id string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.fake.APIURL()+"/sandboxes/"+url.PathEscape(id), nil)
	req.Header.Set("X-API-Key", e.fake.APIKey())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// TestCreateSendsTimeoutSecureAndMetadata: without a timeout E2B kills a
// sandbox after 15 s; chaoslab always sends one, asks for a secure
// sandbox, and labels it with its run.
func TestCreateSendsTimeoutSecureAndMetadata(t *testing.T) {
	e := start(t, WithSandboxTimeout(2*time.Minute), WithRunID("run-42"))
	tgt := e.provision(chaoslab.TargetSpec{})
	status, sb := e.getSandbox(tgt.SandboxID())
	if status != http.StatusOK {
		t.Fatalf("GET sandbox: %d %v", status, sb)
	}
	started, _ := time.Parse(time.RFC3339Nano, sb["startedAt"].(string))
	end, _ := time.Parse(time.RFC3339Nano, sb["endAt"].(string))
	if life := end.Sub(started); life < 100*time.Second {
		t.Errorf("the sandbox lives %s, want the 2m sent (E2B's default is 15s)", life)
	}
	if tok, _ := sb["envdAccessToken"].(string); tok == "" {
		t.Error("the sandbox is not secure: no envdAccessToken")
	}
	md, _ := sb["metadata"].(map[string]any)
	if md[MetaRun] != "run-42" || md[MetaTarget] != tgt.ID() || md[MetaManaged] != managedValue {
		t.Errorf("metadata %v", md)
	}
}

// TestKeepalive: a sandbox outlives its timeout while its target is open.
func TestKeepalive(t *testing.T) {
	e := start(t, WithSandboxTimeout(2*time.Second))
	tgt := e.provision(chaoslab.TargetSpec{})
	pid := tgt.PID()
	deadline := time.Now().Add(3500 * time.Millisecond)
	for time.Now().Before(deadline) { // watching the target for longer than its timeout
		if code, err := getStatus(tgt.Endpoint() + "/health"); err != nil || code != http.StatusOK {
			t.Fatalf("the target stopped answering: %d, %v", code, err)
		}
		time.Sleep(100 * time.Millisecond) // pacing the probes
	}
	if status, _ := e.getSandbox(tgt.SandboxID()); status != http.StatusOK {
		t.Fatalf("the sandbox is gone after its timeout: %d", status)
	}
	if tgt.PID() != pid {
		t.Errorf("the demo was restarted (pid %d → %d)", pid, tgt.PID())
	}
}

func getStatus(u string) (int, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestStreamsHaveNoRequestTimeout: the request timeout bounds unary calls,
// never a stream, and a server is started without Connect-Timeout-Ms,
// which envd would kill it at.
func TestStreamsHaveNoRequestTimeout(t *testing.T) {
	e := start(t, WithRequestTimeout(400*time.Millisecond))
	e.p.cfg.keepalivePing = time.Second // keepalive events come and are skipped
	tgt := e.provision(chaoslab.TargetSpec{})
	pid := tgt.PID()
	out, err := tgt.Exec(ctx(t, 20*time.Second), []string{"sh", "-c", "sleep 2.2; echo done"})
	if err != nil || strings.TrimSpace(string(out)) != "done" {
		t.Fatalf("a 2.2s command with a 400ms request timeout: %q, %v", out, err)
	}
	if code, err := getStatus(tgt.Endpoint() + "/health"); err != nil || code != http.StatusOK {
		t.Fatalf("after 2.2s: %d, %v", code, err)
	}
	if tgt.PID() != pid {
		t.Errorf("the demo was restarted (pid %d → %d): its stream or process was cut", pid, tgt.PID())
	}
}

// processes lists the sandbox's processes by command line.
func processes(t *testing.T, tgt *Target) []string {
	t.Helper()
	var list struct {
		Processes []struct {
			Config processConfig `json:"config"`
		} `json:"processes"`
	}
	if err := tgt.sb.unary(ctx(t, 5*time.Second), "/process.Process/List", struct{}{}, &list); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range list.Processes {
		out = append(out, strings.Join(append([]string{p.Config.Cmd}, p.Config.Args...), " "))
	}
	return out
}

// TestCancelKillsThenCloses: cancelling a command sends SIGKILL (closing
// its stream alone would leave it running in the sandbox).
func TestCancelKillsThenCloses(t *testing.T) {
	e := start(t)
	tgt := e.provision(chaoslab.TargetSpec{})
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := tgt.Exec(c, []string{"sh", "-c", "touch started; exec sleep 300"})
		done <- err
	}()
	if err := poll(10*time.Second, func() error { _, err := tgt.ReadFile(ctx(t, 5*time.Second), "started"); return err }); err != nil {
		t.Fatalf("the command did not start: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Exec after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Exec did not return after its context was cancelled")
	}
	err := poll(5*time.Second, func() error {
		for _, p := range processes(t, tgt) {
			if strings.Contains(p, "sleep 300") {
				return errors.New("still running: " + p)
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// TestStartNeverRetried: a start that fails is not sent again (the command
// could have run); the edge's 502 maps to ErrSandboxNotFound, and one that
// was only passing does not make the target unusable.
func TestStartNeverRetried(t *testing.T) {
	e := start(t)
	tgt := e.provision(chaoslab.TargetSpec{})
	e.fake.FailEnvd(1)
	_, err := tgt.Exec(ctx(t, 10*time.Second), []string{"sh", "-c", "echo ran >> count"})
	if !errors.Is(err, ErrSandboxNotFound) {
		t.Fatalf("Exec through a 502: %v, want ErrSandboxNotFound", err)
	}
	if _, err := tgt.ReadFile(ctx(t, 5*time.Second), "count"); err == nil {
		t.Error("the command ran: the start was tried again")
	}
	if out, err := tgt.Exec(ctx(t, 10*time.Second), []string{"echo", "again"}); err != nil || strings.TrimSpace(string(out)) != "again" {
		t.Errorf("Exec after a passing 502: %q, %v", out, err)
	}
}

// TestCreateRetries: 429 and 503 are tried again, with backoff or what
// Retry-After says; other errors are not; nothing is left either way.
func TestCreateRetries(t *testing.T) {
	e := start(t, WithCreateRetries(3, 10*time.Millisecond))
	e.fake.FailCreates(2, http.StatusServiceUnavailable, 0)
	e.provision(chaoslab.TargetSpec{})

	e.fake.FailCreates(1, http.StatusTooManyRequests, time.Second)
	begin := time.Now()
	e.provision(chaoslab.TargetSpec{})
	if took := time.Since(begin); took < 900*time.Millisecond {
		t.Errorf("a 429 with Retry-After: 1 was tried again after %s", took)
	}

	e.fake.FailCreates(3, http.StatusServiceUnavailable, 0)
	_, err := e.p.Provision(ctx(t, 20*time.Second), chaoslab.TargetSpec{})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
		t.Errorf("after 3 refusals of 3 tries: %v, want an *APIError 503", err)
	}

	e.fake.FailCreates(1, http.StatusInternalServerError, 0)
	_, err = e.p.Provision(ctx(t, 20*time.Second), chaoslab.TargetSpec{})
	if !errors.As(err, &ae) || ae.Status != http.StatusInternalServerError {
		t.Errorf("a 500: %v, want an *APIError 500", err)
	}
	e.fake.FailCreates(0, 0, 0)
}

// TestSandboxGone: a sandbox that died (expired, killed elsewhere) makes
// calls fail with ErrSandboxNotFound, and Close succeeds: its kill answers
// 404, which counts as killed.
func TestSandboxGone(t *testing.T) {
	e := start(t)
	tgt := e.provision(chaoslab.TargetSpec{})
	if !e.fake.Kill(tgt.SandboxID()) {
		t.Fatal("the fake does not know the sandbox")
	}
	_, err := tgt.Exec(ctx(t, 10*time.Second), []string{"true"})
	if !errors.Is(err, ErrSandboxNotFound) {
		t.Errorf("Exec in a dead sandbox: %v, want ErrSandboxNotFound", err)
	}
	if _, err := tgt.Sample(ctx(t, 5*time.Second)); !errors.Is(err, ErrSandboxNotFound) {
		t.Errorf("Sample of a dead sandbox: %v, want ErrSandboxNotFound", err)
	}
	if err := tgt.Close(ctx(t, 10*time.Second)); err != nil {
		t.Errorf("Close of a dead sandbox: %v", err)
	}
}

// TestInt64AsStrings: proto3 JSON writes 64-bit integers as strings
// (EntryInfo.size).
func TestInt64AsStrings(t *testing.T) {
	e := start(t)
	tgt := e.provision(chaoslab.TargetSpec{})
	data := strings.Repeat("x", 1234)
	if err := tgt.WriteFile(ctx(t, 5*time.Second), "dir/f.txt", []byte(data)); err != nil {
		t.Fatal(err)
	}
	info, err := tgt.sb.stat(ctx(t, 5*time.Second), "dir/f.txt")
	if err != nil || info.Size != 1234 || info.Type != "FILE_TYPE_FILE" {
		t.Fatalf("Stat: %+v, %v", info, err)
	}
	got, err := tgt.ReadFile(ctx(t, 5*time.Second), "dir/f.txt")
	if err != nil || string(got) != data {
		t.Fatalf("ReadFile: %d bytes, %v", len(got), err)
	}
	for _, tc := range []struct {
		in   string
		want int64
	}{{`"9007199254740993"`, 9007199254740993}, {`42`, 42}, {`"-7"`, -7}, {`null`, 0}} {
		var n pbInt64
		if err := json.Unmarshal([]byte(tc.in), &n); err != nil || int64(n) != tc.want {
			t.Errorf("pbInt64 from %s = %d, %v", tc.in, n, err)
		}
	}
	if b, _ := json.Marshal(pbInt64(5)); string(b) != `"5"` {
		t.Errorf("pbInt64 marshals as %s", b)
	}
}

// TestExitCodeZeroOmitted: a successful end event has no exitCode.
func TestExitCodeZeroOmitted(t *testing.T) {
	for _, tc := range []struct {
		msg     string
		wantErr bool
		code    int
	}{
		{`{"event":{"end":{"exited":true,"status":"exit status 0"}}}`, false, 0},
		{`{"event":{"end":{}}}`, false, 0},
		{`{"event":{"end":{"exitCode":3,"exited":true,"status":"exit status 3","error":"exit status 3"}}}`, true, 3},
		{`{"event":{"end":{"exitCode":"2","exited":true}}}`, true, 2},
		{`{"event":{"end":{"exitCode":-1,"status":"signal: killed","error":"signal: killed"}}}`, true, -1},
	} {
		ev, err := decodeEvent([]byte(tc.msg))
		if err != nil || ev.End == nil {
			t.Fatalf("decode %s: %v", tc.msg, err)
		}
		ex := exitStatus{code: int(ev.End.ExitCode), exited: ev.End.Exited, status: ev.End.Status}
		err = ex.err()
		var ee *ExitError
		if (err != nil) != tc.wantErr || (err != nil && (!errors.As(err, &ee) || ee.Code != tc.code)) {
			t.Errorf("%s: %v", tc.msg, err)
		}
	}
	e := start(t)
	tgt := e.provision(chaoslab.TargetSpec{})
	if _, err := tgt.Exec(ctx(t, 10*time.Second), []string{"true"}); err != nil {
		t.Errorf("true: %v", err)
	}
	_, err := tgt.Exec(ctx(t, 10*time.Second), []string{"sh", "-c", "exit 3"})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Errorf("exit 3: %v", err)
	}
}

// TestUTF8SplitAcrossChunks: output comes as envd reads it, so a character
// may be split between two chunks; lines are cut only at newlines.
func TestUTF8SplitAcrossChunks(t *testing.T) {
	var lines []string
	w := &lineWriter{emit: func(l string) { lines = append(lines, l) }}
	w.write([]byte("caf\xc3"))
	w.write([]byte("\xa9 ok\r\n\xe2\x82"))
	w.write([]byte("\xac"))
	w.flush()
	if len(lines) != 2 || lines[0] != "café ok" || lines[1] != "€" {
		t.Errorf("lines %q", lines)
	}
	long := strings.Repeat("é", maxLine) // 2 bytes each
	lines = nil
	w.write([]byte(long))
	w.flush()
	if strings.Join(lines, "") != long {
		t.Error("a long line lost bytes")
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "é") || !strings.HasSuffix(l, "é") {
			t.Errorf("a long line was cut inside a character")
		}
	}

	e := start(t)
	tgt := e.provision(chaoslab.TargetSpec{})
	out, err := tgt.Exec(ctx(t, 10*time.Second), []string{"sh", "-c", `printf 'caf\303'; sleep 0.3; printf '\251\n'`})
	if err != nil || string(out) != "café\n" {
		t.Errorf("Exec: %q, %v", out, err)
	}
}

// TestStreamDropRejoins: a stream cut short is joined again with Connect,
// and the command's end is still seen.
func TestStreamDropRejoins(t *testing.T) {
	e := start(t)
	tgt := e.provision(chaoslab.TargetSpec{})
	e.fake.DropStreams(1, 2) // after the start event and the first output
	out, err := tgt.Exec(ctx(t, 20*time.Second), []string{"sh", "-c", "echo a; sleep 0.5; echo b; exit 4"})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 4 {
		t.Errorf("Exec across a dropped stream: %v, want exit 4", err)
	}
	if !strings.Contains(string(out), "b") {
		t.Errorf("output after the drop is missing: %q", out)
	}
	if !strings.Contains(e.logs.String(), "dropping process stream") {
		t.Error("the fake dropped no stream")
	}
}

// TestUncertainCreateLeaksNothing: a creation whose answer is lost (the
// sandbox was made) leaves no sandbox behind when Provision gives up.
func TestUncertainCreateLeaksNothing(t *testing.T) {
	e := start(t)
	target, _ := url.Parse(e.fake.APIURL())
	var made atomic.Int32
	var wg sync.WaitGroup
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/sandboxes" {
			// Make the sandbox, then lose the answer.
			wg.Add(1)
			defer wg.Done()
			body, _ := io.ReadAll(r.Body)
			req, _ := http.NewRequest(http.MethodPost, e.fake.APIURL()+"/sandboxes", strings.NewReader(string(body)))
			req.Header = r.Header.Clone()
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				made.Add(1)
			}
			<-r.Context().Done()
			return
		}
		r.URL.Scheme, r.URL.Host, r.Host = target.Scheme, target.Host, target.Host
		r.RequestURI = ""
		resp, err := http.DefaultClient.Do(r.WithContext(r.Context()))
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer front.Close()
	p := New(WithAPIKey(e.fake.APIKey()), WithAPIURL(front.URL), WithSandboxURL(e.fake.SandboxURL()),
		WithAgent("amd64", testAgent), WithRequestTimeout(time.Second))
	_, err := p.Provision(ctx(t, 20*time.Second), chaoslab.TargetSpec{})
	if err == nil {
		t.Fatal("Provision succeeded without an answer to its creation")
	}
	wg.Wait()
	if made.Load() == 0 {
		t.Fatal("the test made no sandbox")
	}
	if n := e.fake.Live(); n != 0 {
		t.Errorf("%d sandboxes left by a creation whose answer was lost (%v)", n, err)
	}
	p.cfg.client.Transport.(*http.Transport).CloseIdleConnections()
}

// TestUnsupported: what a sandbox cannot take is ErrUnsupported, naming
// the fault and the reason.
func TestUnsupported(t *testing.T) {
	e := start(t)
	tgt := e.provision(chaoslab.TargetSpec{})
	l, err := tgt.Link(DownstreamLink)
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Apply(ctx(t, 5*time.Second), chaoslab.LinkFault{Kind: "http_errors", Params: chaoslab.Params{"rate": "1"}})
	if !errors.Is(err, chaoslab.ErrUnsupported) || !strings.Contains(err.Error(), "http_errors") {
		t.Errorf("http_errors on the downstream link: %v", err)
	}
	_, err = tgt.Stress(ctx(t, 5*time.Second), chaoslab.Stress{Kind: chaoslab.StressMemory, Bytes: 1 << 50})
	if !errors.Is(err, chaoslab.ErrUnsupported) || !strings.Contains(err.Error(), "memory") {
		t.Errorf("memory stress of 1 PiB: %v", err)
	}
	_, err = l.Apply(ctx(t, 5*time.Second), chaoslab.LinkFault{Kind: "network_delay", Params: chaoslab.Params{"latency": "soon"}})
	if !errors.Is(err, chaoslab.ErrInvalid) {
		t.Errorf("network_delay with a bad latency: %v, want ErrInvalid", err)
	}
	if _, err := e.p.Provision(ctx(t, 5*time.Second), chaoslab.TargetSpec{Kind: chaoslab.TargetAddress, Address: "127.0.0.1:1"}); !errors.Is(err, chaoslab.ErrUnsupported) {
		t.Errorf("kind address: %v", err)
	}
	if _, err := e.p.Provision(ctx(t, 5*time.Second), chaoslab.TargetSpec{Options: map[string]string{"tempalte": "x"}}); !errors.Is(err, chaoslab.ErrInvalid) {
		t.Errorf("a misspelt option: %v", err)
	}
}
