// Package groq is a chaoslab.Analyzer that has a large language model on
// Groq (https://groq.com), through its OpenAI-compatible API, explain a
// result in plain words and recommend fixes. Any OpenAI-compatible server
// works: point GROQ_BASE_URL (or WithBaseURL) at it.
//
// # What the model decides, and what it does not
//
// Analyze first runs the fallback analyzer (analyzer/rules by default),
// which grades the result deterministically. The model then supplies the
// summary and the recommendations; everything else comes from the
// fallback:
//
//   - the metrics are always the fallback's (the result's measurements);
//   - the verdict is the Runner's and is never touched; the summary ends
//     with a sentence stating it and the severity, so that a model's prose
//     cannot contradict them unnoticed;
//   - the severity is the higher of the fallback's and the model's: the
//     model may raise it (it may see trouble in the logs that the rules
//     cannot), never lower it.
//
// Log lines are the target's output and are treated as untrusted data:
// they are sent, capped (WithMaxLogLines, WithMaxLogBytes) and redacted,
// one JSON string per line, between markers holding a random nonce, and the
// model is told never to follow instructions found there. Whatever a log
// line makes the model say, the rules above hold: it cannot lower the
// severity or change the verdict or the numbers.
//
// # Secrets
//
// Everything sent is redacted first: the configured API key wherever it
// appears, and anything of a credential's form (sk-…, gsk_…, AKIA…, ghp_…,
// xox…-, JWTs, Authorization and Bearer values, password=…, secret, token
// and api_key pairs, URL passwords, private key blocks, long random
// tokens). The key itself travels only in the Authorization header. A
// request whose body would still hold the key is not sent. Fallback
// reasons are redacted too.
//
// # Failures
//
// Without an API key the analyzer does not call out at all. Answers of
// 429 and 5xx, and broken connections, are retried with exponential
// backoff and jitter, honouring Retry-After up to a cap (WithRetry); other
// 4xx answers are not retried. All attempts share one overall timeout
// (WithTimeout), and Analyze returns when its context is cancelled. The
// answer must be one JSON object (a Markdown code fence around it is
// accepted) of this form:
//
//	{"summary": string, "recommendations": [string, …],
//	 "severity": "low"|"medium"|"high"|"critical" (optional),
//	 "confidence": number from 0 to 1 (optional)}
//
// with a non-empty summary of at most 4000 characters and 1 to 10
// non-empty recommendations of at most 1000 characters each. On any
// failure (no key, timeout, cancellation, an error answer, an invalid
// answer) Analyze returns the fallback's analysis with its own source
// ("rules") and FallbackReason saying why, and a nil error.
package groq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/analyzer/rules"
)

// Source is the Analysis.Source of an analysis the model wrote.
const Source = "groq"

// Environment variables New reads.
const (
	EnvAPIKey  = "GROQ_API_KEY"
	EnvBaseURL = "GROQ_BASE_URL"
)

// Defaults.
const (
	// DefaultBaseURL is Groq's OpenAI-compatible endpoint.
	DefaultBaseURL = "https://api.groq.com/openai/v1"
	// DefaultModel is a production model of Groq's that supports JSON
	// mode.
	DefaultModel = "llama-3.3-70b-versatile"
	// DefaultTimeout bounds a whole Analyze call, retries included.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxLogLines is how many of the last log lines are sent.
	DefaultMaxLogLines = 20
	// DefaultMaxLogBytes bounds the log lines sent, all together.
	DefaultMaxLogBytes = 4096
	// DefaultMaxAttempts is how many requests Analyze makes at most.
	DefaultMaxAttempts = 3
	// DefaultMaxRetryWait caps the wait before a retry, Retry-After
	// included.
	DefaultMaxRetryWait = 10 * time.Second
)

// ReasonNoKey is the FallbackReason when no API key is configured.
const ReasonNoKey = "no " + EnvAPIKey

// Analyzer is the LLM chaoslab.Analyzer. Make it with New; it is safe for
// concurrent use.
type Analyzer struct {
	apiKey      string
	baseURL     string
	model       string
	timeout     time.Duration
	fallback    chaoslab.Analyzer
	httpClient  *http.Client
	ownClient   bool // httpClient was made here; its idle connections are closed after each call
	log         *slog.Logger
	maxLogLines int
	maxLogBytes int
	maxAttempts int
	maxWait     time.Duration
	client      *openai.Client
	redact      *redactor
}

// Option configures an Analyzer.
type Option func(*Analyzer)

// WithAPIKey sets the API key, instead of GROQ_API_KEY. An empty key
// means none: Analyze then falls back without calling out.
func WithAPIKey(key string) Option { return func(a *Analyzer) { a.apiKey = key } }

// WithBaseURL sets the API's base URL, instead of GROQ_BASE_URL or
// DefaultBaseURL. An empty URL is ignored.
func WithBaseURL(url string) Option {
	return func(a *Analyzer) {
		if url != "" {
			a.baseURL = url
		}
	}
}

// WithModel sets the model; the default is DefaultModel. An empty name is
// ignored.
func WithModel(model string) Option {
	return func(a *Analyzer) {
		if model != "" {
			a.model = model
		}
	}
}

// WithTimeout bounds a whole Analyze call, every attempt and wait
// included; the default is DefaultTimeout. Values of 0 or less are
// ignored.
func WithTimeout(d time.Duration) Option {
	return func(a *Analyzer) {
		if d > 0 {
			a.timeout = d
		}
	}
}

