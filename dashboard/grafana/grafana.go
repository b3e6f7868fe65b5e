// Package grafana is a chaoslab.Dashboarder that publishes results to
// Grafana through its HTTP API, with the client
// github.com/grafana/grafana-openapi-client-go.
//
// # What it publishes
//
// One dashboard per experiment, under a uid derived from the experiment's
// name (DashboardUID), so that publishing the experiment again, after this
// run or a later one, updates the dashboard in place (the save overwrites;
// Grafana bumps its version). It shows the latest run: stat panels for the
// verdict (and score), CPU peak, memory peak, errors and recovery time,
// green, yellow or red by thresholds; the analysis as text; and time
// series of latency (p50, p90, p99), throughput, error rate, CPU and
// memory with the hypothesis's tolerances drawn as dashed red lines. The
// series are embedded in the dashboard: each panel queries Grafana's
// built-in TestData data source with the "CSV Content" scenario, whose
// query carries the data itself, so the dashboard needs no data source of
// the user's. Publish finds the organisation's TestData data source, or
// creates one (DefaultDatasourceUID) when there is none, which takes a
// token allowed to add data sources (an organisation admin's); with a
// lesser token it logs a warning and refers to DefaultDatasourceUID, for
// an administrator to add. WithDatasource names one instead.
//
// One annotation per fault window (the fault's injection to its revert,
// with the scenario, its parameters and the run id in the text) is posted
// as an organisation annotation, tied to no dashboard, tagged "chaoslab",
// "run:<id>", "scenario:<name>", "experiment:<name>" and the WithTags tags:
// any existing dashboard shows them through an annotation query on the
// "-- Grafana --" data source filtered by those tags, and the published
// dashboard has such a query for its experiment. Publishing the same run
// again updates its annotations rather than adding more.
//
// # Configuration
//
// New reads GRAFANA_URL (the base URL, such as https://grafana.example.com
// or http://localhost:3000/grafana when Grafana is served under a path)
// and GRAFANA_SERVICE_ACCOUNT_TOKEN (a service account token, sent as a
// bearer token); WithURL and WithToken override them. The token needs the
// Editor role to save dashboards, folders and annotations. It is never
// logged, printed (Publisher implements fmt.Stringer and slog.LogValuer
// without it) or put in an error.
//
// # Failure
//
// Publish wraps every error with the step that failed ("save dashboard",
// "post annotation" ...). A token Grafana refuses is ErrUnauthorized, one
// that lacks a permission ErrForbidden, a missing URL or token
// ErrNotConfigured. A Grafana that is down fails the first call, within
// WithTimeout (DefaultTimeout) at worst. The Runner records a Dashboarder's
// error in the result and goes on, so the result and the HTML report are
// written all the same. Check tests the configuration before a run.
package grafana

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/grafana/grafana-openapi-client-go/client/annotations"
	"github.com/grafana/grafana-openapi-client-go/client/dashboards"
	"github.com/grafana/grafana-openapi-client-go/client/datasources"
	"github.com/grafana/grafana-openapi-client-go/client/folders"
	"github.com/grafana/grafana-openapi-client-go/client/health"
	"github.com/grafana/grafana-openapi-client-go/models"

	"github.com/chaoslab-dev/chaoslab"
)

// Kind is the DashboardLink.Kind of the links Publish returns.
const Kind = "grafana"

// The environment variables New reads.
const (
	EnvURL   = "GRAFANA_URL"
	EnvToken = "GRAFANA_SERVICE_ACCOUNT_TOKEN"
)

// DefaultTimeout bounds one Publish or Check.
const DefaultTimeout = 20 * time.Second

// Errors callers may branch on; Publish's errors wrap them.
var (
	// ErrNotConfigured: no Grafana URL or token, or a URL that is not an
	// http(s) base URL.
	ErrNotConfigured = errors.New("grafana: not configured")
	// ErrUnauthorized: Grafana refused the token (HTTP 401).
	ErrUnauthorized = errors.New("grafana: token refused")
	// ErrForbidden: the token lacks a permission the step needs (HTTP 403).
	ErrForbidden = errors.New("grafana: permission denied")
)

