package e2b

import (
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// Environment variables read by New, the same the official SDKs read.
const (
	EnvAPIKey     = "E2B_API_KEY"
	EnvDomain     = "E2B_DOMAIN"
	EnvAPIURL     = "E2B_API_URL"
	EnvSandboxURL = "E2B_SANDBOX_URL"
)

// Defaults.
const (
	// DefaultDomain is E2B's domain: the API is at api.<domain> and
	// sandbox ports at <port>-<sandbox id>.<domain>.
	DefaultDomain = "e2b.app"
	// DefaultTemplate is the template sandboxes are made from.
	DefaultTemplate = "base"
	// DefaultSandboxTimeout is the lifetime sent when a sandbox is made,
	// renewed while its target is open. E2B's own default, when none is
	// sent, is 15 seconds.
	DefaultSandboxTimeout = 5 * time.Minute
	// DefaultRequestTimeout bounds each unary request (never a stream).
	DefaultRequestTimeout = time.Minute
	// DefaultReadyTimeout bounds the wait for a target to answer when
	// TargetSpec.ReadyTimeout is 0.
	DefaultReadyTimeout = 30 * time.Second
	// EnvdPort is the port of envd, E2B's agent in every sandbox.
	EnvdPort = 49983
)

// Provider makes targets in E2B sandboxes. Its methods are safe for
// concurrent use: each Provision makes its own sandbox.
type Provider struct {
	cfg    config
	agents *agentCache
}

type config struct {
	apiKey, domain, apiURL, sandboxURL string
	template                           string
	sandboxTimeout, requestTimeout     time.Duration
	client                             *http.Client
	logger                             *slog.Logger
	agents                             map[string]prebuiltAgent // by GOARCH
	build                              bool
	cacheDir                           string
	listenHost                         string
	runID                              string
	createAttempts                     int
	retryBase                          time.Duration
	keepalivePing                      time.Duration // Keepalive-Ping-Interval asked of envd
	user                               string
}

// prebuiltAgent is an agent executable given with WithAgent.
type prebuiltAgent struct {
	path string
	args []string
}

// Option configures a Provider.
type Option func(*config)

// WithAPIKey sets the API key, sent in X-API-Key. Default: E2B_API_KEY.
func WithAPIKey(key string) Option { return func(c *config) { c.apiKey = key } }

// WithDomain sets E2B's domain. Default: E2B_DOMAIN, else "e2b.app".
func WithDomain(domain string) Option { return func(c *config) { c.domain = domain } }

// WithAPIURL sets the control plane's base URL. Default: E2B_API_URL, else
// https://api.<domain>.
func WithAPIURL(u string) Option { return func(c *config) { c.apiURL = strings.TrimSuffix(u, "/") } }

// WithSandboxURL sends every request for a sandbox (envd and the ports its
// processes listen on) to one base URL, naming the sandbox and port in the
// E2b-Sandbox-Id and E2b-Sandbox-Port headers, as the SDKs do with
// E2B_SANDBOX_URL. Default: E2B_SANDBOX_URL, else each port at
// https://<port>-<sandbox id>.<domain>.
func WithSandboxURL(u string) Option {
	return func(c *config) { c.sandboxURL = strings.TrimSuffix(u, "/") }
}

// WithTemplate sets the template sandboxes are made from (an ID or alias);
// TargetSpec.Options["template"] overrides it. Default "base".
func WithTemplate(t string) Option { return func(c *config) { c.template = t } }

// WithSandboxTimeout sets the sandbox lifetime sent at creation and renewed
// every third of it while the target is open, so that a sandbox whose
// chaoslab process died goes away on its own within that time.
// TargetSpec.Options["sandbox_timeout"] overrides it. Default 5 minutes.
func WithSandboxTimeout(d time.Duration) Option { return func(c *config) { c.sandboxTimeout = d } }

// WithRequestTimeout bounds each unary request to the API and to envd.
// Streams (the output of a process) are never bounded by it. Default 1
// minute.
func WithRequestTimeout(d time.Duration) Option { return func(c *config) { c.requestTimeout = d } }

// WithHTTPClient sets the client of every request to E2B. Its Timeout must
// be 0: process output is streamed for as long as the process runs (a
// client with a Timeout is copied without it).
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.client = hc } }

