package observe

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSampleOwnProcess(t *testing.T) {
	ctx := context.Background()
	s := NewSampler()
	first, err := s.Sample(ctx, os.Getpid(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if first.ProcessRSSBytes == 0 || first.HostMemoryUsedBytes == 0 || first.DiskUsedBytes == 0 {
		t.Errorf("first reading has unmeasured fields: %+v", first)
	}
	// A first reading has no earlier one to take a delta from: its CPU
	// figures are "not measured", not averages since boot or start.
	if first.ProcessCPUPercent != 0 || first.HostCPUPercent != 0 {
		t.Errorf("first reading has CPU figures: %+v", first)
	}

	// Keep one core busy for a while; the next reading's delta must show it.
	deadline := time.Now().Add(400 * time.Millisecond)
	n := 0
	for time.Now().Before(deadline) {
		n++
	}
	r, err := s.Sample(ctx, os.Getpid(), "")
	if err != nil {
		t.Fatal(err)
	}
	if r.ProcessCPUPercent < 10 {
		t.Errorf("process CPU after a busy loop = %.1f%%, want at least 10%%", r.ProcessCPUPercent)
	}
	if r.HostCPUPercent <= 0 || r.HostCPUPercent > 100 {
		t.Errorf("host CPU = %.1f%%, want in (0, 100]", r.HostCPUPercent)
	}
	if r.DiskUsedBytes != 0 {
		t.Errorf("disk measured without a path: %d", r.DiskUsedBytes)
	}
}

func TestSampleGoneProcess(t *testing.T) {
	pid := 1<<22 - 1
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Skipf("pid %d exists here", pid)
	}
	s := NewSampler()
	ctx := context.Background()
	if _, err := s.Sample(ctx, os.Getpid(), ""); err != nil {
		t.Fatal(err)
	}
	r, err := s.Sample(ctx, pid, "")
	if err != nil {
		t.Fatalf("a process that is gone must not be an error: %v", err)
	}
	if r.ProcessCPUPercent != 0 || r.ProcessRSSBytes != 0 {
		t.Errorf("gone process has readings: %+v", r)
	}
	if r.HostMemoryUsedBytes == 0 {
		t.Errorf("host memory not measured: %+v", r)
	}
	// Back to a live process: a fresh baseline, not a delta against the old one.
	r, err = s.Sample(ctx, os.Getpid(), "")
	if err != nil || r.ProcessRSSBytes == 0 || r.ProcessCPUPercent < 0 {
		t.Errorf("after a pid change: %+v, %v", r, err)
	}
}

func TestSampleBadPath(t *testing.T) {
	r, err := NewSampler().Sample(context.Background(), 0, "/does/not/exist/chaoslab")
	if err == nil {
		t.Fatal("no error for a missing path")
	}
	if r.HostMemoryUsedBytes == 0 {
		t.Errorf("host readings lost along with the disk error: %+v", r)
	}
}

// TestSampleGroup checks that a group's reading covers every process of
// the group: here the leader is an idle shell and its child burns CPU.
func TestSampleGroup(t *testing.T) {
	cmd := exec.Command("sh", "-c", "while :; do :; done & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	ctx := context.Background()
	s := NewSampler()
	// Wait until the busy child is in the group, so that the baseline
	// covers it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := members(ctx, int32(pgid))
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shell's child never showed up in group %d", pgid)
		}
		time.Sleep(10 * time.Millisecond) // polling; not synchronisation
	}
	first, err := s.Sample(ctx, pgid, "")
	if err != nil {
		t.Fatal(err)
	}
	if first.ProcessCPUPercent != 0 || first.ProcessRSSBytes == 0 {
		t.Errorf("first reading of the group = %+v, want no CPU figure and some memory", first)
	}
	time.Sleep(500 * time.Millisecond) // a measurement window, not synchronisation
	r, err := s.Sample(ctx, pgid, "")
	if err != nil {
		t.Fatal(err)
	}
	// One busy core is 100%; a loaded machine gives it less, but not 80% less.
	if r.ProcessCPUPercent < 20 {
		t.Errorf("group CPU with a busy child = %.1f%%, want at least 20%%", r.ProcessCPUPercent)
	}

	// Without the busy child, the group is idle.
	var child int
	pids, _ := members(ctx, int32(pgid))
	for _, pid := range pids {
		if int(pid) != pgid {
			child = int(pid)
		}
	}
	if _, err := s.Sample(ctx, pgid, "", child); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a measurement window, not synchronisation
	if r, err := s.Sample(ctx, pgid, "", child); err != nil || r.ProcessCPUPercent > 10 {
		t.Errorf("group CPU without its busy child = %+v, %v; want the idle shell's", r, err)
	}

	// The same group id after the group is gone starts afresh.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	_ = cmd.Wait()
	// The killed busy child is reaped by init, not by us: until it is, it
	// is still a member. Poll until the group is empty.
	deadline = time.Now().Add(10 * time.Second)
	for {
		r, err := s.Sample(ctx, pgid, "")
		if err == nil && r.ProcessCPUPercent == 0 && r.ProcessRSSBytes == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reading of a group that is gone = %+v, %v", r, err)
		}
		time.Sleep(20 * time.Millisecond) // polling; not synchronisation
	}
}
