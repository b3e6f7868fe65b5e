package e2b

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	pathpkg "path"
	"strconv"
	"strings"
	"time"
)

// This file reaches a sandbox: envd's HTTP API (spec/envd/envd.yaml), its
// Connect services (spec/envd/process/process.proto and
// spec/envd/filesystem/filesystem.proto) with the Connect protocol's JSON
// codec, and the other ports of the sandbox.

// Headers of the sandbox host.
const (
	headerSandboxID    = "E2b-Sandbox-Id"
	headerSandboxPort  = "E2b-Sandbox-Port"
	headerAccessToken  = "X-Access-Token"
	headerTrafficToken = "E2b-Traffic-Access-Token"
	headerKeepalive    = "Keepalive-Ping-Interval"
)

// sandboxConn reaches one sandbox.
type sandboxConn struct {
	id      string
	shared  string // E2B_SANDBOX_URL: one host for every sandbox and port
	domain  string
	token   string // envdAccessToken; "" when the sandbox is not secure
	traffic string // trafficAccessToken, for ports other than envd's
	user    string
	hc      *http.Client
	timeout time.Duration // per unary request
	ping    time.Duration // Keepalive-Ping-Interval asked of envd
}

// portURL is the base URL of a port of the sandbox.
func (s *sandboxConn) portURL(port int) string {
	if s.shared != "" {
		return s.shared
	}
	return "https://" + strconv.Itoa(port) + "-" + s.id + "." + s.domain
}

// newRequest makes a request for a port of the sandbox, with the headers
// that route and authorise it.
func (s *sandboxConn) newRequest(ctx context.Context, port int, method, pathQuery string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.portURL(port)+pathQuery, body)
	if err != nil {
		return nil, err
	}
	s.route(req.Header, port)
	req.Header.Set("User-Agent", userAgent)
	return req, nil
}

// route sets the headers that route a request to a port of the sandbox and
// authorise it.
func (s *sandboxConn) route(h http.Header, port int) {
	h.Set(headerSandboxID, s.id)
	h.Set(headerSandboxPort, strconv.Itoa(port))
	if port == EnvdPort {
		if s.token != "" {
			h.Set(headerAccessToken, s.token)
		}
	} else if s.traffic != "" {
		h.Set(headerTrafficToken, s.traffic)
	}
}

// edgeBody is the body of an error of E2B's edge or of envd's HTTP API.
type edgeBody struct {
	SandboxID string `json:"sandboxId"`
	Message   string `json:"message"`
	Code      any    `json:"code"` // a number, or a Connect code
}

// answerError turns an error answer of the sandbox host into an error: one
// wrapping ErrSandboxNotFound when the edge says the sandbox is gone, an
// *RPCError for a Connect error, else an *HTTPError.
func answerError(status int, body []byte) error {
	var b edgeBody
	_ = json.Unmarshal(body, &b)
	msg := b.Message
	if msg == "" {
		msg = strings.TrimSpace(string(body))
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
	}
	if status == http.StatusBadGateway && strings.Contains(strings.ToLower(msg), "sandbox was not found") {
		return fmt.Errorf("%w: %s", ErrSandboxNotFound, msg)
	}
	if code, ok := b.Code.(string); ok && code != "" {
		return &RPCError{Code: code, Message: b.Message}
	}
	return &HTTPError{Status: status, Message: msg}
}

// authorization names the sandbox user of a Connect call, as envd reads it.
func (s *sandboxConn) authorization() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(s.user+":"))
}

// unary makes a unary Connect call to envd: in and out are the JSON forms
// of the request and response messages.
func (s *sandboxConn) unary(ctx context.Context, procedure string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := s.newRequest(ctx, EnvdPort, http.MethodPost, procedure, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Protocol-Version", "1")
	req.Header.Set("Authorization", s.authorization())
	if dl, ok := ctx.Deadline(); ok {
		req.Header.Set("Connect-Timeout-Ms", strconv.FormatInt(max(time.Until(dl).Milliseconds(), 1), 10))
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", procedure, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("%s: read the answer: %w", procedure, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %w", procedure, answerError(resp.StatusCode, data))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decode the answer: %w", procedure, err)
	}
	return nil
}

