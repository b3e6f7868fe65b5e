package e2b

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/internal/ready"
	"github.com/chaoslab-dev/chaoslab/provider/e2b/agent"
)

// Link names every target has.
const (
	// IngressLink is the link between clients (load, probes) and the
	// target.
	IngressLink = "ingress"
	// DownstreamLink is the demo's link to its downstream dependency.
	DownstreamLink = "downstream"
)

// Keys of the metadata chaoslab writes on its sandboxes.
const (
	// MetaManaged marks a sandbox made by this provider; its value is
	// "e2b-provider".
	MetaManaged = "chaoslab"
	// MetaRun is the run id (TargetSpec.Options["run_id"], WithRunID, or
	// the Runner's, from the context).
	MetaRun = "chaoslab_run"
	// MetaTarget is the target id.
	MetaTarget = "chaoslab_target"
	// MetaHost and MetaPID name the host and process that made it.
	MetaHost = "chaoslab_host"
	MetaPID  = "chaoslab_pid"
)

const managedValue = "e2b-provider"

// Where chaoslab keeps its files in the sandbox, relative to the user's
// home (every path chaoslab sends is relative to it, so that it holds for
// any user and template).
const (
	agentDir  = ".chaoslab"
	agentFile = agentDir + "/agent"
	agentExec = "./" + agentFile
)

// Keys of TargetSpec.Options this provider reads.
var optionKeys = []string{"template", "sandbox_timeout", "run_id", "upload"}

// targetOptions are a spec's provider-specific settings.
type targetOptions struct {
	template string
	timeout  time.Duration
	runID    string
	uploads  [][2]string // local, remote
}

// Provision makes a sandbox and starts the target in it, and returns it
// once its Endpoint answers. On any error (a cancelled ctx included) or
// panic, everything it made, the sandbox first, is released before it
// returns. A readiness timeout is an error wrapping chaoslab.ErrNotReady; a
// spec this provider cannot run wraps chaoslab.ErrInvalid, or
// chaoslab.ErrUnsupported for what E2B or the template cannot do.
func (p *Provider) Provision(ctx context.Context, spec chaoslab.TargetSpec) (_ chaoslab.Target, err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("e2b: provision: %w", err)
	}
	if spec.Kind == "" {
		spec.Kind = chaoslab.TargetDemo
	}
	opts, err := p.check(spec)
	if err != nil {
		return nil, err
	}
	if opts.runID == "" {
		opts.runID = chaoslab.RunIDFromContext(ctx) // the Runner's run
	}
	if p.cfg.apiKey == "" {
		return nil, ErrNoAPIKey
	}
	t := p.newTarget(spec, opts)
	ok := false
	defer func() {
		if ok {
			return
		}
		// Release on a fresh context: ctx may be what failed. This runs
		// on a panic too, which then goes on.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if cerr := t.Close(cctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("e2b: release after failed provision: %w", cerr))
		}
	}()
	if err := t.provision(ctx, p, spec, opts); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return nil, fmt.Errorf("e2b: provision %s target %s: %w", spec.Kind, t.id, err)
	}
	ok = true
	t.log.Info("target ready", "kind", spec.Kind, "sandbox", t.sandboxID, "endpoint", t.endpoint)
	return t, nil
}

