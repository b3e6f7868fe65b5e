package e2b

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/provider/e2b/agent"
)

// supervisor runs the target's main process in the sandbox and starts it
// again when it ends, according to the restart policy. It watches the
// process through its stream: the process's output goes to the target's
// logs, and its end event says how it ended.
type supervisor struct {
	t      *Target
	name   string
	policy chaoslab.RestartPolicy
	// listens says that the process prints the agent's listening line, from
	// which the first run's port is learnt; later runs reuse the port.
	listens bool
	spec    func(port int) procSpec

	mu     sync.Mutex
	cur    *process
	port   int
	gaveUp error // why the supervisor stopped starting the process
}

func newSupervisor(t *Target, name string, policy chaoslab.RestartPolicy, listens bool, spec func(port int) procSpec) *supervisor {
	return &supervisor{t: t, name: name, policy: policy, listens: listens, spec: spec}
}

// Restart backoff.
const (
	restartMin = 200 * time.Millisecond
	restartMax = time.Second
)

// begin starts the first run and the supervision. A listening process is
// started on port (0: one the system picks) and begin returns the port it
// listens on; otherwise it returns port.
func (s *supervisor) begin(ctx context.Context, port int) (int, error) {
	p, err := s.startRun(ctx, port)
	if err != nil {
		return 0, err
	}
	if !s.t.wg.add() {
		_ = p.kill(ctx)
		return 0, ErrClosed
	}
	go s.loop(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.port, nil
}

// startRun starts one run of the process, its output going to the logs.
func (s *supervisor) startRun(ctx context.Context, port int) (*process, error) {
	spec := s.spec(port)
	pub := s.t.logs.publish
	outW, errW := &lineWriter{emit: pub}, &lineWriter{emit: pub}
	var listening chan string
	found := false
	if s.listens {
		listening = make(chan string, 1)
		outW.emit = func(l string) {
			if !found && strings.HasPrefix(l, agent.ListeningPrefix) {
				found = true
				listening <- strings.TrimPrefix(l, agent.ListeningPrefix)
			}
			pub(l)
		}
	}
	p, err := s.t.sb.start(ctx, s.t.life, &s.t.wg, spec, func(stderr bool, b []byte) {
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
		s.t.noteGone(err)
		return nil, fmt.Errorf("start the %s: %w", s.name, err)
	}
	if s.listens {
		select {
		case addr := <-listening:
			if port, err = portOf(addr); err != nil {
				_ = p.kill(ctx)
				return nil, err
			}
		case <-p.done:
			why := p.lostErr
			if why == nil {
				why = p.exit.err()
			}
			return nil, fmt.Errorf("the %s ended before it listened: %v%s", s.name, why, s.t.logs.tailText())
		case <-ctx.Done():
			_ = p.kill(ctx)
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	s.cur, s.port = p, port
	s.mu.Unlock()
	s.t.logs.publish(fmt.Sprintf("chaoslab: %s started (pid %d)", s.name, p.pid))
	return p, nil
}

// loop waits for each run to end and starts the next, until the target's
// life ends or the policy says to stop.
func (s *supervisor) loop(p *process) {
	defer s.t.wg.done()
	life := s.t.life
	wait := restartMin
	for {
		started := time.Now()
		ex, lost := p.wait(life)
		if life.Err() != nil {
			return
		}
		s.mu.Lock()
		s.cur = nil
		port := s.port
		s.mu.Unlock()
		var why error
		failed := true
		switch {
		case lost != nil:
			why = lost
			// Its stream is lost, so it may still run: make sure it does
			// not hold the port against the next run.
			ctx, cancel := context.WithTimeout(life, 5*time.Second)
			_ = s.t.sb.signal(ctx, p.pid, "SIGNAL_SIGKILL")
			cancel()
		default:
			why = ex.err()
			failed = why != nil
		}
		desc := "exited 0"
		if why != nil {
			desc = why.Error()
		}
		restart := s.policy == chaoslab.RestartAlways || (s.policy == chaoslab.RestartOnFailure && failed)
		if errors.Is(lost, ErrSandboxNotFound) || s.t.check("") != nil {
			restart = false
		}
		if !restart {
			s.t.logs.publish(fmt.Sprintf("chaoslab: %s (pid %d) ended: %s; not restarting (restart %s)", s.name, p.pid, desc, s.policy))
			s.mu.Lock()
			s.gaveUp = fmt.Errorf("the %s ended (%s) and restart is %s", s.name, desc, s.policy)
			s.mu.Unlock()
			return
		}
		if time.Since(started) > 10*time.Second {
			wait = restartMin
		}
		s.t.logs.publish(fmt.Sprintf("chaoslab: %s (pid %d) ended: %s; restarting in %s", s.name, p.pid, desc, wait))
		for {
			if !sleep(life, wait) {
				return
			}
			wait = min(2*wait, restartMax)
			ctx, cancel := context.WithTimeout(life, 30*time.Second)
			next, err := s.startRun(ctx, port)
			cancel()
			if err == nil {
				p = next
				break
			}
			if life.Err() != nil {
				return
			}
			s.t.logs.publish(fmt.Sprintf("chaoslab: restart of the %s failed: %v", s.name, err))
			if errors.Is(err, ErrSandboxNotFound) {
				s.mu.Lock()
				s.gaveUp = err
				s.mu.Unlock()
				return
			}
		}
	}
}

// sleep waits d unless ctx ends first; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// pid is the current run's pid, 0 between runs.
func (s *supervisor) pid() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil || s.cur.ended() {
		return 0
	}
	return int(s.cur.pid)
}

// gaveUpErr says why the supervisor stopped, or nil while it runs.
func (s *supervisor) gaveUpErr() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gaveUp
}

// fanout passes the target's log lines to its followers, and keeps the
// last few for error messages.
type fanout struct {
	mu   sync.Mutex
	subs map[chan string]struct{}
	tail ring
}

func newFanout() *fanout {
	return &fanout{subs: map[chan string]struct{}{}, tail: ring{max: 10}}
}

// publish passes line on without blocking: a follower whose buffer is full
// misses it.
func (f *fanout) publish(line string) {
	f.tail.add(line)
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- line:
		default:
		}
	}
}

// follow calls fn with each line published from now on until ctx is done.
func (f *fanout) follow(ctx context.Context, fn func(string)) error {
	ch := make(chan string, 4096)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case line := <-ch:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fn(line)
		}
	}
}

// tailText is the last lines, for error messages.
func (f *fanout) tailText() string { return f.tail.text() }
