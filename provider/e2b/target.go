package e2b

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/internal/netfault"
	"github.com/chaoslab-dev/chaoslab/provider/e2b/agent"
)

// Target is a target in an E2B sandbox, made by Provider.Provision. Its
// methods are safe for concurrent use.
type Target struct {
	id       string
	kind     chaoslab.TargetKind
	cfg      *config
	api      *apiClient
	log      *slog.Logger
	template string
	timeout  time.Duration // the sandbox's, renewed by keepalive
	dir      string        // working directory of the command and Exec; "" for home

	// life bounds everything that runs in the background for the target:
	// process streams, the supervisor, the keepalive. Close ends it.
	life     context.Context
	stopLife context.CancelFunc
	wg       group
	seq      atomic.Int64 // numbers tags and toxics

	// Set while provisioning, read-only afterwards.
	sb             *sandboxConn
	sandboxID      string
	agentArgs      []string
	apiPort        int // of the fault proxies' API in the sandbox
	demoDownstream string
	env            map[string]string
	sup            *supervisor
	links          []*link
	endpoint       string
	ingress        *netfault.Proxy // the Endpoint, on this machine
	relay          *http.Server    // from ingress to the sandbox host
	relayDone      chan struct{}
	relayTransport *http.Transport

	logs *fanout

	mu         sync.Mutex
	closed     bool
	uncertain  bool  // a creation may have made a sandbox whose answer was lost
	gone       error // set when the sandbox turned out to be gone
	stress     map[int]func(context.Context) error
	nextStress int

	closeMu   sync.Mutex
	closedOK  bool
	killed    bool
	localShut bool
}

// The capabilities of a target.
var (
	_ chaoslab.Target    = (*Target)(nil)
	_ chaoslab.Signaler  = (*Target)(nil)
	_ chaoslab.Router    = (*Target)(nil)
	_ chaoslab.Sampler   = (*Target)(nil)
	_ chaoslab.Stressor  = (*Target)(nil)
	_ chaoslab.LogSource = (*Target)(nil)
	_ chaoslab.Execer    = (*Target)(nil)
)

// ID returns the target's id, such as "e2b-3f9a0c1b2d4e".
func (t *Target) ID() string { return t.id }

// Endpoint returns the base URL of the target's ingress: a proxy on this
// machine that forwards to the sandbox.
func (t *Target) Endpoint() string { return t.endpoint }

// SandboxID returns the id of the target's sandbox.
func (t *Target) SandboxID() string { return t.sandboxID }

// PID returns the pid, in the sandbox, of the target's main process (the
// demo, or the command), or 0 when none runs.
func (t *Target) PID() int { return t.sup.pid() }

// check returns an error when the target can no longer be used.
func (t *Target) check(what string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("e2b: %s: %w: %s", what, ErrClosed, t.id)
	}
	if t.gone != nil {
		return fmt.Errorf("e2b: %s: %w", what, t.gone)
	}
	return nil
}

// noteGone records that the sandbox is gone when err says so (E2B's edge
// answered "sandbox was not found") and the API confirms it: the edge may
// say so for a moment while the sandbox lives.
func (t *Target) noteGone(err error) {
	if !errors.Is(err, ErrSandboxNotFound) {
		return
	}
	t.mu.Lock()
	known := t.gone != nil || t.closed
	t.mu.Unlock()
	if known {
		return
	}
	ctx, cancel := context.WithTimeout(t.life, 10*time.Second)
	defer cancel()
	if _, err := t.api.do(ctx, http.MethodGet, "/sandboxes/"+url.PathEscape(t.sandboxID), nil, nil, nil); !errors.Is(err, ErrSandboxNotFound) {
		t.log.Warn("the sandbox host said the sandbox was not found, but the API knows it", "err", err)
		return
	}
	t.mu.Lock()
	if t.gone != nil || t.closed {
		t.mu.Unlock()
		return
	}
	t.gone = err
	t.mu.Unlock()
	t.log.Error("the sandbox is gone", "err", err)
	t.logs.publish("chaoslab: the sandbox is gone: " + err.Error())
}