// check rejects specs this provider cannot run, naming the fields, and
// reads the options.
func (p *Provider) check(spec chaoslab.TargetSpec) (targetOptions, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	opts := targetOptions{template: p.cfg.template, timeout: p.cfg.sandboxTimeout, runID: p.cfg.runID}
	switch spec.Kind {
	case chaoslab.TargetDemo:
		if len(spec.Command) > 0 {
			bad("target.command is only for kind command")
		}
	case chaoslab.TargetCommand:
		if len(spec.Command) == 0 {
			bad("target.command is required for kind command")
		}
		if spec.Address == "" {
			bad("target.address is required for kind command: where the command listens in the sandbox")
		}
	case chaoslab.TargetAddress:
		return opts, fmt.Errorf("e2b: target kind address: a service that already runs is not in a sandbox (use the local provider): %w", chaoslab.ErrUnsupported)
	default:
		bad("target.kind %q is not demo or command", spec.Kind)
	}
	if spec.Address != "" {
		if _, err := servicePort(spec.Address); err != nil {
			bad("target.address %q: %v", spec.Address, err)
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
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		if !validEnvName(k) {
			bad("target.env: name %q is empty or holds '=' or NUL", k)
		}
	}
	names := map[string]bool{IngressLink: true}
	if spec.Kind == chaoslab.TargetDemo {
		names[DownstreamLink] = true
	}
	envs := map[string]int{}
	for i, d := range spec.Dependencies {
		if names[d.Name] || d.Name == "" || strings.ContainsAny(d.Name, "/?#%") {
			bad("target.dependencies[%d].name %q is empty, reserved, used twice or holds /?#%%", i, d.Name)
		}
		names[d.Name] = true
		if _, _, err := net.SplitHostPort(d.Upstream); err != nil {
			bad("target.dependencies[%d].upstream %q must be a host:port", i, d.Upstream)
		}
		if d.Protocol != "" && d.Protocol != "tcp" && d.Protocol != "http" {
			bad("target.dependencies[%d].protocol %q is not tcp or http", i, d.Protocol)
		}
		field := fmt.Sprintf("target.dependencies[%d].env", i)
		j, dup := envs[d.Env]
		_, inEnv := spec.Env[d.Env]
		switch {
		case d.Env == "":
			bad("%s is required (the variable that hands %s the proxy's address)", field, d.Name)
		case !validEnvName(d.Env):
			bad("%s %q holds '=' or NUL", field, d.Env)
		case dup:
			bad("%s: %s is also target.dependencies[%d].env", field, d.Env, j)
		case inEnv:
			bad("%s: %s is also set in target.env", field, d.Env)
		}
		envs[d.Env] = i
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Options)) {
		v := spec.Options[k]
		switch k {
		case "template":
			if strings.TrimSpace(v) == "" {
				bad("target.options.template is empty")
			}
			opts.template = v
		case "sandbox_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second {
				bad("target.options.sandbox_timeout %q must be a duration of at least 1s", v)
			}
			opts.timeout = d
		case "run_id":
			opts.runID = v
		case "upload":
			for _, pair := range strings.Split(v, ",") {
				local, remote, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if !ok || local == "" || remote == "" {
					bad("target.options.upload %q: want LOCAL=REMOTE[,LOCAL=REMOTE...]", v)
					break
				}
				opts.uploads = append(opts.uploads, [2]string{local, remote})
			}
		default:
			bad("target.options.%s is not an option of the e2b provider (options: %s)", k, strings.Join(optionKeys, ", "))
		}
	}
	if len(problems) > 0 {
		return opts, fmt.Errorf("e2b: %s: %w", strings.Join(problems, "; "), chaoslab.ErrInvalid)
	}
	return opts, nil
}

// validEnvName reports whether name can be an environment variable's name.
func validEnvName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "=\x00")
}

// servicePort reads the port of a service's address (a URL or host:port);
// the host is the sandbox.
func servicePort(addr string) (int, error) {
	base, err := chaoslab.NormalizeAddress(addr)
	if err != nil {
		return 0, err
	}
	u, _ := url.Parse(base)
	if u.Scheme != "http" {
		return 0, errors.New("must be http: the sandbox host forwards plain HTTP to the sandbox's ports")
	}
	port := u.Port()
	if port == "" {
		return 80, nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || n == EnvdPort {
		return 0, fmt.Errorf("port %q is not usable (%d is envd's)", port, EnvdPort)
	}
	return n, nil
}

// newTarget returns a target with nothing made yet.
func (p *Provider) newTarget(spec chaoslab.TargetSpec, opts targetOptions) *Target {
	id := newID()
	t := &Target{
		id:       id,
		kind:     spec.Kind,
		cfg:      &p.cfg,
		api:      p.api(),
		log:      p.cfg.logger.With("target", id),
		template: opts.template,
		timeout:  opts.timeout,
		dir:      spec.Dir,
		logs:     newFanout(),
		stress:   map[int]func(context.Context) error{},
	}
	t.life, t.stopLife = context.WithCancel(context.Background())
	return t
}

func newID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "e2b-" + hex.EncodeToString(b)
}

