//go:build unix

package e2bfake

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// This file serves the shared sandbox host: the edge's routing by
// E2b-Sandbox-Id and E2b-Sandbox-Port (or by a {port}-{id}.{domain} host),
// envd's HTTP API, its Connect services, and the other ports of a sandbox.

const (
	sandboxIDHeader    = "E2b-Sandbox-Id"
	sandboxPortHeader  = "E2b-Sandbox-Port"
	accessTokenHeader  = "X-Access-Token"
	trafficTokenHeader = "E2b-Traffic-Access-Token"
)

// edgeError is the body of the E2B edge's own errors.
type edgeError struct {
	SandboxID string `json:"sandboxId,omitempty"`
	Message   string `json:"message"`
	Port      int    `json:"port,omitempty"`
	Code      int    `json:"code"`
}

func writeEdgeError(w http.ResponseWriter, e edgeError) {
	writeJSON(w, e.Code, e)
}

// envdError is the body of envd's HTTP API errors.
type envdError struct {
	Message string `json:"message"`
	Code    int    `json:"code"`
}

func writeEnvdError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, envdError{Message: fmt.Sprintf(format, args...), Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// target reads which sandbox and port a request is for.
func (s *Server) target(r *http.Request) (id string, port int, err error) {
	if id = r.Header.Get(sandboxIDHeader); id != "" {
		p := r.Header.Get(sandboxPortHeader)
		port, err = strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return "", 0, fmt.Errorf("invalid %s header %q", sandboxPortHeader, p)
		}
		return id, port, nil
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if sub, ok := strings.CutSuffix(host, "."+s.domain); ok {
		if p, rest, ok := strings.Cut(sub, "-"); ok && !strings.Contains(rest, ".") {
			if port, err = strconv.Atoi(p); err == nil && port >= 1 && port <= 65535 {
				return rest, port, nil
			}
		}
	}
	return "", 0, fmt.Errorf("missing %s and %s headers (or a {port}-{sandboxID}.%s host)", sandboxIDHeader, sandboxPortHeader, s.domain)
}

// serveSandboxHost routes a request for the sandbox host.
func (s *Server) serveSandboxHost(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	latency := s.faults.envdLatency
	failed := takeFault(&s.faults.envdFailures)
	s.mu.Unlock()
	if !s.wait(r.Context(), latency) {
		return
	}
	id, port, err := s.target(r)
	if err != nil {
		writeEdgeError(w, edgeError{Message: err.Error(), Code: http.StatusBadRequest})
		return
	}
	id, _, _ = strings.Cut(id, "-") // E2B ignores a client ID suffix
	sb := s.lookup(id)
	if failed || sb == nil || sb.stateOf() != stateRunning {
		writeEdgeError(w, edgeError{SandboxID: id, Message: "The sandbox was not found", Code: http.StatusBadGateway})
		return
	}
	if port != EnvdPort {
		s.servePort(w, r, sb, port)
		return
	}
	s.serveEnvd(w, r, sb)
}

// rpcMethod is one procedure of envd's Connect services.
type rpcMethod struct {
	kind   rpcKind
	handle func(s *Server, c *rpcCall, sb *sandbox, user string)
}

var rpcMethods = map[string]rpcMethod{
	"/process.Process/Start":                  {serverStreamRPC, func(s *Server, c *rpcCall, sb *sandbox, u string) { s.rpcStart(c, sb, u) }},
	"/process.Process/Connect":                {serverStreamRPC, func(s *Server, c *rpcCall, sb *sandbox, _ string) { s.rpcConnect(c, sb) }},
	"/process.Process/List":                   {unaryRPC, func(s *Server, c *rpcCall, sb *sandbox, _ string) { s.rpcList(c, sb) }},
	"/process.Process/SendSignal":             {unaryRPC, func(s *Server, c *rpcCall, sb *sandbox, _ string) { s.rpcSendSignal(c, sb) }},
	"/process.Process/SendInput":              {unaryRPC, func(s *Server, c *rpcCall, sb *sandbox, _ string) { s.rpcSendInput(c, sb) }},
	"/process.Process/StreamInput":            {clientStreamRPC, func(s *Server, c *rpcCall, sb *sandbox, _ string) { s.rpcStreamInput(c, sb) }},
	"/process.Process/CloseStdin":             {unaryRPC, func(s *Server, c *rpcCall, sb *sandbox, _ string) { s.rpcCloseStdin(c, sb) }},
	"/process.Process/Update":                 {unaryRPC, unimplemented("pty is not supported by e2bfake")},
	"/filesystem.Filesystem/Stat":             {unaryRPC, func(s *Server, c *rpcCall, sb *sandbox, u string) { s.rpcStat(c, sb, u) }},
	"/filesystem.Filesystem/MakeDir":          {unaryRPC, func(s *Server, c *rpcCall, sb *sandbox, u string) { s.rpcMakeDir(c, sb, u) }},
	"/filesystem.Filesystem/Move":             {unaryRPC, func(s *Server, c *rpcCall, sb *sandbox, u string) { s.rpcMove(c, sb, u) }},
	"/filesystem.Filesystem/ListDir":          {unaryRPC, func(s *Server, c *rpcCall, sb *sandbox, u string) { s.rpcListDir(c, sb, u) }},
	"/filesystem.Filesystem/Remove":           {unaryRPC, func(s *Server, c *rpcCall, sb *sandbox, u string) { s.rpcRemove(c, sb, u) }},
	"/filesystem.Filesystem/WatchDir":         {serverStreamRPC, unimplemented("watching directories is not supported by e2bfake")},
	"/filesystem.Filesystem/CreateWatcher":    {unaryRPC, unimplemented("watching directories is not supported by e2bfake")},
	"/filesystem.Filesystem/GetWatcherEvents": {unaryRPC, unimplemented("watching directories is not supported by e2bfake")},
	"/filesystem.Filesystem/RemoveWatcher":    {unaryRPC, unimplemented("watching directories is not supported by e2bfake")},
}

func unimplemented(msg string) func(*Server, *rpcCall, *sandbox, string) {
	return func(_ *Server, c *rpcCall, _ *sandbox, _ string) {
		c.fail(connectErrorf(codeUnimplemented, "%s", msg))
	}
}

// serveEnvd serves envd's own port.
func (s *Server) serveEnvd(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	switch {
	case r.URL.Path == "/health":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, http.MethodGet)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	case r.URL.Path == "/files":
		s.serveFiles(w, r, sb)
		return
	}
	if !sb.authorized(r) {
		writeEnvdError(w, http.StatusUnauthorized, "unauthorized access, please provide a valid access token or method signing if supported")
		return
	}
	switch r.URL.Path {
	case "/envs":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, http.MethodGet)
			return
		}
		vars := sb.envVars
		if vars == nil {
			vars = map[string]string{}
		}
		writeJSON(w, http.StatusOK, vars)
		return
	case "/metrics":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, http.MethodGet)
			return
		}
		writeJSON(w, http.StatusOK, sb.envdMetrics(r.Context()))
		return
	}
	m, ok := rpcMethods[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		methodNotAllowed(w, http.MethodPost)
		return
	}
	if !contentTypeOK(m.kind, r.Header.Get("Content-Type")) {
		want := "application/json"
		if m.kind != unaryRPC {
			want = "application/connect+json"
		}
		w.Header().Set("Accept-Post", want)
		http.Error(w, fmt.Sprintf("unsupported content type %q: e2bfake speaks Connect with the JSON codec (%s)", r.Header.Get("Content-Type"), want), http.StatusUnsupportedMediaType)
		return
	}
	c, cancel, err := newRPCCall(w, r, m.kind)
	defer cancel()
	if err != nil {
		c.fail(err)
		return
	}
	user, err := rpcUser(r)
	if err != nil {
		c.fail(err)
		return
	}
	m.handle(s, c, sb, user)
	if !c.ended && c.kind != unaryRPC && c.r.Context().Err() == nil {
		c.end(nil)
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
}