// Envelope flags of the Connect streaming protocol.
const (
	flagCompressed = 0x01
	flagEndStream  = 0x02
	maxMessage     = 32 << 20
)

// connectStream is the answer of a server-streaming Connect call.
type connectStream struct {
	body io.ReadCloser
	r    *bufio.Reader
	gzip bool
}

// openStream makes a server-streaming Connect call to envd. Its request
// carries no Connect-Timeout-Ms unless timeout > 0: envd ends the process
// a Start call starts when that time passes. ctx bounds the whole stream.
func (s *sandboxConn) openStream(ctx context.Context, procedure string, in any, timeout time.Duration) (*connectStream, error) {
	msg, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	env := make([]byte, 5+len(msg))
	binary.BigEndian.PutUint32(env[1:5], uint32(len(msg)))
	copy(env[5:], msg)
	req, err := s.newRequest(ctx, EnvdPort, http.MethodPost, procedure, bytes.NewReader(env))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/connect+json")
	req.Header.Set("Connect-Protocol-Version", "1")
	req.Header.Set("Authorization", s.authorization())
	req.Header.Set(headerKeepalive, strconv.Itoa(int(max(s.ping/time.Second, 1))))
	if timeout > 0 {
		req.Header.Set("Connect-Timeout-Ms", strconv.FormatInt(max(timeout.Milliseconds(), 1), 10))
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", procedure, err)
	}
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %w", procedure, answerError(resp.StatusCode, data))
	}
	enc := resp.Header.Get("Connect-Content-Encoding")
	if enc != "" && enc != "identity" && enc != "gzip" {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: the stream is compressed with %q", procedure, enc)
	}
	return &connectStream{body: resp.Body, r: bufio.NewReaderSize(resp.Body, 64<<10), gzip: enc == "gzip"}, nil
}

// errBroken is the error of a stream that ended without its end-of-stream
// message: the connection broke or was cut.
var errBroken = errors.New("the stream broke before its end")

// next returns the next message of the stream. At a clean end it returns
// io.EOF, or the *RPCError the end carried; a stream cut short returns an
// error wrapping errBroken.
func (c *connectStream) next() (json.RawMessage, error) {
	var head [5]byte
	if _, err := io.ReadFull(c.r, head[:]); err != nil {
		return nil, fmt.Errorf("%w: %w", errBroken, err)
	}
	flags, size := head[0], binary.BigEndian.Uint32(head[1:])
	if size > maxMessage {
		return nil, fmt.Errorf("%w: a message of %d bytes", errBroken, size)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(c.r, data); err != nil {
		return nil, fmt.Errorf("%w: %w", errBroken, err)
	}
	if flags&flagCompressed != 0 {
		if !c.gzip {
			return nil, fmt.Errorf("%w: a compressed message with no encoding", errBroken)
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBroken, err)
		}
		data, err = io.ReadAll(io.LimitReader(zr, maxMessage))
		zr.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBroken, err)
		}
	}
	if flags&flagEndStream == 0 {
		return data, nil
	}
	var end struct {
		Error *RPCError `json:"error"`
	}
	if err := json.Unmarshal(data, &end); err != nil {
		return nil, fmt.Errorf("%w: bad end of stream: %w", errBroken, err)
	}
	if end.Error != nil {
		if end.Error.Code == "" {
			end.Error.Code = "unknown"
		}
		return nil, end.Error
	}
	return nil, io.EOF
}

func (c *connectStream) close() { c.body.Close() }

// upload writes r (size bytes) to path in the sandbox, making its parent
// directories, through envd's POST /files. The body is multipart/form-data,
// which every envd version takes (application/octet-stream needs 0.5.7),
// streamed with its length known.
func (s *sandboxConn) upload(ctx context.Context, path string, r io.Reader, size int64) error {
	var head, tail bytes.Buffer
	mw := multipart.NewWriter(&head)
	if _, err := mw.CreateFormFile("file", pathpkg.Base(path)); err != nil {
		return err
	}
	end := multipart.NewWriter(&tail)
	if err := end.SetBoundary(mw.Boundary()); err != nil {
		return err
	}
	if err := end.Close(); err != nil { // the closing boundary
		return err
	}
	q := url.Values{"path": {path}, "username": {s.user}}
	body := io.MultiReader(bytes.NewReader(head.Bytes()), io.LimitReader(r, size), bytes.NewReader(tail.Bytes()))
	req, err := s.newRequest(ctx, EnvdPort, http.MethodPost, "/files?"+q.Encode(), body)
	if err != nil {
		return err
	}
	req.ContentLength = int64(head.Len()) + size + int64(tail.Len())
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("upload %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("upload %s: %w", path, answerError(resp.StatusCode, data))
	}
	return nil
}

