package grafana

import (
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/analyzer/analyzertest"
)

func csvOf(t *testing.T, p map[string]any) [][]string {
	t.Helper()
	q := p["targets"].([]any)[0].(map[string]any)
	rows, err := csv.NewReader(strings.NewReader(q["csvContent"].(string))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func find(t *testing.T, m map[string]any, title string) map[string]any {
	t.Helper()
	for _, p := range m["panels"].([]any) {
		if p := p.(map[string]any); p["title"] == title {
			return p
		}
	}
	t.Fatalf("no panel %q", title)
	return nil
}

func TestScoreHasItsPlace(t *testing.T) {
	if _, ok := score(analyzertest.NetworkDelay()); ok {
		t.Error("score reports a score the Result does not have yet")
	}
	b := &builder{ds: dsRef{TestDataType, "td"}}
	sc := 87.5
	p := b.verdictPanel(chaoslab.VerdictPass, &sc)
	if rows := csvOf(t, p); !slices.Equal(rows[0], []string{"verdict", "score"}) || !slices.Equal(rows[1], []string{"pass", "87.5"}) {
		t.Errorf("verdict panel with a score holds %v", rows)
	}
	if p["title"] != "Verdict and score" {
		t.Errorf("title %v", p["title"])
	}
	if rows := csvOf(t, b.verdictPanel(chaoslab.VerdictFail, nil)); !slices.Equal(rows[0], []string{"verdict"}) {
		t.Errorf("verdict panel without a score holds %v", rows)
	}
}

// Readings not taken and intervals without requests are gaps (null), not
// zeros, as in the HTML report.
func TestGaps(t *testing.T) {
	r := analyzertest.ProcessKill() // the killed interval: no CPU, no memory
	m := buildDashboard(r, "u", dsRef{TestDataType, "td"}, nil)
	var killed int
	for i, p := range r.Series {
		if p.CPUPercent == 0 {
			killed = i + 1
		}
	}
	if killed == 0 {
		t.Fatal("the fixture has no interval without a CPU reading")
	}
	if got := csvOf(t, find(t, m, "CPU (%)"))[killed][1]; got != "" {
		t.Errorf("CPU in the killed interval %q, want a gap", got)
	}

	r = analyzertest.NetworkDelay()
	r.Series[3].Requests, r.Series[3].RPS = 0, 0
	m = buildDashboard(r, "u", dsRef{TestDataType, "td"}, nil)
	if got := csvOf(t, find(t, m, "Latency (ms)"))[4]; !slices.Equal(got[1:], []string{"", "", ""}) {
		t.Errorf("latency without requests %q, want gaps", got)
	}
}

func TestEmptyResult(t *testing.T) {
	m := buildDashboard(&chaoslab.Result{ID: "x"}, "u", dsRef{TestDataType, "td"}, []string{"t"})
	var types []string
	for _, p := range m["panels"].([]any) {
		types = append(types, p.(map[string]any)["type"].(string))
	}
	if !slices.Equal(types, []string{"stat", "stat", "stat", "stat", "stat", "text"}) {
		t.Errorf("panels of an empty result: %v, want the stats and the text only", types)
	}
	if _, err := json.Marshal(m); err != nil {
		t.Error(err)
	}
	if rows := csvOf(t, find(t, m, "Recovery time")); len(rows) != 1 {
		t.Errorf("recovery of an empty result %q, want no value", rows)
	}
}

func TestToleranceLines(t *testing.T) {
	r := analyzertest.NetworkDelay() // p99 limit 100 ms, error rate 1 %
	m := buildDashboard(r, "u", dsRef{TestDataType, "td"}, nil)
	for title, want := range map[string]float64{"Latency (ms)": 100, "Error rate (%)": 1} {
		d := find(t, m, title)["fieldConfig"].(map[string]any)["defaults"].(map[string]any)
		steps := d["thresholds"].(map[string]any)["steps"].([]any)
		if got := steps[len(steps)-1].(map[string]any)["value"]; got != want {
			t.Errorf("%s tolerance line at %v, want %v", title, got, want)
		}
	}
}

func TestFaultWindows(t *testing.T) {
	r := analyzertest.NetworkDelay()
	r.EndedAt = r.StartedAt.Add(time.Minute)
	r.Faults[0].RevertedAt = nil
	ws := faultWindows(r, r.Name, []string{"chaoslab", "x"})
	if len(ws) != 1 || !ws[0].end.Equal(r.EndedAt) {
		t.Fatalf("a fault never reverted: %+v, want a window to the run's end", ws)
	}
	if !slices.Equal(ws[0].tags, []string{"chaoslab", "run:" + r.ID, "scenario:network_delay", "experiment:" + r.Name, "x"}) {
		t.Errorf("tags %q", ws[0].tags)
	}
	if !strings.Contains(ws[0].text, "never reverted") {
		t.Errorf("text %q", ws[0].text)
	}
}