// provision does the work of Provision, recording on t everything it makes
// so that Close releases it.
func (t *Target) provision(ctx context.Context, p *Provider, spec chaoslab.TargetSpec, opts targetOptions) error {
	if err := t.createSandbox(ctx, opts); err != nil {
		return err
	}
	if t.wg.add() {
		go t.keepalive()
	}

	// The agent, for the sandbox's architecture.
	goarch, err := t.arch(ctx)
	if err != nil {
		return err
	}
	agentPath, agentArgs, err := p.agentFor(ctx, goarch)
	if err != nil {
		return fmt.Errorf("template %s runs linux/%s: %w", t.template, goarch, err)
	}
	t.agentArgs = agentArgs
	if err := t.uploadFile(ctx, agentPath, agentFile, true); err != nil {
		return fmt.Errorf("upload the agent: %w", err)
	}
	out, err := t.runAgent(ctx, "version")
	if err != nil {
		return fmt.Errorf("the agent does not run in template %s: %w: %w", t.template, err, chaoslab.ErrUnsupported)
	}
	if v := strings.TrimSpace(string(out)); v != agent.Version {
		return fmt.Errorf("the agent %s speaks %q, not %q: %w", agentPath, v, agent.Version, chaoslab.ErrInvalid)
	}
	for _, u := range opts.uploads {
		if err := t.uploadFile(ctx, u[0], u[1], false); err != nil {
			return fmt.Errorf("target.options.upload: %w", err)
		}
	}

	// The fault proxies' API.
	_, apiAddr, err := t.launchAgent(ctx, "proxy", "proxy", "--api", t.listenAddr(0))
	if err != nil {
		return err
	}
	if t.apiPort, err = portOf(apiAddr); err != nil {
		return err
	}

	// Dependencies and the process.
	env := maps.Clone(spec.Env)
	if env == nil {
		env = map[string]string{}
	}
	var servicePortNum int
	if spec.Address != "" {
		servicePortNum, _ = servicePort(spec.Address) // check has vetted it
	}
	if spec.Kind == chaoslab.TargetDemo {
		_, dsAddr, err := t.launchAgent(ctx, "downstream", "downstream", "--listen", t.listenAddr(0))
		if err != nil {
			return err
		}
		dsPort, err := portOf(dsAddr)
		if err != nil {
			return err
		}
		l, err := t.addLink(ctx, DownstreamLink, loopback(dsPort), false)
		if err != nil {
			return err
		}
		t.demoDownstream = loopback(l.port)
	}
	for _, d := range spec.Dependencies {
		l, err := t.addLink(ctx, d.Name, d.Upstream, d.Protocol == "http")
		if err != nil {
			return err
		}
		env[d.Env] = loopback(l.port)
	}
	t.env = env

	policy := spec.Restart
	if policy == "" {
		policy = chaoslab.RestartOnFailure
		if spec.Kind == chaoslab.TargetDemo {
			policy = chaoslab.RestartAlways
		}
	}
	if spec.Kind == chaoslab.TargetDemo {
		t.sup = newSupervisor(t, "demo", policy, true, func(port int) procSpec {
			return procSpec{cmd: agentExec, args: t.agentArgv("demo", "--listen", t.listenAddr(port), "--downstream", t.demoDownstream),
				envs: env, tag: t.tag("demo")}
		})
	} else {
		t.sup = newSupervisor(t, "command", policy, false, func(int) procSpec {
			return procSpec{cmd: spec.Command[0], args: spec.Command[1:], envs: env, cwd: t.dir, tag: t.tag("command")}
		})
	}
	if servicePortNum, err = t.sup.begin(ctx, servicePortNum); err != nil {
		return err
	}

	// Ingress: a fault proxy in the sandbox before the service, reached
	// through the sandbox host from a local proxy that is the Endpoint.
	in, err := t.addLink(ctx, IngressLink, loopback(servicePortNum), true)
	if err != nil {
		return err
	}
	if err := t.startIngress(ctx, in); err != nil {
		return err
	}

	// Readiness.
	ready, err := t.readyURL(spec, servicePortNum)
	if err != nil {
		return err
	}
	timeout := spec.ReadyTimeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	return t.waitReady(ctx, ready, timeout)
}

