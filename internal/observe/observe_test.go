package observe

import (
	"context"
	"errors"
	"os"
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