// WithLogger sets the logger; by default nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithAgent uploads a prebuilt agent (see package agent) to sandboxes of
// architecture goarch ("amd64" or "arm64") instead of building one: path is
// a Linux executable on this machine, and args are put before the agent's
// own arguments (such as "agent", for a program that serves package agent's
// Main as a subcommand).
func WithAgent(goarch, path string, args ...string) Option {
	return func(c *config) {
		if c.agents == nil {
			c.agents = map[string]prebuiltAgent{}
		}
		c.agents[goarch] = prebuiltAgent{path: path, args: args}
	}
}

// WithoutBuild never builds the agent with the Go toolchain: sandboxes of
// an architecture without WithAgent fail to provision.
func WithoutBuild() Option { return func(c *config) { c.build = false } }

// WithCacheDir sets the directory where built agents are kept. Default
// <user cache dir>/chaoslab.
func WithCacheDir(dir string) Option { return func(c *config) { c.cacheDir = dir } }

// WithListenHost sets the address that chaoslab's helpers in the sandbox
// (fault proxies, the demo) listen on. Default "127.0.0.1": envd makes
// ports bound to the loopback reachable from the sandbox host.
func WithListenHost(host string) Option { return func(c *config) { c.listenHost = host } }

// WithRunID sets the run id written into each sandbox's metadata
// (chaoslab_run), which Cleanup reads; TargetSpec.Options["run_id"]
// overrides it. Default: the run id the Runner puts in Provision's context
// (chaoslab.RunIDFromContext), else the target's id.
func WithRunID(id string) Option { return func(c *config) { c.runID = id } }

// WithCreateRetries sets how many times a sandbox creation is tried when
// E2B answers 429 or 503 (at least 1), and the first wait between tries,
// which doubles each time (a Retry-After header wins). Default 5 tries
// from 1 second.
func WithCreateRetries(attempts int, backoff time.Duration) Option {
	return func(c *config) { c.createAttempts, c.retryBase = max(attempts, 1), backoff }
}

// New returns a provider configured by the environment (E2B_API_KEY,
// E2B_DOMAIN, E2B_API_URL, E2B_SANDBOX_URL) and then opts. It does no I/O.
func New(opts ...Option) *Provider {
	c := config{
		apiKey:         os.Getenv(EnvAPIKey),
		domain:         os.Getenv(EnvDomain),
		apiURL:         strings.TrimSuffix(os.Getenv(EnvAPIURL), "/"),
		sandboxURL:     strings.TrimSuffix(os.Getenv(EnvSandboxURL), "/"),
		template:       DefaultTemplate,
		sandboxTimeout: DefaultSandboxTimeout,
		requestTimeout: DefaultRequestTimeout,
		logger:         slog.New(slog.DiscardHandler),
		build:          true,
		listenHost:     "127.0.0.1",
		createAttempts: 5,
		retryBase:      time.Second,
		keepalivePing:  50 * time.Second,
		user:           "user",
	}
	for _, o := range opts {
		o(&c)
	}
	if c.domain == "" {
		c.domain = DefaultDomain
	}
	if c.apiURL == "" {
		c.apiURL = "https://api." + c.domain
	}
	if c.client == nil {
		c.client = &http.Client{Transport: newTransport(64)}
	} else if c.client.Timeout != 0 {
		cp := *c.client
		cp.Timeout = 0
		c.client = &cp
	}
	if c.sandboxTimeout < time.Second {
		c.sandboxTimeout = time.Second
	}
	if c.requestTimeout <= 0 {
		c.requestTimeout = DefaultRequestTimeout
	}
	return &Provider{cfg: c, agents: newAgentCache()}
}

// newTransport returns an HTTP transport for E2B or for the target's
// ingress.
func newTransport(perHost int) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   perHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Name returns "e2b".
func (p *Provider) Name() string { return Name }

// Name is the provider's name, as users type it.
const Name = "e2b"

var _ chaoslab.Provider = (*Provider)(nil)
