package groqfake

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"time"
)

// maxBody bounds a request body, as a real API bounds its requests.
const maxBody = 4 << 20

// Request is one request the Server received.
type Request struct {
	Method string
	// Path is the URL path, /openai/v1/chat/completions for a chat request.
	Path string
	// Query is the raw query string.
	Query  string
	Header http.Header
	Body   []byte
	// Status is the HTTP status the Server answered with; 0 while the
	// request is in progress, and for one whose connection was closed
	// without an answer (Hangup) or that ended before an answer (a stall
	// the client gave up on, Close).
	Status int
	// At is when the request arrived.
	At time.Time
}

func (r Request) clone() Request {
	r.Header = r.Header.Clone()
	r.Body = bytes.Clone(r.Body)
	return r
}

// record appends a request to the record and returns its index.
func (s *Server) record(r *http.Request, body []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  r.URL.RawQuery,
		Header: r.Header.Clone(),
		Body:   bytes.Clone(body),
		At:     time.Now(),
	})
	return len(s.requests) - 1
}

func (s *Server) setStatus(idx, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[idx].Status = status
}

// readBody reads r's body, at most maxBody bytes.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return b, err
	}
	if len(b) > maxBody {
		return b[:maxBody], errors.New("request body too large")
	}
	return b, nil
}

// recorder remembers the status written through it.
type recorder struct {
	http.ResponseWriter
	status int
}

func newRecorder(w http.ResponseWriter) *recorder { return &recorder{ResponseWriter: w} }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
