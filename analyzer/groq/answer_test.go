package groq

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

func TestParseAnswer(t *testing.T) {
	ok := []struct {
		in  string
		sev chaoslab.Severity
	}{
		{`{"summary":"S.","recommendations":["R."]}`, ""},
		{` {"summary":"S.","recommendations":["R."],"severity":"High","confidence":1,"extra":{"x":1}} `, chaoslab.SeverityHigh},
		{"```json\n{\"summary\":\"S.\",\"recommendations\":[\"R.\"],\"severity\":null}\n```", ""},
		{"```\n{\"summary\":\"S.\",\"recommendations\":[\"R.\"],\"severity\":\"low\"}\n```\n", chaoslab.SeverityLow},
	}
	for _, tt := range ok {
		a, err := parseAnswer(tt.in)
		if err != nil {
			t.Errorf("parseAnswer(%q): %v", tt.in, err)
			continue
		}
		if a.summary != "S." || len(a.recommendations) != 1 || a.severity != tt.sev {
			t.Errorf("parseAnswer(%q) = %+v", tt.in, a)
		}
	}
	bad := map[string]string{
		`Here you go: {"summary":"S.","recommendations":["R."]}`:                             "not a JSON object",
		"```json\n{\"summary\":\"S.\"\n```":                                                  "not a JSON object",
		"```json\n{\"summary\":\"S.\",\"recommendations\":[\"R.\"]}\n``` and then text":      "not a JSON object",
		`{"summary":"S.","recommendations":["R."]}{}`:                                        "text after",
		`{"summary":"","recommendations":["R."]}`:                                            "summary is empty",
		`{"summary":"S.","recommendations":["R.", "  "]}`:                                    "recommendations[1] is empty",
		`{"summary":"S.","recommendations":null}`:                                            "recommendations is missing",
		`{"summary":"S.","recommendations":["1","2","3","4","5","6","7","8","9","10","11"]}`: "11 items",
		`{"summary":"S.","recommendations":["R."],"confidence":"high"}`:                      "confidence is not a number",
		`{"summary":"S.","recommendations":["R."],"confidence":-0.1}`:                        "not between 0 and 1",
		`{"summary":"` + strings.Repeat("x", maxSummary+1) + `","recommendations":["R."]}`:   "longer than 4000",
	}
	for in, want := range bad {
		if _, err := parseAnswer(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseAnswer(%.60q) = %v, want an error about %q", in, err, want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{}, 0},
		{http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond},
		{http.Header{"Retry-After": {"-1"}}, 0},
		{http.Header{"Retry-After": {"soon"}}, 0},
		{http.Header{"Retry-After": {now.Add(7 * time.Second).Format(http.TimeFormat)}}, 7 * time.Second},
		{http.Header{"Retry-After": {now.Add(-time.Second).Format(http.TimeFormat)}}, 0},
		{http.Header{"Retry-After": {"3"}, "Retry-After-Ms": {"250"}}, 250 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.h, now); got != tt.want {
			t.Errorf("retryAfter(%v) = %s, want %s", tt.h, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	a := New(WithRetry(10, 3*time.Second))
	for n := 1; n <= 8; n++ {
		d := firstBackoff << (n - 1)
		for range 20 {
			got := a.backoff(n, 0)
			if got > 3*time.Second || got < min(d/2, 3*time.Second) || got > d {
				t.Fatalf("backoff(%d) = %s, want between %s and %s, at most 3s", n, got, d/2, d)
			}
		}
	}
	if got := a.backoff(1, 2*time.Second); got != 2*time.Second {
		t.Errorf("backoff with Retry-After 2s = %s", got)
	}
	if got := a.backoff(1, time.Minute); got != 3*time.Second {
		t.Errorf("backoff with Retry-After 1m = %s, want the 3s cap", got)
	}
}

func TestRank(t *testing.T) {
	order := []chaoslab.Severity{chaoslab.SeverityLow, chaoslab.SeverityMedium, chaoslab.SeverityHigh, chaoslab.SeverityCritical}
	for i, s := range order {
		if rank(s) != i+1 {
			t.Errorf("rank(%s) = %d", s, rank(s))
		}
	}
	if rank("none") != 0 || rank("") != 0 {
		t.Error("rank of a non-severity is not 0")
	}
}
