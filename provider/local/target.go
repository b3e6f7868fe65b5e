package local

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/internal/netfault"
	"github.com/chaoslab-dev/chaoslab/internal/observe"
)

// Target is a target made by the local Provider. Its methods are safe for
// concurrent use.
type Target struct {
	id       string
	kind     chaoslab.TargetKind
	endpoint string
	logger   *slog.Logger
	sampler  *observe.Sampler

	stateDir string   // removed at Close; "" for kind address
	dir      string   // working directory; "" for kind address
	logPath  string   // "" for kind address
	logFile  *os.File // the children's stdout and stderr
	execEnv  []string // the environment of Exec

	sup        *supervisor // nil for kind address
	links      []*link     // in the order they were made
	unroutable []string    // dependencies of an address target
	closers    []func(context.Context) error

	mu         sync.Mutex
	closed     bool
	stress     map[int]func() error // active stress, by sequence number
	nextStress int
	groups     map[int]struct{} // process groups of Exec and stress children
	busy       int              // Exec calls and stress children under way
	idle       chan struct{}    // made by Close; closed when busy drops to 0

	closeOnce sync.Once
	closeErr  error
}

// The capabilities a local target has.
var (
	_ chaoslab.Target    = (*Target)(nil)
	_ chaoslab.Signaler  = (*Target)(nil)
	_ chaoslab.Router    = (*Target)(nil)
	_ chaoslab.Sampler   = (*Target)(nil)
	_ chaoslab.Stressor  = (*Target)(nil)
	_ chaoslab.LogSource = (*Target)(nil)
	_ chaoslab.Execer    = (*Target)(nil)
)

// ErrClosed is wrapped by the errors of a Target's methods called after
// its Close began.
var ErrClosed = errors.New("local: target is closed")

// ID returns the target's id, such as "local-3f9a0c1b2d4e".
func (t *Target) ID() string { return t.id }

// Endpoint returns the ingress proxy's base URL.
func (t *Target) Endpoint() string { return t.endpoint }

// PID returns the pid of the target's main process (the demo, or the
// command), or 0 when none runs (kind address, between restarts, after
// Close).
func (t *Target) PID() int {
	if t.sup == nil {
		return 0
	}
	return t.sup.pid()
}

// Dir returns the target's working directory ("" for kind address).
func (t *Target) Dir() string { return t.dir }

// LogPath returns the file the target's processes write their output to
// ("" for kind address). Supervision events are written there too, as
// lines containing "chaoslab:".
func (t *Target) LogPath() string { return t.logPath }

// Close stops every process of the target: the main process group gets
// SIGTERM, then SIGKILL after two seconds or half of ctx's time left (at
// once if ctx is done); the process groups of Exec calls and stress
// children get SIGKILL. It then closes the proxies and the in-process
// downstream and removes the state directory. When it returns nil, nothing
// of the target is left. Close waits for the processes to be gone until
// ctx is done, but at least two seconds after SIGKILL; a process that
// outlives that (stuck in the kernel) makes it return an error naming its
// process group. It is idempotent and safe for concurrent use; every call
// returns the first call's result.
func (t *Target) Close(ctx context.Context) error {
	t.closeOnce.Do(func() { t.closeErr = t.close(ctx) })
	return t.closeErr
}

