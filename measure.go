package chaoslab

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/chaoslab-dev/chaoslab/internal/load"
)

// Latencies are recorded in microseconds from 1 µs to 10 min with two
// significant figures: 1 % precision in about 25 KiB per histogram.
const (
	histMin    = 1
	histMax    = int64(10 * time.Minute / time.Microsecond)
	histDigits = 2
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histDigits) }

// interval is one point of the series while and after it is measured; it
// keeps its histogram so windows can be merged after the fact.
type interval struct {
	start, end time.Time
	window     string
	hist       *hdrhistogram.Histogram
	requests   int64
	errors     int64
	sample     Sample
	probeFails []string
	logErrors  int
	// pending counts requests scheduled in the interval that have not
	// ended yet: an interval is settled, and can be judged, at 0.
	pending int64
	// lastBad is when the latest request that failed, or took longer than
	// the hypothesis's p99 limit, was scheduled.
	lastBad time.Time
}

func (iv *interval) duration() time.Duration { return iv.end.Sub(iv.start) }

// tick is the short window that stop conditions are checked over.
type tick struct {
	hist     *hdrhistogram.Histogram
	requests int64 // ended in the tick
	errors   int64
	inflight int64 // still in flight at its end
}

// measurements gathers load samples into intervals and stop-condition ticks.
// It is safe for concurrent use.
type measurements struct {
	mu   sync.Mutex
	cur  *interval
	done []*interval
	tk   tick
	last Sample // the latest resource sample
	// inflight counts the requests in flight by their scheduled time.
	inflight map[time.Time]int
	// slow is the latency above which a request counts as bad; 0: none.
	slow time.Duration
}

func newMeasurements(now time.Time, slow time.Duration) *measurements {
	return &measurements{
		cur:      &interval{start: now, hist: newHist()},
		tk:       tick{hist: newHist()},
		inflight: map[time.Time]int{},
		slow:     slow,
	}
}

// at returns the interval that holds time t: the current one, or the
// latest closed one that started at or before t. m.mu must be held.
func (m *measurements) at(t time.Time) *interval {
	if !t.Before(m.cur.start) {
		return m.cur
	}
	for i := len(m.done) - 1; i > 0; i-- {
		if !t.Before(m.done[i].start) {
			return m.done[i]
		}
	}
	if len(m.done) > 0 {
		return m.done[0]
	}
	return m.cur
}

// scheduled counts a request as in flight in the interval it is sent in.
func (m *measurements) scheduled(t time.Time) {
	m.mu.Lock()
	m.at(t).pending++
	m.inflight[t]++
	m.mu.Unlock()
}

