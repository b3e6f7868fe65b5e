package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// Supervision timing.
const (
	// termGrace is how long a process has to exit after SIGTERM at Close
	// before the whole group is killed.
	termGrace = 2 * time.Second
	// killWait is how long Close waits at least, after SIGKILL, for a
	// process group to be gone, even if its context is done: enough for the
	// kernel to end the processes, not for a process stuck in the kernel.
	killWait = 2 * time.Second
	// Restart backoff: starts at minBackoff, doubles up to maxBackoff, and
	// starts over once a process has run for stableRun.
	minBackoff = 200 * time.Millisecond
	maxBackoff = time.Second
	stableRun  = 5 * time.Second
)

// ErrNotRunning is wrapped by errors of a target whose process is not
// running: between a run's end and the restart, or for good after an exit
// its restart policy does not restart.
var ErrNotRunning = errors.New("local: no process is running")

// proc is one run of a supervised command.
type proc struct {
	cmd  *exec.Cmd // the process this package started: the guard or a role
	pid  int       // the command's pid (for a role, cmd's own)
	pgid int       // the process group, led by cmd's process
}

// supervisor runs one command, restarts it according to a policy, and
// stops it (with its whole process group) on demand.
type supervisor struct {
	argv    []string
	env     []string
	dir     string
	out     *os.File // the log file, shared by every run
	policy  chaoslab.RestartPolicy
	logger  *slog.Logger
	guarded bool // argv runs under the guard role (see runGuard)
	// ln, when set, is handed to every run as its descriptor 3 (lnFile, a
	// duplicate) and drained between runs (see drain).
	ln     *net.TCPListener
	lnFile *os.File

	stopc chan struct{} // closed by stop
	done  chan struct{} // closed when no process runs and none will

	mu        sync.Mutex
	cur       *proc // the running process, nil between runs
	lastPgid  int   // the group of the latest run
	stopping  bool
	lastErr   error // how the last run ended
	runs      int
	drainStop chan struct{} // non-nil while a drain runs
	drainDone chan struct{}
}

func newSupervisor(argv, env []string, dir string, out *os.File, policy chaoslab.RestartPolicy, logger *slog.Logger) *supervisor {
	return &supervisor{
		argv: argv, env: env, dir: dir, out: out, policy: policy, logger: logger,
		stopc: make(chan struct{}), done: make(chan struct{}),
	}
}

// start starts the first run, returning an error if it cannot, and
// supervises it in the background.
func (s *supervisor) start() error {
	p, err := s.spawn()
	if err != nil {
		close(s.done)
		return err
	}
	if !s.adopt(p) {
		close(s.done)
		return errors.New("stopped while starting")
	}
	go s.loop(p)
	return nil
}

// spawn starts one run. Any drain of the listener ends first, so that the
// run is the only one to accept.
func (s *supervisor) spawn() (*proc, error) {
	s.stopDrain()
	var p *proc
	if s.guarded {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find this executable to run the guard: %w", err)
		}
		cmd := exec.Command(exe, s.argv...)
		cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = s.env, s.dir, s.out, s.out
		cmd.SysProcAttr = sysProcAttr()
		pid, err := startGuarded(cmd)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", s.argv[0], err)
		}
		p = &proc{cmd: cmd, pid: pid, pgid: cmd.Process.Pid}
	} else {
		cmd := exec.Command(s.argv[0], s.argv[1:]...)
		cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = s.env, s.dir, s.out, s.out
		cmd.SysProcAttr = sysProcAttr()
		if s.lnFile != nil {
			cmd.ExtraFiles = []*os.File{s.lnFile}
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", s.argv[0], err)
		}
		p = &proc{cmd: cmd, pid: cmd.Process.Pid, pgid: cmd.Process.Pid}
	}
	s.mu.Lock()
	s.runs++
	n := s.runs
	s.mu.Unlock()
	s.note("started %s (pid %d, run %d)", s.argv[0], p.pid, n)
	return p, nil
}

