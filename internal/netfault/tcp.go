package netfault

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

const (
	// readBufSize is the size of the pooled buffers data is read into.
	readBufSize = 64 << 10
	// keepShare: a read that fills at least 1/keepShare of its pooled
	// buffer is queued in that buffer; a smaller one is copied out so that
	// the queue does not hold mostly empty buffers.
	keepShare = 4
	// maxQueued bounds the bytes one delayed direction of a connection
	// holds, and maxQueuedTotal those of the whole proxy; a sender that
	// meets either bound is slowed down until its own queue drains. At
	// 100 ms of latency one direction can carry about 1.2 GiB/s, more
	// than the proxy forwards on loopback without a fault.
	maxQueued      = 128 << 20
	maxQueuedTotal = 512 << 20
	// fineWindow is the part of a delay that is slept precisely (see
	// sleepUntil): Go timers wake up to about a millisecond late.
	fineWindow = 2 * time.Millisecond
	// maxFineSleepers bounds the threads a proxy keeps in precise sleeps;
	// beyond it delays fall back to Go timers.
	maxFineSleepers = 64
)

// pipe copies both directions between the client and the upstream
// connection until both have ended, passing half-closes through. clientR and
// upR read the two connections (they may hold buffered data). The upstream
// direction runs on a goroutine of its own, the downstream one on the
// caller's.
func (s *session) pipe(clientR, upR io.Reader) {
	s.mu.Lock()
	up := s.up
	s.mu.Unlock()
	if up == nil {
		return
	}
	var wg sync.WaitGroup
	dirs := []*direction{
		newDirection(s, &wg, Upstream, clientR, up),
		newDirection(s, &wg, Downstream, upR, s.client),
	}
	wg.Go(dirs[0].read)
	dirs[1].read()
	wg.Wait()
	for _, d := range dirs {
		s.p.queued.Add(-int64(d.bytes)) // dropped with the connection
		for _, c := range d.queue {
			s.p.putBuf(c.buf)
		}
	}
}

// chunk is data read from one side, to be written at a given time. buf,
// when not nil, is the pooled buffer data lies in.
type chunk struct {
	data []byte
	buf  *[]byte
	size int // what the chunk counts against the queue bounds
	at   time.Time
}

// direction moves the bytes of one way of a connection. Its reader moves
// data straight to dst while no fault acts on the way and nothing is queued
// (by splice where the platform allows, see fastpath_linux.go); while a
// latency fault acts, it queues chunks for a writer goroutine, started on
// the first queued chunk, which releases them on time.
type direction struct {
	s   *session
	wg  *sync.WaitGroup
	dir Direction
	src io.Reader
	dst net.Conn
	raw rawPath // the platform's fast path, or nil

	mu      sync.Mutex
	queue   []chunk
	bytes   int       // queued or being written by the writer
	last    time.Time // release time of the last queued chunk
	eof     bool      // the reader saw EOF; the writer half-closes dst when drained
	writing bool      // the writer goroutine runs

	ready chan struct{} // the reader queued a chunk or saw EOF
	space chan struct{} // the writer freed queue space
}

func newDirection(s *session, wg *sync.WaitGroup, dir Direction, src io.Reader, dst net.Conn) *direction {
	d := &direction{s: s, wg: wg, dir: dir, src: src, dst: dst,
		ready: make(chan struct{}, 1), space: make(chan struct{}, 1)}
	d.raw = newRawPath(d)
	return d
}

