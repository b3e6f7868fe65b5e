// Package local is the chaoslab provider that runs targets as processes on
// this machine. It supports the three target kinds:
//
//   - demo: chaoslab's demo service (package internal/demo) as a child
//     process, with its downstream dependency served in this process
//     behind a fault proxy, as the link "downstream".
//   - command: TargetSpec.Command, supervised and restarted according to
//     TargetSpec.Restart, with every dependency behind a fault proxy whose
//     address the command finds in the dependency's environment variable.
//   - address: a service that already runs; only the ingress proxy is
//     started.
//
// Every target's Endpoint is an HTTP-aware fault proxy in front of the
// service (the link "ingress"), so that delays and injected HTTP errors
// reach what clients see. Targets implement the capabilities of package
// chaoslab: Signaler, Router, Sampler, Stressor, LogSource and Execer (on
// address targets the ones that need a process here return errors that
// wrap chaoslab.ErrUnsupported).
//
// # Child processes
//
// Each child runs in its own process group, gets SIGKILL from the kernel if
// this process dies (Linux), and writes its stdout and stderr to the
// target's log file. Close sends the group SIGTERM, then SIGKILL after two
// seconds; when Close returns every process is gone, paused ones included.
//
// # Roles: an import side effect
//
// The demo service and the CPU and memory stressors run as copies of the
// current executable (os.Executable) started with the environment variable
// RoleEnv set. This package's init function checks RoleEnv: when it is set,
// the process runs that role and exits without ever reaching main or the
// tests; when it is not set, init does nothing. So any binary that imports
// this package, go test binaries included, can serve as the demo service:
// run it with RoleEnv=demo, DemoAddrEnv and DemoDownstreamEnv set. Roles also
// exit on their own when their parent process goes away.
//
// # TargetSpec
//
// Address is where the service listens; for the demo it is optional (a free
// loopback port by default). The ingress proxy is HTTP-aware for http
// addresses and a plain TCP proxy for https ones (HTTP faults then return
// ErrUnsupported). Dir defaults to a fresh directory removed at Close.
// ReadyURL defaults to Address + HealthPath ("/health" for the demo, "/"
// otherwise); ReadyTimeout to DefaultReadyTimeout. Restart defaults to
// always for the demo and on-failure for commands; restarts back off from
// 200ms to 1s. Dependencies of kind demo and command get a proxy each, a
// TCP one unless Protocol is "http"; those of an address target are not
// routed. Options is ignored.
//
// Processes, log files and temporary directories are Unix matters: the
// package builds on Linux and other Unix systems.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/internal/demo"
	"github.com/chaoslab-dev/chaoslab/internal/netfault"
	"github.com/chaoslab-dev/chaoslab/internal/observe"
)

// DefaultReadyTimeout is how long Provision waits for a target to answer
// when TargetSpec.ReadyTimeout is 0.
const DefaultReadyTimeout = 30 * time.Second

// Link names every target has.
const (
	// IngressLink is the link between clients and the target: its
	// Endpoint.
	IngressLink = "ingress"
	// DownstreamLink is the demo's link to its downstream dependency.
	DownstreamLink = "downstream"
)

// Provider provisions local targets. Its methods are safe for concurrent
// use.
type Provider struct {
	logger *slog.Logger
	dir    string
	logDir string
}

// Option configures a Provider.
type Option func(*Provider)

// WithLogger sets the logger for provisioning and supervision events. By
// default nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(p *Provider) {
		if l != nil {
			p.logger = l
		}
	}
}

// WithDir sets the directory in which each target gets its own state
// directory (its log file and, unless TargetSpec.Dir is set, its working
// directory), removed at Close. Default os.TempDir().
func WithDir(dir string) Option { return func(p *Provider) { p.dir = dir } }

// WithLogDir keeps each target's log after Close, as <dir>/<target id>.log.
// By default the log lives in the target's state directory and goes with
// it.
func WithLogDir(dir string) Option { return func(p *Provider) { p.logDir = dir } }

// New returns a local provider. It does no I/O.
func New(opts ...Option) *Provider {
	p := &Provider{logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Name returns "local".
func (p *Provider) Name() string { return "local" }

var _ chaoslab.Provider = (*Provider)(nil)

// Provision starts (or, for kind address, attaches to) the target spec
// describes and returns it once it answers its ready URL. On any error,
// a cancelled ctx included, everything it made is released before it
// returns. A readiness timeout is an error wrapping chaoslab.ErrNotReady;
// a spec this provider cannot run is an error wrapping chaoslab.ErrInvalid.
func (p *Provider) Provision(ctx context.Context, spec chaoslab.TargetSpec) (_ chaoslab.Target, err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("local: provision: %w", err)
	}
	if spec.Kind == "" {
		spec.Kind = chaoslab.TargetDemo
	}
	if err := check(spec); err != nil {
		return nil, err
	}
	t := &Target{
		id:      newID(),
		kind:    spec.Kind,
		logger:  p.logger,
		sampler: observe.NewSampler(),
		stress:  map[int]func() error{},
	}
	t.logger = p.logger.With("target", t.id)
	defer func() {
		if err != nil {
			// Release on a fresh context: ctx may be what failed.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if cerr := t.Close(cctx); cerr != nil {
				err = errors.Join(err, fmt.Errorf("local: release after failed provision: %w", cerr))
			}
		}
	}()
	if err := t.provision(ctx, p, spec); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return nil, fmt.Errorf("local: provision %s target: %w", spec.Kind, err)
	}
	t.logger.Info("target ready", "kind", spec.Kind, "endpoint", t.endpoint)
	return t, nil
}

