package netfault

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// Share says which connections a stream fault (Bandwidth, Loss, Partition,
// Timeout, LimitData, Slicer) acts on, and which way.
//
// Stream faults act on TCP-mode proxies only; on an HTTP-mode proxy Apply
// returns an error wrapping chaoslab.ErrUnsupported. They act on existing
// connections as well as new ones; removing one releases the data it held
// and never closes a connection.
type Share struct {
	// Toxicity is the share of connections affected, from 0 to 1: each
	// connection is drawn once, when the fault first meets it, from the
	// fault's random sequence. The zero value affects no connection; set 1
	// to affect all.
	Toxicity float64
	// Direction is the way the fault acts on.
	Direction Direction
	// Seed makes the draws repeatable; 0 means a fixed default.
	Seed int64
}

func (s Share) check(kind string, httpMode bool) error {
	switch {
	case httpMode:
		return fmt.Errorf("%s acts on TCP streams and cannot apply to a proxy in HTTP mode: %w", kind, chaoslab.ErrUnsupported)
	case math.IsNaN(s.Toxicity) || s.Toxicity < 0 || s.Toxicity > 1:
		return fmt.Errorf("%s: toxicity %g must be from 0 to 1: %w", kind, s.Toxicity, chaoslab.ErrInvalid)
	case s.Direction < Upstream || s.Direction > Both:
		return fmt.Errorf("%s: %v: %w", kind, s.Direction, chaoslab.ErrInvalid)
	}
	return nil
}

func (s Share) activate(kind string, r rule) *active {
	return &active{stream: &streamFault{kind: kind, share: s, rule: r, rng: newRand(s.Seed)}}
}

// action is what a stream fault asks of a connection.
type action int

const (
	actPass  action = iota // go on
	actHold                // forward nothing until the fault set changes
	actReset               // reset both connections (RST)
	actClose               // close both connections
)

// rule is the behaviour of one kind of stream fault. Its methods run under
// the session's fault lock and must not block.
type rule interface {
	// start is called once, when the fault begins to act on a connection
	// (new or existing); it returns what to do at once.
	start(s *session, c *connFault) action
	// admit is asked before a new connection is forwarded upstream.
	admit(c *connFault) action
	// take returns how many of n bytes going in dir may go as one piece
	// (1 to n), or actHold, actReset or actClose before any byte goes.
	// first is true for the first piece of a read.
	take(c *connFault, dir Direction, n int, first bool) (int, action)
	// sent records that a piece of n bytes is going at now, and returns
	// the wait before it and the action after it.
	sent(c *connFault, dir Direction, n int, now time.Time, first bool) (time.Duration, action)
}

// passRule is a rule that lets everything through; rules embed it.
type passRule struct{}

func (passRule) start(*session, *connFault) action { return actPass }
func (passRule) admit(*connFault) action           { return actPass }
func (passRule) take(_ *connFault, _ Direction, n int, _ bool) (int, action) {
	return n, actPass
}
func (passRule) sent(*connFault, Direction, int, time.Time, bool) (time.Duration, action) {
	return 0, actPass
}

// streamFault is an added stream fault with its random source, shared by
// every connection of the proxy.
type streamFault struct {
	kind  string
	share Share
	rule  rule

	mu  sync.Mutex
	rng *rand.Rand
}

func (f *streamFault) float() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.Float64()
}

func (f *streamFault) affects(dir Direction) bool {
	return f.share.Direction == Both || f.share.Direction == dir
}

// connFault is a stream fault's state on one connection.
type connFault struct {
	f     *streamFault
	hit   bool         // the connection was drawn
	count int64        // bytes counted in the affected way(s)
	next  [2]time.Time // per way: when the next byte may go (Bandwidth)
	timer *time.Timer  // Timeout
}

