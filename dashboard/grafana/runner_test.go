package grafana_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/analyzer/rules"
	"github.com/chaoslab-dev/chaoslab/dashboard/grafana"
	"github.com/chaoslab-dev/chaoslab/dashboard/html"
)

// service is a target on loopback that answers 200, or 503 while failing.
type service struct {
	srv     *http.Server
	ln      net.Listener
	done    chan struct{}
	failing atomic.Bool
}

type provider struct{ svc *service }

func (p *provider) Name() string { return "test" }

func (p *provider) Provision(ctx context.Context, _ chaoslab.TargetSpec) (chaoslab.Target, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &service{ln: ln, done: make(chan struct{})}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})}
	go func() { defer close(s.done); _ = s.srv.Serve(ln) }()
	p.svc = s
	return s, nil
}

func (s *service) ID() string       { return "svc" }
func (s *service) Endpoint() string { return "http://" + s.ln.Addr().String() }
func (s *service) Close(ctx context.Context) error {
	err := s.srv.Close()
	<-s.done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// failRequests is a custom fault: the service answers 503 while it lasts.
type failRequests struct{}

func (failRequests) Inject(ctx context.Context, t chaoslab.Target) (chaoslab.Undo, error) {
	s := t.(*service)
	s.failing.Store(true)
	return func(context.Context) error { s.failing.Store(false); return nil }, nil
}

// run runs a short experiment whose fault breaks the hypothesis, with the
// HTML report and Grafana as dashboards.
func run(t *testing.T, out string) *chaoslab.Result {
	t.Helper()
	exp := chaoslab.Experiment{
		Name:         "grafana-e2e",
		Target:       chaoslab.TargetSpec{Kind: chaoslab.TargetAddress, Address: "http://127.0.0.1:1"},
		Load:         chaoslab.Load{Rate: 40},
		Hypothesis:   chaoslab.Hypothesis{MaxErrorRate: 0.05},
		Faults:       []chaoslab.Fault{{Scenario: "fail_requests", Params: chaoslab.Params{"status": "503"}, Injector: failRequests{}}},
		Baseline:     600 * time.Millisecond,
		Duration:     800 * time.Millisecond,
		StableWindow: 400 * time.Millisecond,
		Interval:     200 * time.Millisecond,
	}
	runner := chaoslab.New(
		chaoslab.WithProvider(&provider{}),
		chaoslab.WithAnalyzer(rules.New()),
		chaoslab.WithDashboards(html.New(out), grafana.New(grafana.WithTimeout(5*time.Second))),
	)
	res, err := runner.Run(t.Context(), exp)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := chaoslab.WriteResultFile(filepath.Join(out, "result.json"), res); err != nil {
		t.Fatal(err)
	}
	return res
}

func linkOf(res *chaoslab.Result, kind string) (chaoslab.DashboardLink, bool) {
	for _, d := range res.Dashboards {
		if d.Kind == kind {
			return d, true
		}
	}
	return chaoslab.DashboardLink{}, false
}

// With --dashboard grafana the CLI runs the Runner with the HTML report
// and this publisher, as here: the dashboard and its annotations carry the
// run, and a Grafana that is down costs only its link.
func TestRunnerPublishesAndSurvivesGrafanaDown(t *testing.T) {
	s := fake(t)
	if testing.Short() {
		t.Skip("runs two short experiments")
	}
	t.Run("up", func(t *testing.T) {
		out := t.TempDir()
		res := run(t, out)
		if res.Verdict != chaoslab.VerdictFail {
			t.Errorf("verdict %s (%s), want fail", res.Verdict, res.Reason)
		}
		link, ok := linkOf(res, grafana.Kind)
		if !ok {
			t.Fatalf("no grafana link in %+v; errors %q", res.Dashboards, res.Errors)
		}
		d, ok := s.Dashboard(grafana.DashboardUID("grafana-e2e"))
		if !ok || link.URL != s.URL()+d.URL {
			t.Fatalf("link %s, dashboard %+v", link.URL, d)
		}
		rows := panelCSV(t, panel(t, d.Model, "Throughput (requests/s)"))
		if len(rows)-1 != len(res.Series) {
			t.Errorf("throughput panel has %d rows, the run %d intervals", len(rows)-1, len(res.Series))
		}
		if as := s.Annotations(); len(as) != 1 || as[0].Time != res.Faults[0].InjectedAt.UnixMilli() {
			t.Errorf("annotations %+v, want one at the injection", as)
		}
		data, err := os.ReadFile(filepath.Join(out, "result.json"))
		if err != nil || !strings.Contains(string(data), link.URL) {
			t.Errorf("result.json lacks the dashboard link: %v", err)
		}
	})
	t.Run("down", func(t *testing.T) {
		if err := s.SetDown(true); err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		res := run(t, out)
		if res.Verdict != chaoslab.VerdictFail {
			t.Errorf("verdict %s (%s), want fail: Grafana being down must not change it", res.Verdict, res.Reason)
		}
		if _, ok := linkOf(res, grafana.Kind); ok {
			t.Error("a grafana link although Grafana is down")
		}
		if _, ok := linkOf(res, html.Kind); !ok {
			t.Error("the HTML report was lost")
		}
		if !strings.Contains(strings.Join(res.Errors, "\n"), "grafana: ") {
			t.Errorf("errors %q do not record the Grafana failure", res.Errors)
		}
		for _, f := range []string{"result.json", html.DefaultFileName} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("%s not written: %v", f, err)
			}
		}
	})
}