// Close kills the sandbox, and with it everything that ran there, and
// stops what ran here for the target (the ingress proxy, the process
// streams, the keepalive). A sandbox already gone counts as killed. If ctx
// is already done, the kill is still sent, bounded by 15 seconds of its
// own. Close is idempotent and safe for concurrent use; after a failed kill
// a later call tries it again. When it returns nil nothing of the target
// is left.
func (t *Target) Close(ctx context.Context) error {
	t.closeMu.Lock()
	defer t.closeMu.Unlock()
	if t.closedOK {
		return nil
	}
	t.mu.Lock()
	t.closed = true
	id, uncertain := t.sandboxID, t.uncertain
	t.mu.Unlock()
	t.stopLife()

	kctx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		kctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
	}
	var errs []error
	if id != "" && !t.killed {
		if err := t.api.kill(kctx, id); err != nil {
			errs = append(errs, err)
		} else {
			t.killed = true
		}
	}
	if uncertain && !t.killed {
		if err := t.sweep(kctx); err != nil {
			errs = append(errs, err)
		} else {
			t.killed = true
		}
	}
	if !t.localShut {
		t.localShut = true
		if t.ingress != nil {
			if err := t.ingress.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if t.relay != nil {
			_ = t.relay.Close()
			<-t.relayDone
			t.relayTransport.CloseIdleConnections()
		}
	}
	t.wg.closeAndWait()
	if len(errs) > 0 {
		return fmt.Errorf("e2b: close %s: %w", t.id, errors.Join(errs...))
	}
	t.closedOK = true
	t.log.Info("target closed")
	return nil
}

// sweep kills the sandboxes carrying this target's id: after a creation
// whose answer was lost, the sandbox it may have made. It looks twice, a
// moment apart, in case the creation was still under way.
func (t *Target) sweep(ctx context.Context) error {
	for i := range 2 {
		if i > 0 {
			timer := time.NewTimer(300 * time.Millisecond)
			select {
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			case <-timer.C:
			}
		}
		found, err := t.api.list(ctx, map[string]string{MetaManaged: managedValue, MetaTarget: t.id})
		if err != nil {
			return err
		}
		for _, s := range found {
			if err := t.api.kill(ctx, s.SandboxID); err != nil {
				return err
			}
			t.log.Info("killed the sandbox of a creation whose answer was lost", "sandbox", s.SandboxID)
		}
	}
	return nil
}

// keepalive renews the sandbox's timeout every third of it while the
// target is open.
func (t *Target) keepalive() {
	defer t.wg.done()
	every := max(t.timeout/3, 500*time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-t.life.Done():
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(t.life, every)
		err := t.api.setTimeout(ctx, t.sandboxID, t.timeout)
		cancel()
		switch {
		case err == nil:
		case errors.Is(err, ErrSandboxNotFound):
			t.noteGone(err)
			return
		case t.life.Err() == nil:
			t.log.Warn("cannot renew the sandbox's timeout", "err", err)
		}
	}
}

// run runs a process to its end and returns its output, stdout and stderr
// interleaved as they came. When ctx ends first the process gets SIGKILL
// and then its stream is closed. A start is never tried again.
func (t *Target) run(ctx context.Context, spec procSpec) ([]byte, error) {
	if dl, ok := ctx.Deadline(); ok && spec.timeout == 0 {
		// envd's own deadline, a little after ours: the process dies even
		// if this process does.
		spec.timeout = time.Until(dl) + 2*time.Second
	}
	var mu sync.Mutex
	var out bytes.Buffer
	p, err := t.sb.start(ctx, t.life, &t.wg, spec, func(_ bool, b []byte) {
		mu.Lock()
		out.Write(b)
		mu.Unlock()
	})
	if err != nil {
		t.noteGone(err)
		return nil, err
	}
	output := func() []byte {
		mu.Lock()
		defer mu.Unlock()
		return bytes.Clone(out.Bytes())
	}
	ex, err := p.wait(ctx)
	if err != nil && ctx.Err() != nil && !p.ended() {
		kerr := p.kill(ctx)
		if kerr != nil {
			return output(), fmt.Errorf("%w (and SIGKILL: %w)", ctx.Err(), kerr)
		}
		return output(), ctx.Err()
	}
	if ctx.Err() != nil { // ended at the same time: take its result
		ex, err = p.exit, p.lostErr
	}
	if err != nil {
		t.noteGone(err)
		return output(), err
	}
	return output(), ex.err()
}

