package local

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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
	s.stop(300 * time.Millisecond)
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("stop took %s: SIGTERM was ignored, so the grace period should have run out", took)
	}
	if pids := groupAlive(t, pgid); len(pids) != 0 {
		t.Errorf("process group %d still has live processes: %v", pgid, pids)
	}
	if pids := children(t); len(pids) != 0 {
		t.Errorf("child processes left: %v", pids)
	}
	if s.pid() != 0 {
		t.Error("pid still set after stop")
	}
	s.stop(0) // idempotent
}
