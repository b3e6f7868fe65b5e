package groqfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chaoslab-dev/chaoslab/internal/groqfake"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fake is a started Server and a plain HTTP client for it. The requests
// below are built from Groq's and OpenAI's API documentation, not with any
// client library.
type fake struct {
	t      *testing.T
	srv    *groqfake.Server
	client *http.Client
}

func start(t *testing.T, opts ...groqfake.Option) *fake {
	t.Helper()
	srv := groqfake.New(opts...)
	if err := srv.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	tr := &http.Transport{}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		tr.CloseIdleConnections()
	})
	return &fake{t: t, srv: srv, client: &http.Client{Transport: tr}}
}

// answer is a decoded HTTP answer.
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (f *fake) do(ctx context.Context, method, path, key string, body any) (answer, error) {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, ok := body.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(body); err != nil {
				f.t.Fatal(err)
			}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, f.srv.BaseURL()+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		f.t.Fatalf("%s %s: answer is not a JSON object: %q", method, path, raw)
	}
	return a, nil
}

func (f *fake) must(method, path string, body any) answer {
	f.t.Helper()
	a, err := f.do(f.t.Context(), method, path, f.srv.APIKey(), body)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

// errorOf returns the error object of an error answer.
func errorOf(t *testing.T, a answer) map[string]any {
	t.Helper()
	e, ok := a.body["error"].(map[string]any)
	if !ok {
		t.Fatalf("answer %d has no error object: %s", a.status, a.raw)
	}
	if _, ok := e["message"].(string); !ok {
		t.Errorf("error has no message: %s", a.raw)
	}
	if _, ok := e["type"].(string); !ok {
		t.Errorf("error has no type: %s", a.raw)
	}
	return e
}

func chatBody(extra map[string]any) map[string]any {
	b := map[string]any{
		"model": "llama-3.3-70b-versatile",
		"messages": []map[string]any{
			{"role": "system", "content": "Answer in JSON."},
			{"role": "user", "content": "Explain the result."},
		},
		"response_format": map[string]any{"type": "json_object"},
		"temperature":     0.2,
		"stream":          false,
	}
	for k, v := range extra {
		if v == nil {
			delete(b, k)
			continue
		}
		b[k] = v
	}
	return b
}

func TestAuthorization(t *testing.T) {
	f := start(t, groqfake.WithAPIKey("gsk_test_key"))
	for _, key := range []string{"", "gsk_wrong"} {
		a, err := f.do(t.Context(), http.MethodPost, "/chat/completions", key, chatBody(nil))
		if err != nil {
			t.Fatal(err)
		}
		if a.status != http.StatusUnauthorized {
			t.Fatalf("key %q: status %d, want 401", key, a.status)
		}
		if e := errorOf(t, a); e["code"] != "invalid_api_key" || e["type"] != "invalid_request_error" {
			t.Errorf("key %q: error %v, want invalid_api_key", key, e)
		}
	}
	if f.srv.Pending() != 0 {
		t.Fatal("no reply was queued")
	}
	if a := f.must(http.MethodPost, "/chat/completions", chatBody(nil)); a.status != http.StatusOK {
		t.Errorf("right key: status %d: %s", a.status, a.raw)
	}
	if got := groqfake.New().APIKey(); !strings.HasPrefix(got, "gsk_") || len(got) != 56 {
		t.Errorf("default key %q is not of Groq's format", got)
	}
}

func TestModels(t *testing.T) {
	f := start(t, groqfake.WithModels("llama-3.3-70b-versatile", "openai/gpt-oss-20b"))
	a := f.must(http.MethodGet, "/models", nil)
	if a.status != http.StatusOK || a.body["object"] != "list" {
		t.Fatalf("GET /models: %d %s", a.status, a.raw)
	}
	data, _ := a.body["data"].([]any)
	if len(data) != 2 {
		t.Fatalf("GET /models lists %d models, want 2: %s", len(data), a.raw)
	}
	m := data[1].(map[string]any)
	if m["id"] != "openai/gpt-oss-20b" || m["object"] != "model" || m["owned_by"] != "openai" || m["active"] != true {
		t.Errorf("model object %v", m)
	}
	if a := f.must(http.MethodGet, "/models/llama-3.3-70b-versatile", nil); a.status != http.StatusOK || a.body["id"] != "llama-3.3-70b-versatile" {
		t.Errorf("GET /models/{id}: %d %s", a.status, a.raw)
	}
	a = f.must(http.MethodGet, "/models/gpt-4", nil)
	if e := errorOf(t, a); a.status != http.StatusNotFound || e["code"] != "model_not_found" {
		t.Errorf("unknown model: %d %v", a.status, e)
	}
	a = f.must(http.MethodPost, "/chat/completions", chatBody(map[string]any{"model": "gpt-4"}))
	if e := errorOf(t, a); a.status != http.StatusNotFound || e["code"] != "model_not_found" {
		t.Errorf("chat with an unknown model: %d %v", a.status, e)
	}
	a = f.must(http.MethodGet, "/embeddings", nil)
	if e := errorOf(t, a); a.status != http.StatusNotFound || e["code"] != "unknown_url" {
		t.Errorf("unknown URL: %d %v", a.status, e)
	}
}

func TestChatCompletion(t *testing.T) {
	f := start(t)
	f.srv.Enqueue(groqfake.Answer(`{"summary":"one"}`), groqfake.Fenced(map[string]string{"summary": "two"}))
	a := f.must(http.MethodPost, "/chat/completions", chatBody(nil))
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.raw)
	}
	if a.body["object"] != "chat.completion" || a.body["model"] != "llama-3.3-70b-versatile" ||
		!strings.HasPrefix(a.body["id"].(string), "chatcmpl-") {
		t.Errorf("completion %s", a.raw)
	}
	if xg, _ := a.body["x_groq"].(map[string]any); xg == nil || xg["id"] != a.header.Get("x-request-id") {
		t.Errorf("x_groq.id does not match x-request-id: %s", a.raw)
	}
	if a.header.Get("x-ratelimit-remaining-requests") == "" {
		t.Error("no x-ratelimit headers")
	}
	usage, _ := a.body["usage"].(map[string]any)
	if usage["total_tokens"].(float64) != usage["prompt_tokens"].(float64)+usage["completion_tokens"].(float64) {
		t.Errorf("usage %v", usage)
	}
	content := func(a answer) string {
		choice := a.body["choices"].([]any)[0].(map[string]any)
		if choice["finish_reason"] != "stop" || choice["index"].(float64) != 0 {
			t.Errorf("choice %v", choice)
		}
		msg := choice["message"].(map[string]any)
		if msg["role"] != "assistant" {
			t.Errorf("message role %v", msg["role"])
		}
		return msg["content"].(string)
	}
	if got := content(a); got != `{"summary":"one"}` {
		t.Errorf("first content %q", got)
	}
	if got := content(f.must(http.MethodPost, "/chat/completions", chatBody(nil))); !strings.HasPrefix(got, "```json\n{") || !strings.HasSuffix(got, "}\n```") {
		t.Errorf("fenced content %q", got)
	}
	if got := content(f.must(http.MethodPost, "/chat/completions", chatBody(nil))); got != "{}" {
		t.Errorf("default content %q, want {}", got)
	}

	reqs := f.srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests recorded, want 3", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/openai/v1/chat/completions" || r.Status != http.StatusOK ||
		r.Header.Get("Authorization") != "Bearer "+f.srv.APIKey() {
		t.Errorf("recorded %+v", r)
	}
	chat, err := groqfake.DecodeChat(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if chat.Model != "llama-3.3-70b-versatile" || len(chat.Messages) != 2 || chat.Messages[0].Role != "system" ||
		chat.ResponseFormat == nil || chat.ResponseFormat.Type != "json_object" || *chat.Temperature != 0.2 {
		t.Errorf("decoded %+v", chat)
	}
}