// check rejects specs this provider cannot run.
func check(spec chaoslab.TargetSpec) error {
	var problems []string
	switch spec.Kind {
	case chaoslab.TargetDemo:
		if len(spec.Command) > 0 {
			problems = append(problems, "command is only for kind command")
		}
		for _, d := range spec.Dependencies {
			if d.Name == DownstreamLink {
				problems = append(problems, "dependency name downstream is the demo's own link")
			}
		}
	case chaoslab.TargetCommand:
		if len(spec.Command) == 0 {
			problems = append(problems, "command is required for kind command")
		}
		if spec.Address == "" {
			problems = append(problems, "address is required for kind command")
		}
	case chaoslab.TargetAddress:
		if spec.Address == "" {
			problems = append(problems, "address is required for kind address")
		}
	default:
		problems = append(problems, fmt.Sprintf("kind %q is not demo, command or address", spec.Kind))
	}
	switch spec.Restart {
	case "", chaoslab.RestartNever, chaoslab.RestartOnFailure, chaoslab.RestartAlways:
	default:
		problems = append(problems, fmt.Sprintf("restart %q is not never, on-failure or always", spec.Restart))
	}
	seen := map[string]bool{IngressLink: true}
	for _, d := range spec.Dependencies {
		if seen[d.Name] || d.Name == "" {
			problems = append(problems, fmt.Sprintf("dependency name %q is empty, reserved or used twice", d.Name))
		}
		seen[d.Name] = true
		if d.Env == "" && spec.Kind != chaoslab.TargetAddress {
			problems = append(problems, fmt.Sprintf("dependency %s needs env", d.Name))
		}
		if d.Protocol != "" && d.Protocol != "tcp" && d.Protocol != "http" {
			problems = append(problems, fmt.Sprintf("dependency %s: protocol %q is not tcp or http", d.Name, d.Protocol))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("local: %s: %w", strings.Join(problems, "; "), chaoslab.ErrInvalid)
	}
	return nil
}

// provision does the work of Provision, recording on t everything it makes
// so that Close releases it.
func (t *Target) provision(ctx context.Context, p *Provider, spec chaoslab.TargetSpec) error {
	var err error
	// State directory, working directory and log file.
	root := p.dir
	if root == "" {
		root = os.TempDir()
	}
	if t.stateDir, err = os.MkdirTemp(root, "chaoslab-"+t.id+"-"); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if spec.Kind != chaoslab.TargetAddress {
		t.dir = spec.Dir
		if t.dir == "" {
			t.dir = filepath.Join(t.stateDir, "work")
			if err := os.Mkdir(t.dir, 0o755); err != nil {
				return fmt.Errorf("working directory: %w", err)
			}
		}
		t.logPath = filepath.Join(t.stateDir, "target.log")
		if p.logDir != "" {
			if err := os.MkdirAll(p.logDir, 0o755); err != nil {
				return fmt.Errorf("log directory: %w", err)
			}
			t.logPath = filepath.Join(p.logDir, t.id+".log")
		}
		if t.logFile, err = os.OpenFile(t.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return fmt.Errorf("log file: %w", err)
		}
	}

	// Where the service listens, and the URL its readiness is checked on.
	var service *url.URL
	switch {
	case spec.Address != "":
		base, err := chaoslab.NormalizeAddress(spec.Address)
		if err != nil {
			return fmt.Errorf("address %q: %v: %w", spec.Address, err, chaoslab.ErrInvalid)
		}
		service, _ = url.Parse(base)
	default: // the demo without an address: a free loopback port
		port, err := freePort(ctx)
		if err != nil {
			return err
		}
		service = &url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	}
	serviceHostPort := hostPort(service)

	env := map[string]string{}
	maps.Copy(env, spec.Env)

	// Dependencies.
	if spec.Kind == chaoslab.TargetDemo {
		downstream, err := t.serveDownstream(ctx)
		if err != nil {
			return err
		}
		px, err := t.addLink(ctx, DownstreamLink, downstream, true)
		if err != nil {
			return err
		}
		env[RoleEnv] = roleDemo
		env[DemoAddrEnv] = serviceHostPort
		env[DemoDownstreamEnv] = px.Addr()
	}
	for _, d := range spec.Dependencies {
		if spec.Kind == chaoslab.TargetAddress {
			t.unroutable = append(t.unroutable, d.Name)
			continue
		}
		px, err := t.addLink(ctx, d.Name, d.Upstream, d.Protocol == "http")
		if err != nil {
			return err
		}
		env[d.Env] = px.Addr()
	}

	// The process.
	if spec.Kind != chaoslab.TargetAddress {
		argv := spec.Command
		if spec.Kind == chaoslab.TargetDemo {
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find this executable to run the demo: %w", err)
			}
			argv = []string{exe}
		}
		t.execEnv = mergeEnv(os.Environ(), withoutRole(env))
		if spec.Kind == chaoslab.TargetDemo {
			// The demo is this process's direct child. (A command
			// may wrap a role in a shell, so it is not told.)
			env[parentEnv] = strconv.Itoa(os.Getpid())
		}
		t.env = mergeEnv(os.Environ(), env)
		policy := spec.Restart
		if policy == "" {
			policy = chaoslab.RestartOnFailure
			if spec.Kind == chaoslab.TargetDemo {
				policy = chaoslab.RestartAlways
			}
		}
		t.sup = newSupervisor(argv, t.env, t.dir, t.logFile, policy, t.logger)
		if err := t.sup.start(); err != nil {
			return err
		}
	}

	// The ingress proxy, in front of the service.
	ingress, err := t.addLink(ctx, IngressLink, serviceHostPort, service.Scheme == "http")
	if err != nil {
		return err
	}
	ep := *service
	ep.Host = ingress.Addr()
	t.endpoint = strings.TrimSuffix(ep.String(), "/")

	// Readiness.
	ready := spec.ReadyURL
	if ready == "" {
		health := spec.HealthPath
		if health == "" {
			health = "/"
			if spec.Kind == chaoslab.TargetDemo {
				health = "/health"
			}
		}
		ready = strings.TrimSuffix(service.String(), "/") + "/" + strings.TrimPrefix(health, "/")
	}
	timeout := spec.ReadyTimeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	return t.waitReady(ctx, ready, timeout)
}

