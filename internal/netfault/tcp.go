package netfault

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

const (
	// readBufSize is the size of each read from a connection.
	readBufSize = 64 << 10
	// maxQueued bounds the bytes one delayed direction of a connection
	// holds, and maxQueuedTotal those of the whole proxy; a sender that
	// meets either bound is slowed down until its own queue drains. At
	// 100 ms of latency one direction can carry about 640 MiB/s.
	maxQueued      = 64 << 20
	maxQueuedTotal = 256 << 20
)

// pipe copies both directions between the client and the upstream
// connection until both have ended, passing half-closes through. clientR and
// upR read the two connections (they may hold buffered data).
func (s *session) pipe(clientR, upR io.Reader) {
	s.mu.Lock()
	up := s.up
	s.mu.Unlock()
	if up == nil {
		return
	}
	dirs := []*direction{
		newDirection(s, Upstream, clientR, up),
		newDirection(s, Downstream, upR, s.client),
	}
	var wg sync.WaitGroup
	for _, d := range dirs {
		wg.Go(d.read)
		wg.Go(d.write)
	}
	wg.Wait()
	for _, d := range dirs {
		s.p.queued.Add(-int64(d.bytes)) // dropped with the connection
	}
}

// chunk is data read from one side, to be written at a given time.
type chunk struct {
	data []byte
	at   time.Time
}

// direction moves the bytes of one way of a connection. Its reader writes
// straight to dst while no latency acts on the way and nothing is queued;
// otherwise it queues chunks for its writer, which releases them on time.
type direction struct {
	s   *session
	dir Direction
	src io.Reader
	dst net.Conn

	mu    sync.Mutex
	queue []chunk
	bytes int       // queued or being written by the writer
	last  time.Time // release time of the last queued chunk
	eof   bool      // the reader saw EOF; the writer half-closes dst when drained

	ready chan struct{} // the reader queued a chunk or saw EOF
	space chan struct{} // the writer freed queue space
}

func newDirection(s *session, dir Direction, src io.Reader, dst net.Conn) *direction {
	return &direction{s: s, dir: dir, src: src, dst: dst,
		ready: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (d *direction) read() {
	buf := make([]byte, readBufSize)
	for {
		n, err := d.src.Read(buf)
		if n > 0 && !d.pass(buf[:n], time.Now()) {
			return
		}
		if errors.Is(err, io.EOF) {
			d.mu.Lock()
			d.eof = true
			d.mu.Unlock()
			notify(d.ready)
			return
		}
		if err != nil {
			d.s.abort()
			return
		}
	}
}

// forward passes on b, read at time now; it reports whether the connection
// is still open.
func (d *direction) forward(b []byte, now time.Time) bool {
	delay, delayed := d.s.p.faults.Load().delay(d.dir)
	d.mu.Lock()
	if !delayed && d.bytes == 0 {
		d.mu.Unlock()
		if _, err := d.dst.Write(b); err != nil {
			d.s.abort()
			return false
		}
		return true
	}
	// Waiting needs bytes of our own in the queue: their draining is what
	// wakes us, so one chunk per direction always gets through.
	for d.bytes > 0 && (d.bytes+len(b) > maxQueued || d.s.p.queued.Load()+int64(len(b)) > maxQueuedTotal) {
		d.mu.Unlock()
		select {
		case <-d.space:
		case <-d.s.done:
			return false
		}
		d.mu.Lock()
	}
	at := now.Add(delay)
	if at.Before(d.last) {
		at = d.last // keep order when the delay shrinks
	}
	d.last = at
	d.queue = append(d.queue, chunk{data: bytes.Clone(b), at: at})
	d.bytes += len(b)
	d.s.p.queued.Add(int64(len(b)))
	d.mu.Unlock()
	notify(d.ready)
	return true
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
		if wait := time.Until(c.at); wait > 0 {
			t.Reset(wait)
			select {
			case <-t.C:
			case <-d.s.done:
				return
			}
		}
		if _, err := d.dst.Write(c.data); err != nil {
			d.s.abort()
			return
		}
		d.mu.Lock()
		d.bytes -= len(c.data)
		d.s.p.queued.Add(-int64(len(c.data)))
		d.mu.Unlock()
		notify(d.space)
	}
}

// closeWrite passes the end of this direction on to dst.
func (d *direction) closeWrite() {
	cw, ok := d.dst.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		d.s.abort()
	}
}
