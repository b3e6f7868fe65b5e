// Package observe reads process and host metrics: the CPU and resident
// memory of one process, the machine's CPU and memory use, and the space in
// use on a file system.
//
// CPU figures are deltas between successive calls to Sampler.Sample, so a
// Sampler is meant to be kept and called at a regular interval.
package observe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/process"
)

// Reading is one sample of resource use. Fields that were not measured (no
// pid, no path, the process was gone) are zero.
type Reading struct {
	// ProcessCPUPercent is the process's CPU use since the previous
	// reading of the same process (100 = one core busy). The first reading
	// of a process is its average since it started.
	ProcessCPUPercent float64
	// ProcessRSSBytes is the process's resident memory.
	ProcessRSSBytes uint64
	// HostCPUPercent is the machine's CPU use since the previous reading,
	// from 0 to 100 over all cores. The first reading is the average since
	// boot.
	HostCPUPercent float64
	// HostMemoryUsedBytes is the memory in use on the machine.
	HostMemoryUsedBytes uint64
	// DiskUsedBytes is the space in use on the file system holding the
	// path that was asked about.
	DiskUsedBytes uint64
}

// Sampler takes readings. It remembers the previous CPU times of the host
// and of the last process it read, to report CPU use as a delta. A Sampler
// is safe for concurrent use; its zero value is not usable, call NewSampler.
type Sampler struct {
	mu sync.Mutex

	hostBusy, hostTotal float64 // seconds, at the previous reading
	hostSeen            bool

	pid      int32
	created  int64 // ms since epoch, tells a restarted process from the old one
	procCPU  float64
	procAt   time.Time
	procSeen bool
}

// NewSampler returns a Sampler with no history. It does no I/O.
func NewSampler() *Sampler { return &Sampler{} }

// Sample reads the host's CPU and memory, the CPU and resident memory of
// process pid when pid > 0, and the space in use on the file system of path
// when path is not empty.
//
// A process that no longer exists is not an error: its fields are zero and
// the next reading of a new process (after a restart, under the same or
// another pid) starts from a fresh baseline. Errors reading the host or the
// path are returned, joined, along with whatever was measured.
func (s *Sampler) Sample(ctx context.Context, pid int, path string) (Reading, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	var r Reading
	var errs []error

	if err := s.sampleHost(ctx, &r); err != nil {
		errs = append(errs, err)
	}
	if pid > 0 {
		if err := s.sampleProcess(ctx, int32(pid), &r); err != nil {
			errs = append(errs, err)
		}
	}
	if path != "" {
		u, err := disk.UsageWithContext(ctx, path)
		if err != nil {
			errs = append(errs, fmt.Errorf("observe: disk usage of %s: %w", path, err))
		} else {
			r.DiskUsedBytes = u.Used
		}
	}
	return r, errors.Join(errs...)
}

func (s *Sampler) sampleHost(ctx context.Context, r *Reading) error {
	var errs []error
	times, err := cpu.TimesWithContext(ctx, false)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("observe: host cpu times: %w", err))
	case len(times) == 0:
		errs = append(errs, errors.New("observe: host cpu times: none reported"))
	default:
		busy, total := busyTotal(times[0])
		dBusy, dTotal := busy, total
		if s.hostSeen {
			dBusy, dTotal = busy-s.hostBusy, total-s.hostTotal
		}
		if dTotal > 0 {
			r.HostCPUPercent = clamp(100*dBusy/dTotal, 0, 100)
		}
		s.hostBusy, s.hostTotal, s.hostSeen = busy, total, true
	}
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("observe: host memory: %w", err))
	} else {
		r.HostMemoryUsedBytes = vm.Used
	}
	return errors.Join(errs...)
}

// busyTotal returns the busy and total CPU seconds in t. Guest time is
// already counted in user time on Linux, so it is left out of the total.
func busyTotal(t cpu.TimesStat) (busy, total float64) {
	idle := t.Idle + t.Iowait
	total = t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
	return total - idle, total
}

func (s *Sampler) sampleProcess(ctx context.Context, pid int32, r *Reading) error {
	p, err := process.NewProcessWithContext(ctx, pid)
	if err != nil {
		if gone(err) {
			s.procSeen = false
			return nil
		}
		return fmt.Errorf("observe: process %d: %w", pid, err)
	}
	created, err := p.CreateTimeWithContext(ctx)
	if err != nil {
		if gone(err) {
			s.procSeen = false
			return nil
		}
		return fmt.Errorf("observe: process %d start time: %w", pid, err)
	}
	times, err := p.TimesWithContext(ctx)
	if err != nil {
		if gone(err) {
			s.procSeen = false
			return nil
		}
		return fmt.Errorf("observe: process %d cpu times: %w", pid, err)
	}
	now := time.Now()
	used := times.User + times.System
	same := s.procSeen && s.pid == pid && s.created == created
	var dCPU, dWall float64
	if same {
		dCPU, dWall = used-s.procCPU, now.Sub(s.procAt).Seconds()
	} else {
		dCPU, dWall = used, now.Sub(time.UnixMilli(created)).Seconds()
	}
	if dWall > 0 && dCPU > 0 {
		r.ProcessCPUPercent = 100 * dCPU / dWall
	}
	s.pid, s.created, s.procCPU, s.procAt, s.procSeen = pid, created, used, now, true

	mi, err := p.MemoryInfoWithContext(ctx)
	if err != nil {
		if gone(err) {
			return nil
		}
		return fmt.Errorf("observe: process %d memory: %w", pid, err)
	}
	r.ProcessRSSBytes = mi.RSS
	return nil
}

// gone reports whether err says the process has exited.
func gone(err error) bool {
	return errors.Is(err, process.ErrorProcessNotRunning) || errors.Is(err, os.ErrNotExist)
}

func clamp(v, lo, hi float64) float64 { return max(lo, min(hi, v)) }
