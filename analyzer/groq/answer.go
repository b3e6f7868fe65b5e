package groq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/chaoslab-dev/chaoslab"
)

// Bounds of a valid answer.
const (
	maxSummary         = 4000
	maxRecommendation  = 1000
	maxRecommendations = 10
)

// answer is a validated answer of the model.
type answer struct {
	summary         string
	recommendations []string
	// severity is "" when the model gave none.
	severity chaoslab.Severity
	// confidence is -1 when the model gave none.
	confidence float64
}

// fence matches a whole answer wrapped in a Markdown code fence, with an
// optional language tag.
var fence = regexp.MustCompile("(?s)^```[A-Za-z0-9_-]*[ \t]*\r?\n(.*?)\r?\n?```$")

// parseAnswer validates the model's content: one JSON object, bare or in a
// code fence, of the form the package documentation gives.
func parseAnswer(content string) (answer, error) {
	s := strings.TrimSpace(content)
	if m := fence.FindStringSubmatch(s); m != nil {
		s = strings.TrimSpace(m[1])
	}
	if !strings.HasPrefix(s, "{") {
		return answer{}, errors.New("not a JSON object")
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return answer{}, fmt.Errorf("not a JSON object: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return answer{}, errors.New("text after the JSON object")
	}

	var ans answer
	summary, err := str(raw["summary"], "summary", maxSummary)
	if err != nil {
		return answer{}, err
	}
	ans.summary = summary

	recs := raw["recommendations"]
	if recs == nil || isNull(recs) {
		return answer{}, errors.New("recommendations is missing")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(recs, &items); err != nil {
		return answer{}, errors.New("recommendations is not an array")
	}
	if len(items) == 0 || len(items) > maxRecommendations {
		return answer{}, fmt.Errorf("recommendations has %d items, want 1 to %d", len(items), maxRecommendations)
	}
	for i, it := range items {
		rec, err := str(it, fmt.Sprintf("recommendations[%d]", i), maxRecommendation)
		if err != nil {
			return answer{}, err
		}
		ans.recommendations = append(ans.recommendations, rec)
	}

	if v, ok := raw["severity"]; ok && !isNull(v) {
		var sev string
		if err := json.Unmarshal(v, &sev); err != nil {
			return answer{}, errors.New("severity is not a string")
		}
		ans.severity = chaoslab.Severity(strings.ToLower(strings.TrimSpace(sev)))
		if rank(ans.severity) == 0 {
			return answer{}, fmt.Errorf("severity %q is not one of low, medium, high, critical", truncate(sev, 40))
		}
	}

	ans.confidence = -1
	if v, ok := raw["confidence"]; ok && !isNull(v) {
		var n json.Number
		if err := json.Unmarshal(v, &n); err != nil {
			return answer{}, errors.New("confidence is not a number")
		}
		c, err := n.Float64()
		if err != nil || math.IsNaN(c) || c < 0 || c > 1 {
			return answer{}, fmt.Errorf("confidence %s is not between 0 and 1", truncate(n.String(), 40))
		}
		ans.confidence = c
	}
	return ans, nil
}

// str reads v, the answer's field name (nil when absent), as a non-empty
// string of at most max characters.
func str(v json.RawMessage, name string, max int) (string, error) {
	if v == nil || isNull(v) {
		return "", fmt.Errorf("%s is missing", name)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("%s is not a string", name)
	}
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		return "", fmt.Errorf("%s is empty", name)
	case n > max:
		return "", fmt.Errorf("%s is longer than %d characters", name, max)
	}
	return s, nil
}

func isNull(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }

// rank orders severities; 0 is not a severity.
func rank(s chaoslab.Severity) int {
	switch s {
	case chaoslab.SeverityLow:
		return 1
	case chaoslab.SeverityMedium:
		return 2
	case chaoslab.SeverityHigh:
		return 3
	case chaoslab.SeverityCritical:
		return 4
	}
	return 0
}

// merge makes the analysis from the fallback's and the model's answer, as
// the package documentation says: metrics from the fallback, severity the
// higher of the two, summary and recommendations from the model.
func (a *Analyzer) merge(r *chaoslab.Result, base chaoslab.Analysis, ans answer) chaoslab.Analysis {
	sev, raised := base.Severity, false
	if rank(ans.severity) > rank(sev) {
		sev, raised = ans.severity, true
	}
	// The model's text goes into reports: keep it clean of control
	// characters and anything of a secret's form, too.
	recs := make([]string, len(ans.recommendations))
	for i, rec := range ans.recommendations {
		recs[i] = a.redact.redact(clean(rec))
	}
	verdict := string(r.Verdict)
	if verdict == "" {
		verdict = "none"
	}
	how := "computed by chaoslab from the measurements"
	if raised {
		how = fmt.Sprintf("raised by the model from the rules' %s", base.Severity)
	}
	summary := strings.TrimRight(a.redact.redact(clean(ans.summary)), " ")
	if !strings.HasSuffix(summary, ".") && !strings.HasSuffix(summary, "!") && !strings.HasSuffix(summary, "?") {
		summary += "."
	}
	summary += fmt.Sprintf(" Verdict: %s; severity: %s (%s).", verdict, sev, how)
	a.log.Debug("groq: model analysis", "severity", ans.severity, "confidence", ans.confidence, "recommendations", len(recs))
	return chaoslab.Analysis{
		Summary:         summary,
		Metrics:         metricsCopy(base.Metrics),
		Severity:        sev,
		Recommendations: recs,
		Source:          Source,
	}
}

// metricsCopy copies m, so that the analysis shares no memory with the
// fallback's.
func metricsCopy(m chaoslab.AnalysisMetrics) chaoslab.AnalysisMetrics {
	if m.RecoveryTimeSeconds != nil {
		m.RecoveryTimeSeconds = ptr(*m.RecoveryTimeSeconds)
	}
	return m
}
