package e2b

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// This file runs processes in a sandbox through envd's process service:
// Start streams a process's events (start, output, keepalives, end); a
// stream that breaks is joined again with Connect; SendSignal ends it.

// procSpec says what process to start.
type procSpec struct {
	cmd  string
	args []string
	envs map[string]string
	cwd  string // "" for the user's home
	tag  string // names the process, so that a start whose answer was lost can be found
	// timeout, when above 0, is sent as Connect-Timeout-Ms, and envd kills
	// the process when it passes. Never for a process meant to outlive the
	// call (a server): its life would be cut short.
	timeout time.Duration
}

// processConfig, startRequest and processSelector are process.proto's
// ProcessConfig, StartRequest and ProcessSelector in their JSON form.
type processConfig struct {
	Cmd  string            `json:"cmd"`
	Args []string          `json:"args,omitempty"`
	Envs map[string]string `json:"envs,omitempty"`
	Cwd  *string           `json:"cwd,omitempty"`
}

type startRequest struct {
	Process processConfig `json:"process"`
	Tag     *string       `json:"tag,omitempty"`
	Stdin   *bool         `json:"stdin,omitempty"`
}

type processSelector struct {
	Pid uint32 `json:"pid,omitempty"`
	Tag string `json:"tag,omitempty"`
}

// processEvent is process.proto's ProcessEvent. Fields at their zero value
// are left out on the wire: an end event of a successful process has no
// exitCode (and may have no exited).
type processEvent struct {
	Start *struct {
		Pid pbInt64 `json:"pid"`
	} `json:"start"`
	Data *struct {
		Stdout pbBytes `json:"stdout"`
		Stderr pbBytes `json:"stderr"`
		Pty    pbBytes `json:"pty"`
	} `json:"data"`
	End *struct {
		ExitCode      pbInt32 `json:"exitCode"`
		ExitCodeProto pbInt32 `json:"exit_code"` // the proto name, which parsers accept too
		Exited        bool    `json:"exited"`
		Status        string  `json:"status"`
		Error         *string `json:"error"`
	} `json:"end"`
	Keepalive *struct{} `json:"keepalive"`
}

// decodeEvent reads a StartResponse or ConnectResponse.
func decodeEvent(msg json.RawMessage) (processEvent, error) {
	var r struct {
		Event processEvent `json:"event"`
	}
	if err := json.Unmarshal(msg, &r); err != nil {
		return processEvent{}, fmt.Errorf("bad process event %s: %w", abbrev(string(msg)), err)
	}
	return r.Event, nil
}

// exitStatus is how a process ended.
type exitStatus struct {
	code   int
	exited bool // by exit, not by a signal
	status string
}

// err is nil for an exit with code 0, else an *ExitError.
func (e exitStatus) err() error {
	if e.exited && e.code == 0 {
		return nil
	}
	if !e.exited && e.code == 0 && (e.status == "" || strings.HasPrefix(e.status, "exit status 0")) {
		return nil // exited left out with everything else: a clean exit
	}
	code := e.code
	if !e.exited && code == 0 {
		code = -1
	}
	return &ExitError{Code: code, Status: e.status}
}

// process is a process started in a sandbox, followed through its stream.
type process struct {
	sb     *sandboxConn
	pid    uint32
	tag    string
	out    func(stderr bool, b []byte)
	cancel context.CancelFunc // ends the stream, not the process
	done   chan struct{}      // closed when the stream ends for good

	// Set before done is closed.
	exit    exitStatus
	lostErr error // non-nil when no end event came
}

