// Package grafanafake is a fake Grafana HTTP API for tests: a real HTTP
// server on 127.0.0.1 that speaks the part of Grafana's API that chaoslab's
// Grafana publisher uses, written from Grafana's published HTTP API
// documentation (docs/sources/developers/http_api: dashboard, folder,
// annotations, data_source) and the OpenAPI spec behind
// github.com/grafana/grafana-openapi-client-go.
//
// It serves, under /api:
//
//	GET    /health                  no authentication
//	POST   /dashboards/db           create or update; 412 version-mismatch / name-exists
//	GET    /dashboards/uid/{uid}
//	DELETE /dashboards/uid/{uid}
//	GET    /folders                 ?limit, ?page
//	POST   /folders
//	GET    /folders/{uid}
//	GET    /annotations             ?from, ?to, ?limit, ?tags (AND, or OR with matchAny), ?type, ?dashboardUID, ?panelId
//	POST   /annotations
//	PUT    /annotations/{id}
//	PATCH  /annotations/{id}
//	DELETE /annotations/{id}
//	GET    /datasources
//	POST   /datasources
//	GET    /datasources/uid/{uid}
//
// Every endpoint but /api/health wants the header "Authorization: Bearer
// <token>" with the service account token given to Start, and answers 401
// otherwise. Errors are JSON objects with a message (and, where Grafana
// sends one, a status), with Grafana's status codes. Request bodies are
// checked as Grafana checks them: malformed JSON is a 400 "bad request
// data", a dashboard needs a title, uids are at most 40 characters of
// letters, digits, '-' and '_', an annotation needs a text.
//
// Switches make it misbehave: RefuseToken (every call 401), SetDown (the
// listener closes: connections are refused), SetUnavailable (503 from
// every endpoint), SetDelay (slow answers) and Forbid (403 for one
// endpoint, as for a token without the permission). State lives in memory;
// Dashboards, Folders, Annotations, DataSources and Requests return copies
// of it for assertions. Close stops the server and ends every connection
// and goroutine it started.
package grafanafake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxUIDLength is the longest uid Grafana accepts for a dashboard or folder.
const MaxUIDLength = 40

// Dashboard is a stored dashboard.
type Dashboard struct {
	ID        int64
	UID       string
	Title     string
	Slug      string
	URL       string
	FolderUID string
	Version   int64
	// Message is the commit message of the last save.
	Message string
	// Model is the dashboard JSON as saved, with id, uid and version set
	// by the server.
	Model   map[string]any
	Created time.Time
	Updated time.Time
}

// Folder is a stored folder.
type Folder struct {
	ID        int64
	UID       string
	Title     string
	ParentUID string
	URL       string
	Version   int64
}

// Annotation is a stored annotation. DashboardUID is empty for an
// organization annotation, which any dashboard shows through a tag query.
type Annotation struct {
	ID           int64
	DashboardUID string
	DashboardID  int64
	PanelID      int64
	// Time and TimeEnd are epoch milliseconds; TimeEnd equals Time for a
	// point annotation.
	Time    int64
	TimeEnd int64
	Tags    []string
	Text    string
	Data    map[string]any
	Created int64
	Updated int64
}

// DataSource is a stored data source.
type DataSource struct {
	ID        int64
	UID       string
	Name      string
	Type      string
	Access    string
	URL       string
	IsDefault bool
}

// Request is one request the server answered.
type Request struct {
	Method string
	Path   string
	Query  string
	// Authorized says whether the request carried the right token. The
	// token itself is never recorded.
	Authorized bool
	Status     int
	Body       []byte
}

// Server is a running fake Grafana. Its methods are safe for concurrent use.
type Server struct {
	token string
	addr  string
	srv   *http.Server

	closed    chan struct{}
	closeOnce sync.Once
	serving   sync.WaitGroup // Serve goroutines
	handling  sync.WaitGroup // requests being answered; Add only under mu while !isClosed

	mu          sync.Mutex
	isClosed    bool
	pending     int
	ln          net.Listener // nil while down
	conns       map[net.Conn]struct{}
	down        bool
	refuse      bool
	unavailable bool
	delay       time.Duration
	forbidden   map[string]bool // "METHOD pattern"
	now         func() time.Time

	nextID      int64
	dashboards  map[string]*Dashboard
	folders     map[string]*Folder
	annotations map[int64]*Annotation
	datasources map[string]*DataSource
	requests    []Request
}

