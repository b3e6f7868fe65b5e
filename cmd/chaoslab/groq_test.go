package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chaoslab-dev/chaoslab/internal/groqfake"
)

func startGroq(t *testing.T, replies ...groqfake.Reply) *groqfake.Server {
	t.Helper()
	s := groqfake.New()
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { s.Close() })
	s.Enqueue(replies...)
	t.Setenv("GROQ_API_KEY", s.APIKey())
	t.Setenv("GROQ_BASE_URL", s.BaseURL())
	return s
}

func TestAnalyzerGroq(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo service")
	}
	for _, tc := range []struct {
		name       string
		reply      groqfake.Reply
		wantSource string
	}{
		{"valid", groqfake.AnswerJSON(map[string]any{
			"summary":         "The dependency's 200 ms delay pushed p99 over its limit.",
			"recommendations": []string{"Set a timeout on calls to downstream."},
			"severity":        "high",
		}), "groq"},
		{"garbage", groqfake.Garbage(), "rules"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startGroq(t, tc.reply)
			out := t.TempDir()
			code, stdout, stderr := runCLI(t, "run", "--analyzer", "groq", "--duration", "2s", "--baseline", "1s", "--out", out, "--quiet")
			require.NotEqual(t, exitError, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			res := readResult(t, out)
			assert.Equal(t, tc.wantSource, res.Analysis.Source, res.Analysis.FallbackReason)
			if tc.wantSource == "rules" {
				assert.NotEmpty(t, res.Analysis.FallbackReason)
			}
			reqs := s.Requests()
			require.NotEmpty(t, reqs, "the analyzer asked the model")
			for _, r := range reqs {
				assert.NotContains(t, string(r.Body), s.APIKey(), "the key is sent only in the Authorization header")
			}
		})
	}
}

func TestUnknownAnalyzerExits2(t *testing.T) {
	code, _, stderr := runCLI(t, "run", "--analyzer", "oracle")
	assert.Equal(t, exitError, code)
	assert.True(t, strings.Contains(stderr, "rules, groq"), stderr)
}
