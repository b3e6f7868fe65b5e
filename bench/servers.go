package main

import (
	"errors"
	"io"
	"net"
	"sync"
)

// server is a loopback TCP server running handle on each connection until
// Close, which closes the listener and every connection and waits for the
// handlers.
type server struct {
	ln     net.Listener
	handle func(net.Conn)

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func startServer(handle func(net.Conn)) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{ln: ln, handle: handle, conns: map[net.Conn]struct{}{}}
	s.wg.Go(s.accept)
	return s, nil
}

func (s *server) Addr() string { return s.ln.Addr().String() }

func (s *server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.handle(c)
		})
		s.mu.Unlock()
	}
}

func (s *server) Close() {
	s.mu.Lock()
	s.closed = true
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// echo writes back everything it reads.
func echo(c net.Conn) {
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// source writes bytes until the connection fails.
func source(c net.Conn) {
	buf := make([]byte, 256<<10)
	for {
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// bare names the reference forwarder: the least a Go TCP proxy does (see
// forward).
const bare = "bare"

// forward returns a handler that forwards a connection to upstream with
// two io.Copy calls (splice on Linux) and nothing else: no faults, no
// bookkeeping. It is the floor a Go proxy can reach on this machine.
func forward(upstream string) func(net.Conn) {
	return func(c net.Conn) {
		u, err := net.Dial("tcp", upstream)
		if err != nil {
			return
		}
		defer u.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			io.Copy(u, c)
			u.(*net.TCPConn).CloseWrite()
		}()
		io.Copy(c, u)
		c.(*net.TCPConn).CloseWrite()
		<-done
	}
}
