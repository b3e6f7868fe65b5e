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
// Each child runs in its own process group and writes its stdout and
// stderr to the target's log file. Close sends the group SIGTERM, then
// SIGKILL after two seconds; when Close returns every process is gone,
// paused ones and those of Exec calls and stresses included.
//
// Commands (of kind command targets and of Exec) run under a guard: a copy
// of the current executable that leads the process group, starts the
// command in it, exits as the command does, and SIGKILLs the whole group
// if this process dies, however it dies (Linux tells it at once, other
// systems within 200ms). So a command's own children do not outlive
// chaoslab either. The demo and stress roles exit on their own when this
// process dies. Each target's state directory is named after this
// process's pid; a later Provision on the same directory removes those
// whose process is gone.
//
// # Environment
//
// A command, and Exec, get this process's environment plus TargetSpec.Env
// and the dependencies' variables, as exec.Cmd would: mind what secrets
// it holds. The demo and stress roles get only PATH, HOME, TMPDIR, TZ,
// LD_LIBRARY_PATH and the Go runtime's variables (GORACE, GOCOVERDIR,
// GODEBUG, GOTRACEBACK), plus the demo's Env and their own settings.
//
// # Roles: an import side effect
//
// The demo service, the CPU and memory stressors and the guard run as
// copies of the current executable (os.Executable) started with an
// environment variable set (RoleEnv; the guard has its own). This
// package's init function checks them: when one is set, the process runs
// that role and exits without ever reaching main or the tests; when none
// is, init does nothing. So any binary that imports this package, go test
// binaries included, can serve as the demo service: run it with
// RoleEnv=demo, DemoAddrEnv and DemoDownstreamEnv set. Roles also exit on
// their own when their parent process goes away.
//
// # TargetSpec
//
// Address is where the service listens; for the demo it is optional (a free
// loopback port by default) and must be http. This process binds the
// demo's port and hands the socket to each run of the demo, so the port is
// never free for another program to take, even across restarts; while the
// demo is down (killed, before its restart) connections to it are reset.
// The ingress proxy is HTTP-aware for http addresses and a plain TCP proxy
// for https ones (HTTP faults then return ErrUnsupported). Dir defaults to
// a fresh directory removed at Close. ReadyURL, an absolute http(s) URL,
// defaults to Address + HealthPath ("/health" for the demo, "/"
// otherwise); ReadyTimeout to DefaultReadyTimeout. Restart defaults to
// always for the demo and on-failure for commands; restarts back off from
// 200ms to 1s. Dependencies of kind demo and command get a proxy each, a
// TCP one unless Protocol is "http"; those of an address target are not
// routed. Env names must be unique, non-empty and free of '='; a demo's
// may not be one of its role's variables. Options is ignored.
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
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/internal/demo"
	"github.com/chaoslab-dev/chaoslab/internal/netfault"
	"github.com/chaoslab-dev/chaoslab/internal/observe"
	"github.com/chaoslab-dev/chaoslab/internal/ready"
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

	sweep sync.Once // of stale state directories
	// hook, set by tests, is called at named points of provision.
	hook func(point string)
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
// describes and returns it once it answers its ready URL. On any error (a
// cancelled ctx included) or panic, everything it made is released before
// it returns. A readiness timeout is an error wrapping chaoslab.ErrNotReady;
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
	ok := false
	defer func() {
		if ok {
			return
		}
		// Release on a fresh context: ctx may be what failed. This runs
		// on a panic too, which then goes on.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if cerr := t.Close(cctx); cerr != nil && err != nil {
			err = errors.Join(err, fmt.Errorf("local: release after failed provision: %w", cerr))
		}
	}()
	if err := t.provision(ctx, p, spec); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return nil, fmt.Errorf("local: provision %s target: %w", spec.Kind, err)
	}
	ok = true
	t.logger.Info("target ready", "kind", spec.Kind, "endpoint", t.endpoint)
	return t, nil
}

