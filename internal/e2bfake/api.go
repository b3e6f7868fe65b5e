//go:build unix

package e2bfake

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file serves the control plane: the sandbox operations of
// spec/openapi.yml.

// apiError is the API's Error schema.
type apiError struct {
	Code      int    `json:"code"`
	ErrorCode string `json:"error_code,omitempty"`
	Message   string `json:"message"`
}

func writeAPIError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, apiError{Code: status, Message: fmt.Sprintf(format, args...)})
}

func sandboxNotFound(w http.ResponseWriter, id string) {
	writeAPIError(w, http.StatusNotFound, "Sandbox %q doesn't exist or you don't have access to it", id)
}

// sandboxResponse is the API's Sandbox.
type sandboxResponse struct {
	TemplateID         string  `json:"templateID"`
	SandboxID          string  `json:"sandboxID"`
	ClientID           string  `json:"clientID"`
	EnvdVersion        string  `json:"envdVersion"`
	EnvdAccessToken    string  `json:"envdAccessToken,omitempty"`
	TrafficAccessToken *string `json:"trafficAccessToken"`
	Domain             *string `json:"domain"`
}

// listedSandbox is the API's ListedSandbox.
type listedSandbox struct {
	TemplateID  string            `json:"templateID"`
	SandboxID   string            `json:"sandboxID"`
	ClientID    string            `json:"clientID"`
	StartedAt   time.Time         `json:"startedAt"`
	EndAt       time.Time         `json:"endAt"`
	CPUCount    int               `json:"cpuCount"`
	MemoryMB    int               `json:"memoryMB"`
	DiskSizeMB  int               `json:"diskSizeMB"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	State       string            `json:"state"`
	EnvdVersion string            `json:"envdVersion"`
}

// sandboxDetail is the API's SandboxDetail.
type sandboxDetail struct {
	listedSandbox
	EnvdAccessToken     string          `json:"envdAccessToken,omitempty"`
	AllowInternetAccess *bool           `json:"allowInternetAccess"`
	Domain              *string         `json:"domain"`
	Network             json.RawMessage `json:"network,omitempty"`
	Lifecycle           lifecycle       `json:"lifecycle"`
}

type lifecycle struct {
	AutoResume bool   `json:"autoResume"`
	OnTimeout  string `json:"onTimeout"`
}

func (s *Server) apiRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	handle := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.apiGuard(h)) }
	handle("GET /sandboxes", s.listSandboxesV1)
	handle("POST /sandboxes", s.createSandbox)
	handle("GET /v2/sandboxes", s.listSandboxesV2)
	handle("GET /sandboxes/metrics", s.sandboxesMetrics)
	handle("GET /sandboxes/{sandboxID}", s.getSandbox)
	handle("DELETE /sandboxes/{sandboxID}", s.deleteSandbox)
	handle("GET /sandboxes/{sandboxID}/metrics", s.sandboxMetrics)
	handle("POST /sandboxes/{sandboxID}/pause", s.pauseSandbox)
	handle("POST /sandboxes/{sandboxID}/resume", s.resumeSandbox)
	handle("POST /sandboxes/{sandboxID}/connect", s.connectSandbox)
	handle("POST /sandboxes/{sandboxID}/timeout", s.setTimeout)
	handle("POST /sandboxes/{sandboxID}/refreshes", s.refreshSandbox)
	mux.Handle("/", s.apiGuard(func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, http.StatusNotFound, "e2bfake does not serve %s %s", r.Method, r.URL.Path)
	}))
	return mux
}

// apiGuard delays (SetLatency) and authenticates (X-API-Key) a request.
func (s *Server) apiGuard(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		latency := s.faults.apiLatency
		s.mu.Unlock()
		if !s.wait(r.Context(), latency) {
			return
		}
		key := r.Header.Get("X-API-Key")
		switch {
		case key == "":
			writeAPIError(w, http.StatusUnauthorized, "authorization header is missing")
			return
		case subtle.ConstantTimeCompare([]byte(key), []byte(s.apiKey)) != 1:
			writeAPIError(w, http.StatusUnauthorized, "Invalid API key")
			return
		}
		h(w, r)
	})
}

// pathSandbox reads the sandbox ID of a path, without the client ID
// suffix old SDKs add.
func pathSandbox(r *http.Request) string {
	id, _, _ := strings.Cut(r.PathValue("sandboxID"), "-")
	return id
}

// timeoutOf turns a timeout in seconds into a lifetime; over the team's
// maximum it returns the API's message instead.
func (s *Server) timeoutOf(secs int64) (time.Duration, string) {
	d := time.Duration(secs) * time.Second
	if d <= s.maxTimeout {
		return d, ""
	}
	if s.maxTimeout%time.Hour == 0 {
		return 0, fmt.Sprintf("Timeout cannot be greater than %d hours", int(s.maxTimeout/time.Hour))
	}
	return 0, fmt.Sprintf("Timeout cannot be greater than %s", s.maxTimeout)
}

func (s *Server) createSandbox(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, "NewSandbox", newSandboxSchema, true)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "%v", err)
		return
	}
	s.mu.Lock()
	failed, status, retryAfter := takeFault(&s.faults.createFailures), s.faults.createStatus, s.faults.retryAfter
	s.mu.Unlock()
	if failed {
		if retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
		}
		e := apiError{Code: status, Message: http.StatusText(status)}
		switch status {
		case http.StatusTooManyRequests:
			e.Message = "Rate limit exceeded, please try again later."
		case http.StatusServiceUnavailable:
			e.ErrorCode, e.Message = "sandbox_capacity_unavailable", "No capacity available to create the sandbox, please try again later."
		}
		writeJSON(w, status, e)
		return
	}

	templateID, _ := body["templateID"].(string)
	if strings.TrimSpace(templateID) == "" {
		writeAPIError(w, http.StatusBadRequest, "Invalid template reference: template ID cannot be empty")
		return
	}
	timeout := DefaultTimeout
	if secs, ok := intField(body, "timeout"); ok {
		var msg string
		if timeout, msg = s.timeoutOf(secs); msg != "" {
			writeAPIError(w, http.StatusBadRequest, "%s", msg)
			return
		}
	}
	if mounts, _ := body["volumeMounts"].([]any); len(mounts) > 0 {
		writeAPIError(w, http.StatusBadRequest, "Volume mounts are not enabled.")
		return
	}
	secure, _ := boolField(body, "secure")
	var network json.RawMessage
	publicTraffic := true
	if n, ok := body["network"].(map[string]any); ok {
		network, _ = json.Marshal(n)
		if v, ok := boolField(n, "allowPublicTraffic"); ok {
			publicTraffic = v
		}
		if !publicTraffic && !secure {
			writeAPIError(w, http.StatusBadRequest, "You cannot create a sandbox without public access unless you enable secure envd access via 'secure' flag.")
			return
		}
	}

	id := "i" + randomID(20)
	sb, err := s.newSandbox(id)
	if err != nil {
		writeAPIError(w, http.StatusInternalServerError, "Failed to create sandbox: %v", err)
		return
	}
	sb.templateID = templateID
	sb.secure = secure
	if secure {
		sb.accessToken = randomHex(32)
	}
	if !publicTraffic {
		sb.trafficToken = randomHex(32)
	}
	sb.metadata = strMapField(body, "metadata")
	sb.envVars = strMapField(body, "envVars")
	sb.autoPause, _ = boolField(body, "autoPause")
	if ar, ok := body["autoResume"].(map[string]any); ok {
		v, _ := boolField(ar, "enabled")
		sb.autoResume = &v
	}
	if v, ok := boolField(body, "allow_internet_access"); ok {
		sb.allowNet = &v
	}
	sb.network = network

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = os.RemoveAll(sb.root)
		writeAPIError(w, http.StatusServiceUnavailable, "the server is closing")
		return
	}
	s.sandboxes[id] = sb
	sb.mu.Lock()
	sb.startedAt = time.Now()
	sb.setDeadlineLocked(timeout)
	sb.mu.Unlock()
	s.mu.Unlock()
	s.log.Info("e2bfake: sandbox created", "sandbox", id, "template", templateID, "timeout", timeout, "dir", sb.root)
	writeJSON(w, http.StatusCreated, s.sandboxJSON(sb))
}

func (s *Server) sandboxJSON(sb *sandbox) sandboxResponse {
	domain := s.domain
	resp := sandboxResponse{
		TemplateID:      sb.templateID,
		SandboxID:       sb.id,
		ClientID:        clientID,
		EnvdVersion:     EnvdVersion,
		EnvdAccessToken: sb.accessToken,
		Domain:          &domain,
	}
	if sb.trafficToken != "" {
		tok := sb.trafficToken
		resp.TrafficAccessToken = &tok
	}
	return resp
}

func (sb *sandbox) listed() listedSandbox {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return listedSandbox{
		TemplateID:  sb.templateID,
		SandboxID:   sb.id,
		ClientID:    clientID,
		StartedAt:   sb.startedAt.UTC(),
		EndAt:       sb.endAt.UTC(),
		CPUCount:    sandboxCPUCount,
		MemoryMB:    sandboxMemoryMB,
		DiskSizeMB:  sandboxDiskSizeMB,
		Metadata:    sb.metadata,
		State:       sb.state,
		EnvdVersion: EnvdVersion,
	}
}

func (s *Server) getSandbox(w http.ResponseWriter, r *http.Request) {
	id := pathSandbox(r)
	sb := s.lookup(id)
	if sb == nil {
		sandboxNotFound(w, id)
		return
	}
	domain := s.domain
	onTimeout := "kill"
	if sb.autoPause {
		onTimeout = "pause"
	}
	writeJSON(w, http.StatusOK, sandboxDetail{
		listedSandbox:       sb.listed(),
		EnvdAccessToken:     sb.accessToken,
		AllowInternetAccess: sb.allowNet,
		Domain:              &domain,
		Network:             sb.network,
		Lifecycle:           lifecycle{AutoResume: sb.autoResume != nil && *sb.autoResume, OnTimeout: onTimeout},
	})
}

func (s *Server) deleteSandbox(w http.ResponseWriter, r *http.Request) {
	id := pathSandbox(r)
	sb := s.lookup(id)
	if sb == nil {
		sandboxNotFound(w, id)
		return
	}
	if err := s.killSandbox(sb); err != nil {
		writeAPIError(w, http.StatusInternalServerError, "Error killing sandbox: %v", err)
		return
	}
	s.log.Info("e2bfake: sandbox killed", "sandbox", id)
	w.WriteHeader(http.StatusNoContent)
}

// liveSandboxes returns the sandboxes not killed, oldest first.
func (s *Server) liveSandboxes() []*sandbox {
	s.mu.Lock()
	out := make([]*sandbox, 0, len(s.sandboxes))
	for _, sb := range s.sandboxes {
		out = append(out, sb)
	}
	s.mu.Unlock()
	out = slices.DeleteFunc(out, func(sb *sandbox) bool { return sb.stateOf() == stateKilled })
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.startedAt.Equal(b.startedAt) {
			return a.startedAt.Before(b.startedAt)
		}
		return a.id < b.id
	})
	return out
}

// metadataFilter reads the metadata query parameter: a query string
// ("user=abc&app=prod") whose keys and values are URL-encoded.
func metadataFilter(q url.Values) (map[string]string, error) {
	raw := q.Get("metadata")
	if raw == "" {
		return nil, nil
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, fmt.Errorf("error when parsing metadata: %w", err)
	}
	out := make(map[string]string, len(vals))
	for k, vs := range vals {
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("error when parsing metadata: %w", err)
		}
		val, err := url.QueryUnescape(vs[len(vs)-1])
		if err != nil {
			return nil, fmt.Errorf("error when parsing metadata: %w", err)
		}
		out[key] = val
	}
	return out, nil
}

func matchesMetadata(md, filter map[string]string) bool {
	for k, v := range filter {
		if got, ok := md[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func (s *Server) listSandboxesV1(w http.ResponseWriter, r *http.Request) {
	filter, err := metadataFilter(r.URL.Query())
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "%v", err)
		return
	}
	out := []listedSandbox{}
	for _, sb := range s.liveSandboxes() {
		l := sb.listed()
		if l.State == stateRunning && matchesMetadata(l.Metadata, filter) {
			out = append(out, l)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listSandboxesV2(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filter, err := metadataFilter(q)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "%v", err)
		return
	}
	states := []string{stateRunning, statePaused}
	if v := q.Get("state"); v != "" {
		states = strings.Split(v, ",")
		for _, st := range states {
			if st != stateRunning && st != statePaused {
				writeAPIError(w, http.StatusBadRequest, "parameter \"state\" in query has an error: value %q is not one of the allowed values [\"running\",\"paused\"]", st)
				return
			}
		}
	}
	order := q.Get("order")
	switch order {
	case "":
		order = "desc"
	case "asc", "desc":
	default:
		writeAPIError(w, http.StatusBadRequest, "parameter \"order\" in query has an error: value %q is not one of the allowed values [\"asc\",\"desc\"]", order)
		return
	}
	var after time.Time
	if v := q.Get("startedAfter"); v != "" {
		if after, err = time.Parse(time.RFC3339Nano, v); err != nil {
			writeAPIError(w, http.StatusBadRequest, "parameter \"startedAfter\" in query has an error: %v", err)
			return
		}
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeAPIError(w, http.StatusBadRequest, "parameter \"limit\" in query has an error: value %q must be an integer from 1 to 100", v)
			return
		}
		limit = n
	}
	var cursor *pageCursor
	if v := q.Get("nextToken"); v != "" {
		c, err := parseCursor(v)
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, "Invalid next token")
			return
		}
		cursor = &c
	}
	template := q.Get("template")

	var matched []listedSandbox
	running := 0
	for _, sb := range s.liveSandboxes() {
		l := sb.listed()
		if !slices.Contains(states, l.State) || !matchesMetadata(l.Metadata, filter) ||
			(template != "" && l.TemplateID != template) || l.StartedAt.Before(after) {
			continue
		}
		if l.State == stateRunning {
			running++
		}
		matched = append(matched, l)
	}
	if order == "desc" {
		slices.Reverse(matched)
	}
	if cursor != nil {
		i := slices.IndexFunc(matched, func(l listedSandbox) bool { return cursor.before(l, order) })
		if i < 0 {
			i = len(matched)
		}
		matched = matched[i:]
	}
	out := []listedSandbox{}
	out = append(out, matched[:min(limit, len(matched))]...)
	if len(matched) > limit {
		last := out[len(out)-1]
		w.Header().Set("X-Next-Token", pageCursor{startedAt: last.StartedAt, id: last.SandboxID}.String())
	}
	if slices.Contains(states, stateRunning) {
		w.Header().Set("X-Total-Running", strconv.Itoa(running))
	}
	writeJSON(w, http.StatusOK, out)
}

// pageCursor is the last sandbox of a page of GET /v2/sandboxes.
type pageCursor struct {
	startedAt time.Time
	id        string
}

func (c pageCursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.startedAt.UTC().Format(time.RFC3339Nano) + "|" + c.id))
}

func parseCursor(s string) (pageCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return pageCursor{}, err
	}
	ts, id, ok := strings.Cut(string(raw), "|")
	if !ok {
		return pageCursor{}, fmt.Errorf("malformed token")
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	return pageCursor{startedAt: t, id: id}, err
}

// before reports whether l comes after the cursor in the listing order.
func (c pageCursor) before(l listedSandbox, order string) bool {
	cmp := l.StartedAt.Compare(c.startedAt)
	if cmp == 0 {
		cmp = strings.Compare(l.SandboxID, c.id)
	}
	if order == "desc" {
		return cmp < 0
	}
	return cmp > 0
}

func (s *Server) setTimeout(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, "SandboxTimeoutRequest", timeoutRequestSchema, false)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "Error when parsing request: %v", err)
		return
	}
	id := pathSandbox(r)
	secs, ok := intField(body, "timeout")
	if !ok {
		writeAPIError(w, http.StatusBadRequest, "Error when parsing request: request body has an error: doesn't match schema #/components/schemas/SandboxTimeoutRequest: Error at \"/\": property \"timeout\" is missing")
		return
	}
	d := min(time.Duration(secs)*time.Second, s.maxTimeout)
	sb := s.lookup(id)
	if sb == nil {
		sandboxNotFound(w, id)
		return
	}
	sb.mu.Lock()
	running := sb.state == stateRunning
	if running {
		sb.setDeadlineLocked(d)
	}
	sb.mu.Unlock()
	if !running {
		sandboxNotFound(w, id)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) refreshSandbox(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, "SandboxRefreshRequest", refreshRequestSchema, false)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "Error when parsing request: %v", err)
		return
	}
	id := pathSandbox(r)
	d := DefaultTimeout
	if secs, ok := intField(body, "duration"); ok {
		d = max(DefaultTimeout, time.Duration(secs)*time.Second)
	}
	sb := s.lookup(id)
	if sb == nil {
		sandboxNotFound(w, id)
		return
	}
	sb.mu.Lock()
	running := sb.state == stateRunning
	if running && time.Now().Add(d).After(sb.endAt) {
		sb.setDeadlineLocked(d)
	}
	sb.mu.Unlock()
	if !running {
		sandboxNotFound(w, id)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) pauseSandbox(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, "SandboxPauseRequest", pauseRequestSchema, false)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "%v", err)
		return
	}
	id := pathSandbox(r)
	sb := s.lookup(id)
	if sb == nil {
		sandboxNotFound(w, id)
		return
	}
	memory := true
	if v, ok := boolField(body, "memory"); ok {
		memory = v
	}
	if !sb.pause(memory) {
		writeAPIError(w, http.StatusConflict, "Sandbox %q is already paused", id)
		return
	}
	s.log.Info("e2bfake: sandbox paused", "sandbox", id, "memory", memory)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) resumeSandbox(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, "ResumedSandbox", resumeSchema, true)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "%v", err)
		return
	}
	id := pathSandbox(r)
	timeout := DefaultTimeout
	if secs, ok := intField(body, "timeout"); ok {
		var msg string
		if timeout, msg = s.timeoutOf(secs); msg != "" {
			writeAPIError(w, http.StatusBadRequest, "%s", msg)
			return
		}
	}
	sb := s.lookup(id)
	if sb == nil {
		sandboxNotFound(w, id)
		return
	}
	if !sb.resume(timeout) {
		writeAPIError(w, http.StatusConflict, "Sandbox %q is already running", id)
		return
	}
	s.log.Info("e2bfake: sandbox resumed", "sandbox", id)
	writeJSON(w, http.StatusCreated, s.sandboxJSON(sb))
}

func (s *Server) connectSandbox(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, "ConnectSandbox", timeoutRequestSchema, true)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "%v", err)
		return
	}
	id := pathSandbox(r)
	secs, _ := intField(body, "timeout")
	timeout, msg := s.timeoutOf(secs)
	if msg != "" {
		writeAPIError(w, http.StatusBadRequest, "%s", msg)
		return
	}
	sb := s.lookup(id)
	if sb == nil {
		sandboxNotFound(w, id)
		return
	}
	if sb.resume(timeout) {
		s.log.Info("e2bfake: sandbox resumed", "sandbox", id)
		writeJSON(w, http.StatusCreated, s.sandboxJSON(sb))
		return
	}
	sb.mu.Lock()
	running := sb.state == stateRunning
	if running && time.Now().Add(timeout).After(sb.endAt) {
		sb.setDeadlineLocked(timeout)
	}
	sb.mu.Unlock()
	if !running {
		sandboxNotFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, s.sandboxJSON(sb))
}

// unixParam reads an optional int64 query parameter of at least 0.
func unixParam(q url.Values, name string) (int64, bool, error) {
	v := q.Get(name)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false, fmt.Errorf("parameter %q in query has an error: value %q must be an integer of at least 0", name, v)
	}
	return n, true, nil
}

func (s *Server) sandboxMetrics(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, hasStart, err := unixParam(q, "start")
	if err == nil {
		var end int64
		var hasEnd bool
		end, hasEnd, err = unixParam(q, "end")
		if err == nil {
			id := pathSandbox(r)
			sb := s.lookup(id)
			if sb == nil {
				sandboxNotFound(w, id)
				return
			}
			out := []sandboxMetric{}
			if sb.stateOf() == stateRunning {
				m := sb.sample(r.Context()).metric()
				if (!hasStart || m.TimestampUnix >= start) && (!hasEnd || m.TimestampUnix <= end) {
					out = append(out, m)
				}
			}
			writeJSON(w, http.StatusOK, out)
			return
		}
	}
	writeAPIError(w, http.StatusBadRequest, "%v", err)
}

func (s *Server) sandboxesMetrics(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("sandbox_ids")
	if raw == "" {
		writeAPIError(w, http.StatusBadRequest, "parameter \"sandbox_ids\" in query has an error: value is required but missing")
		return
	}
	ids := strings.Split(raw, ",")
	if len(ids) > 100 {
		writeAPIError(w, http.StatusBadRequest, "parameter \"sandbox_ids\" in query has an error: maximum number of items is 100")
		return
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			writeAPIError(w, http.StatusBadRequest, "parameter \"sandbox_ids\" in query has an error: duplicate items found")
			return
		}
		seen[id] = true
	}
	out := struct {
		Sandboxes map[string]sandboxMetric `json:"sandboxes"`
	}{Sandboxes: map[string]sandboxMetric{}}
	for _, id := range ids {
		if sb := s.lookup(id); sb != nil && sb.stateOf() == stateRunning {
			out.Sandboxes[id] = sb.sample(r.Context()).metric()
		}
	}
	writeJSON(w, http.StatusOK, out)
}