// rpcUser is the user named in a call's Basic authorization, as envd reads
// it, or the default user.
func rpcUser(r *http.Request) (string, error) {
	name, _, ok := r.BasicAuth()
	if !ok {
		return defaultUser, nil
	}
	if _, known := users[name]; !known {
		return "", connectErrorf(codeUnauthenticated, "invalid username: '%s'", name)
	}
	return name, nil
}

// authorized reports whether a request to envd carries the sandbox's
// access token, when the sandbox is secure.
func (sb *sandbox) authorized(r *http.Request) bool {
	if !sb.secure {
		return true
	}
	return subtle.ConstantTimeCompare([]byte(r.Header.Get(accessTokenHeader)), []byte(sb.accessToken)) == 1
}

// signed checks the access to /files of a secure sandbox: the access token
// in X-Access-Token, or a signature of the path, operation and user.
func (sb *sandbox) signed(r *http.Request, p, user, operation string) error {
	if !sb.secure {
		return nil
	}
	if tok := r.Header.Get(accessTokenHeader); tok != "" {
		if !sb.authorized(r) {
			return errors.New("access token present in header but does not match")
		}
		return nil
	}
	q := r.URL.Query()
	sig := q.Get("signature")
	if !q.Has("signature") {
		return errors.New("missing signature query parameter")
	}
	raw := strings.Join([]string{p, operation, user, sb.accessToken}, ":")
	exp := q.Get("signature_expiration")
	if exp != "" {
		raw += ":" + exp
	}
	sum := sha256.Sum256([]byte(raw))
	want := "v1_" + strings.TrimRight(base64.StdEncoding.EncodeToString(sum[:]), "=")
	if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) != 1 {
		return errors.New("invalid signature")
	}
	if exp != "" {
		t, err := strconv.ParseInt(exp, 10, 64)
		if err != nil || t < time.Now().Unix() {
			return errors.New("signature is already expired")
		}
	}
	return nil
}