// Publisher publishes results to Grafana. Make it with New; it is safe for
// concurrent use. It builds its API client on first use and keeps it.
type Publisher struct {
	rawURL     string
	token      string
	folder     string
	tags       []string
	httpClient *http.Client
	log        *slog.Logger
	timeout    time.Duration
	dsUID      string

	mu       sync.Mutex
	api      *apiClient
	base     *url.URL
	ownHTTP  *http.Client // the client's HTTP client when Publisher made it
	folderID string       // resolved folder uid
	ds       *dsRef       // resolved TestData data source
}

// Option configures a Publisher.
type Option func(*Publisher)

// WithURL sets Grafana's base URL, overriding GRAFANA_URL.
func WithURL(u string) Option { return func(p *Publisher) { p.rawURL = u } }

// WithToken sets the service account token, overriding
// GRAFANA_SERVICE_ACCOUNT_TOKEN.
func WithToken(token string) Option { return func(p *Publisher) { p.token = token } }

// WithFolder puts the dashboards in a folder, named by uid or title. Publish
// looks it up by uid, then by title among the top-level folders, and
// creates a folder of that title when none matches. Default: the General
// folder.
func WithFolder(uidOrTitle string) Option {
	return func(p *Publisher) { p.folder = strings.TrimSpace(uidOrTitle) }
}

// WithTags adds tags to the dashboards and annotations, after the ones
// Publish always sets.
func WithTags(tags ...string) Option {
	return func(p *Publisher) {
		for _, t := range tags {
			if t = strings.TrimSpace(t); t != "" && !slices.Contains(p.tags, t) {
				p.tags = append(p.tags, t)
			}
		}
	}
}

// WithHTTPClient sets the HTTP client (for a proxy, TLS settings, a
// transport of the caller's). Default: a client of Publisher's own, on a
// copy of http.DefaultTransport, whose idle connections Publish closes
// before it returns.
func WithHTTPClient(c *http.Client) Option { return func(p *Publisher) { p.httpClient = c } }

// WithLogger sets the logger (default: none).
func WithLogger(l *slog.Logger) Option {
	return func(p *Publisher) {
		if l != nil {
			p.log = l
		}
	}
}

// WithTimeout bounds each Publish and Check (default DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(p *Publisher) {
		if d > 0 {
			p.timeout = d
		}
	}
}

// WithDatasource names the TestData data source the panels query, by uid,
// instead of finding or creating one.
func WithDatasource(uid string) Option {
	return func(p *Publisher) { p.dsUID = strings.TrimSpace(uid) }
}

// New returns a Publisher configured from GRAFANA_URL,
// GRAFANA_SERVICE_ACCOUNT_TOKEN and opts. It does no I/O; a missing URL or
// token makes Publish fail with ErrNotConfigured.
func New(opts ...Option) *Publisher {
	p := &Publisher{
		rawURL:  strings.TrimSpace(os.Getenv(EnvURL)),
		token:   strings.TrimSpace(os.Getenv(EnvToken)),
		log:     slog.New(slog.DiscardHandler),
		timeout: DefaultTimeout,
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

var _ chaoslab.Dashboarder = (*Publisher)(nil)

// String describes the Publisher without its token.
func (p *Publisher) String() string {
	return fmt.Sprintf("grafana.Publisher{url: %q, folder: %q}", p.rawURL, p.folder)
}

// LogValue describes the Publisher to slog without its token.
func (p *Publisher) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", p.rawURL), slog.String("folder", p.folder))
}

// apiClient is the part of grafana-openapi-client-go's API that Publisher
// uses, its API groups wired to one transport.
type apiClient struct {
	Annotations annotations.ClientService
	Dashboards  dashboards.ClientService
	Datasources datasources.ClientService
	Folders     folders.ClientService
	Health      health.ClientService
}

// client returns the Publisher's API client, building it on first use.
//
// One client per Publisher, built once and reused. The client package's
// facade constructors (client.NewHTTPClient, NewHTTPClientWithConfig, and
// the WithHTTPClient, WithOrgID and WithRetries methods, which rebuild the
// transport) run newTransportWithConfig, which takes http.DefaultTransport
// (the process's shared *http.Transport, not a copy) and assigns the
// config's TLSConfig, nil unless set, to its TLSClientConfig. That
// replaces any TLS settings (custom CAs, client certificates) the program
// put on the default transport, for every http.Get and default
// http.Client in the process, and it is an unsynchronised write that races
// with requests in flight on other goroutines. Without a Client in the
// config the facade also sends through that shared transport, wrapped in
// a retrying one that sleeps without watching the context. And the
// facade package has a package-level Default client built the same way,
// so merely importing it does this once, at init.
//
// So Publisher does not use the facade package at all: it builds the
// go-openapi runtime itself, on its own *http.Client, and wires to it the
// API group packages it needs (annotations, dashboards, data sources,
// folders, health), whose constructors touch nothing global. It builds
// them once, lazily (New does no I/O and needs no valid configuration),
// and keeps them, with their connections, for every Publish.
func (p *Publisher) client() (*apiClient, *url.URL, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.api != nil {
		return p.api, p.base, nil
	}
	base, err := parseBase(p.rawURL)
	if err != nil {
		return nil, nil, err
	}
	if p.token == "" {
		return nil, nil, fmt.Errorf("%w: no service account token (set %s)", ErrNotConfigured, EnvToken)
	}
	hc := p.httpClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		p.ownHTTP = &http.Client{Transport: tr}
		hc = p.ownHTTP
	}
	basePath := path.Join("/", base.Path, "api")
	schemes := []string{base.Scheme}
	rt := httptransport.NewWithClient(base.Host, basePath, schemes, hc)
	rt.Debug = false // its debug dump would print the Authorization header
	rt.DefaultAuthentication = httptransport.BearerToken(p.token)
	// Decode JSON into plain Go values (float64, not json.Number).
	rt.Consumers[runtime.JSONMime] = runtime.ConsumerFunc(func(r io.Reader, v any) error {
		return json.NewDecoder(r).Decode(v)
	})
	p.api = &apiClient{
		Annotations: annotations.New(rt, strfmt.Default),
		Dashboards:  dashboards.New(rt, strfmt.Default),
		Datasources: datasources.New(rt, strfmt.Default),
		Folders:     folders.New(rt, strfmt.Default),
		Health:      health.New(rt, strfmt.Default),
	}
	p.base = base
	return p.api, p.base, nil
}

