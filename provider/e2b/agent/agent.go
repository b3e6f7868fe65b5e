//go:build unix

package agent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chaoslab-dev/chaoslab/internal/demo"
	"github.com/chaoslab-dev/chaoslab/internal/toxiproxyapi"
)

// Exit codes of Main.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Main runs the subcommand args name and returns its exit code. It returns
// when the subcommand is done, or when ctx is done for those that serve or
// hold pressure until then. stdout gets the lines the provider reads;
// stderr the logs.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: chaoslab-e2b-agent proxy|downstream|demo|cpu|memory|fill|signal|version [flags]")
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet("chaoslab-e2b-agent "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var run func() error
	switch cmd {
	case "version":
		run = func() error { _, err := fmt.Fprintln(stdout, Version); return err }
	case "proxy":
		api := fs.String("api", "127.0.0.1:0", "address of Toxiproxy's HTTP API")
		seed := fs.Int64("seed", 1, "random seed of the toxics")
		verbose := fs.Bool("v", false, "log requests and faults to stderr")
		run = func() error { return serveProxy(ctx, *api, *seed, *verbose, stdout, stderr) }
	case "downstream":
		listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
		run = func() error { return serveDownstream(ctx, *listen, stdout) }
	case "demo":
		listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
		downstream := fs.String("downstream", "", "host:port of the dependency (required)")
		run = func() error { return serveDemo(ctx, *listen, *downstream, stdout, stderr) }
	case "cpu":
		cores := fs.Int("cores", 1, "cores to keep busy")
		percent := fs.Float64("percent", 100, "how busy to keep each, 1 to 100")
		run = func() error { return burnCPU(ctx, *cores, *percent, stdout) }
	case "memory":
		n := fs.Int64("bytes", 0, "bytes to hold (required)")
		run = func() error { return holdMemory(ctx, *n, stdout) }
	case "fill":
		path := fs.String("path", "", "file to write (required)")
		n := fs.Int64("bytes", 0, "bytes to write (required)")
		run = func() error { return fill(ctx, *path, *n, stdout) }
	case "signal":
		pid := fs.Int("pid", 0, "process to signal (required)")
		name := fs.String("signal", "", "signal name such as STOP, CONT or SIGUSR1, or number (required)")
		run = func() error { return sendSignal(ctx, *pid, *name) }
	default:
		fmt.Fprintf(stderr, "chaoslab-e2b-agent: unknown subcommand %q\n", cmd)
		return exitUsage
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "chaoslab-e2b-agent %s: unexpected arguments %q\n", cmd, fs.Args())
		return exitUsage
	}
	if err := run(); err != nil {
		fmt.Fprintf(stderr, "chaoslab-e2b-agent %s: %v\n", cmd, err)
		return exitError
	}
	return exitOK
}

// listen listens on addr and announces the address on stdout.
func listen(ctx context.Context, addr string, stdout io.Writer) (net.Listener, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintln(stdout, ListeningPrefix+ln.Addr().String()); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// serve serves h on ln until ctx is done, then shuts the server down.
func serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}

