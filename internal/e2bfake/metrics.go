//go:build unix

package e2bfake

import (
	"context"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/shirou/gopsutil/v4/process"
)

// cpuMark is the CPU time a sandbox's processes had used at a time.
type cpuMark struct {
	at      time.Time
	seconds float64
}

// usage is one reading of a sandbox's resource use.
type usage struct {
	at       time.Time
	cpuPct   float64 // of the sandbox's CPUs, since the previous reading
	memUsed  uint64  // resident memory of its processes
	diskUsed uint64  // bytes of the files in its directory
}

// sandboxMetric is the API's SandboxMetric.
type sandboxMetric struct {
	Timestamp     time.Time `json:"timestamp"`
	TimestampUnix int64     `json:"timestampUnix"`
	CPUCount      int       `json:"cpuCount"`
	CPUUsedPct    float64   `json:"cpuUsedPct"`
	MemUsed       uint64    `json:"memUsed"`
	MemTotal      uint64    `json:"memTotal"`
	MemCache      uint64    `json:"memCache"`
	DiskUsed      uint64    `json:"diskUsed"`
	DiskTotal     uint64    `json:"diskTotal"`
}

// envdMetrics is envd's Metrics.
type envdMetrics struct {
	TS          int64   `json:"ts"`
	CPUCount    int     `json:"cpu_count"`
	CPUUsedPct  float64 `json:"cpu_used_pct"`
	MemTotal    uint64  `json:"mem_total"`
	MemUsed     uint64  `json:"mem_used"`
	MemCache    uint64  `json:"mem_cache"`
	MemTotalMiB uint64  `json:"mem_total_mib"`
	MemUsedMiB  uint64  `json:"mem_used_mib"`
	DiskUsed    uint64  `json:"disk_used"`
	DiskTotal   uint64  `json:"disk_total"`
}

const mib = 1 << 20

// sample reads the CPU and memory of the processes in the sandbox's
// process groups, and the size of its files. CPU use is a share of the
// sandbox's CPUs since the previous reading (since the sandbox started,
// for the first).
func (sb *sandbox) sample(ctx context.Context) usage {
	sb.mu.Lock()
	groups := sb.groupsLocked()
	sb.mu.Unlock()
	members := groupMembers()
	var seconds float64
	var rss uint64
	for g, ours := range groups {
		pids := members[g]
		if !ours && !sb.ownsAny(pids) {
			continue
		}
		for _, pid := range pids {
			p, err := process.NewProcessWithContext(ctx, pid)
			if err != nil {
				continue
			}
			if t, err := p.TimesWithContext(ctx); err == nil {
				seconds += t.User + t.System
			}
			if m, err := p.MemoryInfoWithContext(ctx); err == nil {
				rss += m.RSS
			}
		}
	}
	now := time.Now()
	sb.mu.Lock()
	prev := sb.cpu
	if prev.at.IsZero() {
		prev = cpuMark{at: sb.startedAt}
	}
	sb.cpu = cpuMark{at: now, seconds: seconds}
	sb.mu.Unlock()
	u := usage{at: now, memUsed: rss, diskUsed: dirSize(sb.root)}
	if wall := now.Sub(prev.at).Seconds(); wall > 0 {
		u.cpuPct = min(100, max(0, (seconds-prev.seconds)/wall/sandboxCPUCount*100))
	}
	return u
}

func dirSize(root string) uint64 {
	var n uint64
	_ = filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += uint64(fi.Size())
			}
		}
		return nil
	})
	return n
}

func (u usage) metric() sandboxMetric {
	return sandboxMetric{
		Timestamp:     u.at.UTC(),
		TimestampUnix: u.at.Unix(),
		CPUCount:      sandboxCPUCount,
		CPUUsedPct:    u.cpuPct,
		MemUsed:       u.memUsed,
		MemTotal:      sandboxMemoryMB * mib,
		DiskUsed:      u.diskUsed,
		DiskTotal:     sandboxDiskSizeMB * mib,
	}
}

func (sb *sandbox) envdMetrics(ctx context.Context) envdMetrics {
	u := sb.sample(ctx)
	return envdMetrics{
		TS:          u.at.Unix(),
		CPUCount:    sandboxCPUCount,
		CPUUsedPct:  u.cpuPct,
		MemTotal:    sandboxMemoryMB * mib,
		MemUsed:     u.memUsed,
		MemTotalMiB: sandboxMemoryMB,
		MemUsedMiB:  u.memUsed / mib,
		DiskUsed:    u.diskUsed,
		DiskTotal:   sandboxDiskSizeMB * mib,
	}
}