// check rejects specs this provider cannot run, naming the fields.
func check(spec chaoslab.TargetSpec) error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	switch spec.Kind {
	case chaoslab.TargetDemo:
		if len(spec.Command) > 0 {
			bad("target.command is only for kind command")
		}
		for i, d := range spec.Dependencies {
			if d.Name == DownstreamLink {
				bad("target.dependencies[%d].name: downstream is the demo's own link", i)
			}
		}
	case chaoslab.TargetCommand:
		if len(spec.Command) == 0 {
			bad("target.command is required for kind command")
		}
		if spec.Address == "" {
			bad("target.address is required for kind command")
		}
	case chaoslab.TargetAddress:
		if spec.Address == "" {
			bad("target.address is required for kind address")
		}
	default:
		bad("target.kind %q is not demo, command or address", spec.Kind)
	}
	if spec.Address != "" {
		base, err := chaoslab.NormalizeAddress(spec.Address)
		switch {
		case err != nil:
			bad("target.address %q: %v", spec.Address, err)
		case spec.Kind == chaoslab.TargetDemo && strings.HasPrefix(base, "https:"):
			bad("target.address %q: the demo serves plain http", spec.Address)
		}
	}
	if spec.ReadyURL != "" {
		u, err := url.Parse(spec.ReadyURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("target.ready_url %q: must be an absolute http(s) URL", spec.ReadyURL)
		}
	}
	switch spec.Restart {
	case "", chaoslab.RestartNever, chaoslab.RestartOnFailure, chaoslab.RestartAlways:
	default:
		bad("target.restart %q is not never, on-failure or always", spec.Restart)
	}

	// Environment variables: those the demo's role reads are its own, and
	// no two settings may fight over one name.
	reserved := map[string]bool{guardEnv: true}
	if spec.Kind == chaoslab.TargetDemo {
		for _, k := range reservedEnv {
			reserved[k] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		switch {
		case !validEnvName(k):
			bad("target.env: name %q is empty or holds '=' or NUL", k)
		case reserved[k]:
			bad("target.env: %s is reserved for chaoslab", k)
		}
	}
	names := map[string]bool{IngressLink: true}
	envs := map[string]int{}
	for i, d := range spec.Dependencies {
		if names[d.Name] || d.Name == "" {
			bad("target.dependencies[%d].name %q is empty, reserved or used twice", i, d.Name)
		}
		names[d.Name] = true
		if d.Protocol != "" && d.Protocol != "tcp" && d.Protocol != "http" {
			bad("target.dependencies[%d].protocol %q is not tcp or http", i, d.Protocol)
		}
		if spec.Kind == chaoslab.TargetAddress && d.Env == "" {
			continue // not routed: needs no variable
		}
		field := fmt.Sprintf("target.dependencies[%d].env", i)
		_, inEnv := spec.Env[d.Env]
		j, dup := envs[d.Env]
		switch {
		case d.Env == "":
			bad("%s is required (the variable that hands %s the proxy's address)", field, d.Name)
		case !validEnvName(d.Env):
			bad("%s %q holds '=' or NUL", field, d.Env)
		case reserved[d.Env]:
			bad("%s: %s is reserved for chaoslab", field, d.Env)
		case dup:
			bad("%s: %s is also target.dependencies[%d].env", field, d.Env, j)
		case inEnv:
			bad("%s: %s is also set in target.env", field, d.Env)
		}
		envs[d.Env] = i
	}
	if len(problems) > 0 {
		return fmt.Errorf("local: %s: %w", strings.Join(problems, "; "), chaoslab.ErrInvalid)
	}
	return nil
}

// validEnvName reports whether name can be an environment variable's name.
func validEnvName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "=\x00")
}

// provision does the work of Provision, recording on t everything it makes
// so that Close releases it.
func (t *Target) provision(ctx context.Context, p *Provider, spec chaoslab.TargetSpec) error {
	if spec.Kind != chaoslab.TargetAddress {
		if err := t.makeState(p, spec); err != nil {
			return err
		}
	}

	// Where the service listens, and the URL its readiness is checked on.
	var service *url.URL
	if spec.Address != "" {
		base, err := chaoslab.NormalizeAddress(spec.Address)
		if err != nil { // check has vetted it
			return fmt.Errorf("target.address %q: %v: %w", spec.Address, err, chaoslab.ErrInvalid)
		}
		service, _ = url.Parse(base)
	}
	var ln *net.TCPListener
	var lnFile *os.File
	if spec.Kind == chaoslab.TargetDemo {
		// Bind the demo's port here and keep it for the target's life, so
		// that nothing else can take it between runs.
		addr := "127.0.0.1:0"
		if service != nil {
			addr = hostPort(service)
		}
		var err error
		if ln, lnFile, err = t.listen(ctx, addr); err != nil {
			return err
		}
		service = &url.URL{Scheme: "http", Host: ln.Addr().String()}
	}
	serviceHostPort := hostPort(service)

	env := maps.Clone(spec.Env)
	if env == nil {
		env = map[string]string{}
	}
	roleVars := map[string]string{}

	// Dependencies.
	if spec.Kind == chaoslab.TargetDemo {
		downstream, err := t.serveDownstream(ctx)
		if err != nil {
			return err
		}
		// A TCP link, so that every network fault applies to it; HTTP
		// faults go on the ingress link.
		px, err := t.addLink(ctx, DownstreamLink, downstream, false)
		if err != nil {
			return err
		}
		roleVars[RoleEnv] = roleDemo
		roleVars[DemoDownstreamEnv] = px.Addr()
		roleVars[demoListenerEnv] = "3"
		roleVars[parentEnv] = strconv.Itoa(os.Getpid())
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
	p.at("links")

	// The process.
	if spec.Kind != chaoslab.TargetAddress {
		t.execEnv = mergeEnv(os.Environ(), env)
		policy := spec.Restart
		if policy == "" {
			policy = chaoslab.RestartOnFailure
			if spec.Kind == chaoslab.TargetDemo {
				policy = chaoslab.RestartAlways
			}
		}
		if spec.Kind == chaoslab.TargetDemo {
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find this executable to run the demo: %w", err)
			}
			maps.Copy(env, roleVars)
			t.sup = newSupervisor([]string{exe}, roleEnv(env), t.dir, t.logFile, policy, t.logger)
			t.sup.ln, t.sup.lnFile = ln, lnFile
		} else {
			t.sup = newSupervisor(spec.Command, t.execEnv, t.dir, t.logFile, policy, t.logger)
			t.sup.guarded = true
		}
		if err := t.sup.start(); err != nil {
			return err
		}
	}
	p.at("started")

	// The ingress proxy, in front of the service.
	ingress, err := t.addLink(ctx, IngressLink, serviceHostPort, service.Scheme == "http")
	if err != nil {
		return err
	}
	ep := *service
	ep.Host = ingress.Addr()
	t.endpoint = strings.TrimSuffix(ep.String(), "/")
	p.at("ingress")

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
	if err := t.waitReady(ctx, ready, timeout); err != nil {
		return err
	}
	p.at("ready")
	return nil
}