// launch starts a long-running process (with no Connect-Timeout-Ms) and
// returns once it prints a stdout line that match accepts, with that line.
// Its stderr goes to the log. If it ends first, the error quotes the end of
// its stderr; if ctx ends first, it is killed.
func (t *Target) launch(ctx context.Context, spec procSpec, name string, match func(string) bool) (*process, string, error) {
	got := make(chan string, 1)
	tail := &ring{max: 8}
	found := false
	outW := &lineWriter{emit: func(l string) {
		if !found && match(l) {
			found = true
			got <- l
		}
		t.log.Debug("helper output", "helper", name, "line", l)
	}}
	errW := &lineWriter{emit: func(l string) {
		tail.add(l)
		t.log.Debug("helper stderr", "helper", name, "line", l)
	}}
	p, err := t.sb.start(ctx, t.life, &t.wg, spec, func(stderr bool, b []byte) {
		switch {
		case b == nil:
			outW.flush()
			errW.flush()
		case stderr:
			errW.write(b)
		default:
			outW.write(b)
		}
	})
	if err != nil {
		t.noteGone(err)
		return nil, "", err
	}
	select {
	case line := <-got:
		return p, line, nil
	case <-p.done:
		select {
		case line := <-got:
			return nil, "", fmt.Errorf("%s ended right after it started (%q)", name, line)
		default:
		}
		why := p.lostErr
		if why == nil {
			why = p.exit.err()
		}
		if why == nil {
			why = errors.New("exited 0")
		}
		return nil, "", fmt.Errorf("%s ended before it was ready: %w%s", name, why, tail.text())
	case <-ctx.Done():
		_ = p.kill(ctx)
		return nil, "", ctx.Err()
	}
}

// ring keeps the last lines of an output.
type ring struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (r *ring) add(l string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, l)
	if len(r.lines) > r.max {
		r.lines = r.lines[len(r.lines)-r.max:]
	}
}

func (r *ring) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lines) == 0 {
		return ""
	}
	return "; its last lines:\n" + strings.Join(r.lines, "\n")
}

// startIngress starts the Endpoint: an HTTP-aware fault proxy on this
// machine (where HTTP faults of the ingress act) before a relay that sends
// each request to the in-sandbox ingress proxy through the sandbox host,
// with the headers that route it there.
func (t *Target) startIngress(ctx context.Context, in *link) error {
	base, err := url.Parse(t.sb.portURL(in.port))
	if err != nil {
		return err
	}
	t.relayTransport = newTransport(512)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(base)
			t.sb.route(pr.Out.Header, in.port)
		},
		Transport: t.relayTransport,
		ErrorLog:  slog.NewLogLogger(t.log.Handler(), slog.LevelDebug),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, "chaoslab e2b ingress: %v\n", err)
		},
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("ingress relay: %w", err)
	}
	t.relay = &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(t.log.Handler(), slog.LevelDebug)}
	t.relayDone = make(chan struct{})
	go func() {
		defer close(t.relayDone)
		_ = t.relay.Serve(ln)
	}()
	px := netfault.New(ln.Addr().String(), netfault.WithHTTP(), netfault.WithLogger(t.log.With("link", IngressLink)))
	if err := px.Start(ctx); err != nil {
		return fmt.Errorf("ingress proxy: %w", err)
	}
	t.ingress = px
	in.local = px
	t.endpoint = "http://" + px.Addr()
	return nil
}

// Signal sends sig to the target's main process. SIGKILL and SIGTERM go
// through envd; the others (SIGSTOP, SIGCONT…) through the agent, to the
// process's group when it leads one, and SIGSTOP returns once the process
// has stopped. After the process ends, the supervisor starts it again
// according to the restart policy. sig must be a syscall.Signal.
func (t *Target) Signal(ctx context.Context, sig os.Signal) error {
	if err := t.check("signal"); err != nil {
		return err
	}
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("e2b: signal %v is not a syscall.Signal: %w", sig, chaoslab.ErrUnsupported)
	}
	pid := t.sup.pid()
	if pid == 0 {
		return fmt.Errorf("e2b: signal %s: the process is not running (between restarts)", s)
	}
	var err error
	switch s {
	case syscall.SIGKILL:
		err = t.sb.signal(ctx, uint32(pid), "SIGNAL_SIGKILL")
	case syscall.SIGTERM:
		err = t.sb.signal(ctx, uint32(pid), "SIGNAL_SIGTERM")
	default:
		_, err = t.runAgent(ctx, "signal", "--pid", strconv.Itoa(pid), "--signal", strconv.Itoa(int(s)))
	}
	if err != nil {
		t.noteGone(err)
		return fmt.Errorf("e2b: signal %s to pid %d in sandbox %s: %w", s, pid, t.sandboxID, err)
	}
	t.logs.publish(fmt.Sprintf("chaoslab: sent %s to %s (pid %d)", s, t.sup.name, pid))
	return nil
}