// refresh catches the session up with set: it draws and starts the faults
// new to the connection and forgets removed ones. It returns the most
// severe action the started faults ask for at once.
func (s *session) refresh(set *faultSet) action {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if s.seen >= set.gen {
		return actPass
	}
	s.seen = set.gen
	for f, c := range s.conns {
		if !set.has(f) {
			if c.timer != nil {
				c.timer.Stop()
			}
			delete(s.conns, f)
		}
	}
	act := actPass
	for _, f := range set.stream {
		if _, ok := s.conns[f]; ok {
			continue
		}
		if s.conns == nil {
			s.conns = map[*streamFault]*connFault{}
		}
		c := &connFault{f: f}
		s.conns[f] = c
		switch f.share.Toxicity {
		case 0:
		case 1:
			c.hit = true
		default:
			c.hit = f.float() < f.share.Toxicity
		}
		if c.hit {
			act = max(act, f.rule.start(s, c))
		}
	}
	return act
}

// act carries out an action that ends the connection.
func (s *session) act(a action) bool {
	switch a {
	case actReset:
		s.reset()
		return false
	case actClose:
		s.abort()
		return false
	}
	return true
}

// stopFaults stops the timers of the session's faults.
func (s *session) stopFaults() {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	for _, c := range s.conns {
		if c.timer != nil {
			c.timer.Stop()
		}
	}
}

// reset ends both connections with a TCP reset.
func (s *session) reset() {
	s.mu.Lock()
	conns := []net.Conn{s.client, s.up}
	s.mu.Unlock()
	for _, c := range conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
	}
	s.abort()
}

// admit holds a new connection while a stream fault asks to, before it is
// forwarded; it reports whether to go on.
func (s *session) admit() bool {
	for {
		set := s.p.faults.Load()
		if !s.act(s.refresh(set)) {
			return false
		}
		a := actPass
		s.fmu.Lock()
		for _, f := range set.stream {
			if c := s.conns[f]; c != nil && c.hit {
				a = max(a, f.rule.admit(c))
			}
		}
		s.fmu.Unlock()
		if a != actHold {
			return s.act(a)
		}
		select {
		case <-set.changed:
		case <-s.done:
			return false
		}
	}
}

// piece is the stream faults' verdict on the next piece of a read.
type piece struct {
	n            int
	wait         time.Duration
	before, post action
}

// next decides about the next piece of n bytes going in dir.
func (s *session) next(set *faultSet, dir Direction, n int, first bool) piece {
	if !s.act(s.refresh(set)) {
		return piece{before: actClose}
	}
	s.fmu.Lock()
	defer s.fmu.Unlock()
	p := piece{n: n}
	for _, f := range set.stream {
		c := s.conns[f]
		if c == nil || !c.hit || !f.affects(dir) {
			continue
		}
		m, a := f.rule.take(c, dir, p.n, first)
		if a != actPass {
			p.before = max(p.before, a)
			continue
		}
		p.n = max(min(p.n, m), 1)
	}
	if p.before != actPass {
		return p
	}
	now := time.Now()
	for _, f := range set.stream {
		c := s.conns[f]
		if c == nil || !c.hit || !f.affects(dir) {
			continue
		}
		w, a := f.rule.sent(c, dir, p.n, now, first)
		p.wait = max(p.wait, w)
		p.post = max(p.post, a)
	}
	return p
}

// pass forwards b, read at now into own (a pooled buffer, or nil), through
// the stream faults; it reports whether the connection is still open. It
// gives own back to the pool unless the delay queue keeps it.
func (d *direction) pass(b []byte, own *[]byte, now time.Time) bool {
	kept := false
	defer func() {
		if !kept {
			d.s.p.putBuf(own)
		}
	}()
	for first := true; len(b) > 0; first = false {
		set := d.s.p.faults.Load()
		if len(set.stream) == 0 {
			open, k := d.forward(b, own, now)
			kept = k
			return open
		}
		p := d.s.next(set, d.dir, len(b), first)
		switch p.before {
		case actHold:
			select {
			case <-set.changed:
				now = time.Now()
				continue
			case <-d.s.done:
				return false
			}
		case actReset, actClose:
			d.s.act(p.before)
			return false
		}
		if p.wait > 0 {
			if !d.s.wait(p.wait) {
				return false
			}
			now = time.Now()
		}
		var keep *[]byte
		if p.n == len(b) {
			keep = own // the last piece: the queue may keep the buffer
		}
		open, k := d.forward(b[:p.n], keep, now)
		kept = kept || k
		if !open {
			return false
		}
		b = b[p.n:]
		if !d.s.act(p.post) {
			return false
		}
	}
	return true
}
