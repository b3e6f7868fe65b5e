package grafanafake_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"go.uber.org/goleak"

	gclient "github.com/grafana/grafana-openapi-client-go/client"
	"github.com/grafana/grafana-openapi-client-go/client/annotations"
	"github.com/grafana/grafana-openapi-client-go/client/dashboards"
	"github.com/grafana/grafana-openapi-client-go/client/datasources"
	"github.com/grafana/grafana-openapi-client-go/client/folders"
	"github.com/grafana/grafana-openapi-client-go/models"

	"github.com/chaoslab-dev/chaoslab/internal/grafanafake"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const token = "glsa_fake_0123456789abcdef"

// The fake is checked through grafana-openapi-client-go, whose requests,
// response types and status codes are generated from Grafana's OpenAPI
// spec: a response of the wrong shape or status fails to decode into the
// spec's types.

func start(t *testing.T) *grafanafake.Server {
	t.Helper()
	s, err := grafanafake.Start(token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// api returns a spec-generated client for s that sends tok, on its own
// transport (closed at cleanup).
func api(t *testing.T, s *grafanafake.Server, tok string) *gclient.GrafanaHTTPAPI {
	t.Helper()
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	rt := httptransport.NewWithClient(u.Host, "/api", []string{"http"}, hc)
	rt.Debug = false
	rt.Consumers[runtime.JSONMime] = runtime.ConsumerFunc(func(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) })
	if tok != "" {
		rt.DefaultAuthentication = httptransport.BearerToken(tok)
	}
	return gclient.New(rt, &gclient.TransportConfig{Host: u.Host, BasePath: "/api", Schemes: []string{"http"}}, strfmt.Default)
}

// status returns the HTTP status an error of the client stands for, or 0.
func status(err error) int {
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

func TestHealthNeedsNoToken(t *testing.T) {
	s := start(t)
	ok, err := api(t, s, "").Health.GetHealth()
	if err != nil {
		t.Fatal(err)
	}
	if ok.Payload.Database != "ok" {
		t.Errorf("health database %q, want ok", ok.Payload.Database)
	}
}

func TestAuthentication(t *testing.T) {
	s := start(t)
	if _, err := api(t, s, "").Folders.GetFolders(folders.NewGetFoldersParams()); status(err) != 401 {
		t.Errorf("no token: %v, want 401", err)
	}
	if _, err := api(t, s, "glsa_wrong").Folders.GetFolders(folders.NewGetFoldersParams()); status(err) != 401 {
		t.Errorf("wrong token: %v, want 401", err)
	}
	c := api(t, s, token)
	if _, err := c.Folders.GetFolders(folders.NewGetFoldersParams()); err != nil {
		t.Errorf("right token: %v", err)
	}
	s.RefuseToken(true)
	_, err := c.Folders.GetFolders(folders.NewGetFoldersParams())
	var unauthorized *folders.GetFoldersUnauthorized
	if !errors.As(err, &unauthorized) || unauthorized.Payload.Message == nil || *unauthorized.Payload.Message == "" {
		t.Errorf("refused token: %v, want a 401 with a message", err)
	}
	s.RefuseToken(false)
	if _, err := c.Folders.GetFolders(folders.NewGetFoldersParams()); err != nil {
		t.Errorf("token accepted again: %v", err)
	}
	for _, r := range s.Requests() {
		if strings.Contains(r.Query+string(r.Body), token) {
			t.Errorf("request record %+v holds the token", r)
		}
	}
	if n := len(s.Requests()); n != 5 {
		t.Errorf("%d requests recorded, want 5", n)
	}
}

func dashboardJSON(uid, title string, extra map[string]any) map[string]any {
	d := map[string]any{"title": title, "panels": []any{}, "schemaVersion": 39}
	if uid != "" {
		d["uid"] = uid
	}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

func TestDashboards(t *testing.T) {
	s := start(t)
	c := api(t, s, token)
	post := func(cmd *models.SaveDashboardCommand) (*models.PostDashboardOKBody, error) {
		ok, err := c.Dashboards.PostDashboard(cmd)
		if err != nil {
			return nil, err
		}
		return ok.Payload, nil
	}

	created, err := post(&models.SaveDashboardCommand{Dashboard: dashboardJSON("abc-1", "Checkout latency", nil), Message: "first"})
	if err != nil {
		t.Fatal(err)
	}
	if *created.UID != "abc-1" || *created.Version != 1 || *created.URL != "/d/abc-1/checkout-latency" || *created.Status != "success" {
		t.Errorf("created %+v", created)
	}

	// A second create of the same uid, without overwrite: name-exists.
	_, err = post(&models.SaveDashboardCommand{Dashboard: dashboardJSON("abc-1", "Checkout latency", nil)})
	var pre *dashboards.PostDashboardPreconditionFailed
	if !errors.As(err, &pre) || pre.Payload.Status != "name-exists" {
		t.Errorf("second create: %v, want 412 name-exists", err)
	}
	// An update from a stale version: version-mismatch.
	_, err = post(&models.SaveDashboardCommand{Dashboard: dashboardJSON("abc-1", "Checkout latency", map[string]any{"id": *created.ID, "version": 0})})
	if !errors.As(err, &pre) || pre.Payload.Status != "version-mismatch" {
		t.Errorf("stale update: %v, want 412 version-mismatch", err)
	}
	// An update from the current version, and an overwrite.
	up, err := post(&models.SaveDashboardCommand{Dashboard: dashboardJSON("abc-1", "Checkout latency", map[string]any{"id": *created.ID, "version": 1})})
	if err != nil || *up.Version != 2 {
		t.Fatalf("update: %+v, %v", up, err)
	}
	over, err := post(&models.SaveDashboardCommand{Dashboard: dashboardJSON("abc-1", "Checkout latency v2", nil), Overwrite: true})
	if err != nil || *over.Version != 3 || *over.ID != *created.ID || *over.URL != "/d/abc-1/checkout-latency-v2" {
		t.Fatalf("overwrite: %+v, %v", over, err)
	}
	// The same title in the same folder under another uid: name-exists.
	if _, err := post(&models.SaveDashboardCommand{Dashboard: dashboardJSON("other", "Checkout latency v2", nil)}); !errors.As(err, &pre) || pre.Payload.Status != "name-exists" {
		t.Errorf("same title: %v, want 412 name-exists", err)
	}
	// Without a uid, one is generated.
	gen, err := post(&models.SaveDashboardCommand{Dashboard: dashboardJSON("", "Generated", nil)})
	if err != nil || *gen.UID == "" {
		t.Errorf("no uid: %+v, %v", gen, err)
	}

	var bad *dashboards.PostDashboardBadRequest
	for name, cmd := range map[string]*models.SaveDashboardCommand{
		"no title":        {Dashboard: dashboardJSON("x", "", nil)},
		"no dashboard":    {},
		"long uid":        {Dashboard: dashboardJSON(strings.Repeat("u", 41), "Long", nil)},
		"illegal uid":     {Dashboard: dashboardJSON("a/b", "Slash", nil)},
		"unknown folder":  {Dashboard: dashboardJSON("y", "In folder", nil), FolderUID: "nope"},
		"panels not list": {Dashboard: dashboardJSON("z", "Panels", map[string]any{"panels": "x"})},
	} {
		if _, err := post(cmd); !errors.As(err, &bad) || bad.Payload.Message == nil {
			t.Errorf("%s: %v, want 400 with a message", name, err)
		}
	}

	got, err := c.Dashboards.GetDashboardByUID("abc-1")
	if err != nil {
		t.Fatal(err)
	}
	model := got.Payload.Dashboard.(map[string]any)
	if model["title"] != "Checkout latency v2" || model["version"] != float64(3) || model["uid"] != "abc-1" {
		t.Errorf("stored model %v", model)
	}
	if got.Payload.Meta.URL != "/d/abc-1/checkout-latency-v2" || got.Payload.Meta.Version != 3 {
		t.Errorf("meta %+v", got.Payload.Meta)
	}
	var nf *dashboards.GetDashboardByUIDNotFound
	if _, err := c.Dashboards.GetDashboardByUID("missing"); !errors.As(err, &nf) {
		t.Errorf("missing dashboard: %v, want 404", err)
	}
	if d, ok := s.Dashboard("abc-1"); !ok || d.Version != 3 || d.Message != "" {
		t.Errorf("Dashboard(abc-1) = %+v, %v", d, ok)
	}
	if n := len(s.Dashboards()); n != 2 {
		t.Errorf("%d dashboards, want 2", n)
	}
	if _, err := c.Dashboards.DeleteDashboardByUID("abc-1"); err != nil {
		t.Errorf("delete: %v", err)
	}
}

func TestFolders(t *testing.T) {
	s := start(t)
	c := api(t, s, token)
	f, err := c.Folders.CreateFolder(&models.CreateFolderCommand{Title: "Chaos"})
	if err != nil {
		t.Fatal(err)
	}
	if f.Payload.UID == "" || f.Payload.Title != "Chaos" || !strings.HasPrefix(f.Payload.URL, "/dashboards/f/") {
		t.Errorf("created %+v", f.Payload)
	}
	var conflict *folders.CreateFolderConflict
	if _, err := c.Folders.CreateFolder(&models.CreateFolderCommand{Title: "chaos"}); !errors.As(err, &conflict) {
		t.Errorf("same title: %v, want 409", err)
	}
	var bad *folders.CreateFolderBadRequest
	if _, err := c.Folders.CreateFolder(&models.CreateFolderCommand{Title: " "}); !errors.As(err, &bad) {
		t.Errorf("empty title: %v, want 400", err)
	}
	if _, err := c.Folders.CreateFolder(&models.CreateFolderCommand{Title: "Team", UID: "team-1"}); err != nil {
		t.Fatal(err)
	}
	list, err := c.Folders.GetFolders(folders.NewGetFoldersParams())
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, h := range list.Payload {
		titles = append(titles, h.Title)
	}
	if !slices.Equal(titles, []string{"Chaos", "Team"}) {
		t.Errorf("folders %v", titles)
	}
	limit, page := int64(1), int64(2)
	paged, err := c.Folders.GetFolders(folders.NewGetFoldersParams().WithLimit(&limit).WithPage(&page))
	if err != nil || len(paged.Payload) != 1 || paged.Payload[0].UID != "team-1" {
		t.Errorf("page 2 of 1: %+v, %v", paged, err)
	}
	got, err := c.Folders.GetFolderByUID("team-1")
	if err != nil || got.Payload.Title != "Team" {
		t.Errorf("get: %+v, %v", got, err)
	}
	var nf *folders.GetFolderByUIDNotFound
	if _, err := c.Folders.GetFolderByUID("nope"); !errors.As(err, &nf) {
		t.Errorf("missing folder: %v, want 404", err)
	}
	if n := len(s.Folders()); n != 2 {
		t.Errorf("%d folders, want 2", n)
	}
}

func TestAnnotations(t *testing.T) {
	s := start(t)
	c := api(t, s, token)
	text := "network_delay on run 1"
	add := func(time, end int64, tags ...string) int64 {
		t.Helper()
		ok, err := c.Annotations.PostAnnotation(&models.PostAnnotationsCmd{Time: time, TimeEnd: end, Tags: tags, Text: &text,
			Data: map[string]any{"run": "1"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := ok.Payload.Validate(strfmt.Default); err != nil {
			t.Errorf("response does not meet the spec: %v", err)
		}
		return *ok.Payload.ID
	}
	a := add(1000, 2000, "chaoslab", "run:1", " scenario : network_delay ")
	b := add(5000, 3000, "chaoslab", "run:2")
	add(9000, 0, "other")

	empty := ""
	var bad *annotations.PostAnnotationBadRequest
	if _, err := c.Annotations.PostAnnotation(&models.PostAnnotationsCmd{Text: &empty, Time: 1}); !errors.As(err, &bad) {
		t.Errorf("empty text: %v, want 400", err)
	}

	find := func(p *annotations.GetAnnotationsParams) []int64 {
		t.Helper()
		ok, err := c.Annotations.GetAnnotations(p)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, a := range ok.Payload {
			ids = append(ids, a.ID)
		}
		return ids
	}
	if ids := find(annotations.NewGetAnnotationsParams().WithTags([]string{"chaoslab", "run:1"})); !slices.Equal(ids, []int64{a}) {
		t.Errorf("tags chaoslab AND run:1: %v, want [%d]", ids, a)
	}
	yes := true
	if ids := find(annotations.NewGetAnnotationsParams().WithTags([]string{"run:1", "run:2"}).WithMatchAny(&yes)); !slices.Equal(ids, []int64{b, a}) {
		t.Errorf("tags run:1 OR run:2: %v, want [%d %d] (newest first)", ids, b, a)
	}
	from, to := int64(2500), int64(8000)
	if ids := find(annotations.NewGetAnnotationsParams().WithFrom(&from).WithTo(&to)); !slices.Equal(ids, []int64{b}) {
		t.Errorf("from 2500 to 8000: %v, want [%d]", ids, b)
	}
	all := s.Annotations()
	if len(all) != 3 {
		t.Fatalf("%d annotations, want 3", len(all))
	}
	if got := all[0].Tags; !slices.Equal(got, []string{"chaoslab", "run:1", "scenario:network_delay"}) {
		t.Errorf("stored tags %q, want them trimmed", got)
	}
	if all[1].Time != 3000 || all[1].TimeEnd != 5000 {
		t.Errorf("an end before the start: stored %d..%d, want them swapped", all[1].Time, all[1].TimeEnd)
	}
	if all[2].TimeEnd != 9000 {
		t.Errorf("no end: stored end %d, want the start", all[2].TimeEnd)
	}
	if all[0].Data["run"] != "1" {
		t.Errorf("data %v", all[0].Data)
	}

	id := strconv.FormatInt(a, 10)
	if _, err := c.Annotations.UpdateAnnotation(id, &models.UpdateAnnotationsCmd{Time: 1100, TimeEnd: 2100, Text: "updated", Tags: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Annotations.PatchAnnotation(id, &models.PatchAnnotationsCmd{Text: "patched"}); err != nil {
		t.Fatal(err)
	}
	got := s.Annotations()[0]
	if got.Time != 1100 || got.TimeEnd != 2100 || got.Text != "patched" || !slices.Equal(got.Tags, []string{"x"}) {
		t.Errorf("after PUT and PATCH: %+v", got)
	}
	if _, err := c.Annotations.DeleteAnnotationByID(id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Annotations.DeleteAnnotationByID(id); status(err) != 404 {
		t.Errorf("second delete: %v, want 404", err)
	}
	if n := len(s.Annotations()); n != 2 {
		t.Errorf("%d annotations after delete, want 2", n)
	}
}

func TestDataSources(t *testing.T) {
	s := start(t)
	c := api(t, s, token)
	ok, err := c.Datasources.AddDataSource(&models.AddDataSourceCommand{Name: "TestData", Type: "grafana-testdata-datasource", Access: "proxy", UID: "td"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ok.Payload.Validate(strfmt.Default); err != nil {
		t.Errorf("response does not meet the spec: %v", err)
	}
	var conflict *datasources.AddDataSourceConflict
	if _, err := c.Datasources.AddDataSource(&models.AddDataSourceCommand{Name: "TestData", Type: "x"}); !errors.As(err, &conflict) {
		t.Errorf("same name: %v, want 409", err)
	}
	list, err := c.Datasources.GetDataSources()
	if err != nil || len(list.Payload) != 1 || list.Payload[0].UID != "td" || list.Payload[0].Type != "grafana-testdata-datasource" {
		t.Errorf("list: %+v, %v", list, err)
	}
	got, err := c.Datasources.GetDataSourceByUID("td")
	if err != nil || got.Payload.Name != "TestData" {
		t.Errorf("get: %+v, %v", got, err)
	}
	var nf *datasources.GetDataSourceByUIDNotFound
	if _, err := c.Datasources.GetDataSourceByUID("nope"); !errors.As(err, &nf) {
		t.Errorf("missing: %v, want 404", err)
	}
	s.Forbid("POST", "/api/datasources")
	var forbidden *datasources.AddDataSourceForbidden
	if _, err := c.Datasources.AddDataSource(&models.AddDataSourceCommand{Name: "Other", Type: "x"}); !errors.As(err, &forbidden) {
		t.Errorf("forbidden: %v, want 403", err)
	}
	s.Allow("POST", "/api/datasources")
	if _, err := c.Datasources.AddDataSource(&models.AddDataSourceCommand{Name: "Other", Type: "x"}); err != nil {
		t.Errorf("allowed again: %v", err)
	}
}

func TestDownAndUp(t *testing.T) {
	s := start(t)
	c := api(t, s, token)
	if _, err := c.Health.GetHealth(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDown(true); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if _, err := c.Health.GetHealth(); err == nil || status(err) != 0 {
		t.Errorf("down: %v, want a connection error", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("down: the call took %s, want a prompt refusal", d)
	}
	if err := s.SetDown(false); err != nil {
		t.Skipf("could not listen again on the same port: %v", err)
	}
	if _, err := c.Health.GetHealth(); err != nil {
		t.Errorf("up again: %v", err)
	}
}

func TestUnavailable(t *testing.T) {
	s := start(t)
	c := api(t, s, token)
	s.SetUnavailable(true)
	if _, err := c.Health.GetHealth(); status(err) != 503 {
		t.Errorf("unavailable: %v, want 503", err)
	}
	s.SetUnavailable(false)
	if _, err := c.Health.GetHealth(); err != nil {
		t.Errorf("available: %v", err)
	}
}

func TestDelayEndsWithTheClient(t *testing.T) {
	s := start(t)
	c := api(t, s, token)
	s.SetDelay(time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Health.GetHealth(func(op *runtime.ClientOperation) { op.Context = ctx })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow call: %v, want the deadline", err)
	}
}

func TestCloseEndsSlowCalls(t *testing.T) {
	s, err := grafanafake.Start(token)
	if err != nil {
		t.Fatal(err)
	}
	c := api(t, s, token)
	s.SetDelay(time.Hour)
	done := make(chan error, 1)
	go func() {
		_, err := c.Health.GetHealth()
		done <- err
	}()
	// Wait until the call is in, then close.
	for deadline := time.Now().Add(10 * time.Second); s.Pending() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the call never reached the server")
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	s.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a slow call did not end when the server closed")
	}
	if err := s.SetDown(false); err == nil {
		t.Error("SetDown after Close succeeded")
	}
}