func (t *Target) close(ctx context.Context) error {
	t.mu.Lock()
	t.closed = true
	stress := t.stress
	t.stress = map[int]func() error{}
	for pgid := range t.groups {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	t.idle = make(chan struct{})
	if t.busy == 0 {
		close(t.idle)
	}
	t.mu.Unlock()

	var errs []error
	if t.sup != nil {
		// A graceful stop may use at most half of what ctx has left.
		grace := termGrace
		if dl, ok := ctx.Deadline(); ok {
			grace = min(grace, time.Until(dl)/2)
		}
		if ctx.Err() != nil {
			grace = 0
		}
		if err := t.sup.stop(ctx, max(grace, 0)); err != nil {
			errs = append(errs, err)
		}
	}
	for _, undo := range stress {
		if err := undo(); err != nil {
			errs = append(errs, err)
		}
	}
	// Exec calls return once their killed processes are reaped.
	wctx, cancel := killWaitContext(ctx)
	select {
	case <-t.idle:
	case <-wctx.Done():
		t.mu.Lock()
		errs = append(errs, fmt.Errorf("exec or stress process groups %v still running after SIGKILL: %w", slices.Sorted(maps.Keys(t.groups)), wctx.Err()))
		t.mu.Unlock()
	}
	cancel()
	for i := len(t.closers) - 1; i >= 0; i-- {
		if err := t.closers[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if t.logFile != nil {
		if err := t.logFile.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if t.stateDir != "" {
		if err := os.RemoveAll(t.stateDir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("local: close %s: %w", t.id, err)
	}
	t.logger.Info("target closed")
	return nil
}

// begin counts a process this target is about to start (an Exec call or a
// stress child) so that Close waits for it; it fails once Close has begun.
// Each successful begin is matched by one end.
func (t *Target) begin() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return t.closedErr()
	}
	t.busy++
	return nil
}

// adopt records the process group pgid of a started process so that Close
// kills it. If Close has begun meanwhile, it kills the group at once.
func (t *Target) adopt(pgid int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return
	}
	if t.groups == nil {
		t.groups = map[int]struct{}{}
	}
	t.groups[pgid] = struct{}{}
}

// end forgets pgid (0: none was started) and ends what begin counted.
func (t *Target) end(pgid int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.groups, pgid)
	t.busy--
	if t.busy == 0 && t.idle != nil {
		close(t.idle)
	}
}

// closedErr is the error of a method called after Close began.
func (t *Target) closedErr() error { return fmt.Errorf("%w: %s", ErrClosed, t.id) }

// isClosed reports whether Close has begun.
func (t *Target) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// unsupported returns an error wrapping ErrUnsupported for a capability an
// address target lacks.
func (t *Target) unsupported(capability string) error {
	return fmt.Errorf("local: %s on a target of kind %s (nothing runs here): %w", capability, t.kind, chaoslab.ErrUnsupported)
}

// Signal sends sig to the target's process group: the main process and
// whatever it started. After SIGKILL (or any exit) the process is started
// again according to the restart policy; SIGSTOP and SIGCONT pause and
// resume it (Signal returns once SIGSTOP has taken effect). sig must be a
// syscall.Signal. Between a run's end and the restart the error wraps
// ErrNotRunning; after Close, ErrClosed.
func (t *Target) Signal(ctx context.Context, sig os.Signal) error {
	if t.isClosed() {
		return fmt.Errorf("local: signal: %w", t.closedErr())
	}
	if t.sup == nil {
		return t.unsupported("signal")
	}
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("local: signal %v is not a syscall.Signal: %w", sig, chaoslab.ErrUnsupported)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := t.sup.signal(s); err != nil {
		return fmt.Errorf("local: signal %s: %w", t.id, err)
	}
	if s == syscall.SIGSTOP {
		// Return once the process has stopped: the caller measures from now.
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := t.sup.awaitStopped(wctx); err != nil {
			return fmt.Errorf("local: signal %s: %w", t.id, err)
		}
	}
	return nil
}

// Links lists "ingress" first, then the dependencies ("downstream" for the
// demo). Dependencies of an address target are not routed and not listed.
func (t *Target) Links() []string {
	names := []string{IngressLink}
	for _, l := range t.links {
		if l.name != IngressLink {
			names = append(names, l.name)
		}
	}
	return names
}

// Link returns the named link, or an error wrapping ErrUnsupported.
func (t *Target) Link(name string) (chaoslab.Link, error) {
	for _, l := range t.links {
		if l.name == name {
			return l, nil
		}
	}
	for _, n := range t.unroutable {
		if n == name {
			return nil, fmt.Errorf("local: link %q: the dependencies of an address target are not routed through a proxy: %w",
				name, chaoslab.ErrUnsupported)
		}
	}
	return nil, fmt.Errorf("local: no link %q (links: %s): %w", name, strings.Join(t.Links(), ", "), chaoslab.ErrUnsupported)
}

// link is a fault proxy on one route.
type link struct {
	name  string
	proxy *netfault.Proxy
}

// Apply adds the fault to the link's proxy. Faults the proxy cannot take
// (HTTP faults on a TCP link, unknown kinds) are errors wrapping
// ErrUnsupported; invalid parameters wrap ErrInvalid.
func (l *link) Apply(ctx context.Context, lf chaoslab.LinkFault) (chaoslab.Undo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := netfault.FromLinkFault(lf)
	if err != nil {
		return nil, fmt.Errorf("local: link %s: %w", l.name, err)
	}
	remove, err := l.proxy.Apply(f)
	if err != nil {
		return nil, fmt.Errorf("local: link %s: %w", l.name, err)
	}
	var once sync.Once
	return func(context.Context) error {
		once.Do(remove)
		return nil
	}, nil
}

// Sample reads the CPU and memory of the target's process group (the main
// process and its children, not the guard of a command; zero between
// restarts and for kind address),
// the machine's CPU and memory, and the disk use of the working
// directory's file system. CPU figures are deltas since the previous
// Sample, so the first one, and the first after a restart, reads 0 CPU for
// the target (the first also for the machine): not measured.
func (t *Target) Sample(ctx context.Context) (chaoslab.Sample, error) {
	var pgid int
	var except []int
	if t.sup != nil {
		pgid = t.sup.pgid()
		if t.sup.guarded {
			except = []int{pgid} // the guard leads the group
		}
	}
	r, err := t.sampler.Sample(ctx, pgid, t.dir, except...)
	s := chaoslab.Sample{
		CPUPercent:      r.ProcessCPUPercent,
		MemoryBytes:     r.ProcessRSSBytes,
		HostCPUPercent:  r.HostCPUPercent,
		HostMemoryBytes: r.HostMemoryUsedBytes,
		DiskUsedBytes:   r.DiskUsedBytes,
	}
	if err != nil {
		return s, fmt.Errorf("local: sample %s: %w", t.id, err)
	}
	return s, nil
}

// Stress applies resource pressure on this machine and returns once it is
// applied:
//
//   - cpu: a child process keeps Cores cores (default 1) busy Percent of
//     the time (default 100);
//   - memory: a child process allocates Bytes and keeps them resident;
//   - disk: a file of Bytes is written into the working directory (if the
//     disk fills up first, the file stays as large as it got).
//
// Undo kills the child or removes the file; it is idempotent. Close lifts
// any stress still applied.
func (t *Target) Stress(ctx context.Context, s chaoslab.Stress) (chaoslab.Undo, error) {
	if t.isClosed() {
		return nil, fmt.Errorf("local: stress: %w", t.closedErr())
	}
	if t.sup == nil {
		return nil, t.unsupported("stress")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var undo func() error
	var err error
	switch s.Kind {
	case chaoslab.StressCPU:
		cores := s.Cores
		if cores <= 0 {
			cores = 1
		}
		pct := s.Percent
		if pct <= 0 {
			pct = 100
		}
		undo, err = t.stressChild(ctx, roleCPU, map[string]string{
			coresEnv:   strconv.Itoa(cores),
			percentEnv: strconv.FormatFloat(min(pct, 100), 'f', -1, 64),
		})
	case chaoslab.StressMemory:
		if s.Bytes <= 0 {
			return nil, fmt.Errorf("local: memory stress needs Bytes > 0: %w", chaoslab.ErrInvalid)
		}
		undo, err = t.stressChild(ctx, roleMemory, map[string]string{bytesEnv: strconv.FormatInt(s.Bytes, 10)})
	case chaoslab.StressDisk:
		if s.Bytes <= 0 {
			return nil, fmt.Errorf("local: disk stress needs Bytes > 0: %w", chaoslab.ErrInvalid)
		}
		undo, err = t.fillDisk(ctx, s.Bytes)
	default:
		return nil, fmt.Errorf("local: stress kind %q: %w", s.Kind, chaoslab.ErrUnsupported)
	}
	if err != nil {
		return nil, fmt.Errorf("local: %s stress on %s: %w", s.Kind, t.id, err)
	}
	return t.track(undo)
}

// track records undo so that Close runs it, and returns the idempotent
// Undo for it. If the target closed meanwhile, undo runs at once.
func (t *Target) track(undo func() error) (chaoslab.Undo, error) {
	var once sync.Once
	var err error
	run := func() error {
		once.Do(func() { err = undo() })
		return err
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, errors.Join(fmt.Errorf("local: stress: %w", t.closedErr()), run())
	}
	n := t.nextStress
	t.nextStress++
	t.stress[n] = run
	t.mu.Unlock()
	return func(context.Context) error {
		t.mu.Lock()
		delete(t.stress, n)
		t.mu.Unlock()
		return run()
	}, nil
}

// stressChild starts a role process and waits until it reports that the
// pressure is applied. The returned func kills it. Close kills it too,
// even before it is ready.
func (t *Target) stressChild(ctx context.Context, role string, vars map[string]string) (func() error, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this executable: %w", err)
	}
	if err := t.begin(); err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.end(0)
		return nil, err
	}
	defer r.Close()
	vars[RoleEnv] = role
	vars[parentEnv] = strconv.Itoa(os.Getpid())
	cmd := exec.Command(exe)
	cmd.Env = roleEnv(vars)
	cmd.Dir = t.dir
	cmd.Stdout = w
	cmd.Stderr = t.logFile
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.end(0)
		return nil, fmt.Errorf("start the %s role: %w", role, err)
	}
	pgid := cmd.Process.Pid
	t.adopt(pgid)
	var once sync.Once
	kill := func() error {
		once.Do(func() {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			_ = cmd.Wait() // killed: its error says so
			t.end(pgid)
		})
		return nil
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != readyLine {
			err = fmt.Errorf("unexpected output %q", line)
		}
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-ctx.Done():
		err = ctx.Err()
		kill() // closes the pipe's write end, so the reader ends
		<-ready
		return nil, err
	}
	if err != nil {
		kill()
		if t.isClosed() {
			return nil, t.closedErr()
		}
		if errors.Is(err, io.EOF) {
			err = errors.New("exited before applying the pressure")
		}
		return nil, fmt.Errorf("the %s role: %w%s", role, err, t.logTail())
	}
	return kill, nil
}