// start starts a process and returns once envd has said its pid. out gets
// its output, chunk by chunk as it comes, from one goroutine (counted in
// g), until the process ends or life is done; then one last call with a
// nil chunk marks the end.
//
// A start is never tried again: it may have started the process although
// its answer was lost. Instead, when the outcome is unknown (the stream
// broke, or ctx ended), the process carrying spec.tag is looked up and
// killed. ctx bounds the start only.
func (s *sandboxConn) start(ctx, life context.Context, g *group, spec procSpec, out func(bool, []byte)) (*process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	req := startRequest{Process: processConfig{Cmd: spec.cmd, Args: spec.args, Envs: spec.envs}}
	if spec.cwd != "" {
		req.Process.Cwd = &spec.cwd
	}
	if spec.tag != "" {
		req.Tag = &spec.tag
	}
	no := false
	req.Stdin = &no
	sctx, cancel := context.WithCancel(life)
	stop := context.AfterFunc(ctx, cancel)
	st, err := s.openStream(sctx, "/process.Process/Start", req, spec.timeout)
	var pid uint32
	if err == nil {
		pid, err = awaitStart(st)
	}
	if !stop() { // ctx ended (and cancelled the stream) meanwhile
		if err == nil {
			err = ctx.Err()
		} else if !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
	}
	if err != nil {
		if st != nil {
			st.close()
		}
		cancel()
		if uncertain(err) && spec.tag != "" {
			s.reap(context.WithoutCancel(ctx), spec.tag)
		}
		return nil, fmt.Errorf("start %s: %w", spec.cmd, err)
	}
	p := &process{sb: s, pid: pid, tag: spec.tag, out: out, cancel: cancel, done: make(chan struct{})}
	if !g.add() { // the target closed meanwhile
		close(p.done)
		_ = p.kill(ctx)
		st.close()
		return nil, fmt.Errorf("start %s: %w", spec.cmd, ErrClosed)
	}
	go func() {
		defer g.done()
		defer cancel()
		p.pump(sctx, st)
	}()
	return p, nil
}

// uncertain reports whether a failed start may have started its process.
func uncertain(err error) bool {
	var rpc *RPCError
	var httpErr *HTTPError
	return !errors.As(err, &rpc) && !errors.As(err, &httpErr) && !errors.Is(err, ErrSandboxNotFound)
}

// awaitStart reads a stream's first event, which must be its start event.
func awaitStart(st *connectStream) (uint32, error) {
	for {
		msg, err := st.next()
		if errors.Is(err, io.EOF) {
			return 0, errors.New("the stream ended before the process started")
		}
		if err != nil {
			return 0, err
		}
		ev, err := decodeEvent(msg)
		if err != nil {
			return 0, err
		}
		switch {
		case ev.Start != nil:
			return uint32(ev.Start.Pid), nil
		case ev.Keepalive != nil:
			continue
		}
		return 0, fmt.Errorf("the stream began with %s, not a start event", abbrev(string(msg)))
	}
}

// reap kills the process carrying tag, if any: the process of a start whose
// answer was lost.
func (s *sandboxConn) reap(ctx context.Context, tag string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var list struct {
		Processes []struct {
			Pid pbInt64 `json:"pid"`
			Tag *string `json:"tag"`
		} `json:"processes"`
	}
	if err := s.unary(ctx, "/process.Process/List", struct{}{}, &list); err != nil {
		return
	}
	for _, p := range list.Processes {
		if p.Tag != nil && *p.Tag == tag {
			_ = s.signal(ctx, uint32(p.Pid), "SIGNAL_SIGKILL")
		}
	}
}

// signal sends one of the signals envd's process service knows
// ("SIGNAL_SIGKILL", "SIGNAL_SIGTERM") to pid. A process that is gone
// counts as signalled.
func (s *sandboxConn) signal(ctx context.Context, pid uint32, sig string) error {
	in := struct {
		Process processSelector `json:"process"`
		Signal  string          `json:"signal"`
	}{processSelector{Pid: pid}, sig}
	err := s.unary(ctx, "/process.Process/SendSignal", in, nil)
	var rpc *RPCError
	if errors.As(err, &rpc) && rpc.Code == "not_found" {
		return nil
	}
	return err
}

// idleLimit is how long a stream may stay silent, with envd sending a
// keepalive every ping, before it counts as broken.
func idleLimit(ping time.Duration) time.Duration { return 2*ping + 10*time.Second }

// pump follows the process's events until its end event, joining its
// stream again (Connect) whenever it breaks.
func (p *process) pump(ctx context.Context, st *connectStream) {
	defer func() {
		p.out(false, nil) // the end of the output
		close(p.done)
	}()
	for {
		end, err := p.follow(st)
		st.close()
		if end != nil {
			p.exit = *end
			return
		}
		if ctx.Err() != nil {
			p.lostErr = fmt.Errorf("%w: no longer followed", ErrStreamLost)
			return
		}
		var rpc *RPCError
		if errors.As(err, &rpc) { // envd ended the stream, such as at Connect-Timeout-Ms
			p.lostErr = err
			return
		}
		if st, err = p.rejoin(ctx); err != nil {
			p.lostErr = err
			return
		}
	}
}