// Start starts a fake Grafana on 127.0.0.1 that accepts token as its one
// service account token.
func Start(token string) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("grafanafake: listen: %w", err)
	}
	s := &Server{
		token:       token,
		addr:        ln.Addr().String(),
		closed:      make(chan struct{}),
		ln:          ln,
		conns:       map[net.Conn]struct{}{},
		forbidden:   map[string]bool{},
		now:         time.Now,
		dashboards:  map[string]*Dashboard{},
		folders:     map[string]*Folder{},
		annotations: map[int64]*Annotation{},
		datasources: map[string]*DataSource{},
	}
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         s.connState,
	}
	s.serve(ln)
	return s, nil
}

func (s *Server) serve(ln net.Listener) {
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		_ = s.srv.Serve(ln)
	}()
}

func (s *Server) connState(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st {
	case http.StateNew:
		s.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(s.conns, c)
	}
}

// URL returns the server's base URL, such as http://127.0.0.1:41234: what
// GRAFANA_URL would be.
func (s *Server) URL() string { return "http://" + s.addr }

// Close stops the server: it closes the listener and every connection,
// ends slow answers, and returns when every goroutine it started is gone.
// It is idempotent. The state stays readable.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.isClosed = true
		s.mu.Unlock()
		close(s.closed)
		_ = s.srv.Close()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.serving.Wait()
		s.handling.Wait()
	})
}

// RefuseToken makes every authenticated endpoint answer 401, as Grafana
// does for a revoked or unknown token, until called with false.
func (s *Server) RefuseToken(refuse bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = refuse
}

// SetUnavailable makes every endpoint, /api/health included, answer 503
// until called with false.
func (s *Server) SetUnavailable(unavailable bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unavailable = unavailable
}

// SetDelay delays every answer by d (0 for none). A delayed answer ends
// early when its client gives up or the server closes.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Forbid makes the endpoint method pattern answer 403, as Grafana does for
// a token that lacks the permission, until Allow. pattern is one of the
// paths in the package documentation with the /api prefix, such as
// Forbid("POST", "/api/datasources").
func (s *Server) Forbid(method, pattern string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forbidden[method+" "+pattern] = true
}

// Allow undoes Forbid.
func (s *Server) Allow(method, pattern string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.forbidden, method+" "+pattern)
}

// SetDown takes the server down (true): the listener and every connection
// close, so that new connections are refused. SetDown(false) listens again
// on the same address; it fails if that address was taken meanwhile.
func (s *Server) SetDown(down bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isClosed {
		return errors.New("grafanafake: server closed")
	}
	if down == s.down {
		return nil
	}
	if down {
		s.down = true
		err := s.ln.Close()
		s.ln = nil
		for c := range s.conns {
			_ = c.Close()
		}
		return err
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("grafanafake: listen again on %s: %w", s.addr, err)
	}
	s.down = false
	s.ln = ln
	s.serve(ln)
	return nil
}

// SetClock sets the clock that stamps created and updated times (default
// time.Now).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Dashboards returns every stored dashboard, by id.
func (s *Server) Dashboards() []Dashboard {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Dashboard, 0, len(s.dashboards))
	for _, d := range s.dashboards {
		c := *d
		c.Model = cloneJSON(d.Model)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Dashboard) int { return int(a.ID - b.ID) })
	return out
}

// Dashboard returns the dashboard stored under uid.
func (s *Server) Dashboard(uid string) (Dashboard, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dashboards[uid]
	if !ok {
		return Dashboard{}, false
	}
	c := *d
	c.Model = cloneJSON(d.Model)
	return c, true
}

// Folders returns every folder, by id.
func (s *Server) Folders() []Folder {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Folder, 0, len(s.folders))
	for _, f := range s.folders {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b Folder) int { return int(a.ID - b.ID) })
	return out
}

// Annotations returns every annotation, by id.
func (s *Server) Annotations() []Annotation {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Annotation, 0, len(s.annotations))
	for _, a := range s.annotations {
		out = append(out, cloneAnnotation(a))
	}
	slices.SortFunc(out, func(a, b Annotation) int { return int(a.ID - b.ID) })
	return out
}