// download reads the file at path in the sandbox through envd's GET /files.
func (s *sandboxConn) download(ctx context.Context, path string, limit int64) ([]byte, error) {
	q := url.Values{"path": {path}, "username": {s.user}}
	req, err := s.newRequest(ctx, EnvdPort, http.MethodGet, "/files?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("download %s: %w", path, answerError(resp.StatusCode, data))
	}
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("download %s: larger than %d bytes", path, limit)
	}
	return data, nil
}

// envdMetrics is envd's Metrics.
type envdMetrics struct {
	CPUCount   int     `json:"cpu_count"`
	CPUUsedPct float64 `json:"cpu_used_pct"`
	MemTotal   uint64  `json:"mem_total"`
	MemUsed    uint64  `json:"mem_used"`
	DiskUsed   uint64  `json:"disk_used"`
	DiskTotal  uint64  `json:"disk_total"`
}

// metrics reads the sandbox's resource use from envd's GET /metrics.
func (s *sandboxConn) metrics(ctx context.Context) (envdMetrics, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var m envdMetrics
	req, err := s.newRequest(ctx, EnvdPort, http.MethodGet, "/metrics", nil)
	if err != nil {
		return m, err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return m, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return m, fmt.Errorf("metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("metrics: %w", answerError(resp.StatusCode, data))
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("metrics: %w", err)
	}
	return m, nil
}

// entryInfo is filesystem.EntryInfo, as far as chaoslab reads it.
type entryInfo struct {
	Name string  `json:"name"`
	Type string  `json:"type"`
	Path string  `json:"path"`
	Size pbInt64 `json:"size"`
}

// stat describes a path of the sandbox (filesystem.Filesystem/Stat).
func (s *sandboxConn) stat(ctx context.Context, path string) (entryInfo, error) {
	var out struct {
		Entry entryInfo `json:"entry"`
	}
	err := s.unary(ctx, "/filesystem.Filesystem/Stat", map[string]string{"path": path}, &out)
	return out.Entry, err
}

// remove removes a path of the sandbox (filesystem.Filesystem/Remove).
func (s *sandboxConn) remove(ctx context.Context, path string) error {
	return s.unary(ctx, "/filesystem.Filesystem/Remove", map[string]string{"path": path}, nil)
}

// pbInt64 is a 64-bit integer of the proto3 JSON mapping, which is written
// as a string ("1024") but may be read from a number too.
type pbInt64 int64

// UnmarshalJSON reads a string or a number.
func (n *pbInt64) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != float64(int64(f)) {
			return fmt.Errorf("%s is not a 64-bit integer", b)
		}
		v = int64(f)
	}
	*n = pbInt64(v)
	return nil
}

// MarshalJSON writes a string, as the proto3 JSON mapping does.
func (n pbInt64) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatInt(int64(n), 10) + `"`), nil
}

// pbBytes is a bytes field of the proto3 JSON mapping: base64, standard or
// URL-safe, with or without padding.
type pbBytes []byte

// UnmarshalJSON reads base64 in any of its forms.
func (p *pbBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if d, err := enc.DecodeString(s); err == nil {
			*p = d
			return nil
		}
	}
	return fmt.Errorf("bytes field: %q is not base64", abbrev(s))
}

func abbrev(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// pbInt32 is a 32-bit integer of the proto3 JSON mapping: a number, which a
// parser must also accept as a string.
type pbInt32 int32

// UnmarshalJSON reads a number or a string.
func (n *pbInt32) UnmarshalJSON(b []byte) error {
	var v pbInt64
	if err := v.UnmarshalJSON(b); err != nil {
		return err
	}
	*n = pbInt32(v)
	return nil
}
