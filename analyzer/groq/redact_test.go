package groq

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	r := newRedactor("my-configured-key-123")
	tests := []struct {
		in, want string
	}{
		{"key my-configured-key-123 here", "key [REDACTED] here"},
		{"password=hunter2", "password=[REDACTED]"},
		{"DB_PASSWORD: 'hunter2' next", "DB_PASSWORD: [REDACTED] next"},
		{`{"password": "hunter2", "user": "bob"}`, `{"password": [REDACTED], "user": "bob"}`},
		{"client_secret=abc&grant=x", "client_secret=[REDACTED]&grant=x"},
		{"access_token=abc123;", "access_token=[REDACTED];"},
		{"X-Api-Key: abcdef", "X-Api-Key: [REDACTED]"},
		{"Authorization: Bearer sk-live-abcdefghijkl", "Authorization: Bearer [REDACTED]"},
		{"authorization=Basic dXNlcjpwYXNz", "authorization=Basic [REDACTED]"},
		{"sent bearer abcdefghijklmnop to it", "sent bearer [REDACTED] to it"},
		{"use sk-proj-abcdefghijklmnop", "use [REDACTED]"},
		{"groq gsk_abcdefghijklmnopqrstuv", "groq [REDACTED]"},
		{"aws AKIAIOSFODNN7EXAMPLE ok", "aws [REDACTED] ok"},
		{"gh ghp_abcdefghijklmnopqrstuvwxyz0123", "gh [REDACTED]"},
		{"slack xoxb-123456789012-abcdef", "slack [REDACTED]"},
		{"stripe sk_live_abcdefghijkl", "stripe [REDACTED]"},
		{"jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature", "jwt [REDACTED]"},
		{"a -----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- b", "a [REDACTED] b"},
		{"cut -----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjE", "cut [REDACTED]"},
		{"postgres://app:s3cret@db:5432/x", "postgres://app:[REDACTED]@db:5432/x"},
		{"blob Zx8Kq2Lm9Vb4Nc7Rt1Yp5Wd3Hs6Fg0Jk2Qa", "blob [REDACTED]"},
		// Not secrets: kept as they are.
		{"max_tokens=1024 author=bob", "max_tokens=1024 author=bob"},
		{"sha 3f786850e387550fdab836ed7e6dc881de23001b", "sha 3f786850e387550fdab836ed7e6dc881de23001b"},
		{"id 123e4567-e89b-12d3-a456-426614174000", "id 123e4567-e89b-12d3-a456-426614174000"},
		{`level=ERROR msg="GET /" err="context deadline exceeded"`, `level=ERROR msg="GET /" err="context deadline exceeded"`},
		{"latency=200ms link=db", "latency=200ms link=db"},
	}
	for _, tt := range tests {
		if got := r.redact(tt.in); got != tt.want {
			t.Errorf("redact(%q)\n = %q\nwant %q", tt.in, got, tt.want)
		}
	}
	if !r.contains("x my-configured-key-123 y") || r.contains("x y") {
		t.Error("contains does not find the literal")
	}
}

func TestCleanAndTruncate(t *testing.T) {
	if got := clean("a\x1b[31mred\x00\nb\tc"); got != "a[31mred b c" {
		t.Errorf("clean = %q", got)
	}
	// A secret split by a control character is joined, then redacted.
	r := newRedactor()
	if got := r.redact(clean("pass\x00word=hunter2")); strings.Contains(got, "hunter2") {
		t.Errorf("got %q", got)
	}
	if got := truncate("héllo wörld", 8); got != "hé…" && len(got) > 8 {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate("short", 10); got != "short" {
		t.Errorf("truncate = %q", got)
	}
	for n := range 15 {
		if got := truncate("ééééééé", n); len(got) > n || !strings.HasPrefix("ééééééé", strings.TrimSuffix(got, "…")) {
			t.Errorf("truncate(%d) = %q", n, got)
		}
	}
}