func TestChatRequestChecks(t *testing.T) {
	f := start(t)
	tests := []struct {
		name  string
		body  any
		param string
	}{
		{"not JSON", []byte(`{"model":`), ""},
		{"no model", chatBody(map[string]any{"model": nil}), "model"},
		{"no messages", chatBody(map[string]any{"messages": []any{}}), "messages"},
		{"bad role", chatBody(map[string]any{"messages": []map[string]any{{"role": "robot", "content": "json"}}}), "messages.0.role"},
		{"name", chatBody(map[string]any{"messages": []map[string]any{{"role": "user", "content": "json", "name": "bob"}}}), "messages.0.name"},
		{"content not a string", chatBody(map[string]any{"messages": []map[string]any{{"role": "system", "content": 42}}}), "messages.0.content"},
		{"logprobs", chatBody(map[string]any{"logprobs": true}), "logprobs"},
		{"logit_bias", chatBody(map[string]any{"logit_bias": map[string]int{"1": 2}}), "logit_bias"},
		{"n", chatBody(map[string]any{"n": 2}), "n"},
		{"temperature", chatBody(map[string]any{"temperature": 2.5}), "temperature"},
		{"response_format type", chatBody(map[string]any{"response_format": map[string]any{"type": "yaml"}}), "response_format"},
		{"json mode without the word", chatBody(map[string]any{"messages": []map[string]any{{"role": "user", "content": "hello"}}}), "messages"},
		{"stream", chatBody(map[string]any{"stream": true}), "stream"},
		{"unknown field", chatBody(map[string]any{"temprature": 1}), "temprature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := f.must(http.MethodPost, "/chat/completions", tt.body)
			if a.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", a.status, a.raw)
			}
			e := errorOf(t, a)
			if e["type"] != "invalid_request_error" {
				t.Errorf("error type %v", e["type"])
			}
			if tt.param != "" && e["param"] != tt.param {
				t.Errorf("param %v, want %s (%v)", e["param"], tt.param, e["message"])
			}
		})
	}
	if f.srv.Pending() != 0 {
		t.Error("a refused request took a reply")
	}
	// Parts content for user messages and text mode without the word.
	a := f.must(http.MethodPost, "/chat/completions", chatBody(map[string]any{
		"response_format": map[string]any{"type": "text"},
		"messages":        []map[string]any{{"role": "user", "content": []map[string]any{{"type": "text", "text": "hi"}}}},
	}))
	if a.status != http.StatusOK {
		t.Errorf("parts content: %d %s", a.status, a.raw)
	}
}