// createSandbox makes the target's sandbox: from its template, with an
// explicit timeout, secured (envd wants the access token), and with
// metadata naming chaoslab, the run and this target.
func (t *Target) createSandbox(ctx context.Context, opts targetOptions) error {
	host, _ := os.Hostname()
	runID := opts.runID
	if runID == "" {
		runID = t.id
	}
	req := newSandbox{
		TemplateID: opts.template,
		Timeout:    seconds(opts.timeout),
		Secure:     true,
		Metadata: map[string]string{
			MetaManaged: managedValue,
			MetaRun:     runID,
			MetaTarget:  t.id,
			MetaHost:    host,
			MetaPID:     strconv.Itoa(os.Getpid()),
		},
	}
	sb, err := t.api.create(ctx, req, t.cfg.createAttempts, t.cfg.retryBase)
	if err != nil {
		t.mu.Lock()
		t.uncertain = errors.Is(err, errUncertain)
		t.mu.Unlock()
		return err
	}
	domain := t.cfg.domain
	if sb.Domain != nil && *sb.Domain != "" {
		domain = *sb.Domain
	}
	conn := &sandboxConn{
		id:      sb.SandboxID,
		shared:  t.cfg.sandboxURL,
		domain:  domain,
		token:   sb.EnvdAccessToken,
		user:    t.cfg.user,
		hc:      t.cfg.client,
		timeout: t.cfg.requestTimeout,
		ping:    t.cfg.keepalivePing,
	}
	if sb.TrafficAccessToken != nil {
		conn.traffic = *sb.TrafficAccessToken
	}
	t.mu.Lock()
	t.sandboxID, t.sb = sb.SandboxID, conn
	t.mu.Unlock()
	t.log = t.log.With("sandbox", sb.SandboxID)
	t.log.Info("sandbox created", "template", opts.template, "timeout", opts.timeout, "envd", sb.EnvdVersion)
	return nil
}

// arch returns the GOARCH of the sandbox's machine.
func (t *Target) arch(ctx context.Context) (string, error) {
	out, err := t.run(ctx, procSpec{cmd: "uname", args: []string{"-m"}, tag: t.tag("uname")})
	if err != nil {
		return "", fmt.Errorf("uname -m in template %s: %w", t.template, err)
	}
	goarch, ok := goarchOf(string(out))
	if !ok {
		return "", fmt.Errorf("template %s runs on %q, for which there is no agent: %w", t.template, strings.TrimSpace(string(out)), chaoslab.ErrUnsupported)
	}
	return goarch, nil
}

// uploadFile copies a local file into the sandbox (remote is relative to
// the user's home unless absolute) and makes it executable when exec is
// set or the local file is.
func (t *Target) uploadFile(ctx context.Context, local, remote string, exec bool) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory", local)
	}
	if err := t.sb.upload(ctx, remote, f, fi.Size()); err != nil {
		return err
	}
	if exec || fi.Mode()&0o111 != 0 {
		if _, err := t.run(ctx, procSpec{cmd: "chmod", args: []string{"755", remote}, tag: t.tag("chmod")}); err != nil {
			return fmt.Errorf("chmod %s: %w", remote, err)
		}
	}
	return nil
}