// DataSources returns every data source, by id.
func (s *Server) DataSources() []DataSource {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]DataSource, 0, len(s.datasources))
	for _, d := range s.datasources {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b DataSource) int { return int(a.ID - b.ID) })
	return out
}

// Pending returns how many requests are being answered now (slow ones,
// under SetDelay, included).
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// Requests returns every request answered so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Body = bytes.Clone(r.Body)
		out[i] = r
	}
	return out
}

// AddFolder stores a folder, as if a user had made it; uid "" picks one.
func (s *Server) AddFolder(title, uid string) Folder {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.addFolderLocked(title, uid, "")
}

// AddDataSource stores a data source, as if an administrator had added it;
// uid "" picks one.
func (s *Server) AddDataSource(name, typ, uid string) DataSource {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.addDataSourceLocked(name, typ, uid, "proxy", "")
}

// AddAnnotation stores an annotation, as if a user had made it, and
// returns it with its id.
func (s *Server) AddAnnotation(a Annotation) Annotation {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	a.ID = s.nextID
	a.Tags = slices.Clone(a.Tags)
	a.Data = cloneJSON(a.Data)
	s.annotations[a.ID] = &a
	return cloneAnnotation(&a)
}

// --- HTTP plumbing ---------------------------------------------------------

// routes returns the API's handler, wrapped in the switches and the
// authentication check.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", s.health)
	mux.HandleFunc("POST /api/dashboards/db", s.postDashboard)
	mux.HandleFunc("GET /api/dashboards/uid/{uid}", s.getDashboard)
	mux.HandleFunc("DELETE /api/dashboards/uid/{uid}", s.deleteDashboard)
	mux.HandleFunc("GET /api/folders", s.getFolders)
	mux.HandleFunc("POST /api/folders", s.postFolder)
	mux.HandleFunc("GET /api/folders/{uid}", s.getFolder)
	mux.HandleFunc("GET /api/annotations", s.getAnnotations)
	mux.HandleFunc("POST /api/annotations", s.postAnnotation)
	mux.HandleFunc("PUT /api/annotations/{id}", s.putAnnotation)
	mux.HandleFunc("PATCH /api/annotations/{id}", s.patchAnnotation)
	mux.HandleFunc("DELETE /api/annotations/{id}", s.deleteAnnotation)
	mux.HandleFunc("GET /api/datasources", s.getDataSources)
	mux.HandleFunc("POST /api/datasources", s.postDataSource)
	mux.HandleFunc("GET /api/datasources/uid/{uid}", s.getDataSource)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if s.isClosed {
			s.mu.Unlock()
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"message": "Service Unavailable"})
			return
		}
		s.handling.Add(1)
		s.pending++
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.pending--
			s.mu.Unlock()
			s.handling.Done()
		}()
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		authorized := r.Header.Get("Authorization") == "Bearer "+s.token && s.token != ""
		defer func() {
			s.mu.Lock()
			s.requests = append(s.requests, Request{
				Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
				Authorized: authorized, Status: rec.status, Body: body,
			})
			s.mu.Unlock()
		}()

		s.mu.Lock()
		delay, unavailable, refuse := s.delay, s.unavailable, s.refuse
		s.mu.Unlock()
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			case <-s.closed:
				t.Stop()
				return
			}
		}
		if unavailable {
			writeJSON(rec, http.StatusServiceUnavailable, map[string]any{"message": "Service Unavailable"})
			return
		}
		_, pattern := mux.Handler(r)
		if pattern == "" {
			writeJSON(rec, http.StatusNotFound, map[string]any{"message": "Not found"})
			return
		}
		if pattern != "GET /api/health" {
			switch {
			case r.Header.Get("Authorization") == "":
				writeJSON(rec, http.StatusUnauthorized, map[string]any{"message": "Unauthorized"})
				return
			case !authorized || refuse:
				writeJSON(rec, http.StatusUnauthorized, map[string]any{
					"message": "Invalid API key", "messageId": "api-key.invalid", "statusCode": 401, "traceID": "",
				})
				return
			}
			s.mu.Lock()
			forbidden := s.forbidden[pattern]
			s.mu.Unlock()
			if forbidden {
				writeJSON(rec, http.StatusForbidden, map[string]any{
					"message": "You'll need additional permissions to perform this action.", "accessErrorId": "ACE0000000001",
				})
				return
			}
		}
		mux.ServeHTTP(rec, r)
	})
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail writes a Grafana error body: {"message": ..., "status": ...}.
func fail(w http.ResponseWriter, code int, message, status string) {
	body := map[string]any{"message": message}
	if status != "" {
		body["status"] = status
	}
	writeJSON(w, code, body)
}

