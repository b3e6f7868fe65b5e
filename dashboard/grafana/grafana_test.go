package grafana_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/analyzer/analyzertest"
	"github.com/chaoslab-dev/chaoslab/dashboard/dashboardtest"
	"github.com/chaoslab-dev/chaoslab/dashboard/grafana"
	"github.com/chaoslab-dev/chaoslab/internal/grafanafake"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const token = "glsa_TestToken_5f3c9e1a2b7d4c6e"

// fake starts a fake Grafana and points GRAFANA_URL and
// GRAFANA_SERVICE_ACCOUNT_TOKEN at it: the only way the tests configure
// the publisher.
func fake(t *testing.T) *grafanafake.Server {
	t.Helper()
	s, err := grafanafake.Start(token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	t.Setenv(grafana.EnvURL, s.URL())
	t.Setenv(grafana.EnvToken, token)
	return s
}

// logs returns a logger that writes into a buffer, for checking that the
// token never reaches a log.
func logs() (*slog.Logger, *syncBuffer) {
	var buf syncBuffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// panel finds the dashboard panel of a title.
func panel(t *testing.T, model map[string]any, title string) map[string]any {
	t.Helper()
	panels, _ := model["panels"].([]any)
	for _, p := range panels {
		if m, ok := p.(map[string]any); ok && m["title"] == title {
			return m
		}
	}
	t.Fatalf("no panel %q in the dashboard", title)
	return nil
}

// panelCSV returns a panel's embedded data: the rows of the CSV of its
// TestData query, header first, after checking the query's shape.
func panelCSV(t *testing.T, p map[string]any) [][]string {
	t.Helper()
	targets, _ := p["targets"].([]any)
	if len(targets) != 1 {
		t.Fatalf("panel %q has %d queries, want 1", p["title"], len(targets))
	}
	q := targets[0].(map[string]any)
	ds, _ := q["datasource"].(map[string]any)
	if q["scenarioId"] != "csv_content" || ds["type"] != grafana.TestDataType {
		t.Fatalf("panel %q query %v is not a TestData CSV Content query", p["title"], q)
	}
	rows, err := csv.NewReader(strings.NewReader(q["csvContent"].(string))).ReadAll()
	if err != nil {
		t.Fatalf("panel %q: CSV: %v", p["title"], err)
	}
	return rows
}

func published(t *testing.T, s *grafanafake.Server, link chaoslab.DashboardLink) grafanafake.Dashboard {
	t.Helper()
	ds := s.Dashboards()
	if len(ds) != 1 {
		t.Fatalf("%d dashboards in Grafana, want 1", len(ds))
	}
	if want := s.URL() + ds[0].URL; link.URL != want || link.Kind != grafana.Kind {
		t.Errorf("link %+v, want kind %q and URL %s", link, grafana.Kind, want)
	}
	return ds[0]
}

func TestDashboardCarriesTheRunsData(t *testing.T) {
	s := fake(t)
	r := analyzertest.NetworkDelay()
	link, err := grafana.New().Publish(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	d := published(t, s, link)
	if d.UID != grafana.DashboardUID(r.Name) || d.Title != "chaoslab: "+r.Name {
		t.Errorf("dashboard uid %q title %q", d.UID, d.Title)
	}
	if tags, _ := d.Model["tags"].([]any); !slices.Contains(tags, any("chaoslab")) {
		t.Errorf("dashboard tags %v lack chaoslab", tags)
	}

	// The latency panel holds every interval of the series.
	rows := panelCSV(t, panel(t, d.Model, "Latency (ms)"))
	if want := []string{"time", "p50", "p90", "p99"}; !slices.Equal(rows[0], want) {
		t.Fatalf("latency header %v, want %v", rows[0], want)
	}
	if len(rows)-1 != len(r.Series) {
		t.Fatalf("latency panel has %d rows, want %d", len(rows)-1, len(r.Series))
	}
	for i, p := range r.Series {
		row := rows[i+1]
		ms, _ := strconv.ParseInt(row[0], 10, 64)
		p99, _ := strconv.ParseFloat(row[3], 64)
		if ms != p.T.UnixMilli() || p99 != p.Latency.P99 {
			t.Errorf("row %d = %v, want time %d and p99 %v", i, row, p.T.UnixMilli(), p.Latency.P99)
		}
	}
	for title, col := range map[string]string{
		"Throughput (requests/s)": "all", "Error rate (%)": "error rate",
		"CPU (%)": "target (% of one core)", "Memory (MB)": "target",
	} {
		rows := panelCSV(t, panel(t, d.Model, title))
		if !slices.Contains(rows[0], col) || len(rows)-1 != len(r.Series) {
			t.Errorf("panel %q: header %v and %d rows, want column %q and %d rows", title, rows[0], len(rows)-1, col, len(r.Series))
		}
	}
	// The chaos interval with one timeout of 50 requests: 2 %.
	if got := panelCSV(t, panel(t, d.Model, "Error rate (%)"))[10][1]; got != "2" {
		t.Errorf("error rate at the timeout %q, want 2", got)
	}

	// The stat panels hold the headline numbers.
	m := r.HeadlineMetrics()
	stat := func(title string) string {
		rows := panelCSV(t, panel(t, d.Model, title))
		if len(rows) != 2 {
			t.Fatalf("stat %q has %d rows, want a header and a value", title, len(rows))
		}
		return rows[1][0]
	}
	for title, want := range map[string]string{
		"Verdict": "fail", "CPU peak": strconv.FormatFloat(m.CPUPeak, 'f', -1, 64),
		"Memory peak": strconv.FormatFloat(m.MemoryPeak, 'f', -1, 64), "Errors": "1", "Recovery time": "1.2",
	} {
		if got := stat(title); got != want {
			t.Errorf("stat %q = %q, want %q", title, got, want)
		}
	}
	steps := panel(t, d.Model, "CPU peak")["fieldConfig"].(map[string]any)["defaults"].(map[string]any)["thresholds"].(map[string]any)["steps"].([]any)
	var colors []string
	for _, s := range steps {
		colors = append(colors, s.(map[string]any)["color"].(string))
	}
	if !slices.Equal(colors, []string{"green", "yellow", "red"}) {
		t.Errorf("CPU peak thresholds %v, want green, yellow, red", colors)
	}

	// The panels query the TestData data source Publish made.
	dss := s.DataSources()
	if len(dss) != 1 || dss[0].Type != grafana.TestDataType || dss[0].UID != grafana.DefaultDatasourceUID {
		t.Errorf("data sources %+v, want one TestData", dss)
	}
	// The time range is the run's.
	tr := d.Model["time"].(map[string]any)
	if from, _ := time.Parse(time.RFC3339Nano, tr["from"].(string)); from.After(r.Series[0].T) {
		t.Errorf("time range from %v starts after the series", tr["from"])
	}
	// The fault windows are shown through a tag query on Grafana's
	// annotations.
	list := d.Model["annotations"].(map[string]any)["list"].([]any)
	var query map[string]any
	for _, a := range list {
		if a := a.(map[string]any); a["name"] == "chaoslab fault windows" {
			query = a["target"].(map[string]any)
		}
	}
	if query == nil || query["type"] != "tags" || !slices.Equal(query["tags"].([]any), []any{"chaoslab", "experiment:" + r.Name}) {
		t.Errorf("annotation list %v lacks the fault-window tag query", list)
	}
}

// cascading is NetworkDelay with a second fault and one that was never
// injected.
func cascading() *chaoslab.Result {
	r := analyzertest.NetworkDelay()
	in, out := r.Faults[0].InjectedAt.Add(3*time.Second), r.Faults[0].InjectedAt.Add(7*time.Second)
	r.Faults = append(r.Faults,
		chaoslab.FaultRecord{Scenario: "http_errors", Params: chaoslab.Params{"rate": "0.2", "status": "503"}, InjectedAt: &in, RevertedAt: &out},
		chaoslab.FaultRecord{Scenario: "process_kill", Error: "not supported"},
	)
	return r
}

func TestOneAnnotationPerFaultWindow(t *testing.T) {
	s := fake(t)
	r := cascading()
	if _, err := grafana.New(grafana.WithTags("team:payments")).Publish(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	as := s.Annotations()
	if len(as) != 2 {
		t.Fatalf("%d annotations, want 2 (one per injected fault): %+v", len(as), as)
	}
	for i, a := range as {
		f := r.Faults[i]
		if a.Time != f.InjectedAt.UnixMilli() || a.TimeEnd != f.RevertedAt.UnixMilli() {
			t.Errorf("annotation %d spans %d..%d, want %d..%d", i, a.Time, a.TimeEnd, f.InjectedAt.UnixMilli(), f.RevertedAt.UnixMilli())
		}
		want := []string{"chaoslab", "run:" + r.ID, "scenario:" + f.Scenario, "experiment:" + r.Name, "team:payments"}
		if !slices.Equal(a.Tags, want) {
			t.Errorf("annotation %d tags %q, want %q", i, a.Tags, want)
		}
		for k, v := range f.Params {
			if !strings.Contains(a.Text, k+"="+v) {
				t.Errorf("annotation %d text %q lacks parameter %s=%s", i, a.Text, k, v)
			}
		}
		if !strings.Contains(a.Text, f.Scenario) || !strings.Contains(a.Text, r.ID) {
			t.Errorf("annotation %d text %q lacks the scenario or the run id", i, a.Text)
		}
		if a.DashboardUID != "" || a.DashboardID != 0 {
			t.Errorf("annotation %d is tied to dashboard %q; want an organisation annotation", i, a.DashboardUID)
		}
	}
}

func TestRepublishUpdatesInPlace(t *testing.T) {
	s := fake(t)
	p := grafana.New()
	r := analyzertest.NetworkDelay()
	first, err := p.Publish(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	before := s.Annotations()

	r.Analysis.Summary = "Second look."
	second, err := p.Publish(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	d := published(t, s, second)
	if second != first || d.Version != 2 {
		t.Errorf("republished as %+v version %d, want %+v version 2", second, d.Version, first)
	}
	if !strings.Contains(fmt.Sprint(panel(t, d.Model, "Analysis")["options"]), "Second look.") {
		t.Error("the dashboard does not show the new analysis")
	}
	after := s.Annotations()
	if len(after) != 1 || after[0].ID != before[0].ID {
		t.Errorf("annotations %+v after republishing, want the one of before (%d) updated", after, before[0].ID)
	}

	// A later run of the same experiment updates the same dashboard and
	// adds its own fault window.
	next := analyzertest.NetworkDelay()
	next.ID = "run-network_delay-2"
	third, err := grafana.New().Publish(t.Context(), next)
	if err != nil {
		t.Fatal(err)
	}
	if d := published(t, s, third); third != first || d.Version != 3 {
		t.Errorf("next run published as %+v version %d, want %+v version 3", third, d.Version, first)
	}
	if n := len(s.Annotations()); n != 2 {
		t.Errorf("%d annotations after two runs, want 2", n)
	}

	// Fewer fault windows on a republish remove the extra annotation.
	next.Faults = nil
	if _, err := p.Publish(t.Context(), next); err != nil {
		t.Fatal(err)
	}
	if as := s.Annotations(); len(as) != 1 || as[0].ID != before[0].ID {
		t.Errorf("annotations %+v, want only the first run's", as)
	}
}

func TestLeavesOthersAnnotationsAlone(t *testing.T) {
	s := fake(t)
	r := analyzertest.NetworkDelay()
	theirs := s.AddAnnotation(grafanafake.Annotation{Time: 1, Text: "a user's note", Tags: []string{"chaoslab", "run:" + r.ID}})
	if _, err := grafana.New().Publish(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if _, err := grafana.New().Publish(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	as := s.Annotations()
	if len(as) != 2 || as[0].ID != theirs.ID {
		t.Errorf("annotations %+v, want the user's and ours", as)
	}
}

func TestFolderIsCreatedThenReused(t *testing.T) {
	s := fake(t)
	if _, err := grafana.New(grafana.WithFolder("Chaos experiments")).Publish(t.Context(), analyzertest.NetworkDelay()); err != nil {
		t.Fatal(err)
	}
	fs := s.Folders()
	if len(fs) != 1 || fs[0].Title != "Chaos experiments" {
		t.Fatalf("folders %+v, want one made", fs)
	}
	// Another publisher finds it by title, and by uid.
	if _, err := grafana.New(grafana.WithFolder("chaos experiments")).Publish(t.Context(), analyzertest.ProcessKill()); err != nil {
		t.Fatal(err)
	}
	if _, err := grafana.New(grafana.WithFolder(fs[0].UID)).Publish(t.Context(), analyzertest.Pass()); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Folders()); n != 1 {
		t.Errorf("%d folders, want the one reused", n)
	}
	for _, d := range s.Dashboards() {
		if d.FolderUID != fs[0].UID {
			t.Errorf("dashboard %s in folder %q, want %q", d.UID, d.FolderUID, fs[0].UID)
		}
	}
	// An existing folder of the user's, by uid.
	team := s.AddFolder("Team", "team-folder")
	if _, err := grafana.New(grafana.WithFolder("team-folder")).Publish(t.Context(), analyzertest.Aborted()); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Dashboard(grafana.DashboardUID(analyzertest.Aborted().Name)); d.FolderUID != team.UID {
		t.Errorf("dashboard in folder %q, want %q", d.FolderUID, team.UID)
	}
}

func TestRefusedToken(t *testing.T) {
	s := fake(t)
	s.RefuseToken(true)
	log, buf := logs()
	p := grafana.New(grafana.WithLogger(log))
	_, err := p.Publish(t.Context(), analyzertest.NetworkDelay())
	if !errors.Is(err, grafana.ErrUnauthorized) {
		t.Fatalf("Publish with a refused token: %v, want ErrUnauthorized", err)
	}
	if err := p.Check(t.Context()); !errors.Is(err, grafana.ErrUnauthorized) {
		t.Errorf("Check with a refused token: %v, want ErrUnauthorized", err)
	}
	log.Info("publisher", "p", p)
	for what, text := range map[string]string{
		"error": err.Error(), "log": buf.String(), "%v": fmt.Sprintf("%v", p), "%+v": fmt.Sprintf("%+v", p), "%s": fmt.Sprint(p),
	} {
		if strings.Contains(text, token) {
			t.Errorf("the token leaks into the %s: %s", what, text)
		}
	}
	if len(s.Dashboards()) != 0 {
		t.Error("a dashboard was saved with a refused token")
	}
}

func TestForbiddenStep(t *testing.T) {
	s := fake(t)
	s.Forbid("POST", "/api/dashboards/db")
	_, err := grafana.New().Publish(t.Context(), analyzertest.NetworkDelay())
	if !errors.Is(err, grafana.ErrForbidden) || !strings.Contains(err.Error(), "save dashboard") {
		t.Errorf("Publish: %v, want ErrForbidden naming the step", err)
	}
}

func TestGrafanaDownFailsQuickly(t *testing.T) {
	s := fake(t)
	if err := s.SetDown(true); err != nil {
		t.Fatal(err)
	}
	p := grafana.New()
	begin := time.Now()
	_, err := p.Publish(t.Context(), analyzertest.NetworkDelay())
	if err == nil || !strings.HasPrefix(err.Error(), "grafana: ") {
		t.Fatalf("Publish to a Grafana that is down: %v, want an error", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("Publish took %s to fail against a closed port", d)
	}
	if err := p.Check(t.Context()); err == nil {
		t.Error("Check passed against a Grafana that is down")
	}
	// Back up, the same publisher works.
	if err := s.SetDown(false); err != nil {
		t.Skipf("could not listen again: %v", err)
	}
	if _, err := p.Publish(t.Context(), analyzertest.NetworkDelay()); err != nil {
		t.Errorf("Publish once Grafana is back: %v", err)
	}
}

func TestUnavailable(t *testing.T) {
	s := fake(t)
	s.SetUnavailable(true)
	if _, err := grafana.New().Publish(t.Context(), analyzertest.NetworkDelay()); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("Publish to a Grafana answering 503: %v", err)
	}
}

func TestSlowGrafanaTimesOut(t *testing.T) {
	s := fake(t)
	s.SetDelay(time.Hour)
	begin := time.Now()
	_, err := grafana.New(grafana.WithTimeout(300*time.Millisecond)).Publish(t.Context(), analyzertest.NetworkDelay())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Publish to a slow Grafana: %v, want the deadline", err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("Publish took %s with a 300ms timeout", d)
	}
}

func TestNotConfigured(t *testing.T) {
	t.Setenv(grafana.EnvURL, "")
	t.Setenv(grafana.EnvToken, "")
	if _, err := grafana.New().Publish(t.Context(), analyzertest.NetworkDelay()); !errors.Is(err, grafana.ErrNotConfigured) {
		t.Errorf("no URL: %v, want ErrNotConfigured", err)
	}
	if _, err := grafana.New(grafana.WithURL("http://127.0.0.1:1")).Publish(t.Context(), analyzertest.NetworkDelay()); !errors.Is(err, grafana.ErrNotConfigured) {
		t.Errorf("no token: %v, want ErrNotConfigured", err)
	}
	_, err := grafana.New(grafana.WithURL("http://admin:s3cret-pw@127.0.0.1:1"), grafana.WithToken(token)).Publish(t.Context(), analyzertest.NetworkDelay())
	if !errors.Is(err, grafana.ErrNotConfigured) || strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("URL with a password: %v, want ErrNotConfigured without the password", err)
	}
	if _, err := grafana.New(grafana.WithURL("ftp://x"), grafana.WithToken(token)).Publish(t.Context(), analyzertest.NetworkDelay()); !errors.Is(err, grafana.ErrNotConfigured) {
		t.Errorf("ftp URL: %v, want ErrNotConfigured", err)
	}
}

func TestDatasource(t *testing.T) {
	uidOf := func(d grafanafake.Dashboard) string {
		return panel(t, d.Model, "Latency (ms)")["datasource"].(map[string]any)["uid"].(string)
	}
	t.Run("existing one reused", func(t *testing.T) {
		s := fake(t)
		s.AddDataSource("TestData", grafana.TestDataType, "theirs")
		link, err := grafana.New().Publish(t.Context(), analyzertest.NetworkDelay())
		if err != nil {
			t.Fatal(err)
		}
		if got := uidOf(published(t, s, link)); got != "theirs" || len(s.DataSources()) != 1 {
			t.Errorf("panels query %q with data sources %+v, want the existing one", got, s.DataSources())
		}
	})
	t.Run("named", func(t *testing.T) {
		s := fake(t)
		s.AddDataSource("A", grafana.TestDataType, "a")
		s.AddDataSource("B", grafana.LegacyTestDataType, "b")
		link, err := grafana.New(grafana.WithDatasource("b")).Publish(t.Context(), analyzertest.NetworkDelay())
		if err != nil {
			t.Fatal(err)
		}
		if got := uidOf(published(t, s, link)); got != "b" {
			t.Errorf("panels query %q, want b", got)
		}
		s.AddDataSource("Prometheus", "prometheus", "prom")
		if _, err := grafana.New(grafana.WithDatasource("prom")).Publish(t.Context(), analyzertest.NetworkDelay()); err == nil {
			t.Error("a data source that is not TestData was accepted")
		}
	})
	t.Run("token may not add one", func(t *testing.T) {
		s := fake(t)
		s.Forbid("GET", "/api/datasources")
		s.Forbid("POST", "/api/datasources")
		log, buf := logs()
		link, err := grafana.New(grafana.WithLogger(log)).Publish(t.Context(), analyzertest.NetworkDelay())
		if err != nil {
			t.Fatal(err)
		}
		if got := uidOf(published(t, s, link)); got != grafana.DefaultDatasourceUID {
			t.Errorf("panels query %q, want %q", got, grafana.DefaultDatasourceUID)
		}
		if !strings.Contains(buf.String(), "level=WARN") {
			t.Errorf("no warning logged: %s", buf.String())
		}
	})
}

// Grafana served under a path (root_url with a sub-path) behind a proxy.
func TestSubPath(t *testing.T) {
	s := fake(t)
	target, _ := url.Parse(s.URL())
	proxy := httptest.NewServer(http.StripPrefix("/grafana", httputil.NewSingleHostReverseProxy(target)))
	t.Cleanup(proxy.Close)
	t.Setenv(grafana.EnvURL, proxy.URL+"/grafana/")
	link, err := grafana.New().Publish(t.Context(), analyzertest.NetworkDelay())
	if err != nil {
		t.Fatal(err)
	}
	if want := proxy.URL + "/grafana" + s.Dashboards()[0].URL; link.URL != want {
		t.Errorf("link %s, want %s", link.URL, want)
	}
}

func TestCheck(t *testing.T) {
	fake(t)
	if err := grafana.New().Check(t.Context()); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestDashboardUID(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9_-]{1,40}$`)
	seen := map[string]string{}
	for _, name := range []string{"checkout-db-latency", "Checkout DB latency", "a", "", "ünïcødé only", strings.Repeat("very long experiment name ", 5), "x/y:z"} {
		uid := grafana.DashboardUID(name)
		if !valid.MatchString(uid) {
			t.Errorf("DashboardUID(%q) = %q, not a valid Grafana uid", name, uid)
		}
		if uid != grafana.DashboardUID(name) {
			t.Errorf("DashboardUID(%q) is not stable", name)
		}
		if other, ok := seen[uid]; ok {
			t.Errorf("DashboardUID(%q) = DashboardUID(%q) = %q", name, other, uid)
		}
		seen[uid] = name
	}
}

func TestConcurrentPublish(t *testing.T) {
	s := fake(t)
	p := grafana.New(grafana.WithFolder("Chaos"))
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, r := range []*chaoslab.Result{analyzertest.NetworkDelay(), analyzertest.ProcessKill(), analyzertest.Pass(), analyzertest.Aborted()} {
		wg.Go(func() {
			_, err := p.Publish(t.Context(), r)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n, f := len(s.Dashboards()), len(s.Folders()); n != 4 || f != 1 {
		t.Errorf("%d dashboards in %d folders, want 4 in 1", n, f)
	}
}

func TestConformance(t *testing.T) {
	dashboardtest.Run(t, func(t *testing.T) chaoslab.Dashboarder {
		fake(t)
		return grafana.New()
	})
}

// Publishing leaves the process's default HTTP transport alone (see the
// Publisher's client), unlike the client package's facade constructors.
func TestLeavesDefaultTransportAlone(t *testing.T) {
	fake(t)
	def := http.DefaultTransport.(*http.Transport)
	mine := &tls.Config{ServerName: "chaoslab-test"}
	old := def.TLSClientConfig
	def.TLSClientConfig = mine
	t.Cleanup(func() { def.TLSClientConfig = old })
	if _, err := grafana.New().Publish(t.Context(), analyzertest.NetworkDelay()); err != nil {
		t.Fatal(err)
	}
	if def.TLSClientConfig != mine {
		t.Error("Publish changed http.DefaultTransport's TLS config")
	}
}