// at calls the test hook, if any.
func (p *Provider) at(point string) {
	if p.hook != nil {
		p.hook(point)
	}
}

// stateDirPrefix starts the name of every state directory; the owner's pid
// and the target's id follow.
const stateDirPrefix = "chaoslab-"

// makeState makes the target's state directory, working directory and log
// file. The first call of a Provider first removes the state directories
// that processes now gone left behind.
func (t *Target) makeState(p *Provider, spec chaoslab.TargetSpec) error {
	root := p.dir
	if root == "" {
		root = os.TempDir()
	}
	p.sweep.Do(func() { sweepStale(root, t.logger) })
	var err error
	if t.stateDir, err = os.MkdirTemp(root, fmt.Sprintf("%s%d-%s-", stateDirPrefix, os.Getpid(), t.id)); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
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
	return nil
}

// staleDir matches the name of a state directory: owner pid, target id,
// MkdirTemp's suffix.
var staleDir = regexp.MustCompile(`^` + stateDirPrefix + `([0-9]+)-local-[0-9a-f]{12}-[0-9]+$`)

// sweepStale removes the state directories in root whose owner process no
// longer exists (it was killed before it could Close its targets). A pid
// that is alive, whoever has it now, keeps its directories.
func sweepStale(root string, logger *slog.Logger) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		m := staleDir.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			continue
		}
		path := filepath.Join(root, e.Name())
		if err := os.RemoveAll(path); err != nil {
			logger.Warn("cannot remove a stale state directory", "dir", path, "err", err)
			continue
		}
		logger.Info("removed a stale state directory", "dir", path, "owner_pid", pid)
	}
}

// listen binds addr and returns the listener with a duplicate of its
// descriptor to hand to children. Close closes both.
func (t *Target) listen(ctx context.Context, addr string) (*net.TCPListener, *os.File, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s for the demo: %w", addr, err)
	}
	ln := l.(*net.TCPListener)
	t.closers = append(t.closers, func(context.Context) error { return ignoreClosed(ln.Close()) })
	f, err := dupListener(ln)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s for the demo: %w", addr, err)
	}
	t.closers = append(t.closers, func(context.Context) error { return f.Close() })
	return ln, f, nil
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// dupListener returns a duplicate of ln's descriptor. Unlike ln.File, it
// leaves the socket in non-blocking mode when handed to a child (File's
// descriptor switches the shared socket to blocking mode when passed to
// exec, which would tie a thread to every Accept here).
func dupListener(ln *net.TCPListener) (*os.File, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return nil, err
	}
	var fd int
	var derr error
	err = rc.Control(func(s uintptr) {
		// Not inherited by children started meanwhile: close-on-exec is
		// set before any fork can happen.
		syscall.ForkLock.RLock()
		defer syscall.ForkLock.RUnlock()
		if fd, derr = syscall.Dup(int(s)); derr == nil {
			syscall.CloseOnExec(fd)
		}
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, fmt.Errorf("duplicate the listener: %w", err)
	}
	return os.NewFile(uintptr(fd), "listener"), nil
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
	stop := func() error {
		if t.sup == nil {
			return nil
		}
		select {
		case <-t.sup.done:
			return fmt.Errorf("%w: the process exited (%s) before %s answered",
				chaoslab.ErrNotReady, exitText(t.sup.exitErr()), url)
		default:
			return nil
		}
	}
	err := ready.Poll(ctx, url, timeout, 2*time.Second, stop)
	if errors.Is(err, chaoslab.ErrNotReady) {
		err = fmt.Errorf("%w%s", err, t.logTail())
	}
	return err
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