// rawPath is a platform's fast path for one direction (fastpath_linux.go).
type rawPath interface {
	// next waits for data from the source. When no fault acts on the way
	// it may move the data to the destination itself and report moved,
	// with n the bytes moved; otherwise it returns n bytes read into buf,
	// a pooled buffer the caller owns. err is io.EOF at the end of the
	// source.
	next() (n int, buf *[]byte, moved bool, err error)
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// fast reports whether data read now may go straight to dst, bypassing
// the faults: none acts on this way and nothing is queued.
func (d *direction) fast() bool {
	set := d.s.p.faults.Load()
	if len(set.stream) > 0 {
		return false
	}
	for _, a := range set.all {
		if l := a.latency; l != nil && l.affects(d.dir) {
			return false
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.bytes == 0
}

// read moves this way's data until EOF or an error, which ends the
// connection.
func (d *direction) read() {
	for {
		var (
			n   int
			buf *[]byte
			err error
		)
		if d.raw != nil {
			var moved bool
			n, buf, moved, err = d.raw.next()
			if moved {
				if err != nil {
					d.s.abort()
					return
				}
				continue
			}
		} else {
			buf = d.s.p.getBuf()
			n, err = d.src.Read(*buf)
		}
		if n > 0 && !d.pass((*buf)[:n], buf, time.Now()) {
			return
		}
		if n == 0 {
			d.s.p.putBuf(buf)
		}
		if errors.Is(err, io.EOF) {
			d.end()
			return
		}
		if err != nil {
			d.s.abort()
			return
		}
	}
}

// end passes the end of this way on: at once when nothing is queued,
// otherwise by the writer once it has drained the queue.
func (d *direction) end() {
	d.mu.Lock()
	d.eof = true
	writing := d.writing
	d.mu.Unlock()
	if writing {
		notify(d.ready)
		return
	}
	d.closeWrite()
}

// forward passes on b, read at time now; it reports whether the connection
// is still open, and whether it kept own, the pooled buffer b lies in (nil
// when b must be copied to be kept).
func (d *direction) forward(b []byte, own *[]byte, now time.Time) (open, kept bool) {
	delay, delayed := d.s.p.faults.Load().delay(d.dir)
	d.mu.Lock()
	if !delayed && d.bytes == 0 {
		d.mu.Unlock()
		if _, err := d.dst.Write(b); err != nil {
			d.s.abort()
			return false, false
		}
		return true, false
	}
	c := chunk{data: b}
	if own != nil && len(b) >= cap(*own)/keepShare {
		c.buf, c.size = own, cap(*own)
	} else {
		c.data = append([]byte(nil), b...)
		c.size = len(b)
	}
	// Waiting needs bytes of our own in the queue: their draining is what
	// wakes us, so one chunk per direction always gets through.
	for d.bytes > 0 && (d.bytes+c.size > maxQueued || d.s.p.queued.Load()+int64(c.size) > maxQueuedTotal) {
		d.mu.Unlock()
		select {
		case <-d.space:
		case <-d.s.done:
			return false, false
		}
		d.mu.Lock()
	}
	c.at = now.Add(delay)
	if c.at.Before(d.last) {
		c.at = d.last // keep order when the delay shrinks
	}
	d.last = c.at
	d.queue = append(d.queue, c)
	d.bytes += c.size
	d.s.p.queued.Add(int64(c.size))
	if !d.writing {
		d.writing = true
		d.wg.Go(d.write)
	}
	d.mu.Unlock()
	notify(d.ready)
	return true, c.buf != nil
}

func (d *direction) write() {
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		d.mu.Lock()
		for len(d.queue) == 0 {
			if d.eof {
				d.mu.Unlock()
				d.closeWrite()
				return
			}
			d.mu.Unlock()
			select {
			case <-d.ready:
			case <-d.s.done:
				return
			}
			d.mu.Lock()
		}
		c := d.queue[0]
		d.queue[0] = chunk{}
		d.queue = d.queue[1:]
		d.mu.Unlock()
		ok := d.s.sleepUntil(t, c.at)
		if ok {
			if _, err := d.dst.Write(c.data); err != nil {
				d.s.abort()
				ok = false
			}
		}
		d.s.p.putBuf(c.buf)
		d.mu.Lock()
		d.bytes -= c.size
		d.s.p.queued.Add(-int64(c.size))
		d.mu.Unlock()
		notify(d.space)
		if !ok {
			return
		}
	}
}

// closeWrite passes the end of this direction on to dst.
func (d *direction) closeWrite() {
	cw, ok := d.dst.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		d.s.abort()
	}
}

// sleepUntil waits until at, or until the session is aborted; it reports
// whether the session is still open. A Go timer wakes up to about a
// millisecond late, so it is set fineWindow early and the rest is slept
// by the platform's precise sleep (a thread blocked in nanosleep on Linux),
// at most maxFineSleepers at a time per proxy.
func (s *session) sleepUntil(t *time.Timer, at time.Time) bool {
	if wait := time.Until(at) - fineWindow; wait > 0 {
		t.Reset(wait)
		select {
		case <-t.C:
		case <-s.done:
			return false
		}
	}
	wait := time.Until(at)
	if wait <= 0 {
		return true
	}
	select {
	case s.p.fine <- struct{}{}:
		preciseSleep(wait)
		<-s.p.fine
		return true
	default:
	}
	t.Reset(wait)
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

// getBuf returns a pooled read buffer; putBuf gives one back (nil is
// ignored).
func (p *Proxy) getBuf() *[]byte {
	if b, ok := p.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, readBufSize)
	return &b
}

func (p *Proxy) putBuf(b *[]byte) {
	if b != nil {
		p.bufs.Put(b)
	}
}