func TestScriptedErrors(t *testing.T) {
	f := start(t)
	f.srv.Enqueue(groqfake.RateLimited(1500*time.Millisecond), groqfake.Failure(http.StatusServiceUnavailable), groqfake.Failure(http.StatusInternalServerError))
	a := f.must(http.MethodPost, "/chat/completions", chatBody(nil))
	if e := errorOf(t, a); a.status != http.StatusTooManyRequests || e["code"] != "rate_limit_exceeded" || a.header.Get("Retry-After") != "2" {
		t.Errorf("429: %d retry-after %q %v", a.status, a.header.Get("Retry-After"), e)
	}
	a = f.must(http.MethodPost, "/chat/completions", chatBody(nil))
	if errorOf(t, a); a.status != http.StatusServiceUnavailable {
		t.Errorf("503: %d", a.status)
	}
	a = f.must(http.MethodPost, "/chat/completions", chatBody(nil))
	if errorOf(t, a); a.status != http.StatusInternalServerError {
		t.Errorf("500: %d", a.status)
	}
}

func TestJSONValidation(t *testing.T) {
	f := start(t, groqfake.WithJSONValidation())
	f.srv.Enqueue(groqfake.Garbage(), groqfake.Answer(`{"ok":true}`))
	a := f.must(http.MethodPost, "/chat/completions", chatBody(nil))
	if e := errorOf(t, a); a.status != http.StatusBadRequest || e["code"] != "json_validate_failed" || e["failed_generation"] == "" {
		t.Errorf("garbage in JSON mode: %d %v", a.status, e)
	}
	if a := f.must(http.MethodPost, "/chat/completions", chatBody(nil)); a.status != http.StatusOK {
		t.Errorf("JSON in JSON mode: %d %s", a.status, a.raw)
	}
}

func TestStallEndsWithTheClient(t *testing.T) {
	f := start(t)
	f.srv.Enqueue(groqfake.Stall(), groqfake.Reply{Delay: 2 * time.Minute})
	for range 2 {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		_, err := f.do(ctx, http.MethodPost, "/chat/completions", f.srv.APIKey(), chatBody(nil))
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("stalled request: %v, want a deadline error", err)
		}
	}
	// The handlers saw the client leave: the requests end unanswered.
	reqs := f.srv.Requests()
	if len(reqs) != 2 || reqs[0].Status != 0 || reqs[1].Status != 0 {
		t.Errorf("stalled requests recorded as %+v, want two unanswered", reqs)
	}
	if f.srv.Pending() != 0 {
		t.Error("the stalls were not taken")
	}
}

func TestCloseEndsStalls(t *testing.T) {
	f := start(t)
	f.srv.Enqueue(groqfake.Stall())
	errc := make(chan error, 1)
	go func() {
		_, err := f.do(context.Background(), http.MethodPost, "/chat/completions", f.srv.APIKey(), chatBody(nil))
		errc <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(f.srv.Requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- f.srv.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a stalled request")
	}
	if err := <-errc; err == nil {
		t.Error("a request stalled until Close got an answer")
	}
	if err := f.srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := f.srv.Start(t.Context()); !errors.Is(err, groqfake.ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
}

func TestHangup(t *testing.T) {
	f := start(t)
	f.srv.Enqueue(groqfake.Hangup())
	if _, err := f.do(t.Context(), http.MethodPost, "/chat/completions", f.srv.APIKey(), chatBody(nil)); err == nil {
		t.Error("a hung-up request got an answer")
	}
	if err := f.srv.Start(t.Context()); !errors.Is(err, groqfake.ErrStarted) {
		t.Errorf("second Start: %v", err)
	}
}
