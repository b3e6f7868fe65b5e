//go:build unix

package e2bfake

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// This file serves envd's process.Process service.

const (
	chunkSize        = 32 << 10 // envd reads stdout and stderr 32 KiB at a time
	drainGrace       = 200 * time.Millisecond
	keepaliveHeader  = "Keepalive-Ping-Interval"
	keepaliveDefault = 90 * time.Second
)

// The messages of process.proto, in the proto3 JSON mapping.
type (
	procConfig struct {
		Cmd  string            `json:"cmd,omitempty"`
		Args []string          `json:"args,omitempty"`
		Envs map[string]string `json:"envs,omitempty"`
		Cwd  *string           `json:"cwd,omitempty"`
	}
	processInfo struct {
		Config *procConfig `json:"config,omitempty"`
		Pid    uint32      `json:"pid,omitempty"`
		Tag    *string     `json:"tag,omitempty"`
	}
	listResponse struct {
		Processes []processInfo `json:"processes,omitempty"`
	}
	processEvent struct {
		Start     *startEvent `json:"start,omitempty"`
		Data      *dataEvent  `json:"data,omitempty"`
		End       *endEvent   `json:"end,omitempty"`
		Keepalive *struct{}   `json:"keepalive,omitempty"`
	}
	startEvent struct {
		Pid uint32 `json:"pid,omitempty"`
	}
	dataEvent struct {
		Stdout []byte `json:"stdout,omitempty"`
		Stderr []byte `json:"stderr,omitempty"`
	}
	endEvent struct {
		ExitCode int32   `json:"exitCode,omitempty"`
		Exited   bool    `json:"exited,omitempty"`
		Status   string  `json:"status,omitempty"`
		Error    *string `json:"error,omitempty"`
	}
	// eventResponse is a StartResponse or a ConnectResponse.
	eventResponse struct {
		Event processEvent `json:"event"`
	}
	empty struct{}
)

// proc is a process started in a sandbox.
type proc struct {
	sb     *sandbox
	pid    uint32
	tag    *string
	config procConfig
	cmd    *exec.Cmd
	timer  *time.Timer // kills the process at its Connect-Timeout-Ms

	stdinMu sync.Mutex
	stdin   *os.File // nil when stdin is off or closed

	mu    sync.Mutex
	subs  map[*procSub]struct{}
	muted bool // after SIGKILL or SIGTERM, as in envd, output is no longer sent
	ended bool
	end   endEvent
}

// procSub receives a process's events for one stream.
type procSub struct {
	mu     sync.Mutex
	queue  []processEvent
	notify chan struct{}
}

func (q *procSub) push(ev processEvent) {
	q.mu.Lock()
	q.queue = append(q.queue, ev)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *procSub) pop() (processEvent, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) == 0 {
		return processEvent{}, false
	}
	ev := q.queue[0]
	q.queue = q.queue[1:]
	return ev, true
}

// subscribe returns a subscriber getting the process's events from now
// on (just the end event if it has ended).
func (p *proc) subscribe() *procSub {
	sub := &procSub{notify: make(chan struct{}, 1)}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		end := p.end
		sub.push(processEvent{End: &end})
		return sub
	}
	p.subs[sub] = struct{}{}
	return sub
}

func (p *proc) unsubscribe(sub *procSub) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.subs, sub)
}

func (p *proc) publish(ev processEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.muted && ev.Data != nil {
		return
	}
	for sub := range p.subs {
		sub.push(ev)
	}
}

// signal sends sig to the process (not its group, as envd does).
func (p *proc) signal(sig syscall.Signal) error {
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		p.mu.Lock()
		p.muted = true
		p.mu.Unlock()
	}
	return p.cmd.Process.Signal(sig)
}

