// Package observe reads process and host metrics: the CPU and resident
// memory of a process group, the machine's CPU and memory use, and the space
// in use on a file system.
//
// CPU figures are deltas between successive calls to Sampler.Sample, so a
// Sampler is meant to be kept and called at a regular interval. A first
// reading has nothing to take a delta from and reports 0 CPU, which
// chaoslab.Sample reads as "not measured".
package observe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/process"
)

// Reading is one sample of resource use. Fields that were not measured (no
// group, no path, the processes were gone, a first reading) are zero.
type Reading struct {
	// ProcessCPUPercent is the CPU use of the process group since the
	// previous reading of the same group (100 = one core busy). It is 0 on
	// the first reading of a group, and after its leader changed (a
	// restart).
	ProcessCPUPercent float64
	// ProcessRSSBytes is the resident memory of the processes of the
	// group, summed (pages they share are counted once per process).
	ProcessRSSBytes uint64
	// HostCPUPercent is the machine's CPU use since the previous reading,
	// from 0 to 100 over all cores; 0 on the Sampler's first reading.
	HostCPUPercent float64
	// HostMemoryUsedBytes is the memory in use on the machine.
	HostMemoryUsedBytes uint64
	// DiskUsedBytes is the space in use on the file system holding the
	// path that was asked about.
	DiskUsedBytes uint64
}

// procKey tells a process from a later one that reuses its pid.
type procKey struct {
	pid     int32
	created int64 // ms since the epoch
}

// Sampler takes readings. It remembers the previous CPU times of the host
// and of the processes of the last group it read, to report CPU use as a
// delta. A Sampler is safe for concurrent use; its zero value is not
// usable, call NewSampler.
type Sampler struct {
	mu sync.Mutex

	hostBusy, hostTotal float64 // seconds, at the previous reading
	hostSeen            bool

	pgid     int32
	leader   int64               // the leader's start time; 0 if it was gone
	procCPU  map[procKey]float64 // CPU seconds of each member at procAt
	procAt   time.Time
	procSeen bool
}

// NewSampler returns a Sampler with no history. It does no I/O.
func NewSampler() *Sampler { return &Sampler{} }

// Sample reads the host's CPU and memory, the CPU and resident memory of
// process group pgid when pgid > 0, and the space in use on the file system
// of path when path is not empty.
//
// The group is every process whose process group id is pgid, and process
// pgid itself even if it leads no group, so a pid that is not a group
// leader reads that one process (and any group it happens to lead).
// Processes that leave the group between two readings take the CPU they
// used since the previous reading with them; processes that join it count
// with all of theirs.
//
// Processes whose pids are in except are left out of the group (a
// supervisor's own helper, say).
//
// A group that no longer exists is not an error: its fields are zero and
// the next reading of a group (after a restart, under the same or another
// id) starts from a fresh baseline. Errors reading the host or the path
// are returned, joined, along with whatever was measured.
func (s *Sampler) Sample(ctx context.Context, pgid int, path string, except ...int) (Reading, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	var r Reading
	var errs []error

	if err := s.sampleHost(ctx, &r); err != nil {
		errs = append(errs, err)
	}
	if pgid > 0 {
		if err := s.sampleGroup(ctx, int32(pgid), except, &r); err != nil {
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
		if s.hostSeen {
			if dTotal := total - s.hostTotal; dTotal > 0 {
				r.HostCPUPercent = clamp(100*(busy-s.hostBusy)/dTotal, 0, 100)
			}
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

func (s *Sampler) sampleGroup(ctx context.Context, pgid int32, except []int, r *Reading) error {
	pids, err := members(ctx, pgid)
	if err != nil {
		return fmt.Errorf("observe: process group %d: %w", pgid, err)
	}
	now := time.Now()
	cpuNow := make(map[procKey]float64, len(pids))
	var leader int64
	var errs []error
	for _, pid := range pids {
		if slices.Contains(except, int(pid)) {
			continue
		}
		key, used, rss, err := readProcess(ctx, pid)
		if err != nil {
			if !gone(err) {
				errs = append(errs, fmt.Errorf("observe: process %d: %w", pid, err))
			}
			continue
		}
		cpuNow[key] = used
		r.ProcessRSSBytes += rss
		if pid == pgid {
			leader = key.created
		}
	}
	if len(cpuNow) == 0 {
		s.procSeen = false // gone: the next reading starts afresh
		return errors.Join(errs...)
	}
	if s.procSeen && s.pgid == pgid && s.leader == leader {
		var dCPU float64
		for key, used := range cpuNow {
			dCPU += used - s.procCPU[key] // a newcomer counts from 0
		}
		if dWall := now.Sub(s.procAt).Seconds(); dWall > 0 && dCPU > 0 {
			r.ProcessCPUPercent = 100 * dCPU / dWall
		}
	}
	s.pgid, s.leader, s.procCPU, s.procAt, s.procSeen = pgid, leader, cpuNow, now, true
	return errors.Join(errs...)
}

// readProcess returns a process's identity, CPU seconds and resident
// memory.
func readProcess(ctx context.Context, pid int32) (procKey, float64, uint64, error) {
	p, err := process.NewProcessWithContext(ctx, pid)
	if err != nil {
		return procKey{}, 0, 0, err
	}
	created, err := p.CreateTimeWithContext(ctx)
	if err != nil {
		return procKey{}, 0, 0, err
	}
	times, err := p.TimesWithContext(ctx)
	if err != nil {
		return procKey{}, 0, 0, err
	}
	mi, err := p.MemoryInfoWithContext(ctx)
	if err != nil {
		return procKey{}, 0, 0, err
	}
	return procKey{pid, created}, times.User + times.System, mi.RSS, nil
}

// members returns the pids of group pgid's processes, and pgid itself.
func members(ctx context.Context, pgid int32) ([]int32, error) {
	all, err := process.PidsWithContext(ctx)
	if err != nil {
		return nil, err
	}
	out := []int32{pgid}
	for _, pid := range all {
		if pid != pgid && pid > 0 && processGroup(pid) == pgid {
			out = append(out, pid)
		}
	}
	return out, nil
}

// gone reports whether err says the process has exited.
func gone(err error) bool {
	return errors.Is(err, process.ErrorProcessNotRunning) || errors.Is(err, os.ErrNotExist)
}

func clamp(v, lo, hi float64) float64 { return max(lo, min(hi, v)) }