func serveProxy(ctx context.Context, addr string, seed int64, verbose bool, stdout, stderr io.Writer) error {
	log := slog.New(slog.DiscardHandler)
	if verbose {
		log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	api := toxiproxyapi.New(toxiproxyapi.WithLogger(log), toxiproxyapi.WithSeed(seed))
	ln, err := listen(ctx, addr, stdout)
	if err != nil {
		return errors.Join(err, api.Close())
	}
	err = serve(ctx, ln, api.Handler(), log)
	return errors.Join(err, api.Close())
}

func serveDownstream(ctx context.Context, addr string, stdout io.Writer) error {
	ln, err := listen(ctx, addr, stdout)
	if err != nil {
		return err
	}
	return serve(ctx, ln, demo.Downstream{}, slog.New(slog.DiscardHandler))
}

func serveDemo(ctx context.Context, addr, downstream string, stdout, stderr io.Writer) error {
	if downstream == "" {
		return errors.New("--downstream is required")
	}
	ln, err := listen(ctx, addr, stdout)
	if err != nil {
		return err
	}
	return demo.Serve(ctx, demo.Config{Listener: ln, Downstream: downstream, LogWriter: stderr})
}

// burnCPU keeps cores goroutines busy percent of each 100ms period until ctx
// is done.
func burnCPU(ctx context.Context, cores int, percent float64, stdout io.Writer) error {
	if cores < 1 || percent <= 0 || percent > 100 {
		return fmt.Errorf("--cores %d must be at least 1 and --percent %g from 1 to 100", cores, percent)
	}
	if runtime.GOMAXPROCS(0) < cores+1 {
		runtime.GOMAXPROCS(cores + 1)
	}
	const period = 100 * time.Millisecond
	busy := time.Duration(float64(period) * percent / 100)
	var wg sync.WaitGroup
	for range cores {
		wg.Go(func() {
			for ctx.Err() == nil {
				start := time.Now()
				for n := 0; time.Since(start) < busy; n++ {
					if n%4096 == 0 && ctx.Err() != nil {
						return
					}
				}
				if idle := period - time.Since(start); idle > 0 {
					t := time.NewTimer(idle)
					select {
					case <-ctx.Done():
					case <-t.C:
					}
					t.Stop()
				}
			}
		})
	}
	_, err := fmt.Fprintln(stdout, ReadyLine)
	wg.Wait()
	return err
}

// holdMemory allocates n bytes, touches every page so that they are
// resident, and holds them until ctx is done.
func holdMemory(ctx context.Context, n int64, stdout io.Writer) error {
	if n <= 0 || n > int64(^uint(0)>>1) {
		return fmt.Errorf("--bytes %d must be a positive size", n)
	}
	buf := make([]byte, n)
	page := os.Getpagesize()
	for i := 0; i < len(buf); i += page {
		buf[i] = 1
	}
	if _, err := fmt.Fprintln(stdout, ReadyLine); err != nil {
		return err
	}
	<-ctx.Done()
	runtime.KeepAlive(buf)
	return nil
}

// fill writes n bytes that no file system keeps sparse to path. A full disk
// ends it early without an error: the disk is then as full as it gets. It
// prints "wrote N bytes" (and ", disk full" when it stopped early).
func fill(ctx context.Context, path string, n int64, stdout io.Writer) error {
	if path == "" || n <= 0 {
		return fmt.Errorf("--path (got %q) and a positive --bytes (got %d) are required", path, n)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i) | 1
	}
	var written int64
	full := false
	for written < n {
		if err := ctx.Err(); err != nil {
			f.Close()
			return err
		}
		m, err := f.Write(buf[:min(int64(len(buf)), n-written)])
		written += int64(m)
		if errors.Is(err, syscall.ENOSPC) {
			full = true
			break
		}
		if err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		return err
	}
	suffix := ""
	if full {
		suffix = ", disk full"
	}
	_, err = fmt.Fprintf(stdout, "wrote %d bytes%s\n", written, suffix)
	return err
}

// sendSignal sends the named signal to the process group that pid leads, or
// to pid alone when it leads none. For SIGSTOP it returns once the process
// has stopped (Linux), so that callers can measure from then.
func sendSignal(ctx context.Context, pid int, name string) error {
	if pid <= 0 {
		return fmt.Errorf("--pid %d must be a process id", pid)
	}
	sig, err := ParseSignal(name)
	if err != nil {
		return err
	}
	target := pid
	if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
		target = -pid
	}
	if err := syscall.Kill(target, sig); err != nil {
		return fmt.Errorf("kill %d %s: %w", target, name, err)
	}
	if sig != syscall.SIGSTOP {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for {
		stopped, known := processStopped(pid)
		if stopped || !known {
			return nil
		}
		t := time.NewTimer(5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("process %d did not stop: %w", pid, ctx.Err())
		case <-t.C:
		}
	}
}

// processStopped reads the state of pid from /proc: whether it is stopped,
// and whether the state could be read at all.
func processStopped(pid int) (stopped, known bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false, false
	}
	// The state follows the command name, which is in parentheses and may
	// hold spaces and parentheses itself.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return false, false
	}
	st := b[i+2]
	return st == 'T' || st == 't', true
}

// signals maps the names ParseSignal accepts, without their SIG prefix.
var signals = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "KILL": syscall.SIGKILL,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "TERM": syscall.SIGTERM, "STOP": syscall.SIGSTOP,
	"CONT": syscall.SIGCONT, "TSTP": syscall.SIGTSTP, "ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM,
	"PIPE": syscall.SIGPIPE,
}

// ParseSignal reads a signal name ("STOP", "SIGSTOP", case-insensitive) or
// number.
func ParseSignal(name string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(name); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	if s, ok := signals[strings.TrimPrefix(strings.ToUpper(name), "SIG")]; ok {
		return s, nil
	}
	return 0, fmt.Errorf("unknown signal %q", name)
}