// serveDownstream serves demo.Downstream on a loopback port in this process
// until Close and returns its host:port.
func (t *Target) serveDownstream(ctx context.Context) (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("downstream: %w", err)
	}
	srv := &http.Server{Handler: demo.Downstream{}, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.closers = append(t.closers, func(context.Context) error {
		err := srv.Close()
		<-done
		return err
	})
	return ln.Addr().String(), nil
}

// addLink starts a fault proxy to upstream and records it as a link.
func (t *Target) addLink(ctx context.Context, name, upstream string, http bool) (*netfault.Proxy, error) {
	opts := []netfault.Option{netfault.WithLogger(t.logger.With("link", name))}
	if http {
		opts = append(opts, netfault.WithHTTP())
	}
	px := netfault.New(upstream, opts...)
	if err := px.Start(ctx); err != nil {
		return nil, fmt.Errorf("link %s: start proxy to %s: %w", name, upstream, err)
	}
	t.closers = append(t.closers, func(context.Context) error { return px.Close() })
	t.links = append(t.links, &link{name: name, proxy: px})
	return px, nil
}

// waitReady polls url until it answers 2xx or 3xx, the process gives up,
// timeout passes (an error wrapping ErrNotReady) or ctx is done.
func (t *Target) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	client := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	wait := 20 * time.Millisecond
	var last error
	for {
		actx, cancel := context.WithTimeout(ctx, min(2*time.Second, time.Until(deadline)))
		req, err := http.NewRequestWithContext(actx, http.MethodGet, url, nil)
		if err != nil {
			cancel()
			return fmt.Errorf("ready URL %q: %v: %w", url, err, chaoslab.ErrInvalid)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode >= 200 && resp.StatusCode < 400 {
				cancel()
				return nil
			}
			err = fmt.Errorf("answered %s", resp.Status)
		}
		cancel()
		last = err
		if err := ctx.Err(); err != nil {
			return err
		}
		if t.sup != nil {
			select {
			case <-t.sup.done:
				return fmt.Errorf("%w: the process exited (%s) before %s answered%s",
					chaoslab.ErrNotReady, exitText(t.sup.exitErr()), url, t.logTail())
			default:
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s did not answer 2xx or 3xx within %s (last: %v)%s",
				chaoslab.ErrNotReady, url, timeout, last, t.logTail())
		}
		timer := time.NewTimer(min(wait, time.Until(deadline)))
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
}

// logTail returns the last lines of the target's log, for error messages.
func (t *Target) logTail() string {
	if t.logPath == "" {
		return ""
	}
	b, err := os.ReadFile(t.logPath)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	lines = lines[max(0, len(lines)-5):]
	return "; log " + t.logPath + ":\n" + strings.Join(lines, "\n")
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before the target binds it; the loopback range makes that rare.
func freePort(ctx context.Context) (int, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// hostPort returns u's host:port, with the scheme's default port if u names
// none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// withoutRole returns env without the variables that select and configure
// a role.
func withoutRole(env map[string]string) map[string]string {
	out := maps.Clone(env)
	for _, k := range []string{RoleEnv, DemoAddrEnv, DemoDownstreamEnv, parentEnv} {
		delete(out, k)
	}
	return out
}

// mergeEnv returns base with the variables in set added or replaced.
func mergeEnv(base []string, set map[string]string) []string {
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; !ok {
			out = append(out, kv)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(set)) {
		out = append(out, k+"="+set[k])
	}
	return out
}

func newID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "local-" + hex.EncodeToString(b)
}
