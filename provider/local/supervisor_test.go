package local

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// TestStopIgnoresTERM checks that a process group that ignores SIGTERM is
// killed after the grace period, grandchildren included.
func TestStopIgnoresTERM(t *testing.T) {
	out, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	script := `trap "" TERM; sh -c 'trap "" TERM; echo grandchild; sleep 60' & echo started; wait`
	s := newSupervisor([]string{"sh", "-c", script}, os.Environ(), t.TempDir(), out, chaoslab.RestartAlways, slog.New(slog.DiscardHandler))
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the script to start its grandchild", func() bool {
		b, _ := os.ReadFile(out.Name())
		return strings.Contains(string(b), "grandchild")
	})
	pgid := s.pid()
	start := time.Now()
	if err := s.stop(context.Background(), 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("stop took %s: SIGTERM was ignored, so the grace period should have run out", took)
	}
	if pids := groupPids(t, pgid); len(pids) != 0 {
		t.Errorf("process group %d still has live processes: %v", pgid, pids)
	}
	if pids := children(t); len(pids) != 0 {
		t.Errorf("child processes left: %v", pids)
	}
	if s.pid() != 0 {
		t.Error("pid still set after stop")
	}
	if err := s.stop(context.Background(), 0); err != nil { // idempotent
		t.Error(err)
	}
}

// TestAwaitGroupHonoursContext checks that waiting for a process group to
// be gone ends with an error naming it when the context does.
func TestAwaitGroupHonoursContext(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	defer func() {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := awaitGroup(ctx, pgid)
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(pgid)) {
		t.Errorf("awaitGroup of a live group = %v, want an error naming group %d", err, pgid)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("awaitGroup took %s with a 100ms context", took)
	}
}

// TestKillWaitContext checks the bound of the wait after SIGKILL: the
// caller's context, but never less than killWait.
func TestKillWaitContext(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for name, ctx := range map[string]context.Context{"done": done, "short": shortCtx(t)} {
		wctx, cancel := killWaitContext(ctx)
		dl, ok := wctx.Deadline()
		if wctx.Err() != nil || !ok || time.Until(dl) < killWait/2 {
			t.Errorf("%s context: wait context %v, deadline %v", name, wctx.Err(), dl)
		}
		cancel()
	}
	long, cancelLong := context.WithTimeout(context.Background(), time.Hour)
	defer cancelLong()
	wctx, cancelW := killWaitContext(long)
	defer cancelW()
	if dl, _ := wctx.Deadline(); time.Until(dl) < 30*time.Minute {
		t.Errorf("a long context's wait ends at %v", dl)
	}
}

func shortCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

// TestGuardExitsAsCommand checks that a guarded command's end reaches the
// supervisor as if there were no guard: its exit code, or its signal.
func TestGuardExitsAsCommand(t *testing.T) {
	for script, want := range map[string]string{
		"exit 7":        "exit status 7",
		"kill -TERM $$": "signal: terminated",
		"exec sleep 30": "signal: killed",
	} {
		t.Run(script, func(t *testing.T) {
			out, err := os.Create(filepath.Join(t.TempDir(), "log"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			s := newSupervisor([]string{"sh", "-c", script}, os.Environ(), t.TempDir(), out, chaoslab.RestartNever, slog.New(slog.DiscardHandler))
			s.guarded = true
			if err := s.start(); err != nil {
				t.Fatal(err)
			}
			defer s.stop(context.Background(), 0)
			if pid, pgid := s.pid(), s.pgid(); pid != 0 && pid == pgid {
				t.Errorf("pid %d is the guard's: want the command's", pid)
			}
			if want == "signal: killed" {
				if pid := s.pid(); pid != 0 {
					_ = syscall.Kill(pid, syscall.SIGKILL) // the command alone, not the group
				}
			}
			<-s.done
			if got := exitText(s.exitErr()); got != want {
				t.Errorf("the run ended with %q, want %q", got, want)
			}
		})
	}
}