// agentArgv returns the arguments of an agent subcommand, after those
// WithAgent put first.
func (t *Target) agentArgv(args ...string) []string {
	return append(slices.Clone(t.agentArgs), args...)
}

// runAgent runs an agent subcommand to its end and returns its output.
func (t *Target) runAgent(ctx context.Context, args ...string) ([]byte, error) {
	return t.run(ctx, procSpec{cmd: agentExec, args: t.agentArgv(args...), tag: t.tag("agent-" + args[0])})
}

// launchAgent starts a serving agent subcommand and returns once it said
// where it listens.
func (t *Target) launchAgent(ctx context.Context, name string, args ...string) (*process, string, error) {
	spec := procSpec{cmd: agentExec, args: t.agentArgv(args...), tag: t.tag("agent-" + name)}
	p, line, err := t.launch(ctx, spec, name, func(l string) bool { return strings.HasPrefix(l, agent.ListeningPrefix) })
	if err != nil {
		return nil, "", fmt.Errorf("start the %s helper: %w", name, err)
	}
	return p, strings.TrimPrefix(line, agent.ListeningPrefix), nil
}

// listenAddr is the address a helper in the sandbox listens on.
func (t *Target) listenAddr(port int) string {
	return net.JoinHostPort(t.cfg.listenHost, strconv.Itoa(port))
}

// loopback is a port of the sandbox as its processes reach it.
func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// portOf reads the port of a host:port.
func portOf(addr string) (int, error) {
	_, p, err := net.SplitHostPort(strings.TrimSpace(addr))
	if err != nil {
		return 0, fmt.Errorf("bad address %q: %w", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("bad port in %q", addr)
	}
	return n, nil
}

// tag names a process of this target uniquely.
func (t *Target) tag(what string) string {
	return fmt.Sprintf("chaoslab-%s-%s-%d", t.id, what, t.seq.Add(1))
}

// readyURL is where readiness is checked: the spec's ReadyURL (a loopback
// one is in the sandbox, reached through the ingress's route to its port),
// else the Endpoint with the health path.
func (t *Target) readyURL(spec chaoslab.TargetSpec, port int) (string, error) {
	if spec.ReadyURL == "" {
		health := spec.HealthPath
		if health == "" {
			health = "/"
			if spec.Kind == chaoslab.TargetDemo {
				health = "/health"
			}
		}
		return t.endpoint + "/" + strings.TrimPrefix(health, "/"), nil
	}
	u, err := url.Parse(spec.ReadyURL)
	if err != nil {
		return "", err
	}
	if h := u.Hostname(); h == "localhost" || net.ParseIP(h) != nil && net.ParseIP(h).IsLoopback() {
		if u.Port() != "" && u.Port() != strconv.Itoa(port) {
			return "", fmt.Errorf("target.ready_url %q: a sandbox URL must use the service's port %d: %w", spec.ReadyURL, port, chaoslab.ErrInvalid)
		}
		return t.endpoint + path.Clean("/"+u.EscapedPath()) + queryOf(u), nil
	}
	return spec.ReadyURL, nil
}

func queryOf(u *url.URL) string {
	if u.RawQuery == "" {
		return ""
	}
	return "?" + u.RawQuery
}

// waitReady polls url until it answers 2xx or 3xx, the process gives up,
// timeout passes (an error wrapping ErrNotReady) or ctx is done.
func (t *Target) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	stop := func() error {
		if err := t.sup.gaveUpErr(); err != nil {
			return fmt.Errorf("%w: %v before %s answered", chaoslab.ErrNotReady, err, url)
		}
		return nil
	}
	err := ready.Poll(ctx, url, timeout, 5*time.Second, stop)
	if errors.Is(err, chaoslab.ErrNotReady) {
		err = fmt.Errorf("%w%s", err, t.logs.tailText())
	}
	return err
}