// bind decodes a JSON request body into v as Grafana's binding does: a
// body that is not JSON of the right shape is a 400 "bad request data".
func bind(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		fail(w, http.StatusBadRequest, "bad request data", "")
		return false
	}
	return true
}

var validUID = regexp.MustCompile(`^[a-zA-Z0-9_-]*$`)

// checkUID reports a uid Grafana would refuse.
func checkUID(uid string) string {
	switch {
	case len(uid) > MaxUIDLength:
		return "uid too long, max 40 characters"
	case !validUID.MatchString(uid):
		return "uid contains illegal characters"
	}
	return ""
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

// slugify makes the url slug of a title.
func slugify(title string) string {
	return strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(title), "-"), "-")
}

// newUIDLocked returns a fresh generated uid.
func (s *Server) newUIDLocked(prefix string) string {
	s.nextID++
	return fmt.Sprintf("%s%08d", prefix, s.nextID)
}

func cloneJSON(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return maps.Clone(m)
	}
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func cloneAnnotation(a *Annotation) Annotation {
	c := *a
	c.Tags = slices.Clone(a.Tags)
	c.Data = cloneJSON(a.Data)
	return c
}

// --- health ----------------------------------------------------------------

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"commit": "grafanafake", "database": "ok", "version": "11.0.0-grafanafake"})
}

// --- dashboards ------------------------------------------------------------