// fillDisk writes n bytes to a new file in the working directory. The
// returned func removes it.
func (t *Target) fillDisk(ctx context.Context, n int64) (func() error, error) {
	f, err := os.CreateTemp(t.dir, "chaoslab-disk-fill-*.bin")
	if err != nil {
		return nil, err
	}
	path := f.Name()
	remove := func() error {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i) | 1 // not zeros, so no file system can keep it sparse
	}
	for written := int64(0); written < n; {
		if err := ctx.Err(); err != nil {
			f.Close()
			return nil, errors.Join(err, remove())
		}
		m, err := f.Write(buf[:min(int64(len(buf)), n-written)])
		written += int64(m)
		if errors.Is(err, syscall.ENOSPC) {
			t.logger.Warn("disk full before the disk stress was written", "written", written, "wanted", n)
			break
		}
		if err != nil {
			f.Close()
			return nil, errors.Join(err, remove())
		}
	}
	if err := f.Close(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		return nil, errors.Join(err, remove())
	}
	t.logger.Info("disk stress applied", "file", path, "bytes", n)
	return remove, nil
}

// FollowLogs calls fn with every line written to the target's log from now
// on (the output of every run of its process, across restarts, and the
// supervisor's events), until ctx is done; then it returns ctx's error.
func (t *Target) FollowLogs(ctx context.Context, fn func(line string)) error {
	if t.logPath == "" {
		return t.unsupported("follow logs")
	}
	f, err := os.Open(t.logPath)
	if err != nil {
		return fmt.Errorf("local: follow logs of %s: %w", t.id, err)
	}
	defer f.Close()
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return fmt.Errorf("local: follow logs of %s: %w", t.id, err)
	}
	return tail(ctx, f, fn)
}