// WithFallback sets the analyzer whose analysis is the basis of every
// answer and the answer on any failure; the default is rules.New(). A nil
// analyzer is ignored.
func WithFallback(f chaoslab.Analyzer) Option {
	return func(a *Analyzer) {
		if f != nil {
			a.fallback = f
		}
	}
}

// WithHTTPClient sets the HTTP client requests go through. The analyzer
// never closes it. Without it the analyzer uses its own, whose idle
// connections it closes after each Analyze. A nil client is ignored.
func WithHTTPClient(c *http.Client) Option {
	return func(a *Analyzer) {
		if c != nil {
			a.httpClient, a.ownClient = c, false
		}
	}
}

// WithLogger sets where the analyzer logs (attempts, retries, fallbacks;
// never the key or the prompt); the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(a *Analyzer) {
		if l != nil {
			a.log = l
		}
	}
}

// WithMaxLogLines sets how many of the result's last log lines are sent;
// the default is DefaultMaxLogLines, 0 sends none. Negative values are
// ignored.
func WithMaxLogLines(n int) Option {
	return func(a *Analyzer) {
		if n >= 0 {
			a.maxLogLines = n
		}
	}
}

// WithMaxLogBytes bounds the log lines sent, all together, after
// redaction; a longer line is cut. The default is DefaultMaxLogBytes.
// Values of 0 or less are ignored.
func WithMaxLogBytes(n int) Option {
	return func(a *Analyzer) {
		if n > 0 {
			a.maxLogBytes = n
		}
	}
}

// WithRetry sets how many requests Analyze makes at most (1 means no
// retry) and the longest it waits before a retry; a Retry-After beyond
// maxWait is cut to it. Values of 0 or less leave the default
// (DefaultMaxAttempts, DefaultMaxRetryWait).
func WithRetry(maxAttempts int, maxWait time.Duration) Option {
	return func(a *Analyzer) {
		if maxAttempts > 0 {
			a.maxAttempts = maxAttempts
		}
		if maxWait > 0 {
			a.maxWait = maxWait
		}
	}
}

// New returns an Analyzer configured by GROQ_API_KEY and GROQ_BASE_URL,
// then by opts. It does no I/O.
func New(opts ...Option) *Analyzer {
	a := &Analyzer{
		apiKey:      os.Getenv(EnvAPIKey),
		baseURL:     os.Getenv(EnvBaseURL),
		model:       DefaultModel,
		timeout:     DefaultTimeout,
		log:         slog.New(slog.DiscardHandler),
		maxLogLines: DefaultMaxLogLines,
		maxLogBytes: DefaultMaxLogBytes,
		maxAttempts: DefaultMaxAttempts,
		maxWait:     DefaultMaxRetryWait,
	}
	if a.baseURL == "" {
		a.baseURL = DefaultBaseURL
	}
	for _, o := range opts {
		o(a)
	}
	if a.fallback == nil {
		a.fallback = rules.New()
	}
	if a.httpClient == nil {
		tr := &http.Transport{Proxy: http.ProxyFromEnvironment}
		if def, ok := http.DefaultTransport.(*http.Transport); ok {
			tr = def.Clone()
		}
		a.httpClient = &http.Client{Transport: tr}
		a.ownClient = true
	}
	cfg := openai.DefaultConfig(a.apiKey)
	cfg.BaseURL = a.baseURL
	cfg.HTTPClient = &statusCatcher{client: a.httpClient}
	a.client = openai.NewClientWithConfig(cfg)
	a.redact = newRedactor(a.apiKey)
	return a
}

var _ chaoslab.Analyzer = (*Analyzer)(nil)

// Analyze explains r: the fallback's analysis, with the model's summary
// and recommendations, as the package documentation says. It never
// changes r. It returns an error only when the fallback does (a nil r);
// any failure of the model gives the fallback's analysis with
// FallbackReason set.
func (a *Analyzer) Analyze(ctx context.Context, r *chaoslab.Result) (chaoslab.Analysis, error) {
	if r == nil {
		return chaoslab.Analysis{}, errors.New("groq: analyze: nil result")
	}
	base, err := a.fallback.Analyze(ctx, r)
	if err != nil {
		return chaoslab.Analysis{}, fmt.Errorf("groq: fallback analyzer: %w", err)
	}
	if a.apiKey == "" {
		return a.fellBack(base, ReasonNoKey), nil
	}
	if err := ctx.Err(); err != nil {
		return a.fellBack(base, "cancelled before asking the model: "+err.Error()), nil
	}
	if a.ownClient {
		defer a.httpClient.CloseIdleConnections()
	}
	req, err := a.request(r, base)
	if err != nil {
		return a.fellBack(base, err.Error()), nil
	}
	content, err := a.ask(ctx, req)
	if err != nil {
		return a.fellBack(base, err.Error()), nil
	}
	ans, err := parseAnswer(content)
	if err != nil {
		return a.fellBack(base, "invalid answer from the model: "+err.Error()), nil
	}
	return a.merge(r, base, ans), nil
}

// maxReason bounds a FallbackReason.
const maxReason = 300

// fellBack returns the fallback's analysis with why the model's is not
// there, redacted.
func (a *Analyzer) fellBack(base chaoslab.Analysis, reason string) chaoslab.Analysis {
	reason = truncate(a.redact.redact(reason), maxReason)
	level := slog.LevelWarn
	if reason == ReasonNoKey {
		level = slog.LevelInfo
	}
	a.log.Log(context.Background(), level, "groq: using the fallback analysis", "source", base.Source, "reason", reason)
	base.FallbackReason = reason
	return base
}
