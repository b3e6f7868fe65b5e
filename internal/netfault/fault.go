package netfault

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"time"
)

// A Fault is a disruption a Proxy applies to the traffic it forwards. The
// set of faults is closed: Latency, HTTPError, HTTPDelay, Bandwidth, Loss,
// Partition, Timeout, LimitData and Slicer (values or pointers).
type Fault interface {
	// Kind is the scenario name the fault implements, such as
	// "network_delay".
	Kind() string
	// activate checks the fault's values against the proxy's mode and
	// returns the fault in its running form.
	activate(httpMode bool) (*active, error)
}

// active is a fault added to a proxy, with its random source. Exactly one
// field is set.
type active struct {
	latency   *latencyState
	httpErr   *httpErrorState
	httpDelay *httpDelayState
	stream    *streamFault
}

// faultSet is an immutable snapshot of a proxy's faults; changes replace the
// whole set, so readers need no lock.
type faultSet struct {
	all    []*active
	stream []*streamFault // the stream faults of all, in order
	gen    uint64         // grows with every change
	// changed is closed when the set is replaced, which wakes connections
	// holding data for a stream fault.
	changed chan struct{}
}

func newFaultSet(all []*active, gen uint64) *faultSet {
	s := &faultSet{all: all, gen: gen, changed: make(chan struct{})}
	for _, a := range all {
		if a.stream != nil {
			s.stream = append(s.stream, a.stream)
		}
	}
	return s
}

func (s *faultSet) with(a *active) *faultSet {
	return newFaultSet(append(slices.Clip(s.all), a), s.gen+1)
}

func (s *faultSet) without(a *active) *faultSet {
	all := slices.DeleteFunc(slices.Clone(s.all), func(b *active) bool { return b == a })
	return newFaultSet(all, s.gen+1)
}

// has reports whether f is in the set.
func (s *faultSet) has(f *streamFault) bool { return slices.Contains(s.stream, f) }

// delay returns the summed delay the latency faults give a chunk or message
// going in dir, and whether any latency fault acts on dir.
func (s *faultSet) delay(dir Direction) (d time.Duration, delayed bool) {
	for _, a := range s.all {
		if l := a.latency; l != nil && l.affects(dir) {
			d += l.sample()
			delayed = true
		}
	}
	return d, delayed
}

// httpError returns the first HTTP error fault that matches req and fires
// for it, or nil. The faults after it, and those req does not match, draw
// nothing.
func (s *faultSet) httpError(req *http.Request) *httpErrorState {
	for _, a := range s.all {
		if h := a.httpErr; h != nil && h.fires(req) {
			return h
		}
	}
	return nil
}

// httpDelay returns the summed delay the HTTP delay faults give the
// response to req; each matching fault draws for it.
func (s *faultSet) httpDelay(req *http.Request) time.Duration {
	var d time.Duration
	for _, a := range s.all {
		if h := a.httpDelay; h != nil {
			x, _ := h.sample(req)
			d += x
		}
	}
	return d
}

// defaultSeed replaces a zero Seed so that unseeded faults replay too.
const defaultSeed = 0x6368616f736c6162 // "chaoslab"

func newRand(seed int64) *rand.Rand {
	if seed == 0 {
		seed = defaultSeed
	}
	return rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
}
