//go:build unix

package e2bfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shirou/gopsutil/v4/process"
)

// Sandbox states.
const (
	stateRunning = "running"
	statePaused  = "paused"
	stateKilled  = "killed"
)

// The resources the fake reports for every sandbox (those of E2B's base
// template).
const (
	sandboxCPUCount   = 2
	sandboxMemoryMB   = 512
	sandboxDiskSizeMB = 10240
	clientID          = "6532622b" // deprecated in the API, still required
)

// users are the users of every sandbox and their home directories; "user"
// is the default, as in E2B's templates.
var users = map[string]string{"user": "/home/user", "root": "/root"}

const defaultUser = "user"

// sandbox is one fake sandbox: a directory standing for its root file
// system, and the processes started in it.
type sandbox struct {
	srv          *Server
	id           string
	templateID   string
	root         string // host directory standing for "/"
	startedAt    time.Time
	secure       bool
	accessToken  string // envd access token when secure
	trafficToken string // required on guest ports when public traffic is off
	metadata     map[string]string
	envVars      map[string]string
	autoPause    bool
	autoResume   *bool
	allowNet     *bool
	network      json.RawMessage

	mu      sync.Mutex
	state   string
	endAt   time.Time
	timeout time.Duration // the last one set, for resume
	timer   *time.Timer
	procs   map[uint32]*proc // running processes by pid
	groups  map[int]bool     // process groups ever started here
	cut     chan struct{}    // closed when streams to the sandbox must break
	wg      sync.WaitGroup   // process goroutines
	dead    chan struct{}    // closed once killed and cleaned up
	killing sync.Once
	killErr error
	cpu     cpuMark // for metrics
}

func (sb *sandbox) stateOf() string {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.state
}

// cutChan is the channel closed when the streams open now must break.
func (sb *sandbox) cutChan() <-chan struct{} {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.cut
}

// newSandbox makes a sandbox's directory tree: /home/user, /root, /tmp.
func (s *Server) newSandbox(id string) (*sandbox, error) {
	root, err := os.MkdirTemp(s.baseDir, "e2bfake-"+id+"-")
	if err != nil {
		return nil, fmt.Errorf("make sandbox directory: %w", err)
	}
	for _, d := range []string{"home/user", "root", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			_ = os.RemoveAll(root)
			return nil, fmt.Errorf("make sandbox directory: %w", err)
		}
	}
	return &sandbox{
		srv:    s,
		id:     id,
		root:   root,
		state:  stateRunning,
		procs:  map[uint32]*proc{},
		groups: map[int]bool{},
		cut:    make(chan struct{}),
		dead:   make(chan struct{}),
	}, nil
}

// setDeadlineLocked makes the sandbox expire d from now; sb.mu is held.
func (sb *sandbox) setDeadlineLocked(d time.Duration) {
	sb.timeout = d
	sb.endAt = time.Now().Add(d)
	if sb.timer != nil {
		sb.timer.Stop()
	}
	s := sb.srv
	sb.timer = time.AfterFunc(d, func() { s.expire(sb) })
}

// expire ends a sandbox whose deadline has passed: it is killed, or paused
// when it was created with autoPause.
func (s *Server) expire(sb *sandbox) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.bg.Add(1)
	s.mu.Unlock()
	defer s.bg.Done()

	sb.mu.Lock()
	if sb.state != stateRunning || time.Now().Before(sb.endAt) {
		sb.mu.Unlock()
		return
	}
	pause := sb.autoPause
	sb.mu.Unlock()
	if pause {
		s.log.Info("e2bfake: sandbox timed out, pausing", "sandbox", sb.id)
		sb.pause(true)
		return
	}
	s.log.Info("e2bfake: sandbox timed out, killing", "sandbox", sb.id)
	if err := s.killSandbox(sb); err != nil {
		s.log.Warn("e2bfake: kill", "sandbox", sb.id, "err", err)
	}
}

// killSandbox kills sb's processes by process group, breaks its streams,
// removes its directory and forgets it. Concurrent callers all wait for
// the one kill.
func (s *Server) killSandbox(sb *sandbox) error {
	sb.killing.Do(func() {
		sb.mu.Lock()
		sb.state = stateKilled
		if sb.timer != nil {
			sb.timer.Stop()
		}
		close(sb.cut)
		groups := sb.groupsLocked()
		sb.mu.Unlock()

		sb.signalGroups(groups, syscall.SIGKILL)
		sb.wg.Wait()
		if err := os.RemoveAll(sb.root); err != nil {
			sb.killErr = fmt.Errorf("e2bfake: remove sandbox %s: %w", sb.id, err)
		}
		s.mu.Lock()
		delete(s.sandboxes, sb.id)
		s.mu.Unlock()
		close(sb.dead)
	})
	<-sb.dead
	return sb.killErr
}

// pause stops the sandbox's processes (SIGSTOP to their process groups)
// and breaks its streams, as a memory snapshot does; with memory false
// the processes are killed instead, as a file-system-only snapshot
// reboots the sandbox. It reports false if the sandbox was not running.
func (sb *sandbox) pause(memory bool) bool {
	sb.mu.Lock()
	if sb.state != stateRunning {
		sb.mu.Unlock()
		return false
	}
	sb.state = statePaused
	if sb.timer != nil {
		sb.timer.Stop()
	}
	close(sb.cut)
	groups := sb.groupsLocked()
	sb.mu.Unlock()
	if memory {
		sb.signalGroups(groups, syscall.SIGSTOP)
	} else {
		sb.signalGroups(groups, syscall.SIGKILL)
		sb.wg.Wait()
	}
	return true
}