// startGuarded starts cmd, a guard (this executable with guardEnv unset in
// cmd.Env, the command as arguments), and returns the command's pid once
// the guard has started it. It sets guardEnv and the handshake descriptor.
// If the guard cannot start the command, it reaps the guard and returns
// why.
func startGuarded(cmd *exec.Cmd) (int, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	cmd.Env = mergeEnv(cmd.Env, map[string]string{guardEnv: strconv.Itoa(os.Getpid())})
	cmd.ExtraFiles = []*os.File{w} // descriptor 3: handshakeFD
	err = cmd.Start()
	w.Close()
	if err != nil {
		return 0, err
	}
	line, rerr := bufio.NewReader(r).ReadString('\n')
	verb, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	if pid, err := strconv.Atoi(arg); verb == "pid" && err == nil {
		return pid, nil
	}
	werr := cmd.Wait()
	switch {
	case verb == "error":
		return 0, errors.New(arg)
	case errors.Is(rerr, io.EOF):
		return 0, fmt.Errorf("the guard ended before starting the command (%s)", exitText(werr))
	}
	return 0, fmt.Errorf("the guard said %q (%v)", line, rerr)
}

// adopt makes p the running process. If stop has begun meanwhile, it kills
// and reaps p instead and returns false.
func (s *supervisor) adopt(p *proc) bool {
	s.mu.Lock()
	s.lastPgid = p.pgid
	if s.stopping {
		s.mu.Unlock()
		_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
		_ = p.cmd.Wait()
		return false
	}
	s.cur = p
	s.mu.Unlock()
	return true
}

// loop waits for each run to end and starts the next one while the policy
// says so and stop has not been called.
func (s *supervisor) loop(p *proc) {
	defer close(s.done)
	backoff := minBackoff
	for {
		started := time.Now()
		err := p.cmd.Wait()
		// Whatever the run left in its group goes with it.
		_ = syscall.Kill(-p.pgid, syscall.SIGKILL)

		s.mu.Lock()
		s.cur = nil
		s.lastErr = err
		stopping := s.stopping
		s.mu.Unlock()
		if stopping {
			return
		}
		s.startDrain()
		if !restarts(s.policy, err) {
			s.note("process %d exited (%s); restart policy %s: not restarting", p.pid, exitText(err), s.policy)
			return
		}
		if time.Since(started) >= stableRun {
			backoff = minBackoff
		}
		s.note("process %d exited (%s); restarting in %s", p.pid, exitText(err), backoff)
		for {
			if !s.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			next, err := s.spawn()
			if err != nil {
				s.note("restart failed: %v; retrying in %s", err, backoff)
				continue
			}
			if !s.adopt(next) {
				return
			}
			p = next
			break
		}
	}
}

// sleep waits for d; it reports false if stop was called meanwhile.
func (s *supervisor) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.stopc:
		return false
	case <-t.C:
		return true
	}
}

// startDrain starts draining the listener, if there is one: while no run
// holds it, connections are accepted and reset at once, as if nothing
// listened, instead of waiting in the backlog for the next run. Clients
// see a killed process fail, not stall, and the port stays taken.
func (s *supervisor) startDrain() {
	if s.ln == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping || s.drainStop != nil {
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	s.drainStop, s.drainDone = stop, done
	go func() {
		defer close(done)
		for {
			c, err := s.ln.AcceptTCP()
			if err != nil {
				// stopDrain's deadline, the listener closed, or out of
				// descriptors: in every case stop (connections then wait in
				// the backlog).
				return
			}
			_ = c.SetLinger(0) // reset, not a graceful close
			_ = c.Close()
		}
	}()
}

// stopDrain ends a drain and returns once it no longer accepts.
func (s *supervisor) stopDrain() {
	s.mu.Lock()
	stop, done := s.drainStop, s.drainDone
	s.drainStop, s.drainDone = nil, nil
	s.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	_ = s.ln.SetDeadline(time.Now())
	<-done
	_ = s.ln.SetDeadline(time.Time{})
}

// restarts reports whether a run that ended with err is started again.
func restarts(policy chaoslab.RestartPolicy, err error) bool {
	switch policy {
	case chaoslab.RestartAlways:
		return true
	case chaoslab.RestartOnFailure:
		return err != nil
	}
	return false
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// pid returns the running command's pid, or 0 between runs.
func (s *supervisor) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return 0
	}
	return s.cur.pid
}

