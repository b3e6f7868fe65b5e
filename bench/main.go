// Command bench measures chaoslab's fault proxy (internal/netfault) and
// Toxiproxy v2.12.0 side by side, in the same run, on 127.0.0.1 only, and
// prints one line per figure:
//
//	metric=NAME chaoslab=X toxiproxy=Y ratio=Z
//
// where X and Y are medians over -repeat runs and ratio is the median over
// runs of chaoslab/toxiproxy within a run (paired, so that load drifting
// between runs cancels out). Reference figures (a direct connection, a bare
// Go forwarder, a bare Go timer) are printed as "metric=NAME reference=X".
// Within a run the order of the contestants is rotated. Both proxies run in this process, except for the memory figure,
// for which each proxy runs alone in a child process of this binary.
//
// Usage:
//
//	go run . [-repeat 7] [-bulk-time 1s] [-rtt-n 3000] [-conn-n 300]
//	         [-lat-conns 20] [-lat-seq 10] [-mem-conns 10000] [-mem-repeat 3]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type options struct {
	repeat    int
	bulkTime  time.Duration
	rttN      int
	connN     int
	latency   time.Duration
	latConns  int
	latSeq    int
	memConns  int
	memRepeat int
	memSettle time.Duration
}

func main() {
	var (
		o        options
		role     string
		upstream string
	)
	flag.IntVar(&o.repeat, "repeat", 7, "runs of each measurement; medians are quoted")
	flag.DurationVar(&o.bulkTime, "bulk-time", time.Second, "length of each bulk-throughput window")
	flag.IntVar(&o.rttN, "rtt-n", 3000, "64-byte round trips per run on one connection")
	flag.IntVar(&o.connN, "conn-n", 300, "new connections (each with one round trip) per run")
	flag.DurationVar(&o.latency, "latency", 100*time.Millisecond, "latency fault for the overshoot and bulk-under-latency figures")
	flag.IntVar(&o.latConns, "lat-conns", 20, "concurrent connections in the overshoot measurement")
	flag.IntVar(&o.latSeq, "lat-seq", 10, "round trips per connection in the overshoot measurement")
	flag.IntVar(&o.memConns, "mem-conns", 10000, "idle connections for the memory figure (capped by ulimit -n)")
	flag.IntVar(&o.memRepeat, "mem-repeat", 3, "runs of the memory measurement; 0 skips it")
	flag.DurationVar(&o.memSettle, "mem-settle", time.Second, "wait after opening idle connections before measuring memory")
	flag.StringVar(&role, "child", "", "internal: run as a child process (echo, chaoslab, toxiproxy)")
	flag.StringVar(&upstream, "upstream", "", "internal: upstream of a child proxy")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if role != "" {
		err = runChild(ctx, role, upstream)
	} else {
		err = run(ctx, os.Stdout, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}

// results collects per-run values under "metric/contestant".
type results map[string][]float64

func (r results) add(metric, who string, v float64) { r[metric+"/"+who] = append(r[metric+"/"+who], v) }
func (r results) med(metric, who string) float64    { return median(r[metric+"/"+who]) }

// pairedRatio is the median over runs of chaoslab's figure over
// Toxiproxy's in the same run. Both are measured seconds apart, so load
// from elsewhere on the machine that drifts between runs cancels out of
// each ratio; with a quiet machine it is close to the ratio of the medians.
func (r results) pairedRatio(metric string) float64 {
	c, t := r[metric+"/"+implChaoslab], r[metric+"/"+implToxiproxy]
	var rs []float64
	for i := range min(len(c), len(t)) {
		rs = append(rs, c[i]/t[i])
	}
	return median(rs)
}

// metricInfo describes a printed figure.
type metricInfo struct {
	name, unit string
	higher     bool   // higher is better
	ref        string // contestant of its reference line, if any
	refName    string
	bareName   string // name of the bare Go forwarder's reference line, if any
}

var metrics = []metricInfo{
	{name: "bulk_idle_mibps", unit: "MiB/s", higher: true, ref: "direct", refName: "bulk_direct_mibps", bareName: "bulk_bare_go_mibps"},
	{name: "bulk_idle_of_direct", unit: "fraction of direct throughput", higher: true, bareName: "bulk_bare_go_of_direct"},
	{name: "rtt_added_p50_us", unit: "µs over direct", ref: "direct", refName: "rtt_direct_p50_us", bareName: "rtt_bare_go_added_p50_us"},
	{name: "rtt_added_p99_us", unit: "µs over direct", ref: "direct", refName: "rtt_direct_p99_us", bareName: "rtt_bare_go_added_p99_us"},
	{name: "connect_rtt_p50_us", unit: "µs, dial + one 64-byte round trip", ref: "direct", refName: "connect_rtt_direct_p50_us", bareName: "connect_rtt_bare_go_p50_us"},
	{name: "latency_overshoot_p50_ms", unit: "ms of round trip beyond the latency fault", ref: "timer", refName: "timer_overshoot_p50_ms"},
	{name: "latency_overshoot_p99_ms", unit: "ms of round trip beyond the latency fault", ref: "timer", refName: "timer_overshoot_p99_ms"},
	{name: "bulk_latency_mibps", unit: "MiB/s under the latency fault", higher: true},
	{name: "mem_idle_conns_rss_mib", unit: "MiB of RSS growth of the proxy process"},
	{name: "mem_idle_conns_go_mib", unit: "MiB of Go heap+stacks growth after GC"},
	{name: "mem_per_idle_conn_kib", unit: "KiB of RSS per idle connection"},
}

func run(ctx context.Context, w io.Writer, o options) error {
	echoSrv, err := startServer(echo)
	if err != nil {
		return err
	}
	defer echoSrv.Close()
	sourceSrv, err := startServer(source)
	if err != nil {
		return err
	}
	defer sourceSrv.Close()

	echoAddr := map[string]string{"direct": echoSrv.Addr()}
	sourceAddr := map[string]string{"direct": sourceSrv.Addr()}
	for _, x := range []struct {
		upstream string
		addrs    map[string]string
	}{{echoSrv.Addr(), echoAddr}, {sourceSrv.Addr(), sourceAddr}} {
		f, err := startServer(forward(x.upstream))
		if err != nil {
			return err
		}
		defer f.Close()
		x.addrs[bare] = f.Addr()
	}
	for _, impl := range impls {
		for _, x := range []struct {
			upstream string
			addrs    map[string]string
		}{{echoSrv.Addr(), echoAddr}, {sourceSrv.Addr(), sourceAddr}} {
			p, err := startProxy(ctx, impl, x.upstream)
			if err != nil {
				return err
			}
			defer p.Close()
			x.addrs[impl] = p.Addr()
		}
	}

	res := results{}
	start := time.Now()
	for r := range o.repeat {
		if err := ctx.Err(); err != nil {
			return err
		}
		withDirect := rotate(append([]string{"direct", bare}, impls...), r)
		only := rotate(impls, r)
		fmt.Fprintf(os.Stderr, "bench: run %d/%d (%s elapsed)\n", r+1, o.repeat, time.Since(start).Round(time.Second))

		bulkRun := map[string]float64{}
		for _, who := range withDirect {
			runtime.GC()
			v, err := bulk(ctx, sourceAddr[who], o.bulkTime)
			if err != nil {
				return fmt.Errorf("bulk %s: %w", who, err)
			}
			bulkRun[who] = v
			res.add("bulk_idle_mibps", who, v)
		}
		for _, who := range append([]string{bare}, impls...) {
			res.add("bulk_idle_of_direct", who, bulkRun[who]/bulkRun["direct"])
		}

		p50, p99 := map[string]float64{}, map[string]float64{}
		for _, who := range withDirect {
			runtime.GC()
			ds, err := rtts(ctx, echoAddr[who], 200, o.rttN)
			if err != nil {
				return fmt.Errorf("round trips %s: %w", who, err)
			}
			p50[who], p99[who] = micros(percentile(ds, 50)), micros(percentile(ds, 99))
		}
		res.add("rtt_added_p50_us", "direct", p50["direct"])
		res.add("rtt_added_p99_us", "direct", p99["direct"])
		for _, who := range append([]string{bare}, impls...) {
			res.add("rtt_added_p50_us", who, p50[who]-p50["direct"])
			res.add("rtt_added_p99_us", who, p99[who]-p99["direct"])
		}

		for _, who := range withDirect {
			runtime.GC()
			ds, err := connects(ctx, echoAddr[who], o.connN)
			if err != nil {
				return fmt.Errorf("connects %s: %w", who, err)
			}
			res.add("connect_rtt_p50_us", who, micros(percentile(ds, 50)))
		}

		runtime.GC()
		ds, err := timerOvershoots(o.latency, o.latConns, o.latSeq)
		if err != nil {
			return err
		}
		res.add("latency_overshoot_p50_ms", "timer", millis(percentile(ds, 50)))
		res.add("latency_overshoot_p99_ms", "timer", millis(percentile(ds, 99)))
		for _, impl := range only {
			runtime.GC()
			ds, err := withLatency(ctx, impl, echoSrv.Addr(), o.latency, func(addr string) ([]time.Duration, error) {
				return overshoots(ctx, addr, o.latency, o.latConns, o.latSeq)
			})
			if err != nil {
				return fmt.Errorf("overshoot %s: %w", impl, err)
			}
			res.add("latency_overshoot_p50_ms", impl, millis(percentile(ds, 50)))
			res.add("latency_overshoot_p99_ms", impl, millis(percentile(ds, 99)))
		}

		for _, impl := range only {
			runtime.GC()
			v, err := withLatency(ctx, impl, sourceSrv.Addr(), o.latency, func(addr string) (float64, error) {
				return bulk(ctx, addr, o.bulkTime)
			})
			if err != nil {
				return fmt.Errorf("bulk under latency %s: %w", impl, err)
			}
			res.add("bulk_latency_mibps", impl, v)
		}
	}

	memNote := "memory: skipped (-mem-repeat 0)"
	if o.memRepeat > 0 {
		n, limit := maxIdleConns()
		n = min(n, o.memConns)
		memNote = fmt.Sprintf("memory: %d idle connections, each proxy alone in a child process, median of %d runs", n, o.memRepeat)
		if n < o.memConns {
			memNote += fmt.Sprintf(" (fewer than the %d asked: ulimit -n is %d and the proxy process needs 2 descriptors per connection)", o.memConns, limit)
		}
		for r := range o.memRepeat {
			for _, impl := range rotate(impls, r) {
				fmt.Fprintf(os.Stderr, "bench: memory run %d/%d %s (%s elapsed)\n", r+1, o.memRepeat, impl, time.Since(start).Round(time.Second))
				m, err := measureMemory(ctx, impl, n, o.memSettle)
				if err != nil {
					return fmt.Errorf("memory %s: %w", impl, err)
				}
				res.add("mem_idle_conns_rss_mib", impl, float64(m.rss)/(1<<20))
				res.add("mem_idle_conns_go_mib", impl, float64(m.goUsed)/(1<<20))
				res.add("mem_per_idle_conn_kib", impl, float64(m.rss)/1024/float64(n))
			}
		}
	}

	printHeader(w, o, memNote)
	for _, m := range metrics {
		if len(res[m.name+"/"+implChaoslab]) == 0 {
			continue
		}
		c, t := res.med(m.name, implChaoslab), res.med(m.name, implToxiproxy)
		fmt.Fprintf(w, "metric=%s chaoslab=%s toxiproxy=%s ratio=%s\n", m.name, num(c), num(t), num(res.pairedRatio(m.name)))
		if m.ref != "" {
			fmt.Fprintf(w, "metric=%s reference=%s\n", m.refName, num(res.med(m.name, m.ref)))
		}
		if m.bareName != "" {
			fmt.Fprintf(w, "metric=%s reference=%s\n", m.bareName, num(res.med(m.name, bare)))
		}
	}
	fmt.Fprintf(os.Stderr, "bench: done in %s\n", time.Since(start).Round(time.Second))
	return nil
}

func printHeader(w io.Writer, o options, memNote string) {
	fmt.Fprintf(w, "# chaoslab netfault vs Toxiproxy v2.12.0 (in process, 127.0.0.1), median of %d runs; ratio = median over runs of chaoslab/toxiproxy in the same run\n", o.repeat)
	fmt.Fprintf(w, "# %s, GOMAXPROCS=%d, %s\n", runtime.Version(), runtime.GOMAXPROCS(0), cpuModel())
	fmt.Fprintf(w, "# latency fault: %s on the downstream (server to client) direction; overshoot = round trip - %s, %d connections started %s apart x %d round trips each\n",
		o.latency, o.latency, o.latConns, o.latency/time.Duration(max(o.latConns, 1)), o.latSeq)
	fmt.Fprintf(w, "# %s\n", memNote)
	for _, m := range metrics {
		better := "lower is better"
		if m.higher {
			better = "higher is better"
		}
		fmt.Fprintf(w, "# %s: %s, %s\n", m.name, m.unit, better)
	}
}

// withLatency starts a fresh proxy of impl to upstream with a latency fault
// of d, runs f with the proxy's address and closes the proxy.
func withLatency[T any](ctx context.Context, impl, upstream string, d time.Duration, f func(addr string) (T, error)) (T, error) {
	var zero T
	p, err := startProxy(ctx, impl, upstream)
	if err != nil {
		return zero, err
	}
	defer p.Close()
	if err := p.AddLatency(d); err != nil {
		return zero, err
	}
	return f(p.Addr())
}

// rotate returns s rotated left by r, so that no contestant always runs
// first.
func rotate(s []string, r int) []string {
	r %= len(s)
	return append(append([]string{}, s[r:]...), s[:r]...)
}

func num(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "n/a"
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "cpu unknown"
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "cpu unknown"
}
