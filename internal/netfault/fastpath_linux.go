//go:build linux

package netfault

import (
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// pipeSize is the capacity asked for the kernel pipes splice moves
	// data through; maxIdlePipes bounds those a proxy keeps for reuse.
	pipeSize     = 1 << 20
	maxIdlePipes = 16
	// smallMove, smallRun: after smallRun moves in a row of fewer than
	// smallMove bytes the direction reads into a buffer rather than
	// splicing (cheaper for small request-response traffic); after a
	// larger one it splices again.
	smallMove   = 4 << 10
	smallRun    = 8
	spliceFlags = unix.SPLICE_F_NONBLOCK | unix.SPLICE_F_MOVE
)

// spliceMover is the Linux fast path of a direction between two TCP
// connections. It waits for data without holding a buffer or a pipe, so an
// idle connection costs no memory of its own; when data comes and no fault
// acts on the way, it moves it with splice(2) through a pooled kernel pipe,
// socket to socket without copying through user space (or, for small
// exchanges, with read and write). Otherwise it reads the data into a pooled
// buffer for the faults.
type spliceMover struct {
	d        *direction
	src, dst syscall.RawConn
	copyMode bool
	small    int // small moves in a row, up to smallRun
}

func newRawPath(d *direction) rawPath {
	sc, ok := d.src.(*net.TCPConn)
	dc, ok2 := d.dst.(*net.TCPConn)
	if !ok || !ok2 {
		return nil
	}
	src, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	dst, err := dc.SyscallConn()
	if err != nil {
		return nil
	}
	return &spliceMover{d: d, src: src, dst: dst}
}

func (m *spliceMover) next() (n int, buf *[]byte, moved bool, err error) {
	p := m.d.s.p
	var kp *kernelPipe
	rerr := m.src.Read(func(fd uintptr) bool {
		if !m.copyMode && m.d.fast() {
			if kp, err = p.pipes.get(); err == nil {
				var k int64
				for k, err = unix.Splice(int(fd), nil, kp.w, nil, pipeSize, spliceFlags); err == unix.EINTR; {
					k, err = unix.Splice(int(fd), nil, kp.w, nil, pipeSize, spliceFlags)
				}
				if err == unix.EAGAIN {
					p.pipes.put(kp)
					kp, err = nil, nil
					return false
				}
				n = int(k)
				return true
			}
			kp, err = nil, nil // no pipe to be had: read instead
		}
		buf = p.getBuf()
		for n, err = unix.Read(int(fd), *buf); err == unix.EINTR; {
			n, err = unix.Read(int(fd), *buf)
		}
		if err == unix.EAGAIN {
			p.putBuf(buf)
			buf, err = nil, nil
			return false
		}
		return true
	})
	if err != nil || rerr != nil {
		n = 0
	}
	if rerr != nil {
		err = rerr
	}
	if kp == nil {
		switch {
		case err == nil && n == 0:
			err = io.EOF
		case err == nil:
			m.note(n)
		}
		return n, buf, false, err
	}
	if err != nil || n == 0 {
		p.pipes.put(kp)
		if err == nil {
			err = io.EOF
		}
		return 0, nil, false, err
	}
	left := n
	werr := m.dst.Write(func(fd uintptr) bool {
		for left > 0 {
			k, e := unix.Splice(kp.r, nil, int(fd), nil, left, spliceFlags)
			switch e {
			case nil:
				left -= int(k)
			case unix.EINTR:
			case unix.EAGAIN:
				return false
			default:
				err = e
				return true
			}
		}
		return true
	})
	if werr != nil && err == nil {
		err = werr
	}
	if left > 0 {
		p.pipes.discard(kp)
	} else {
		p.pipes.put(kp)
	}
	m.note(n)
	return n, nil, true, err
}

// note records a move of n bytes: after smallRun small moves in a row the
// direction reads rather than splices, after a larger one it splices.
func (m *spliceMover) note(n int) {
	if n >= smallMove {
		m.small, m.copyMode = 0, false
		return
	}
	if m.small < smallRun {
		m.small++
	}
	m.copyMode = m.small >= smallRun
}

// kernelPipe is a pipe splice moves data through.
type kernelPipe struct{ r, w int }

// pipePool keeps empty kernel pipes for reuse. The zero value is ready.
type pipePool struct {
	mu     sync.Mutex
	free   []*kernelPipe
	closed bool
}

func (pp *pipePool) get() (*kernelPipe, error) {
	pp.mu.Lock()
	if n := len(pp.free); n > 0 {
		k := pp.free[n-1]
		pp.free = pp.free[:n-1]
		pp.mu.Unlock()
		return k, nil
	}
	pp.mu.Unlock()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, err
	}
	// A larger pipe moves more per call; the default 64 KiB works too.
	_, _ = unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, pipeSize)
	return &kernelPipe{r: fds[0], w: fds[1]}, nil
}

// put gives back an empty pipe.
func (pp *pipePool) put(k *kernelPipe) {
	pp.mu.Lock()
	if !pp.closed && len(pp.free) < maxIdlePipes {
		pp.free = append(pp.free, k)
		pp.mu.Unlock()
		return
	}
	pp.mu.Unlock()
	pp.discard(k)
}

// discard closes a pipe, which may still hold data.
func (pp *pipePool) discard(k *kernelPipe) {
	unix.Close(k.r)
	unix.Close(k.w)
}

// close closes the pooled pipes; pipes given back later are closed too.
func (pp *pipePool) close() {
	pp.mu.Lock()
	free := pp.free
	pp.free, pp.closed = nil, true
	pp.mu.Unlock()
	for _, k := range free {
		pp.discard(k)
	}
}

// preciseSleep sleeps for d in a nanosleep call, which blocks the thread
// (the Go scheduler runs other goroutines meanwhile) and wakes within tens
// of microseconds.
func preciseSleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	for {
		var rem unix.Timespec
		if err := unix.Nanosleep(&ts, &rem); err != unix.EINTR {
			return
		}
		ts = rem
	}
}