// startProcess starts a process in the sandbox, in its own process group,
// and returns it with a subscriber that gets all its output.
func (sb *sandbox) startProcess(cfg procConfig, user, hostCwd string, stdin bool, tag *string, timeout time.Duration) (*proc, *procSub, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.state != stateRunning {
		return nil, nil, connectErrorf(codeUnavailable, "sandbox %s is not running", sb.id)
	}
	userCmd := strings.Join(append([]string{cfg.Cmd}, cfg.Args...), " ")
	cmd := exec.Command(cfg.Cmd, cfg.Args...)
	cmd.Dir = hostCwd
	cmd.Env = sb.env(user, cfg.Envs)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	var files []*os.File // closed on failure
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	pipe := func() (*os.File, *os.File, error) {
		r, w, err := os.Pipe()
		if err == nil {
			files = append(files, r, w)
		}
		return r, w, err
	}
	outR, outW, err := pipe()
	if err != nil {
		return nil, nil, connectErrorf(codeInternal, "error creating stdout pipe for command '%s': %v", userCmd, err)
	}
	errR, errW, err := pipe()
	if err != nil {
		closeAll()
		return nil, nil, connectErrorf(codeInternal, "error creating stderr pipe for command '%s': %v", userCmd, err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	var inR, inW *os.File
	if stdin {
		if inR, inW, err = pipe(); err != nil {
			closeAll()
			return nil, nil, connectErrorf(codeInternal, "error creating stdin pipe for command '%s': %v", userCmd, err)
		}
		cmd.Stdin = inR
	}
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, nil, connectErrorf(codeInvalidArgument, "error starting process '%s': %s", userCmd, sb.scrub(err))
	}
	outW.Close()
	errW.Close()
	if inR != nil {
		inR.Close()
	}

	p := &proc{
		sb:     sb,
		pid:    uint32(cmd.Process.Pid),
		tag:    tag,
		config: cfg,
		cmd:    cmd,
		stdin:  inW,
		subs:   map[*procSub]struct{}{},
	}
	sub := p.subscribe()
	sb.procs[p.pid] = p
	sb.groups[cmd.Process.Pid] = true
	if timeout > 0 {
		p.timer = time.AfterFunc(timeout, func() { _ = p.signal(syscall.SIGKILL) })
	}
	var readers sync.WaitGroup
	sb.wg.Add(3)
	readers.Add(2)
	go p.read(outR, false, &readers)
	go p.read(errR, true, &readers)
	go p.wait(outR, errR, &readers)
	return p, sub, nil
}

// read passes the output of one pipe on, chunk by chunk as read.
func (p *proc) read(f *os.File, stderr bool, readers *sync.WaitGroup) {
	defer p.sb.wg.Done()
	defer readers.Done()
	for {
		buf := make([]byte, chunkSize)
		n, err := f.Read(buf)
		if n > 0 {
			data := &dataEvent{Stdout: buf[:n]}
			if stderr {
				data = &dataEvent{Stderr: buf[:n]}
			}
			p.publish(processEvent{Data: data})
		}
		if err != nil {
			return
		}
	}
}

// wait reaps the process, lets its output drain (bounded, for children
// that keep the pipes open) and sends the end event.
func (p *proc) wait(outR, errR *os.File, readers *sync.WaitGroup) {
	defer p.sb.wg.Done()
	err := p.cmd.Wait()
	deadline := time.Now().Add(drainGrace)
	_ = outR.SetReadDeadline(deadline)
	_ = errR.SetReadDeadline(deadline)
	readers.Wait()
	outR.Close()
	errR.Close()
	if p.timer != nil {
		p.timer.Stop()
	}
	p.stdinMu.Lock()
	if p.stdin != nil {
		p.stdin.Close()
		p.stdin = nil
	}
	p.stdinMu.Unlock()

	st := p.cmd.ProcessState
	end := endEvent{ExitCode: int32(st.ExitCode()), Exited: st.Exited(), Status: st.String()}
	if err != nil {
		msg := err.Error()
		end.Error = &msg
	}
	p.sb.mu.Lock()
	delete(p.sb.procs, p.pid)
	p.sb.mu.Unlock()

	p.mu.Lock()
	p.ended, p.end = true, end
	for sub := range p.subs {
		e := end
		sub.push(processEvent{End: &e})
	}
	p.mu.Unlock()
}

func (p *proc) writeStdin(data []byte) error {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdin == nil {
		return errors.New("stdin not enabled or closed")
	}
	if _, err := p.stdin.Write(data); err != nil {
		return fmt.Errorf("error writing to stdin of process '%d': %w", p.pid, err)
	}
	return nil
}

func (p *proc) closeStdin() error {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdin == nil {
		return nil
	}
	err := p.stdin.Close()
	p.stdin = nil
	return err
}

// rpcStart serves process.Process/Start.
func (s *Server) rpcStart(c *rpcCall, sb *sandbox, user string) {
	data, err := c.readStreamRequest()
	if err != nil {
		c.fail(err)
		return
	}
	req, err := decodePB(data, pbStartRequest)
	if err != nil {
		c.fail(err)
		return
	}
	if req.has("pty") {
		c.fail(connectErrorf(codeUnimplemented, "pty is not supported by e2bfake"))
		return
	}
	pc := req.msg("process")
	cfg := procConfig{Cmd: pc.str("cmd"), Args: pc.strs("args"), Envs: pc.strMap("envs"), Cwd: pc.optStr("cwd")}
	cwd, err := resolve(pc.str("cwd"), user)
	if err != nil {
		c.fail(connectErrorf(codeInvalidArgument, "%v", err))
		return
	}
	hostCwd := sb.hostPath(cwd)
	if _, err := os.Stat(hostCwd); errors.Is(err, os.ErrNotExist) {
		c.fail(connectErrorf(codeInvalidArgument, "cwd '%s' does not exist", cwd))
		return
	}
	stdin := req.optBool("stdin")
	p, sub, err := sb.startProcess(cfg, user, hostCwd, stdin == nil || *stdin, req.optStr("tag"), c.timeout)
	if err != nil {
		c.fail(err)
		return
	}
	defer p.unsubscribe(sub)
	s.log.Debug("e2bfake: process started", "sandbox", sb.id, "pid", p.pid, "cmd", cfg.Cmd, "args", cfg.Args)
	s.pump(c, sb, p, sub)
}

// rpcConnect serves process.Process/Connect.
func (s *Server) rpcConnect(c *rpcCall, sb *sandbox) {
	data, err := c.readStreamRequest()
	if err != nil {
		c.fail(err)
		return
	}
	req, err := decodePB(data, pbConnectRequest)
	if err != nil {
		c.fail(err)
		return
	}
	p, err := sb.findProcess(req.msg("process"))
	if err != nil {
		c.fail(err)
		return
	}
	sub := p.subscribe()
	defer p.unsubscribe(sub)
	s.pump(c, sb, p, sub)
}

// pump sends a process's start event, then its events as they come, with
// keepalives when idle, until its end event. A client leaving ends the
// stream but not the process; the sandbox being killed or paused breaks
// the connection, as does the DropStreams fault.
func (s *Server) pump(c *rpcCall, sb *sandbox, p *proc, sub *procSub) {
	cut := sb.cutChan()
	dropAfter := -1
	s.mu.Lock()
	if takeFault(&s.faults.dropStreams) {
		dropAfter = s.faults.dropAfter
	}
	s.mu.Unlock()

	sent := 0
	drop := func() {
		if dropAfter >= 0 && sent >= dropAfter {
			s.log.Info("e2bfake: dropping process stream (fault)", "sandbox", sb.id, "pid", p.pid, "after", sent)
			panic(http.ErrAbortHandler)
		}
	}
	send := func(ev processEvent) bool {
		if err := c.send(eventResponse{Event: ev}); err != nil {
			return false
		}
		sent++
		drop()
		return true
	}
	drop()
	if !send(processEvent{Start: &startEvent{Pid: p.pid}}) {
		return
	}
	interval := keepaliveDefault
	if v, err := strconv.ParseInt(c.r.Header.Get(keepaliveHeader), 10, 64); err == nil && v > 0 && v < int64(1<<62)/int64(time.Second) {
		interval = time.Duration(v) * time.Second
	}
	keepalive := time.NewTimer(interval)
	defer keepalive.Stop()
	for {
		for {
			ev, ok := sub.pop()
			if !ok {
				break
			}
			if !send(ev) {
				return
			}
			if ev.End != nil {
				c.end(nil)
				return
			}
			keepalive.Reset(interval)
		}
		select {
		case <-sub.notify:
		case <-keepalive.C:
			if !send(processEvent{Keepalive: &struct{}{}}) {
				return
			}
			keepalive.Reset(interval)
		case <-c.ctx.Done():
			if c.r.Context().Err() == nil { // Connect-Timeout-Ms passed
				c.fail(c.ctx.Err())
			}
			return
		case <-cut:
			panic(http.ErrAbortHandler)
		case <-s.closing:
			panic(http.ErrAbortHandler)
		}
	}
}

// rpcList serves process.Process/List.
func (s *Server) rpcList(c *rpcCall, sb *sandbox) {
	if _, ok := s.readUnaryPB(c, pbListRequest); !ok {
		return
	}
	var resp listResponse
	for _, p := range sb.processList() {
		cfg := p.config
		resp.Processes = append(resp.Processes, processInfo{Config: &cfg, Pid: p.pid, Tag: p.tag})
	}
	c.reply(resp)
}

// rpcSendSignal serves process.Process/SendSignal.
func (s *Server) rpcSendSignal(c *rpcCall, sb *sandbox) {
	req, ok := s.readUnaryPB(c, pbSendSignalRequest)
	if !ok {
		return
	}
	p, err := sb.findProcess(req.msg("process"))
	if err != nil {
		c.fail(err)
		return
	}
	var sig syscall.Signal
	switch n := req.enum("signal"); n {
	case 9:
		sig = syscall.SIGKILL
	case 15:
		sig = syscall.SIGTERM
	default:
		name := map[int32]string{0: "SIGNAL_UNSPECIFIED"}[n]
		if name == "" {
			name = strconv.Itoa(int(n))
		}
		c.fail(connectErrorf(codeUnimplemented, "invalid signal: %s", name))
		return
	}
	if err := p.signal(sig); err != nil {
		c.fail(connectErrorf(codeInternal, "error sending signal: %v", err))
		return
	}
	c.reply(empty{})
}

// inputTo writes a ProcessInput to a process.
func inputTo(p *proc, in pbMsg) error {
	switch {
	case in.has("pty"):
		return connectErrorf(codeInternal, "error writing to tty: tty not assigned to process — input should be written to the stdin, not the tty")
	case in.has("stdin"):
		if err := p.writeStdin(in.bytes("stdin")); err != nil {
			return connectErrorf(codeInternal, "error writing to stdin: %v", err)
		}
		return nil
	}
	return connectErrorf(codeUnimplemented, "invalid input type <nil>")
}

// rpcSendInput serves process.Process/SendInput.
func (s *Server) rpcSendInput(c *rpcCall, sb *sandbox) {
	req, ok := s.readUnaryPB(c, pbSendInputRequest)
	if !ok {
		return
	}
	p, err := sb.findProcess(req.msg("process"))
	if err != nil {
		c.fail(err)
		return
	}
	if err := inputTo(p, req.msg("input")); err != nil {
		c.fail(err)
		return
	}
	c.reply(empty{})
}

// rpcStreamInput serves process.Process/StreamInput, a client stream.
func (s *Server) rpcStreamInput(c *rpcCall, sb *sandbox) {
	var p *proc
	for {
		data, err := c.readEnvelope()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			c.fail(err)
			return
		}
		req, err := decodePB(data, pbStreamInputRequest)
		if err != nil {
			c.fail(err)
			return
		}
		switch {
		case req.has("start"):
			if p, err = sb.findProcess(req.msg("start").msg("process")); err != nil {
				c.fail(err)
				return
			}
		case req.has("data"):
			if p == nil {
				c.fail(connectErrorf(codeFailedPrecondition, "data event before the start event"))
				return
			}
			if err := inputTo(p, req.msg("data").msg("input")); err != nil {
				c.fail(err)
				return
			}
		case req.has("keepalive"):
		default:
			c.fail(connectErrorf(codeUnimplemented, "invalid event type <nil>"))
			return
		}
	}
	c.reply(empty{})
}

// rpcCloseStdin serves process.Process/CloseStdin.
func (s *Server) rpcCloseStdin(c *rpcCall, sb *sandbox) {
	req, ok := s.readUnaryPB(c, pbCloseStdinRequest)
	if !ok {
		return
	}
	p, err := sb.findProcess(req.msg("process"))
	if err != nil {
		c.fail(err)
		return
	}
	if err := p.closeStdin(); err != nil {
		c.fail(connectErrorf(codeUnknown, "error closing stdin: %v", err))
		return
	}
	c.reply(empty{})
}

// readUnaryPB reads and decodes a unary request, failing the call if it
// does not fit schema.
func (s *Server) readUnaryPB(c *rpcCall, schema *pbSchema) (pbMsg, bool) {
	data, err := c.readUnary()
	if err != nil {
		c.fail(err)
		return nil, false
	}
	req, err := decodePB(data, schema)
	if err != nil {
		c.fail(err)
		return nil, false
	}
	return req, true
}