// resume continues a paused sandbox with a new deadline. It reports false
// if the sandbox was not paused.
func (sb *sandbox) resume(timeout time.Duration) bool {
	sb.mu.Lock()
	if sb.state != statePaused {
		sb.mu.Unlock()
		return false
	}
	sb.state = stateRunning
	sb.cut = make(chan struct{})
	groups := sb.groupsLocked()
	sb.setDeadlineLocked(timeout)
	sb.mu.Unlock()
	sb.signalGroups(groups, syscall.SIGCONT)
	return true
}

// groupsLocked lists the process groups to signal, each with whether its
// leader is still one of ours (not reaped); sb.mu is held.
func (sb *sandbox) groupsLocked() map[int]bool {
	out := make(map[int]bool, len(sb.groups))
	for g := range sb.groups {
		_, running := sb.procs[uint32(g)]
		out[g] = running
	}
	return out
}

// signalGroups sends sig to each process group. A group whose leader has
// been reaped may have had its id reused by another program's group, so it
// is signalled only if one of its members carries this sandbox's marker
// (markerVar) in its environment.
func (sb *sandbox) signalGroups(groups map[int]bool, sig syscall.Signal) {
	var members map[int][]int32
	for g, ours := range groups {
		if !ours {
			if members == nil {
				members = groupMembers()
			}
			if !sb.ownsAny(members[g]) {
				continue
			}
		}
		if err := syscall.Kill(-g, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			sb.srv.log.Warn("e2bfake: signal process group", "sandbox", sb.id, "pgid", g, "signal", sig, "err", err)
		}
	}
}

// groupMembers maps process group ids to the processes in them.
func groupMembers() map[int][]int32 {
	pids, err := process.Pids()
	if err != nil {
		return nil
	}
	out := map[int][]int32{}
	for _, pid := range pids {
		if g, err := syscall.Getpgid(int(pid)); err == nil {
			out[g] = append(out[g], pid)
		}
	}
	return out
}

func (sb *sandbox) ownsAny(pids []int32) bool {
	marker := markerVar + "=" + sb.id
	for _, pid := range pids {
		p, err := process.NewProcess(pid)
		if err != nil {
			continue
		}
		env, err := p.Environ()
		if err != nil {
			continue
		}
		for _, kv := range env {
			if kv == marker {
				return true
			}
		}
	}
	return false
}

// processList returns the running processes, by pid.
func (sb *sandbox) processList() []*proc {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	out := make([]*proc, 0, len(sb.procs))
	for _, p := range sb.procs {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pid < out[j].pid })
	return out
}

// findProcess returns the running process a ProcessSelector picks.
func (sb *sandbox) findProcess(sel pbMsg) (*proc, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	switch {
	case sel.has("pid"):
		pid := sel.u32("pid")
		if p := sb.procs[pid]; p != nil {
			return p, nil
		}
		return nil, connectErrorf(codeNotFound, "process with pid %d not found", pid)
	case sel.has("tag"):
		tag := sel.str("tag")
		for _, p := range sb.procs {
			if p.tag != nil && *p.tag == tag {
				return p, nil
			}
		}
		return nil, connectErrorf(codeNotFound, "process with tag %s not found", tag)
	}
	return nil, connectErrorf(codeUnimplemented, "invalid input type <nil>")
}

// resolve turns a path given to envd into the sandbox's absolute path, as
// envd does: "~" is the user's home, and relative paths are under it.
func resolve(p, user string) (string, error) {
	home := users[user]
	if p == "" {
		return home, nil
	}
	if p[0] == '~' {
		if len(p) > 1 && p[1] != '/' {
			return "", fmt.Errorf("failed to expand path '%s' for user '%s': cannot expand user-specific home dir", p, user)
		}
		p = home + p[1:]
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(home, p)
	}
	return filepath.Clean(p), nil
}

// hostPath maps a sandbox's absolute path onto this machine.
func (sb *sandbox) hostPath(p string) string {
	return filepath.Join(sb.root, filepath.Clean("/"+p))
}

// sandboxPath maps a path on this machine back into the sandbox.
func (sb *sandbox) sandboxPath(h string) string {
	rel, err := filepath.Rel(sb.root, h)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return h
	}
	return filepath.Clean("/" + rel)
}

// scrub removes the host directory from an error message, so paths read
// as the sandbox's.
func (sb *sandbox) scrub(err error) string {
	return strings.ReplaceAll(err.Error(), sb.root, "")
}

// env is the environment of a process: envd's base variables, the
// sandbox's default ones, the sandbox's envVars, then the request's.
func (sb *sandbox) env(user string, extra map[string]string) []string {
	home := sb.hostPath(users[user])
	vars := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"USER=" + user,
		"LOGNAME=" + user,
		"TMPDIR=" + sb.hostPath("/tmp"),
		"E2B_SANDBOX=true",
		"E2B_SANDBOX_ID=" + sb.id,
		"E2B_TEAM_ID=" + teamID,
		"E2B_TEMPLATE_ID=" + sb.templateID,
	}
	for _, m := range []map[string]string{sb.envVars, extra} {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			vars = append(vars, k+"="+m[k])
		}
	}
	return append(vars, markerVar+"="+sb.id)
}

// markerVar marks the processes of a sandbox, so that the fake can tell
// them from others when it kills what is left of them. It comes last, so
// no request overrides it.
const markerVar = "E2BFAKE_SANDBOX_ID"

const teamID = "00000000-0000-0000-0000-000000000000"
