package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Memory is measured in child processes of this binary, one per proxy
// implementation, so that neither proxy's heap, goroutines or garbage count
// against the other: the proxy runs alone in one child, the echo upstream in
// another, and the idle client connections are held by the parent.

// memSample is what a proxy child reports about itself.
type memSample struct {
	rss    int64 // resident set size, bytes
	goUsed int64 // Go heap in use plus goroutine stacks, bytes, after a GC
}

// maxIdleConns returns how many proxied connections the file descriptor
// limit allows: the proxy child holds two descriptors per connection.
func maxIdleConns() (int, uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1000, 0
	}
	return int((lim.Max - 64) / 2), lim.Max
}

// measureMemory starts impl in a child process, opens n idle connections
// through it and returns the growth of its memory.
func measureMemory(ctx context.Context, impl string, n int, settle time.Duration) (memSample, error) {
	echoChild, err := startChild(ctx, "-child=echo")
	if err != nil {
		return memSample{}, err
	}
	defer echoChild.stop()
	upstream, err := echoChild.readField("addr")
	if err != nil {
		return memSample{}, err
	}
	proxyChild, err := startChild(ctx, "-child="+impl, "-upstream="+upstream)
	if err != nil {
		return memSample{}, err
	}
	defer proxyChild.stop()
	addr, err := proxyChild.readField("ready")
	if err != nil {
		return memSample{}, err
	}
	before, err := proxyChild.measure()
	if err != nil {
		return memSample{}, err
	}
	conns, err := openIdle(ctx, addr, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err != nil {
		return memSample{}, err
	}
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return memSample{}, ctx.Err()
	}
	after, err := proxyChild.measure()
	if err != nil {
		return memSample{}, err
	}
	return memSample{rss: after.rss - before.rss, goUsed: after.goUsed - before.goUsed}, nil
}

// openIdle opens n connections to addr, each checked by a one-byte round
// trip so that the proxy has set up both sides.
func openIdle(ctx context.Context, addr string, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			var d net.Dialer
			b := []byte{1}
			for i := w; i < n; i += len(errs) {
				c, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					errs[w] = fmt.Errorf("idle connection %d: %w", i, err)
					return
				}
				conns[i] = c
				if err := roundTrip(c, b, make([]byte, 1)); err != nil {
					errs[w] = fmt.Errorf("idle connection %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	open := conns[:0]
	for _, c := range conns {
		if c != nil {
			open = append(open, c)
		}
	}
	return open, errors.Join(errs...)
}

// child is a running child process of this binary, spoken to by lines on
// its stdin and stdout.
type child struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	errb  bytes.Buffer
	waitE chan error
}

func startChild(ctx context.Context, args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := &child{cmd: exec.CommandContext(ctx, exe, args...), waitE: make(chan error, 1)}
	c.cmd.Stderr = &c.errb
	if c.in, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.out = bufio.NewScanner(out)
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start child %v: %w", args, err)
	}
	return c, nil
}

// readField reads the next line, which must be "key value", and returns
// value.
func (c *child) readField(key string) (string, error) {
	if !c.out.Scan() {
		return "", fmt.Errorf("child %v ended early: %v %s", c.cmd.Args[1:], c.out.Err(), c.errb.String())
	}
	k, v, _ := strings.Cut(c.out.Text(), " ")
	if k != key {
		return "", fmt.Errorf("child %v: want %q, got %q", c.cmd.Args[1:], key, c.out.Text())
	}
	return v, nil
}

func (c *child) measure() (memSample, error) {
	if _, err := io.WriteString(c.in, "measure\n"); err != nil {
		return memSample{}, err
	}
	v, err := c.readField("mem")
	if err != nil {
		return memSample{}, err
	}
	var s memSample
	if _, err := fmt.Sscan(v, &s.rss, &s.goUsed); err != nil {
		return memSample{}, fmt.Errorf("child memory line %q: %w", v, err)
	}
	return s, nil
}

// stop closes the child's stdin, which tells it to end, and waits for it;
// a child that does not end within 10 s is killed.
func (c *child) stop() {
	c.in.Close()
	go func() { c.waitE <- c.cmd.Wait() }()
	select {
	case <-c.waitE:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.waitE
	}
}

// runChild is the body of a child process: "echo" serves an echo upstream,
// an implementation name runs that proxy to upstream and answers "measure"
// lines. Both end when stdin closes.
func runChild(ctx context.Context, role, upstream string) error {
	in := bufio.NewScanner(os.Stdin)
	if role == "echo" {
		s, err := startServer(echo)
		if err != nil {
			return err
		}
		defer s.Close()
		fmt.Printf("addr %s\n", s.Addr())
		for in.Scan() {
		}
		return nil
	}
	p, err := startProxy(ctx, role, upstream)
	if err != nil {
		return err
	}
	defer p.Close()
	fmt.Printf("ready %s\n", p.Addr())
	for in.Scan() {
		if in.Text() != "measure" {
			return fmt.Errorf("unknown command %q", in.Text())
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("mem %d %d\n", selfRSS(), ms.HeapInuse+ms.StackInuse)
	}
	return nil
}

// selfRSS returns this process's resident set size in bytes, or 0 where
// /proc is not available.
func selfRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