// follow reads events until the end event (returned), or the stream ends or
// stays silent too long (the error says why).
func (p *process) follow(st *connectStream) (*exitStatus, error) {
	idle := idleLimit(p.sb.ping)
	watchdog := time.AfterFunc(idle, st.close)
	defer watchdog.Stop()
	for {
		msg, err := st.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w: the stream ended with no end event", errBroken)
			}
			return nil, err
		}
		watchdog.Reset(idle)
		ev, err := decodeEvent(msg)
		if err != nil {
			return nil, err
		}
		switch {
		case ev.Data != nil:
			if len(ev.Data.Stdout) > 0 {
				p.out(false, ev.Data.Stdout)
			}
			if len(ev.Data.Stderr) > 0 {
				p.out(true, ev.Data.Stderr)
			}
			if len(ev.Data.Pty) > 0 {
				p.out(false, ev.Data.Pty)
			}
		case ev.End != nil:
			code := ev.End.ExitCode
			if code == 0 {
				code = ev.End.ExitCodeProto
			}
			return &exitStatus{code: int(code), exited: ev.End.Exited, status: ev.End.Status}, nil
		}
	}
}

// rejoin joins the process's stream again with Connect, trying a few times
// while the sandbox host cannot be reached. A process that ended meanwhile
// is lost: its exit status is not known.
func (p *process) rejoin(ctx context.Context) (*connectStream, error) {
	wait := 100 * time.Millisecond
	var last error
	for range 6 {
		in := struct {
			Process processSelector `json:"process"`
		}{processSelector{Pid: p.pid}}
		st, err := p.sb.openStream(ctx, "/process.Process/Connect", in, 0)
		if err == nil {
			if _, err = awaitStart(st); err == nil {
				return st, nil
			}
			st.close()
		}
		var rpc *RPCError
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("%w: no longer followed", ErrStreamLost)
		case errors.As(err, &rpc) && rpc.Code == "not_found":
			return nil, fmt.Errorf("%w: process %d ended while its stream was broken", ErrStreamLost, p.pid)
		case errors.Is(err, ErrSandboxNotFound):
			return nil, fmt.Errorf("%w: %w", ErrStreamLost, err)
		}
		last = err
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: no longer followed", ErrStreamLost)
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
	return nil, fmt.Errorf("%w: process %d: %w", ErrStreamLost, p.pid, last)
}

// wait waits for the process to end (or its stream to be lost) or ctx.
func (p *process) wait(ctx context.Context) (exitStatus, error) {
	select {
	case <-p.done:
		return p.exit, p.lostErr
	case <-ctx.Done():
		return exitStatus{}, ctx.Err()
	}
}

// ended reports whether the process's stream is over.
func (p *process) ended() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and then closes the stream, in that order: closing a
// stream alone leaves the process running.
func (p *process) kill(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := p.sb.signal(ctx, p.pid, "SIGNAL_SIGKILL")
	p.cancel()
	return err
}

// lineWriter cuts output into lines. Bytes are kept until their line ends,
// so that a UTF-8 character split between two chunks arrives whole. A line
// longer than maxLine is cut, at a character boundary.
type lineWriter struct {
	buf  []byte
	emit func(string)
}

// maxLine bounds a line.
const maxLine = 64 << 10

func (w *lineWriter) write(b []byte) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(strings.TrimSuffix(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	for len(w.buf) > maxLine {
		cut := maxLine
		for cut > maxLine-utf8.UTFMax && !utf8.RuneStart(w.buf[cut]) {
			cut--
		}
		w.emit(string(w.buf[:cut]))
		w.buf = w.buf[cut:]
	}
	if len(w.buf) == 0 {
		w.buf = nil // let a large buffer go
	}
}

// flush emits what is left, a line with no newline.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}

// group counts the goroutines working for a target, so that Close can wait
// for them; once closed it admits no more.
type group struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// add counts one more goroutine, unless the group is closed.
func (g *group) add() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

func (g *group) done() { g.wg.Done() }

// closeAndWait admits no more goroutines and waits for those counted.
func (g *group) closeAndWait() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}