// maxLine bounds a log line; longer lines are split.
const maxLine = 64 << 10

// tail reads r as it grows, calling fn for each complete line, until ctx is
// done.
func tail(ctx context.Context, r io.Reader, fn func(string)) error {
	buf := make([]byte, 32<<10)
	var partial []byte
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := r.Read(buf)
		partial = append(partial, buf[:n]...)
		for {
			i := bytes.IndexByte(partial, '\n')
			if i < 0 {
				break
			}
			fn(strings.TrimSuffix(string(partial[:i]), "\r"))
			partial = partial[i+1:]
		}
		if len(partial) >= maxLine {
			fn(string(partial))
			partial = nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if n > 0 {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Exec runs argv in the target's working directory and returns its
// combined output. The command gets this process's environment with the
// target's Env (not the demo's role variables), as exec.Cmd would. It runs
// under a guard process in a process group of its own (see the package
// doc): if ctx ends first, or Close is called, or this process dies, the
// whole group is killed; what the command leaves behind in its group is
// killed when it returns.
func (t *Target) Exec(ctx context.Context, argv []string) ([]byte, error) {
	if t.isClosed() {
		return nil, fmt.Errorf("local: exec: %w", t.closedErr())
	}
	if t.sup == nil {
		return nil, t.unsupported("exec")
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("local: exec: empty command: %w", chaoslab.ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("local: exec %s: %w", filepath.Base(argv[0]), err)
	}
	out, err := t.exec(ctx, argv)
	if err != nil {
		return out, fmt.Errorf("local: exec %s: %w", filepath.Base(argv[0]), err)
	}
	return out, nil
}

func (t *Target) exec(ctx context.Context, argv []string) ([]byte, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this executable to run the guard: %w", err)
	}
	if err := t.begin(); err != nil {
		return nil, err
	}
	pgid := 0
	defer func() { t.end(pgid) }()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.CommandContext(ctx, exe, argv...)
	cmd.Dir = t.dir
	cmd.Env = t.execEnv
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	_, err = startGuarded(cmd)
	w.Close()
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		return nil, err
	}
	pgid = cmd.Process.Pid
	t.adopt(pgid)
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(&out, r)
	}()
	err = cmd.Wait()
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // anything it left behind
	// The output ends when every process holding the pipe is gone: at
	// once, unless one left the group (setsid); that one is not waited for.
	t1 := time.NewTimer(time.Second)
	select {
	case <-copied:
	case <-t1.C:
		r.Close()
		<-copied
	}
	t1.Stop()
	if err == nil {
		return out.Bytes(), nil
	}
	switch {
	case t.isClosed():
		err = fmt.Errorf("%w (%w)", t.closedErr(), err)
	case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
		err = fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return out.Bytes(), err
}