// record adds a request's outcome to the interval it was scheduled in, so
// that a slow answer counts against the moment it was asked for, and to the
// stop-condition tick of the moment it ended. A request that overlapped the
// start of the chaos window counts in the chaos window, and one that
// overlapped its end stays in it.
func (m *measurements) record(s load.Sample) {
	us := s.Latency.Microseconds()
	if us < histMin {
		us = histMin
	}
	if us > histMax {
		us = histMax
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := m.inflight[s.Scheduled]; n > 1 {
		m.inflight[s.Scheduled] = n - 1
	} else {
		delete(m.inflight, s.Scheduled)
	}
	iv := m.at(s.Scheduled)
	iv.pending--
	// A request in flight when the faults began counts against them: it
	// goes to the chaos interval it ended in.
	if end := m.at(s.Scheduled.Add(s.Latency)); end.window == WindowChaos && iv.window != WindowChaos {
		iv = end
	}
	iv.requests++
	m.tk.requests++
	if s.Failed() {
		iv.errors++
		m.tk.errors++
	}
	if (s.Failed() || (m.slow > 0 && s.Latency > m.slow)) && s.Scheduled.After(iv.lastBad) {
		iv.lastBad = s.Scheduled
	}
	// Overload samples never reached the target: they are errors without a
	// latency.
	if s.Err != load.ErrOverload {
		_ = iv.hist.RecordValue(us)
		_ = m.tk.hist.RecordValue(us)
	}
}

func (m *measurements) probeFailed(name string) {
	m.mu.Lock()
	m.cur.probeFails = append(m.cur.probeFails, name)
	m.mu.Unlock()
}

func (m *measurements) logError() {
	m.mu.Lock()
	m.cur.logErrors++
	m.mu.Unlock()
}

// flush closes the current interval at now, attaching the resource sample
// (the last one when s is nil), and opens the next one in window.
func (m *measurements) flush(now time.Time, s *Sample, window string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.cur
	cur.end = now
	if s != nil {
		m.last = *s
	}
	cur.sample = m.last
	m.done = append(m.done, cur)
	m.cur = &interval{start: now, hist: newHist(), window: window}
}

// relabel puts the current interval in window without closing it.
func (m *measurements) relabel(window string) {
	m.mu.Lock()
	m.cur.window = window
	m.mu.Unlock()
}

// window returns the current interval's window and how long it has run.
func (m *measurements) window(now time.Time) (string, time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur.window, now.Sub(m.cur.start)
}

// takeTick returns and resets the stop-condition counters. Requests still
// in flight count as latency samples of their age so far, so that a
// stalled target breaches a latency limit while it stalls.
func (m *measurements) takeTick(now time.Time) tick {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tk
	for at, n := range m.inflight {
		us := min(max(now.Sub(at).Microseconds(), histMin), histMax)
		_ = t.hist.RecordValues(us, int64(n))
		t.inflight += int64(n)
	}
	m.tk = tick{hist: newHist()}
	return t
}

// cutShort records every request still in flight as failed, with its age
// at now as its latency: for a run that stops early, they never got an
// answer.
func (m *measurements) cutShort(now time.Time, err error) {
	m.mu.Lock()
	var cut []load.Sample
	for at, n := range m.inflight {
		for range n {
			cut = append(cut, load.Sample{Scheduled: at, Latency: now.Sub(at), Err: err})
		}
	}
	m.mu.Unlock()
	for _, s := range cut {
		m.record(s)
	}
}

// with calls fn with the closed intervals while no request can change them;
// settled is the prefix of them whose every request has ended. fn must not
// keep the slices.
func (m *measurements) with(fn func(done, settled []*interval)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for n < len(m.done) && m.done[n].pending <= 0 {
		n++
	}
	fn(m.done, m.done[:n])
}

func latencies(h *hdrhistogram.Histogram) Latencies {
	if h.TotalCount() == 0 {
		return Latencies{}
	}
	ms := func(q float64) float64 { return float64(h.ValueAtQuantile(q)) / 1000 }
	return Latencies{P50: ms(50), P90: ms(90), P99: ms(99)}
}

func (iv *interval) point() Point {
	secs := iv.duration().Seconds()
	p := Point{
		T:               iv.end,
		Window:          iv.window,
		Requests:        iv.requests,
		Errors:          iv.errors,
		Latency:         latencies(iv.hist),
		CPUPercent:      round(iv.sample.CPUPercent, 1),
		MemoryMB:        round(mb(iv.sample.MemoryBytes), 1),
		HostCPUPercent:  round(iv.sample.HostCPUPercent, 1),
		HostMemoryMB:    round(mb(iv.sample.HostMemoryBytes), 1),
		DiskUsedMB:      round(mb(iv.sample.DiskUsedBytes), 1),
		DesiredCapacity: iv.sample.DesiredCapacity,
		HealthyCapacity: iv.sample.HealthyCapacity,
		ProbeFailures:   iv.probeFails,
		LogErrors:       iv.logErrors,
	}
	if secs > 0 {
		p.RPS = round(float64(iv.requests)/secs, 2)
	}
	if iv.requests > 0 {
		p.ErrRate = round(float64(iv.errors)/float64(iv.requests), 4)
	}
	return p
}

// aggregate summarises intervals as one window.
func aggregate(name string, ivs []*interval) WindowStats {
	w := WindowStats{Name: name}
	if len(ivs) == 0 {
		return w
	}
	h := newHist()
	var secs float64
	w.Start, w.End = ivs[0].start, ivs[len(ivs)-1].end
	for _, iv := range ivs {
		h.Merge(iv.hist)
		w.Requests += iv.requests
		w.Errors += iv.errors
		secs += iv.duration().Seconds()
		w.CPUPeak = max(w.CPUPeak, round(iv.sample.CPUPercent, 1))
		w.MemoryMax = max(w.MemoryMax, round(mb(iv.sample.MemoryBytes), 1))
	}
	w.Latency = latencies(h)
	if secs > 0 {
		w.RPS = round(float64(w.Requests)/secs, 2)
	}
	if w.Requests > 0 {
		w.ErrRate = round(float64(w.Errors)/float64(w.Requests), 4)
	}
	return w
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

func round(f float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if f >= 0 {
		return float64(int64(f*p+0.5)) / p
	}
	return -float64(int64(-f*p+0.5)) / p
}
