package groqfake

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Errors returned by Start.
var (
	// ErrStarted is returned by Start on a Server already started.
	ErrStarted = errors.New("groqfake: server already started")
	// ErrClosed is returned by Start on a Server already closed.
	ErrClosed = errors.New("groqfake: server closed")
)

// PathPrefix is the path under which the fake serves the API, as Groq
// serves its OpenAI-compatible API under https://api.groq.com/openai/v1.
const PathPrefix = "/openai/v1"

// DefaultModels are the models the fake serves unless WithModels says
// otherwise: production models of Groq's model list.
var DefaultModels = []string{"llama-3.3-70b-versatile", "llama-3.1-8b-instant", "openai/gpt-oss-120b", "openai/gpt-oss-20b"}

// Option configures a Server.
type Option func(*Server)

// WithAPIKey sets the API key the Server accepts in Authorization: Bearer.
// The default is a random key of Groq's format, "gsk_" and 52 letters and
// digits.
func WithAPIKey(key string) Option { return func(s *Server) { s.apiKey = key } }

// WithModels sets the model IDs the Server serves (GET /models) and
// accepts in chat requests.
func WithModels(ids ...string) Option {
	return func(s *Server) { s.models = append([]string(nil), ids...) }
}

// WithDefaultReply sets the reply to chat requests when no scripted reply
// is queued. The default is Answer("{}"): an empty JSON object.
func WithDefaultReply(r Reply) Option { return func(s *Server) { s.defaultReply = r } }

// WithJSONValidation makes the Server validate, as Groq does in JSON mode,
// that the content answering a response_format json_object request is a
// JSON object, and answer 400 json_validate_failed when it is not.
func WithJSONValidation() Option { return func(s *Server) { s.validateJSON = true } }

// WithLogger sets where the Server logs; the default discards.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// Server fakes Groq's OpenAI-compatible API. Make it with New, then Start
// it; Close ends it. It is safe for concurrent use.
type Server struct {
	log          *slog.Logger
	apiKey       string
	models       []string
	defaultReply Reply
	validateJSON bool

	closing  chan struct{}
	serveWG  sync.WaitGroup // the Serve loop
	handlers sync.WaitGroup // requests being served

	mu       sync.Mutex
	started  bool
	closed   bool
	httpSrv  *http.Server
	addr     string
	queue    []Reply
	requests []Request
}

// New returns a Server configured by opts. It does no I/O: Start listens.
func New(opts ...Option) *Server {
	s := &Server{
		log:          slog.New(slog.DiscardHandler),
		models:       append([]string(nil), DefaultModels...),
		defaultReply: Answer("{}"),
		closing:      make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	if s.apiKey == "" {
		s.apiKey = "gsk_" + randomAlnum(52)
	}
	return s
}

// Start listens on 127.0.0.1 on a free port and serves until Close.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.started:
		return ErrStarted
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("groqfake: listen: %w", err)
	}
	s.httpSrv = &http.Server{
		Handler:           http.HandlerFunc(s.serve),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.addr = ln.Addr().String()
	s.started = true
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("groqfake: serve", "addr", ln.Addr().String(), "err", err)
		}
	}()
	s.log.Info("groqfake: started", "url", "http://"+s.addr+PathPrefix)
	return nil
}

// BaseURL is the API's base URL, http://127.0.0.1:PORT/openai/v1: what a
// client takes as GROQ_BASE_URL. It is "" before Start.
func (s *Server) BaseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr == "" {
		return ""
	}
	return "http://" + s.addr + PathPrefix
}

// APIKey is the key the Server accepts.
func (s *Server) APIKey() string { return s.apiKey }

// Enqueue appends replies to the queue that chat requests take from, one
// each, in order.
func (s *Server) Enqueue(replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, replies...)
}

// Pending is the number of queued replies not yet taken.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Requests returns a copy of every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = r.clone()
	}
	return out
}

// Close stops the Server: it stops listening, ends every request in
// progress (stalled ones included) and waits for them. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	srv := s.httpSrv
	s.mu.Unlock()
	var err error
	if srv != nil {
		// Stalled handlers return once closing is closed; Shutdown then
		// finds every connection idle. Close is the backstop.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err = srv.Shutdown(ctx); err != nil {
			err = srv.Close()
		}
		cancel()
		s.serveWG.Wait()
	}
	s.handlers.Wait()
	return err
}

// serve records the request, checks its key and routes it.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.handlers.Add(1)
	defer s.handlers.Done()
	rec := newRecorder(w)
	w = rec
	body, err := readBody(r)
	idx := s.record(r, body)
	defer func() { s.setStatus(idx, rec.status) }()

	reqID := "req_" + randomAlnum(26)
	w.Header().Set("x-request-id", reqID)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, apiError{Message: err.Error(), Type: "invalid_request_error", Code: "request_too_large"})
		return
	}
	if !s.authorized(r) {
		writeError(w, http.StatusUnauthorized, apiError{Message: "Invalid API Key", Type: "invalid_request_error", Code: "invalid_api_key"})
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	if !ok {
		s.unknownURL(w, r)
		return
	}
	switch {
	case path == "/chat/completions" && r.Method == http.MethodPost:
		s.chat(w, r, body, reqID)
	case path == "/models" && r.Method == http.MethodGet:
		s.listModels(w)
	case strings.HasPrefix(path, "/models/") && r.Method == http.MethodGet:
		s.getModel(w, strings.TrimPrefix(path, "/models/"))
	default:
		s.unknownURL(w, r)
	}
}

func (s *Server) unknownURL(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, apiError{
		Message: fmt.Sprintf("Unknown request URL: %s %s. Please check the URL for typos, or see the docs at https://console.groq.com/docs/", r.Method, r.URL.Path),
		Type:    "invalid_request_error",
		Code:    "unknown_url",
	})
}

// authorized reports whether r carries the key as a bearer token.
func (s *Server) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && token == s.apiKey
}

// next takes the next scripted reply, or the default.
func (s *Server) next() Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return s.defaultReply
	}
	r := s.queue[0]
	s.queue = s.queue[1:]
	return r
}

// wait holds for d unless ctx ends or the Server closes first; it reports
// whether the whole delay passed. A negative d waits for ctx or Close only.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d == 0 {
		return true
	}
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return true
	case <-ctx.Done():
	case <-s.closing:
	}
	return false
}

// randomAlnum returns n random letters and digits.
func randomAlnum(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