// postDashboard answers POST /api/dashboards/db. Its 200 body has the keys
// the dashboard documentation shows and Grafana's handler writes (id, uid,
// url, status, version, slug, folderUid); the OpenAPI spec's model of it
// names the slug "title", which Grafana does not send.
func (s *Server) postDashboard(w http.ResponseWriter, r *http.Request) {
	var cmd struct {
		Dashboard json.RawMessage `json:"dashboard"`
		FolderUID string          `json:"folderUid"`
		FolderID  int64           `json:"folderId"`
		Overwrite bool            `json:"overwrite"`
		Message   string          `json:"message"`
	}
	if !bind(w, r, &cmd) {
		return
	}
	var model map[string]any
	if err := json.Unmarshal(cmd.Dashboard, &model); err != nil || model == nil {
		fail(w, http.StatusBadRequest, "bad request data", "")
		return
	}
	title, _ := model["title"].(string)
	if strings.TrimSpace(title) == "" {
		fail(w, http.StatusBadRequest, "Dashboard title cannot be empty", "empty-name")
		return
	}
	uid := ""
	switch v := model["uid"].(type) {
	case nil:
	case string:
		uid = v
	default:
		fail(w, http.StatusBadRequest, "bad request data", "")
		return
	}
	if msg := checkUID(uid); msg != "" {
		fail(w, http.StatusBadRequest, msg, "")
		return
	}
	id, _ := model["id"].(float64)
	version, _ := model["version"].(float64)
	if p, ok := model["panels"]; ok && p != nil {
		if _, ok := p.([]any); !ok {
			fail(w, http.StatusBadRequest, "bad request data", "")
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	folderUID := cmd.FolderUID
	if folderUID == "" && cmd.FolderID != 0 {
		for _, f := range s.folders {
			if f.ID == cmd.FolderID {
				folderUID = f.UID
			}
		}
		if folderUID == "" {
			fail(w, http.StatusBadRequest, "Folder not found", "")
			return
		}
	}
	if folderUID != "" && s.folders[folderUID] == nil {
		fail(w, http.StatusBadRequest, "Folder not found", "")
		return
	}
	if uid == "" {
		uid = s.newUIDLocked("d")
	}
	existing := s.dashboards[uid]
	if !cmd.Overwrite {
		if existing != nil {
			if id == 0 {
				fail(w, http.StatusPreconditionFailed, "A dashboard with the same uid already exists", "name-exists")
				return
			}
			if int64(version) != existing.Version {
				fail(w, http.StatusPreconditionFailed, "The dashboard has been changed by someone else", "version-mismatch")
				return
			}
		}
		for _, d := range s.dashboards {
			if d.UID != uid && d.FolderUID == folderUID && strings.EqualFold(d.Title, title) {
				fail(w, http.StatusPreconditionFailed, "A dashboard with the same name in the folder already exists", "name-exists")
				return
			}
		}
	}
	now := s.now().UTC()
	d := existing
	if d == nil {
		s.nextID++
		d = &Dashboard{ID: s.nextID, UID: uid, Created: now}
		s.dashboards[uid] = d
	}
	d.Version++
	d.Title = title
	d.Slug = slugify(title)
	d.URL = "/d/" + uid + "/" + d.Slug
	d.FolderUID = folderUID
	d.Message = cmd.Message
	d.Updated = now
	model["id"] = d.ID
	model["uid"] = uid
	model["version"] = d.Version
	d.Model = cloneJSON(model)
	writeJSON(w, http.StatusOK, map[string]any{
		"id": d.ID, "uid": d.UID, "url": d.URL, "status": "success",
		"version": d.Version, "slug": d.Slug, "folderUid": d.FolderUID,
	})
}

func (s *Server) getDashboard(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dashboards[r.PathValue("uid")]
	if !ok {
		fail(w, http.StatusNotFound, "Dashboard not found", "not-found")
		return
	}
	meta := map[string]any{
		"type": "db", "canSave": true, "canEdit": true, "canAdmin": true, "canStar": true, "canDelete": true,
		"slug": d.Slug, "url": d.URL, "version": d.Version, "folderUid": d.FolderUID,
		"created": d.Created.Format(time.RFC3339), "updated": d.Updated.Format(time.RFC3339),
		"provisioned": false,
	}
	if f := s.folders[d.FolderUID]; f != nil {
		meta["folderId"] = f.ID
		meta["folderTitle"] = f.Title
		meta["folderUrl"] = f.URL
	} else {
		meta["folderTitle"] = "General"
	}
	writeJSON(w, http.StatusOK, map[string]any{"dashboard": d.Model, "meta": meta})
}

func (s *Server) deleteDashboard(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	uid := r.PathValue("uid")
	d, ok := s.dashboards[uid]
	if !ok {
		fail(w, http.StatusNotFound, "Dashboard not found", "not-found")
		return
	}
	delete(s.dashboards, uid)
	writeJSON(w, http.StatusOK, map[string]any{"title": d.Title, "message": "Dashboard " + d.Title + " deleted", "id": d.ID})
}

// --- folders ---------------------------------------------------------------

func (s *Server) addFolderLocked(title, uid, parent string) *Folder {
	if uid == "" {
		uid = s.newUIDLocked("f")
	}
	s.nextID++
	f := &Folder{ID: s.nextID, UID: uid, Title: title, ParentUID: parent, URL: "/dashboards/f/" + uid + "/" + slugify(title), Version: 1}
	s.folders[uid] = f
	return f
}

func folderJSON(f *Folder) map[string]any {
	out := map[string]any{
		"id": f.ID, "uid": f.UID, "title": f.Title, "url": f.URL, "hasAcl": false,
		"canSave": true, "canEdit": true, "canAdmin": true, "canDelete": true,
		"createdBy": "service account", "updatedBy": "service account", "version": f.Version,
	}
	if f.ParentUID != "" {
		out["parentUid"] = f.ParentUID
	}
	return out
}

func (s *Server) getFolders(w http.ResponseWriter, r *http.Request) {
	limit, page, ok := paging(w, r, 1000)
	if !ok {
		return
	}
	parent := r.URL.Query().Get("parentUid")
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*Folder
	for _, f := range s.folders {
		if f.ParentUID == parent {
			all = append(all, f)
		}
	}
	slices.SortFunc(all, func(a, b *Folder) int { return strings.Compare(a.Title, b.Title) })
	out := []map[string]any{}
	for i, f := range all {
		if i >= (page-1)*limit && i < page*limit {
			out = append(out, map[string]any{"id": f.ID, "uid": f.UID, "title": f.Title})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// paging reads ?limit and ?page.
func paging(w http.ResponseWriter, r *http.Request, defaultLimit int) (limit, page int, ok bool) {
	limit, page = defaultLimit, 1
	q := r.URL.Query()
	for name, dst := range map[string]*int{"limit": &limit, "page": &page} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				fail(w, http.StatusBadRequest, "bad request data", "")
				return 0, 0, false
			}
			*dst = n
		}
	}
	return limit, page, true
}

func (s *Server) postFolder(w http.ResponseWriter, r *http.Request) {
	var cmd struct {
		UID       string `json:"uid"`
		Title     string `json:"title"`
		ParentUID string `json:"parentUid"`
	}
	if !bind(w, r, &cmd) {
		return
	}
	if strings.TrimSpace(cmd.Title) == "" {
		fail(w, http.StatusBadRequest, "folder title cannot be empty", "")
		return
	}
	if msg := checkUID(cmd.UID); msg != "" {
		fail(w, http.StatusBadRequest, msg, "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cmd.ParentUID != "" && s.folders[cmd.ParentUID] == nil {
		fail(w, http.StatusNotFound, "folder not found", "")
		return
	}
	if cmd.UID != "" && s.folders[cmd.UID] != nil {
		fail(w, http.StatusConflict, "a folder with the same uid already exists", "")
		return
	}
	for _, f := range s.folders {
		if f.ParentUID == cmd.ParentUID && strings.EqualFold(f.Title, cmd.Title) {
			fail(w, http.StatusConflict, "a folder with the same name already exists", "")
			return
		}
	}
	f := s.addFolderLocked(cmd.Title, cmd.UID, cmd.ParentUID)
	writeJSON(w, http.StatusOK, folderJSON(f))
}

func (s *Server) getFolder(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.folders[r.PathValue("uid")]
	if !ok {
		fail(w, http.StatusNotFound, "folder not found", "")
		return
	}
	writeJSON(w, http.StatusOK, folderJSON(f))
}

// --- annotations -----------------------------------------------------------

// annotationCmd is the body of POST, PUT and PATCH /api/annotations.
type annotationCmd struct {
	DashboardUID string          `json:"dashboardUID"`
	DashboardID  int64           `json:"dashboardId"`
	PanelID      int64           `json:"panelId"`
	Time         *int64          `json:"time"`
	TimeEnd      *int64          `json:"timeEnd"`
	Tags         []string        `json:"tags"`
	Text         *string         `json:"text"`
	Data         json.RawMessage `json:"data"`
}

// normalizeTags trims tags and the key and value of key:value tags, as
// Grafana stores them.
func normalizeTags(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if k, v, ok := strings.Cut(t, ":"); ok {
			t = strings.TrimSpace(k) + ":" + strings.TrimSpace(v)
		}
		if t != "" {
			out = append(out, t)
		}
	}
	return out
}

// timeRange applies Grafana's rules: a missing start is now, a missing
// end is the start, and an end before the start swaps them.
func (s *Server) timeRange(a *Annotation) {
	if a.Time == 0 && a.TimeEnd == 0 {
		a.Time = a.Created
	}
	if a.TimeEnd == 0 {
		a.TimeEnd = a.Time
	}
	if a.Time == 0 {
		a.Time = a.TimeEnd
	}
	if a.TimeEnd < a.Time {
		a.Time, a.TimeEnd = a.TimeEnd, a.Time
	}
}

func decodeData(raw json.RawMessage) (map[string]any, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, true
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, false
	}
	return m, true
}

func (s *Server) postAnnotation(w http.ResponseWriter, r *http.Request) {
	var cmd annotationCmd
	if !bind(w, r, &cmd) {
		return
	}
	data, ok := decodeData(cmd.Data)
	if !ok {
		fail(w, http.StatusBadRequest, "bad request data", "")
		return
	}
	if cmd.Text == nil || *cmd.Text == "" {
		fail(w, http.StatusBadRequest, "Failed to save annotation", "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UnixMilli()
	a := &Annotation{
		DashboardUID: cmd.DashboardUID, DashboardID: cmd.DashboardID, PanelID: cmd.PanelID,
		Tags: normalizeTags(cmd.Tags), Text: *cmd.Text, Data: data, Created: now, Updated: now,
	}
	if d := s.dashboards[cmd.DashboardUID]; d != nil {
		a.DashboardID = d.ID
	}
	if cmd.Time != nil {
		a.Time = *cmd.Time
	}
	if cmd.TimeEnd != nil {
		a.TimeEnd = *cmd.TimeEnd
	}
	s.timeRange(a)
	s.nextID++
	a.ID = s.nextID
	s.annotations[a.ID] = a
	writeJSON(w, http.StatusOK, map[string]any{"message": "Annotation added", "id": a.ID})
}

// annotation finds the annotation of the path's id.
func (s *Server) annotationLocked(w http.ResponseWriter, r *http.Request) *Annotation {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		fail(w, http.StatusBadRequest, "annotationId is invalid", "")
		return nil
	}
	a, ok := s.annotations[id]
	if !ok {
		fail(w, http.StatusNotFound, "Annotation not found", "")
		return nil
	}
	return a
}

func (s *Server) putAnnotation(w http.ResponseWriter, r *http.Request) {
	s.updateAnnotation(w, r, false)
}

func (s *Server) patchAnnotation(w http.ResponseWriter, r *http.Request) {
	s.updateAnnotation(w, r, true)
}

// updateAnnotation replaces (PUT) or patches (PATCH) an annotation's text,
// tags, data, time and timeEnd.
func (s *Server) updateAnnotation(w http.ResponseWriter, r *http.Request, patch bool) {
	var cmd annotationCmd
	if !bind(w, r, &cmd) {
		return
	}
	data, ok := decodeData(cmd.Data)
	if !ok {
		fail(w, http.StatusBadRequest, "bad request data", "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.annotationLocked(w, r)
	if a == nil {
		return
	}
	next := cloneAnnotation(a)
	switch {
	case !patch:
		next.Text, next.Tags, next.Data, next.Time, next.TimeEnd = "", normalizeTags(cmd.Tags), data, 0, 0
		if cmd.Text != nil {
			next.Text = *cmd.Text
		}
		if cmd.Time != nil {
			next.Time = *cmd.Time
		}
		if cmd.TimeEnd != nil {
			next.TimeEnd = *cmd.TimeEnd
		}
	default:
		if cmd.Text != nil {
			next.Text = *cmd.Text
		}
		if cmd.Tags != nil {
			next.Tags = normalizeTags(cmd.Tags)
		}
		if data != nil {
			next.Data = data
		}
		if cmd.Time != nil && *cmd.Time != 0 {
			next.Time = *cmd.Time
		}
		if cmd.TimeEnd != nil && *cmd.TimeEnd != 0 {
			next.TimeEnd = *cmd.TimeEnd
		}
	}
	next.Updated = s.now().UnixMilli()
	if next.Time == 0 && next.TimeEnd == 0 {
		next.Time = next.Updated
	}
	s.timeRange(&next)
	*a = next
	msg := "Annotation updated"
	if patch {
		msg = "Annotation patched"
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": msg})
}

func (s *Server) deleteAnnotation(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.annotationLocked(w, r)
	if a == nil {
		return
	}
	delete(s.annotations, a.ID)
	writeJSON(w, http.StatusOK, map[string]any{"message": "Annotation deleted"})
}

func (s *Server) getAnnotations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	num := func(name string) (int64, bool) {
		v := q.Get(name)
		if v == "" {
			return 0, true
		}
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	from, ok1 := num("from")
	to, ok2 := num("to")
	limit, ok3 := num("limit")
	panelID, ok4 := num("panelId")
	dashboardID, ok5 := num("dashboardId")
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		fail(w, http.StatusBadRequest, "bad request data", "")
		return
	}
	if limit == 0 {
		limit = 100
	}
	matchAny := q.Get("matchAny") == "true"
	typ := q.Get("type")
	dashboardUID := q.Get("dashboardUID")
	tags := normalizeTags(q["tags"])

	s.mu.Lock()
	defer s.mu.Unlock()
	var hits []*Annotation
	for _, a := range s.annotations {
		switch {
		case from != 0 && a.TimeEnd < from,
			to != 0 && a.Time > to,
			dashboardUID != "" && a.DashboardUID != dashboardUID,
			dashboardUID == "" && dashboardID != 0 && a.DashboardID != dashboardID,
			panelID != 0 && a.PanelID != panelID,
			typ == "alert": // the fake holds no alert annotations
			continue
		}
		if len(tags) > 0 {
			has := func(t string) bool { return slices.Contains(a.Tags, t) }
			if matchAny && !slices.ContainsFunc(tags, has) {
				continue
			}
			if !matchAny && !all(tags, has) {
				continue
			}
		}
		hits = append(hits, a)
	}
	// Newest first, as Grafana orders them.
	slices.SortFunc(hits, func(a, b *Annotation) int {
		if a.Time != b.Time {
			return int(b.Time - a.Time)
		}
		return int(b.ID - a.ID)
	})
	out := []map[string]any{}
	for _, a := range hits {
		if int64(len(out)) >= limit {
			break
		}
		data := a.Data
		if data == nil {
			data = map[string]any{}
		}
		tags := a.Tags
		if tags == nil {
			tags = []string{}
		}
		out = append(out, map[string]any{
			"id": a.ID, "alertId": 0, "dashboardId": a.DashboardID, "dashboardUID": a.DashboardUID,
			"panelId": a.PanelID, "userId": 1, "newState": "", "prevState": "",
			"time": a.Time, "timeEnd": a.TimeEnd, "text": a.Text, "tags": tags, "data": data,
			"created": a.Created, "updated": a.Updated,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func all(xs []string, f func(string) bool) bool {
	for _, x := range xs {
		if !f(x) {
			return false
		}
	}
	return true
}

// --- data sources ----------------------------------------------------------

func (s *Server) addDataSourceLocked(name, typ, uid, access, url string) *DataSource {
	if uid == "" {
		uid = s.newUIDLocked("ds")
	}
	s.nextID++
	d := &DataSource{ID: s.nextID, UID: uid, Name: name, Type: typ, Access: access, URL: url}
	s.datasources[uid] = d
	return d
}

func dataSourceJSON(d *DataSource) map[string]any {
	return map[string]any{
		"id": d.ID, "uid": d.UID, "orgId": 1, "name": d.Name, "type": d.Type, "typeLogoUrl": "",
		"access": d.Access, "url": d.URL, "user": "", "database": "", "basicAuth": false,
		"isDefault": d.IsDefault, "jsonData": map[string]any{}, "readOnly": false,
	}
}

func (s *Server) getDataSources(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := slices.Collect(maps.Values(s.datasources))
	slices.SortFunc(all, func(a, b *DataSource) int { return strings.Compare(a.Name, b.Name) })
	out := []map[string]any{}
	for _, d := range all {
		out = append(out, dataSourceJSON(d))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getDataSource(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.datasources[r.PathValue("uid")]
	if !ok {
		fail(w, http.StatusNotFound, "Data source not found", "")
		return
	}
	writeJSON(w, http.StatusOK, dataSourceJSON(d))
}

func (s *Server) postDataSource(w http.ResponseWriter, r *http.Request) {
	var cmd struct {
		Name   string `json:"name"`
		Type   string `json:"type"`
		Access string `json:"access"`
		URL    string `json:"url"`
		UID    string `json:"uid"`
	}
	if !bind(w, r, &cmd) {
		return
	}
	if cmd.Name == "" || cmd.Type == "" {
		fail(w, http.StatusBadRequest, "bad request data", "")
		return
	}
	if msg := checkUID(cmd.UID); msg != "" {
		fail(w, http.StatusBadRequest, "Failed to add datasource: "+msg, "")
		return
	}
	if cmd.Access == "" {
		cmd.Access = "proxy"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.datasources {
		if d.Name == cmd.Name {
			fail(w, http.StatusConflict, "data source with the same name already exists", "")
			return
		}
	}
	if cmd.UID != "" && s.datasources[cmd.UID] != nil {
		fail(w, http.StatusConflict, "data source with the same uid already exists", "")
		return
	}
	d := s.addDataSourceLocked(cmd.Name, cmd.Type, cmd.UID, cmd.Access, cmd.URL)
	writeJSON(w, http.StatusOK, map[string]any{
		"datasource": dataSourceJSON(d), "id": d.ID, "message": "Datasource added", "name": d.Name,
	})
}
