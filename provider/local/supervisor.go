package local

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
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
	// Restart backoff: starts at minBackoff, doubles up to maxBackoff, and
	// starts over once a process has run for stableRun.
	minBackoff = 200 * time.Millisecond
	maxBackoff = time.Second
	stableRun  = 5 * time.Second
)

// errNoProcess: the supervised process is between runs or stopped for good.
var errNoProcess = errors.New("no process is running")

// supervisor runs one command, restarts it according to a policy, and
// stops it (with its whole process group) on demand.
type supervisor struct {
	argv   []string
	env    []string
	dir    string
	out    *os.File // the log file, shared by every run
	policy chaoslab.RestartPolicy
	logger *slog.Logger

	stopc chan struct{} // closed by stop
	done  chan struct{} // closed when no process runs and none will

	mu       sync.Mutex
	cmd      *exec.Cmd // the running process, nil between runs
	stopping bool
	lastErr  error // how the last run ended
	runs     int
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
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd, err := s.spawnLocked()
	if err != nil {
		close(s.done)
		return err
	}
	go s.loop(cmd)
	return nil
}

// spawnLocked starts one run; s.mu is held.
func (s *supervisor) spawnLocked() (*exec.Cmd, error) {
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Env = s.env
	cmd.Dir = s.dir
	cmd.Stdout = s.out
	cmd.Stderr = s.out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.argv[0], err)
	}
	s.cmd = cmd
	s.runs++
	s.note("started %s (pid %d, run %d)", s.argv[0], cmd.Process.Pid, s.runs)
	return cmd, nil
}

// loop waits for each run to end and starts the next one while the policy
// says so and stop has not been called.
func (s *supervisor) loop(cmd *exec.Cmd) {
	defer close(s.done)
	backoff := minBackoff
	for {
		started := time.Now()
		err := cmd.Wait()
		// Whatever the main process left in its group goes with it.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)

		s.mu.Lock()
		s.cmd = nil
		s.lastErr = err
		stopping := s.stopping
		s.mu.Unlock()
		if stopping {
			awaitGroup(cmd.Process.Pid, groupExitWait)
			return
		}
		if !restarts(s.policy, err) {
			s.note("process %d exited (%s); restart policy %s: not restarting", cmd.Process.Pid, exitText(err), s.policy)
			return
		}
		if time.Since(started) >= stableRun {
			backoff = minBackoff
		}
		s.note("process %d exited (%s); restarting in %s", cmd.Process.Pid, exitText(err), backoff)
		t := time.NewTimer(backoff)
		select {
		case <-s.stopc:
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)

		for {
			s.mu.Lock()
			if s.stopping {
				s.mu.Unlock()
				return
			}
			next, err := s.spawnLocked()
			s.mu.Unlock()
			if err == nil {
				cmd = next
				break
			}
			s.note("restart failed: %v; retrying in %s", err, backoff)
			t := time.NewTimer(backoff)
			select {
			case <-s.stopc:
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, maxBackoff)
		}
	}
}

// groupExitWait bounds how long stop waits for the rest of a killed process
// group (grandchildren) to be gone.
const groupExitWait = 2 * time.Second

// awaitGroup waits until process group pgid has no processes left, or for
// at most max. Grandchildren that were killed are reaped by init, not by
// this process, so their end can only be observed.
func awaitGroup(pgid int, max time.Duration) {
	deadline := time.Now().Add(max)
	for wait := time.Millisecond; time.Now().Before(deadline); wait = min(2*wait, 50*time.Millisecond) {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(wait)
	}
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

// pid returns the running process's pid, or 0 between runs.
func (s *supervisor) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// exitErr returns how the last run ended.
func (s *supervisor) exitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// signal sends sig to the running process's group.
func (s *supervisor) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.stopping {
		return errNoProcess
	}
	pid := s.cmd.Process.Pid
	if err := syscall.Kill(-pid, sig); err != nil {
		return fmt.Errorf("signal %v to process group %d: %w", sig, pid, err)
	}
	return nil
}

// stop ends supervision: no more restarts; the running process's group gets
// SIGTERM (and SIGCONT, so that a stopped process can act on it), then
// SIGKILL after grace. With grace 0 it is killed at once. stop returns once
// the process has been reaped; it is safe to call more than once.
func (s *supervisor) stop(grace time.Duration) {
	s.mu.Lock()
	if !s.stopping {
		s.stopping = true
		close(s.stopc)
	}
	var pid int
	if s.cmd != nil {
		pid = s.cmd.Process.Pid
	}
	s.mu.Unlock()
	if pid == 0 {
		<-s.done
		return
	}
	if grace > 0 {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		_ = syscall.Kill(-pid, syscall.SIGCONT)
		t := time.NewTimer(grace)
		select {
		case <-s.done:
			t.Stop()
			return
		case <-t.C:
			s.note("process %d still running %s after SIGTERM; killing it", pid, grace)
		}
	}
	// SIGKILL ends stopped processes too.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-s.done
}

// note writes a supervisor event to the target's log and the logger.
func (s *supervisor) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(s.out, "%s chaoslab: %s\n", time.Now().Format(time.RFC3339Nano), msg)
	s.logger.Debug(msg)
}
