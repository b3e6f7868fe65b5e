package groqfake

import (
	"encoding/json"
	"net/http"
)

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"message":"groqfake: cannot encode the answer","type":"internal_server_error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	setRateLimitHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers status with Groq's error body.
func writeError(w http.ResponseWriter, status int, e apiError) {
	writeJSON(w, status, map[string]apiError{"error": e})
}

// apiError is the package's name for APIError in its own code.
type apiError = APIError

// setRateLimitHeaders sets the x-ratelimit-* headers Groq sends on every
// answer, with a generous allowance (scripted 429s are what tests use).
func setRateLimitHeaders(h http.Header) {
	for k, v := range map[string]string{
		"x-ratelimit-limit-requests":     "14400",
		"x-ratelimit-limit-tokens":       "6000",
		"x-ratelimit-remaining-requests": "14399",
		"x-ratelimit-remaining-tokens":   "5990",
		"x-ratelimit-reset-requests":     "6s",
		"x-ratelimit-reset-tokens":       "100ms",
	} {
		if h.Get(k) == "" {
			h.Set(k, v)
		}
	}
}

func strp(s string) *string { return &s }