// parseBase checks Grafana's base URL.
func parseBase(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: no URL (set %s)", ErrNotConfigured, EnvURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the URL, which may hold a password.
		return nil, fmt.Errorf("%w: the Grafana URL does not parse", ErrNotConfigured)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w: URL %q: want http:// or https://", ErrNotConfigured, u.Redacted())
	case u.Host == "":
		return nil, fmt.Errorf("%w: URL %q has no host", ErrNotConfigured, u.Redacted())
	case u.User != nil:
		return nil, fmt.Errorf("%w: URL %q carries credentials; use %s", ErrNotConfigured, u.Redacted(), EnvToken)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%w: URL %q has a query or fragment", ErrNotConfigured, u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// closeIdle closes the idle connections of Publisher's own HTTP client, so
// that nothing is left open between publications.
func (p *Publisher) closeIdle() {
	p.mu.Lock()
	hc := p.ownHTTP
	p.mu.Unlock()
	if hc != nil {
		hc.CloseIdleConnections()
	}
}

// withContext makes an API call use ctx.
func withContext(ctx context.Context) func(*runtime.ClientOperation) {
	return func(op *runtime.ClientOperation) { op.Context = ctx }
}

// Publish publishes r: it saves the experiment's dashboard (creating its
// folder and the TestData data source if needed), then creates or updates
// one annotation per fault window of r, and returns the dashboard's link.
// When the dashboard was saved but the annotations failed, it returns the
// link together with the error. It does not change r.
func (p *Publisher) Publish(ctx context.Context, r *chaoslab.Result) (chaoslab.DashboardLink, error) {
	if r == nil {
		return chaoslab.DashboardLink{}, errors.New("grafana: publish: nil result")
	}
	if err := ctx.Err(); err != nil {
		return chaoslab.DashboardLink{}, fmt.Errorf("grafana: publish: %w", err)
	}
	name := experimentName(r)
	if name == "" {
		return chaoslab.DashboardLink{}, errors.New("grafana: publish: the result has neither a name nor an id")
	}
	api, base, err := p.client()
	if err != nil {
		return chaoslab.DashboardLink{}, p.redact(err)
	}
	defer p.closeIdle()
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()

	folderUID, err := p.resolveFolder(ctx, api)
	if err != nil {
		return chaoslab.DashboardLink{}, p.fail("find or create folder", err)
	}
	ds, err := p.resolveDatasource(ctx, api)
	if err != nil {
		return chaoslab.DashboardLink{}, p.fail("find or create the TestData data source", err)
	}
	uid := DashboardUID(name)
	model := buildDashboard(r, uid, ds, p.tags)
	saved, err := api.Dashboards.PostDashboard(&models.SaveDashboardCommand{
		Dashboard: model,
		FolderUID: folderUID,
		Overwrite: true,
		Message:   fmt.Sprintf("chaoslab run %s: %s", r.ID, r.Verdict),
	}, withContext(ctx))
	if err != nil {
		return chaoslab.DashboardLink{}, p.fail("save dashboard "+uid, err)
	}
	link := chaoslab.DashboardLink{Kind: Kind, URL: dashboardURL(base, saved.Payload)}
	p.log.Debug("grafana: dashboard saved", "uid", uid, "url", link.URL, "version", deref(saved.Payload.Version))

	n, err := p.syncAnnotations(ctx, api, r, name)
	if err != nil {
		return link, p.fail("annotate fault windows", err)
	}
	p.log.Info("grafana: published", "url", link.URL, "run", r.ID, "annotations", n)
	return link, nil
}

// Check tests the configuration: that Grafana answers at its URL and
// accepts the token. The CLI can call it before a run so that a wrong
// setting shows before the experiment, not after.
func (p *Publisher) Check(ctx context.Context) error {
	api, _, err := p.client()
	if err != nil {
		return p.redact(err)
	}
	defer p.closeIdle()
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if _, err := api.Health.GetHealth(withContext(ctx)); err != nil {
		return p.fail("health check", err)
	}
	limit := int64(1)
	if _, err := api.Folders.GetFolders(folders.NewGetFoldersParamsWithContext(ctx).WithLimit(&limit)); err != nil {
		return p.fail("check the token", err)
	}
	return nil
}

func deref[T any](v *T) T {
	var zero T
	if v == nil {
		return zero
	}
	return *v
}

// dashboardURL is the absolute URL of a saved dashboard. Grafana answers
// with a path that includes its sub-path when it is served under one.
func dashboardURL(base *url.URL, saved *models.PostDashboardOKBody) string {
	rel := "/d/" + deref(saved.UID)
	if saved != nil && saved.URL != nil && *saved.URL != "" {
		rel = *saved.URL
	}
	u := *base
	if base.Path != "" && !strings.HasPrefix(rel, base.Path+"/") {
		rel = base.Path + rel
	}
	u.Path = rel
	return u.String()
}

// resolveFolder returns the uid of the configured folder ("" for none),
// finding or creating it once.
func (p *Publisher) resolveFolder(ctx context.Context, api *apiClient) (string, error) {
	if p.folder == "" {
		return "", nil
	}
	p.mu.Lock()
	cached := p.folderID
	p.mu.Unlock()
	if cached != "" {
		return cached, nil
	}
	uid, err := p.findFolder(ctx, api)
	if err == nil && uid == "" {
		var created *folders.CreateFolderOK
		created, err = api.Folders.CreateFolder(&models.CreateFolderCommand{Title: p.folder}, withContext(ctx))
		switch {
		case err == nil:
			uid = created.Payload.UID
			p.log.Info("grafana: folder created", "title", p.folder, "uid", uid)
		case statusOf(err) == http.StatusConflict: // made meanwhile
			uid, err = p.findFolder(ctx, api)
			if err == nil && uid == "" {
				err = fmt.Errorf("folder %q exists but is not listed", p.folder)
			}
		}
	}
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	p.folderID = uid
	p.mu.Unlock()
	return uid, nil
}

var folderUIDSyntax = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,40}$`)

// findFolder looks the configured folder up by uid, then by title among
// the top-level folders; "" when there is none.
func (p *Publisher) findFolder(ctx context.Context, api *apiClient) (string, error) {
	if folderUIDSyntax.MatchString(p.folder) {
		f, err := api.Folders.GetFolderByUID(p.folder, withContext(ctx))
		if err == nil {
			return f.Payload.UID, nil
		}
		if statusOf(err) != http.StatusNotFound {
			return "", err
		}
	}
	const pageSize = 1000
	limit := int64(pageSize)
	for page := int64(1); ; page++ {
		list, err := api.Folders.GetFolders(folders.NewGetFoldersParamsWithContext(ctx).WithLimit(&limit).WithPage(&page))
		if err != nil {
			return "", err
		}
		for _, f := range list.Payload {
			if f != nil && strings.EqualFold(f.Title, p.folder) {
				return f.UID, nil
			}
		}
		if len(list.Payload) < pageSize {
			return "", nil
		}
	}
}

// resolveDatasource returns the TestData data source the panels query:
// WithDatasource's, the organisation's, or one it creates.
func (p *Publisher) resolveDatasource(ctx context.Context, api *apiClient) (dsRef, error) {
	p.mu.Lock()
	cached := p.ds
	p.mu.Unlock()
	if cached != nil {
		return *cached, nil
	}
	ds, err := p.findOrCreateDatasource(ctx, api)
	switch {
	case err == nil:
		p.mu.Lock()
		p.ds = &ds
		p.mu.Unlock()
		return ds, nil
	case statusOf(err) == http.StatusForbidden:
		// A token that may not list or add data sources: refer to the
		// default uid, for an administrator to add.
		fallback := dsRef{Type: TestDataType, UID: DefaultDatasourceUID}
		if p.dsUID != "" {
			fallback.UID = p.dsUID
		}
		p.log.Warn("grafana: the token may not read or add data sources; the panels refer to a TestData data source an administrator must add",
			"type", fallback.Type, "uid", fallback.UID, "err", p.redactString(err.Error()))
		return fallback, nil
	}
	return dsRef{}, err
}

func isTestData(typ string) bool { return typ == TestDataType || typ == LegacyTestDataType }

func (p *Publisher) findOrCreateDatasource(ctx context.Context, api *apiClient) (dsRef, error) {
	if p.dsUID != "" {
		got, err := api.Datasources.GetDataSourceByUID(p.dsUID, withContext(ctx))
		if err != nil {
			return dsRef{}, err
		}
		if !isTestData(got.Payload.Type) {
			return dsRef{}, fmt.Errorf("data source %q is of type %q, not %s", p.dsUID, got.Payload.Type, TestDataType)
		}
		return dsRef{Type: got.Payload.Type, UID: got.Payload.UID}, nil
	}
	list, err := api.Datasources.GetDataSources(withContext(ctx))
	if err != nil {
		return dsRef{}, err
	}
	var found *dsRef
	for _, d := range list.Payload {
		if d == nil || !isTestData(d.Type) {
			continue
		}
		if found == nil || d.UID == DefaultDatasourceUID {
			found = &dsRef{Type: d.Type, UID: d.UID}
		}
	}
	if found != nil {
		return *found, nil
	}
	_, err = api.Datasources.AddDataSource(&models.AddDataSourceCommand{
		Name: DefaultDatasourceName, Type: TestDataType, Access: "proxy", UID: DefaultDatasourceUID,
	}, withContext(ctx))
	if err != nil && statusOf(err) != http.StatusConflict {
		return dsRef{}, err
	}
	if err != nil { // a data source of that name or uid was made meanwhile
		got, gerr := api.Datasources.GetDataSourceByUID(DefaultDatasourceUID, withContext(ctx))
		if gerr != nil {
			return dsRef{}, errors.Join(err, gerr)
		}
		if !isTestData(got.Payload.Type) {
			return dsRef{}, fmt.Errorf("data source %q is of type %q, not %s", DefaultDatasourceUID, got.Payload.Type, TestDataType)
		}
	} else {
		p.log.Info("grafana: TestData data source created", "uid", DefaultDatasourceUID)
	}
	return dsRef{Type: TestDataType, UID: DefaultDatasourceUID}, nil
}

// statusOf returns the HTTP status of an API error, or 0 when err is not
// one (a connection error, a cancelled context).
func statusOf(err error) int {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		return coded.Code()
	}
	var apiErr *runtime.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code
	}
	return 0
}

// fail wraps err, naming the step, with the sentinel its status stands for.
func (p *Publisher) fail(step string, err error) error {
	switch statusOf(err) {
	case http.StatusUnauthorized:
		err = fmt.Errorf("%w: %w", ErrUnauthorized, err)
	case http.StatusForbidden:
		err = fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	return p.redact(fmt.Errorf("grafana: %s: %w", step, err))
}

// redact hides the token should it ever appear in an error's text.
func (p *Publisher) redact(err error) error {
	if err == nil || len(p.token) < 6 || !strings.Contains(err.Error(), p.token) {
		return err
	}
	return &redactedError{msg: p.redactString(err.Error()), err: err}
}

func (p *Publisher) redactString(s string) string {
	if len(p.token) < 6 {
		return s
	}
	return strings.ReplaceAll(s, p.token, "[REDACTED]")
}

// redactedError is an error whose text had the token taken out.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
