package chaoslab_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// fakeProvider provisions fakeTargets: an HTTP server on loopback whose
// behaviour the fake faults change.
type fakeProvider struct {
	mu         sync.Mutex
	targets    []*fakeTarget
	panicOn    string // "provision", "close"
	failWith   error
	closeErr   error // returned by every target's Close
	failing    bool  // targets answer 500 from the start
	peak       int   // the most targets live at once, as seen by Provision
	noEndpoint bool  // targets have no endpoint (a fleet without a load balancer)
}

func (p *fakeProvider) Name() string { return "fake" }

func (p *fakeProvider) Provision(ctx context.Context, spec chaoslab.TargetSpec) (chaoslab.Target, error) {
	if p.panicOn == "provision" {
		panic("provision exploded")
	}
	if p.failWith != nil {
		return nil, p.failWith
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &fakeTarget{ln: ln, panicOnClose: p.panicOn == "close", closeErr: p.closeErr}
	t.failing.Store(p.failing)
	t.srv = &http.Server{Handler: http.HandlerFunc(t.serve)}
	t.done = make(chan struct{})
	go func() { defer close(t.done); _ = t.srv.Serve(ln) }()
	p.mu.Lock()
	p.targets = append(p.targets, t)
	live := 0
	for _, t := range p.targets {
		if !t.closed.Load() {
			live++
		}
	}
	p.peak = max(p.peak, live)
	p.mu.Unlock()
	if p.noEndpoint {
		return endpointless{t}, nil
	}
	return t, nil
}

func (p *fakeProvider) live() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, t := range p.targets {
		if !t.closed.Load() {
			n++
		}
	}
	return n
}

type fakeTarget struct {
	ln           net.Listener
	srv          *http.Server
	done         chan struct{}
	delay        atomic.Int64 // nanoseconds
	failing      atomic.Bool
	stalled      atomic.Bool
	closeErr     error
	closed       atomic.Bool
	closeOnce    sync.Once
	panicOnClose bool
	// shortUntil (Unix nanoseconds) makes the target a fleet of 3
	// instances, one of them not healthy until then.
	shortUntil atomic.Int64
}

func (t *fakeTarget) serve(w http.ResponseWriter, r *http.Request) {
	if d := time.Duration(t.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	if t.stalled.Load() {
		<-r.Context().Done() // hangs until the client gives up
		return
	}
	if t.failing.Load() {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	_, _ = w.Write([]byte("ok"))
}

func (t *fakeTarget) ID() string       { return t.ln.Addr().String() }
func (t *fakeTarget) Endpoint() string { return "http://" + t.ln.Addr().String() }

func (t *fakeTarget) Close(ctx context.Context) error {
	if t.panicOnClose {
		t.panicOnClose = false
		t.close(ctx)
		panic("close exploded")
	}
	t.close(ctx)
	return t.closeErr
}

func (t *fakeTarget) close(ctx context.Context) {
	t.closeOnce.Do(func() {
		_ = t.srv.Close()
		<-t.done
		t.closed.Store(true)
	})
}

// endpointless is a fake target without an endpoint.
type endpointless struct{ *fakeTarget }

func (endpointless) Endpoint() string { return "" }

// startShort leaves the fleet one instance short for d.
func (t *fakeTarget) startShort(d time.Duration) {
	t.shortUntil.Store(time.Now().Add(d).UnixNano())
}

func (t *fakeTarget) Sample(ctx context.Context) (chaoslab.Sample, error) {
	s := chaoslab.Sample{CPUPercent: 12, MemoryBytes: 30 << 20}
	if until := t.shortUntil.Load(); until != 0 {
		s.DesiredCapacity, s.HealthyCapacity = 3, 3
		if time.Now().UnixNano() < until {
			s.HealthyCapacity = 2
		}
	}
	return s, nil
}

// fault is a configurable fake injector that records its calls.
type fault struct {
	delay       time.Duration
	fail        bool
	stall       bool
	lag         time.Duration // how long failures last after Undo
	window      time.Duration
	panicInject bool
	panicUndo   bool
	undoErr     error
	name        string
	log         *callLog

	injected atomic.Int32
	undone   atomic.Int32
}

type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *callLog) add(s string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.calls = append(l.calls, s)
	l.mu.Unlock()
}

func (l *callLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

func (f *fault) Inject(ctx context.Context, tg chaoslab.Target) (chaoslab.Undo, error) {
	if f.panicInject {
		panic("inject exploded")
	}
	t, ok := tg.(*fakeTarget)
	if !ok {
		return nil, errors.New("not a fake target")
	}
	f.injected.Add(1)
	f.log.add("inject " + f.name)
	t.delay.Store(int64(f.delay))
	t.failing.Store(f.fail)
	t.stalled.Store(f.stall)
	return func(ctx context.Context) error {
		f.undone.Add(1)
		f.log.add("undo " + f.name)
		if f.panicUndo {
			panic("undo exploded")
		}
		t.delay.Store(0)
		t.stalled.Store(false)
		if f.lag > 0 {
			time.AfterFunc(f.lag, func() { t.failing.Store(false) })
		} else {
			t.failing.Store(false)
		}
		return f.undoErr
	}, nil
}

// windowedFault is a fault with a natural length.
type windowedFault struct {
	*fault
}

func (w windowedFault) Window() time.Duration { return w.window }

type panicAnalyzer struct{}

func (panicAnalyzer) Analyze(context.Context, *chaoslab.Result) (chaoslab.Analysis, error) {
	panic("analyze exploded")
}

type panicDashboard struct{}

func (panicDashboard) Publish(context.Context, *chaoslab.Result) (chaoslab.DashboardLink, error) {
	panic("publish exploded")
}

type recordDashboard struct{ got atomic.Int32 }

func (d *recordDashboard) Publish(_ context.Context, r *chaoslab.Result) (chaoslab.DashboardLink, error) {
	d.got.Add(1)
	return chaoslab.DashboardLink{Kind: "memory", URL: "mem://" + r.ID}, nil
}