// Sample reads the sandbox's resource use from envd: CPU (HostCPUPercent
// of all its CPUs; CPUPercent the same in cores × 100) and memory in use
// (MemoryBytes and HostMemoryBytes), and disk use. The sandbox is the
// target's machine, so the target's figures are the sandbox's.
func (t *Target) Sample(ctx context.Context) (chaoslab.Sample, error) {
	if err := t.check("sample"); err != nil {
		return chaoslab.Sample{}, err
	}
	m, err := t.sb.metrics(ctx)
	if err != nil {
		t.noteGone(err)
		return chaoslab.Sample{}, fmt.Errorf("e2b: sample %s: %w", t.id, err)
	}
	return chaoslab.Sample{
		CPUPercent:      m.CPUUsedPct * float64(max(m.CPUCount, 1)),
		MemoryBytes:     m.MemUsed,
		HostCPUPercent:  m.CPUUsedPct,
		HostMemoryBytes: m.MemUsed,
		DiskUsedBytes:   m.DiskUsed,
	}, nil
}

// Stress applies resource pressure in the sandbox and returns once it is
// applied: cpu and memory by an agent process (killed by Undo), disk by a
// file written under ~/.chaoslab (removed by Undo; a disk that fills up
// first leaves the file as large as it got). More memory than the sandbox
// has, or more cores, is an error wrapping chaoslab.ErrUnsupported. Undo is
// idempotent, and does nothing once the target is closed.
func (t *Target) Stress(ctx context.Context, s chaoslab.Stress) (chaoslab.Undo, error) {
	if err := t.check("stress"); err != nil {
		return nil, err
	}
	var undo func(context.Context) error
	var err error
	switch s.Kind {
	case chaoslab.StressCPU:
		cores, pct := max(s.Cores, 1), s.Percent
		if pct <= 0 || pct > 100 {
			pct = 100
		}
		if err := t.fits(ctx, s.Kind, int64(cores)); err != nil {
			return nil, err
		}
		undo, err = t.stressProcess(ctx, "cpu", "--cores", strconv.Itoa(cores), "--percent", strconv.FormatFloat(pct, 'f', -1, 64))
	case chaoslab.StressMemory:
		if s.Bytes <= 0 {
			return nil, fmt.Errorf("e2b: memory stress needs Bytes > 0: %w", chaoslab.ErrInvalid)
		}
		if err := t.fits(ctx, s.Kind, s.Bytes); err != nil {
			return nil, err
		}
		undo, err = t.stressProcess(ctx, "memory", "--bytes", strconv.FormatInt(s.Bytes, 10))
	case chaoslab.StressDisk:
		if s.Bytes <= 0 {
			return nil, fmt.Errorf("e2b: disk stress needs Bytes > 0: %w", chaoslab.ErrInvalid)
		}
		undo, err = t.fillDisk(ctx, s.Bytes)
	default:
		return nil, fmt.Errorf("e2b: stress kind %q: %w", s.Kind, chaoslab.ErrUnsupported)
	}
	if err != nil {
		t.noteGone(err)
		return nil, fmt.Errorf("e2b: %s stress in sandbox %s: %w", s.Kind, t.sandboxID, err)
	}
	return t.track(undo)
}

// fits checks a stress against the sandbox's size: cores against its CPUs,
// memory against its memory. A sandbox whose size cannot be read passes.
func (t *Target) fits(ctx context.Context, kind chaoslab.StressKind, n int64) error {
	m, err := t.sb.metrics(ctx)
	if err != nil {
		return nil
	}
	switch {
	case kind == chaoslab.StressCPU && m.CPUCount > 0 && n > int64(m.CPUCount):
		return fmt.Errorf("e2b: cpu stress on %d cores: the sandbox of template %s has %d: %w", n, t.template, m.CPUCount, chaoslab.ErrUnsupported)
	case kind == chaoslab.StressMemory && m.MemTotal > 0 && uint64(n) >= m.MemTotal:
		return fmt.Errorf("e2b: memory stress of %d MiB: the sandbox of template %s has %d MiB: %w", n>>20, t.template, m.MemTotal>>20, chaoslab.ErrUnsupported)
	}
	return nil
}