// serveFiles serves envd's GET and POST /files.
func (s *Server) serveFiles(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		methodNotAllowed(w, "GET, POST")
		return
	}
	q := r.URL.Query()
	if v := q.Get("signature_expiration"); v != "" {
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			writeEnvdError(w, http.StatusBadRequest, "invalid format for parameter signature_expiration: %v", err)
			return
		}
	}
	op := "read"
	if r.Method == http.MethodPost {
		op = "write"
	}
	if err := sb.signed(r, q.Get("path"), q.Get("username"), op); err != nil {
		writeEnvdError(w, http.StatusUnauthorized, "%v", err)
		return
	}
	user := defaultUser
	if q.Has("username") {
		user = q.Get("username")
		if _, ok := users[user]; !ok {
			writeEnvdError(w, http.StatusUnauthorized, "error looking up user '%s': user: unknown user %s", user, user)
			return
		}
	}
	if r.Method == http.MethodGet {
		sb.download(w, r, q.Get("path"), user)
		return
	}
	sb.upload(w, r, q, user)
}

func (sb *sandbox) download(w http.ResponseWriter, r *http.Request, p, user string) {
	resolved, err := resolve(p, user)
	if err != nil {
		writeEnvdError(w, http.StatusBadRequest, "error expanding and resolving path '%s': %v", p, err)
		return
	}
	h := sb.hostPath(resolved)
	fi, err := os.Stat(h)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		writeEnvdError(w, http.StatusNotFound, "path '%s' does not exist", resolved)
		return
	case err != nil:
		writeEnvdError(w, http.StatusInternalServerError, "error checking if path exists '%s': %s", resolved, sb.scrub(err))
		return
	case fi.IsDir():
		writeEnvdError(w, http.StatusBadRequest, "path '%s' is a directory", resolved)
		return
	}
	f, err := os.Open(h)
	if err != nil {
		writeEnvdError(w, http.StatusInternalServerError, "error opening file '%s': %s", resolved, sb.scrub(err))
		return
	}
	defer f.Close()
	w.Header().Set("Vary", "Accept-Encoding")
	plain := r.Header.Get("Range") != "" || r.Header.Get("If-Modified-Since") != "" ||
		r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Range") != ""
	if !plain && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		ct := mime.TypeByExtension(filepath.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		_, _ = io.Copy(zw, f)
		_ = zw.Close()
		return
	}
	http.ServeContent(w, r, p, fi.ModTime(), f)
}

// acceptsGzip reports whether an Accept-Encoding header asks for gzip.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
				if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
					return false
				}
			}
			return true
		}
	}
	return false
}

// uploaded is envd's EntryInfo of its HTTP API.
type uploaded struct {
	Path string `json:"path"`
	Name string `json:"name"`
	Type string `json:"type"`
}

func (sb *sandbox) upload(w http.ResponseWriter, r *http.Request, q map[string][]string, user string) {
	var body io.Reader = r.Body
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			writeEnvdError(w, http.StatusBadRequest, "error decompressing request body: %v", err)
			return
		}
		defer zr.Close()
		body = zr
	default:
		writeEnvdError(w, http.StatusBadRequest, "error decompressing request body: unsupported Content-Encoding %q", enc)
		return
	}
	pathParam, hasPath := "", false
	if v, ok := q["path"]; ok && len(v) > 0 {
		pathParam, hasPath = v[0], true
	}
	ct := r.Header.Get("Content-Type")
	mt, params, _ := mime.ParseMediaType(ct)
	var out []uploaded
	switch {
	case mt == "application/octet-stream":
		if !hasPath {
			writeEnvdError(w, http.StatusBadRequest, "path query parameter is required for raw body upload")
			return
		}
		e, code, err := sb.writeFile(pathParam, user, body)
		if err != nil {
			writeEnvdError(w, code, "%v", err)
			return
		}
		out = append(out, e)
	case strings.HasPrefix(mt, "multipart/"):
		mr, err := multipartReader(body, params["boundary"])
		if err != nil {
			writeEnvdError(w, http.StatusInternalServerError, "error parsing multipart form: %v", err)
			return
		}
		seen := map[string]bool{}
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				writeEnvdError(w, http.StatusInternalServerError, "error reading form: %v", err)
				return
			}
			if part.FormName() != "file" {
				part.Close()
				continue
			}
			p := pathParam
			if !hasPath {
				_, dp, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
				if err != nil || dp["filename"] == "" {
					part.Close()
					writeEnvdError(w, http.StatusBadRequest, "error getting multipart custom part file name: no filename")
					return
				}
				p = dp["filename"]
			}
			resolved, err := resolve(p, user)
			if err == nil && seen[resolved] {
				part.Close()
				writeEnvdError(w, http.StatusBadRequest, "you cannot upload multiple files to the same path '%s' in one upload request, only the first specified file was uploaded", resolved)
				return
			}
			seen[resolved] = true
			e, code, err := sb.writeFile(p, user, part)
			part.Close()
			if err != nil {
				writeEnvdError(w, code, "%v", err)
				return
			}
			out = append(out, e)
		}
	default:
		writeEnvdError(w, http.StatusBadRequest, "unsupported content type: %s, expected multipart/form-data or application/octet-stream", ct)
		return
	}
	if out == nil {
		out = []uploaded{}
	}
	writeJSON(w, http.StatusOK, out)
}