// pgid returns the running process group's id, or 0 between runs.
func (s *supervisor) pgid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return 0
	}
	return s.cur.pgid
}

// exitErr returns how the last run ended.
func (s *supervisor) exitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// signal sends sig to the running process's group; the error wraps
// ErrNotRunning between runs.
func (s *supervisor) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil || s.stopping {
		return ErrNotRunning
	}
	if err := syscall.Kill(-s.cur.pgid, sig); err != nil {
		return fmt.Errorf("signal %v to process group %d: %w", sig, s.cur.pgid, err)
	}
	return nil
}

// awaitStopped waits until the running process group is stopped, after a
// SIGSTOP, or until ctx is done.
func (s *supervisor) awaitStopped(ctx context.Context) error {
	s.mu.Lock()
	p := s.cur
	s.mu.Unlock()
	if p == nil {
		return ErrNotRunning
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !groupStopped(p.pgid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("process group %d did not stop: %w", p.pgid, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// stop ends supervision: no more restarts; the running process's group gets
// SIGTERM (and SIGCONT, so that a stopped process can act on it), then
// SIGKILL after grace or when ctx is done. With grace 0 it is killed at
// once. stop returns once the process has been reaped and its group is
// gone, or with an error naming the group if that takes longer than ctx
// allows (but at least killWait after the SIGKILL). It is safe to call more
// than once.
func (s *supervisor) stop(ctx context.Context, grace time.Duration) error {
	s.mu.Lock()
	if !s.stopping {
		s.stopping = true
		close(s.stopc)
	}
	p := s.cur
	s.mu.Unlock()
	defer s.stopDrain()
	if p != nil {
		if grace > 0 {
			_ = syscall.Kill(-p.pgid, syscall.SIGTERM)
			_ = syscall.Kill(-p.pgid, syscall.SIGCONT)
			t := time.NewTimer(grace)
			select {
			case <-s.done:
			case <-ctx.Done():
			case <-t.C:
				s.note("process %d still running %s after SIGTERM; killing it", p.pid, grace)
			}
			t.Stop()
		}
		// SIGKILL ends stopped processes too, and what a graceful exit
		// left in the group.
		_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
	}
	wctx, cancel := killWaitContext(ctx)
	defer cancel()
	select {
	case <-s.done:
	case <-wctx.Done():
		s.mu.Lock()
		pgid := s.lastPgid
		s.mu.Unlock()
		return fmt.Errorf("process group %d: the process did not end after SIGKILL: %w", pgid, wctx.Err())
	}
	s.mu.Lock()
	pgid := s.lastPgid
	s.mu.Unlock()
	if pgid != 0 {
		return awaitGroup(wctx, pgid)
	}
	return nil
}

// killWaitContext returns the context that bounds a wait for processes to
// end after SIGKILL: ctx, but at least killWait from now.
func killWaitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ctx.Err() != nil || (ok && time.Until(dl) < killWait) {
		return context.WithTimeout(context.WithoutCancel(ctx), killWait)
	}
	return context.WithCancel(ctx)
}

// awaitGroup waits until process group pgid has no live process left, or
// ctx is done. Grandchildren that were killed are reaped by init, not by
// this process, so their end can only be observed.
func awaitGroup(ctx context.Context, pgid int) error {
	for wait := time.Millisecond; groupAlive(pgid); wait = min(2*wait, 50*time.Millisecond) {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("process group %d still has processes after SIGKILL: %w", pgid, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// note writes a supervisor event to the target's log and the logger.
func (s *supervisor) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(s.out, "%s chaoslab: %s\n", time.Now().Format(time.RFC3339Nano), msg)
	s.logger.Debug(msg)
}