// stressProcess starts an agent that holds pressure until it is killed.
func (t *Target) stressProcess(ctx context.Context, args ...string) (func(context.Context) error, error) {
	spec := procSpec{cmd: agentExec, args: t.agentArgv(args...), tag: t.tag("stress-" + args[0])}
	p, _, err := t.launch(ctx, spec, args[0]+" stress", func(l string) bool { return l == agent.ReadyLine })
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		err := p.kill(ctx)
		select {
		case <-p.done:
		case <-ctx.Done():
		}
		return err
	}, nil
}

// fillDisk writes a file of n bytes under the agent's directory.
func (t *Target) fillDisk(ctx context.Context, n int64) (func(context.Context) error, error) {
	file := fmt.Sprintf("%s/disk-fill-%d.bin", agentDir, t.seq.Add(1))
	remove := func(ctx context.Context) error {
		err := t.sb.remove(ctx, file)
		var rpc *RPCError
		if errors.As(err, &rpc) && rpc.Code == "not_found" {
			return nil
		}
		return err
	}
	out, err := t.runAgent(ctx, "fill", "--path", file, "--bytes", strconv.FormatInt(n, 10))
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return nil, errors.Join(err, remove(cctx))
	}
	if strings.Contains(string(out), "disk full") {
		t.log.Warn("the disk filled up before the disk stress was written", "wanted", n, "agent", strings.TrimSpace(string(out)))
	}
	return remove, nil
}

// track records undo so that it runs at most once, and returns the Undo
// for it. Once the target is closed, Undo does nothing: the sandbox, and
// the pressure with it, is gone.
func (t *Target) track(undo func(context.Context) error) (chaoslab.Undo, error) {
	var once sync.Once
	var err error
	t.mu.Lock()
	n := t.nextStress
	t.nextStress++
	t.stress[n] = undo
	t.mu.Unlock()
	return func(ctx context.Context) error {
		t.mu.Lock()
		delete(t.stress, n)
		closed := t.closed
		t.mu.Unlock()
		if closed {
			return nil
		}
		once.Do(func() { err = undo(ctx) })
		return err
	}, nil
}

// FollowLogs calls fn with every line the target's main process writes
// (stdout and stderr, across restarts) and the supervisor's events (lines
// beginning "chaoslab:"), from now on, until ctx is done; then it returns
// ctx's error. Lines come from the process's stream: a UTF-8 character
// split between two chunks arrives whole. A follower that falls more than
// 4096 lines behind loses lines.
func (t *Target) FollowLogs(ctx context.Context, fn func(line string)) error {
	return t.logs.follow(ctx, fn)
}

// Exec runs argv in the sandbox (not through a shell: argv[0] is looked
// up in envd's PATH), in the target's working directory with its
// environment, and returns the combined output. A non-zero exit is an
// error wrapping *ExitError. If ctx ends first, the process gets SIGKILL,
// then its stream is closed; a start is never tried again.
func (t *Target) Exec(ctx context.Context, argv []string) ([]byte, error) {
	if err := t.check("exec"); err != nil {
		return nil, err
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("e2b: exec: empty command: %w", chaoslab.ErrInvalid)
	}
	out, err := t.run(ctx, procSpec{cmd: argv[0], args: argv[1:], envs: t.env, cwd: t.dir, tag: t.tag("exec")})
	if err != nil {
		return out, fmt.Errorf("e2b: exec %s: %w", argv[0], err)
	}
	return out, nil
}

// WriteFile writes data to path in the sandbox (relative to the user's
// home unless absolute), making its parent directories.
func (t *Target) WriteFile(ctx context.Context, path string, data []byte) error {
	if err := t.check("write file"); err != nil {
		return err
	}
	if err := t.sb.upload(ctx, path, bytes.NewReader(data), int64(len(data))); err != nil {
		t.noteGone(err)
		return fmt.Errorf("e2b: %w", err)
	}
	return nil
}

// ReadFile reads the file at path in the sandbox (relative to the user's
// home unless absolute), up to 64 MiB.
func (t *Target) ReadFile(ctx context.Context, path string) ([]byte, error) {
	if err := t.check("read file"); err != nil {
		return nil, err
	}
	b, err := t.sb.download(ctx, path, 64<<20)
	if err != nil {
		t.noteGone(err)
		return nil, fmt.Errorf("e2b: %w", err)
	}
	return b, nil
}