func multipartReader(body io.Reader, boundary string) (*multipart.Reader, error) {
	if boundary == "" {
		return nil, errors.New("no multipart boundary param in Content-Type")
	}
	return multipart.NewReader(body, boundary), nil
}

// writeFile writes a file of the sandbox, making its parent directories.
func (sb *sandbox) writeFile(p, user string, content io.Reader) (uploaded, int, error) {
	resolved, err := resolve(p, user)
	if err != nil {
		return uploaded{}, http.StatusBadRequest, fmt.Errorf("error resolving path: %w", err)
	}
	if err := sb.ensureDirs(path.Dir(resolved)); err != nil {
		return uploaded{}, http.StatusInternalServerError, fmt.Errorf("error ensuring directories: %w", err)
	}
	h := sb.hostPath(resolved)
	if fi, err := os.Stat(h); err == nil && fi.IsDir() {
		return uploaded{}, http.StatusBadRequest, fmt.Errorf("path is a directory: %s", resolved)
	}
	f, err := os.OpenFile(h, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
	if err != nil {
		return uploaded{}, http.StatusInternalServerError, fmt.Errorf("error opening file: %s", sb.scrub(err))
	}
	_, err = io.Copy(f, content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return uploaded{}, http.StatusInternalServerError, fmt.Errorf("error writing file: %s", sb.scrub(err))
	}
	return uploaded{Path: resolved, Name: path.Base(resolved), Type: "file"}, http.StatusOK, nil
}

// servePort proxies a request to a port of the sandbox other than envd's,
// where one of its commands listens: since a sandbox's processes run on
// this machine, that is the same port on 127.0.0.1.
func (s *Server) servePort(w http.ResponseWriter, r *http.Request, sb *sandbox, port int) {
	if sb.trafficToken != "" {
		tok := r.Header.Get(trafficTokenHeader)
		switch {
		case tok == "":
			writeEdgeError(w, edgeError{SandboxID: sb.id, Code: http.StatusForbidden,
				Message: fmt.Sprintf("Sandbox is secured with traffic access token. Token header '%s' is missing", strings.ToLower(trafficTokenHeader))})
			return
		case subtle.ConstantTimeCompare([]byte(tok), []byte(sb.trafficToken)) != 1:
			writeEdgeError(w, edgeError{SandboxID: sb.id, Code: http.StatusForbidden, Message: "Sandbox traffic access token is invalid"})
			return
		}
	}
	ctx := context.WithValue(r.Context(), portKey{}, portTarget{sandboxID: sb.id, port: port})
	s.proxy.ServeHTTP(w, r.WithContext(ctx))
}

type portKey struct{}

type portTarget struct {
	sandboxID string
	port      int
}

func (s *Server) newPortProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Transport: s.transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			t, _ := pr.In.Context().Value(portKey{}).(portTarget)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(t.port))
			pr.Out.Host = pr.In.Host
			for _, h := range []string{sandboxIDHeader, sandboxPortHeader, trafficTokenHeader} {
				pr.Out.Header.Del(h)
			}
			pr.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			t, _ := r.Context().Value(portKey{}).(portTarget)
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				writeEdgeError(w, edgeError{SandboxID: t.sandboxID, Port: t.port, Code: http.StatusBadGateway,
					Message: "The sandbox is running but port is not open"})
				return
			}
			if r.Context().Err() == nil {
				s.log.Debug("e2bfake: proxy to sandbox port", "sandbox", t.sandboxID, "port", t.port, "err", err)
				writeEdgeError(w, edgeError{SandboxID: t.sandboxID, Port: t.port, Code: http.StatusBadGateway, Message: "Error proxying request to sandbox"})
			}
		},
	}
}
