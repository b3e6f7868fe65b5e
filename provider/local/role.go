package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/chaoslab-dev/chaoslab/internal/demo"
)

// Environment variables of the child roles. A process started with RoleEnv
// set runs that role instead of its main function (see the package doc).
const (
	// RoleEnv selects the role: "demo", "cpu" or "memory".
	RoleEnv = "CHAOSLAB_LOCAL_ROLE"
	// DemoAddrEnv is the host:port the demo role listens on (when it is
	// not handed a listener).
	DemoAddrEnv = "CHAOSLAB_DEMO_ADDR"
	// DemoDownstreamEnv is the host:port of the demo role's downstream.
	DemoDownstreamEnv = "CHAOSLAB_DEMO_DOWNSTREAM"

	// demoListenerEnv is the number of an inherited file descriptor that
	// holds the demo role's listening socket; it wins over DemoAddrEnv.
	demoListenerEnv = "CHAOSLAB_DEMO_LISTENER_FD"
	// parentEnv is the pid of the process that started the role; the role
	// exits when its parent changes.
	parentEnv = "CHAOSLAB_LOCAL_PARENT"
	// guardEnv makes a process the guard of the command in its arguments
	// (see runGuard); its value is the pid of the guard's parent.
	guardEnv = "CHAOSLAB_LOCAL_GUARD"
	// Stress role parameters.
	coresEnv   = "CHAOSLAB_STRESS_CORES"
	percentEnv = "CHAOSLAB_STRESS_PERCENT"
	bytesEnv   = "CHAOSLAB_STRESS_BYTES"
)

// reservedEnv are the variables a demo target's Env and dependencies may
// not set: they configure the role the demo runs as.
var reservedEnv = []string{RoleEnv, DemoAddrEnv, DemoDownstreamEnv, demoListenerEnv, parentEnv, guardEnv, coresEnv, percentEnv, bytesEnv}

// Roles a child process runs.
const (
	roleDemo   = "demo"
	roleCPU    = "cpu"
	roleMemory = "memory"
)

// readyLine is what a stress role writes to its stdout once the pressure is
// applied.
const readyLine = "ready"

// roleEnvKeep lists the variables of this process that role processes
// inherit; everything else (credentials, tokens) stays here.
var roleEnvKeep = []string{"PATH", "HOME", "TMPDIR", "TZ", "LD_LIBRARY_PATH", "GORACE", "GOCOVERDIR", "GODEBUG", "GOTRACEBACK"}

// roleEnv returns the environment of a role process: the few variables of
// roleEnvKeep from this process, and set.
func roleEnv(set map[string]string) []string {
	var base []string
	for _, k := range roleEnvKeep {
		if v, ok := os.LookupEnv(k); ok {
			base = append(base, k+"="+v)
		}
	}
	return mergeEnv(base, set)
}

// init turns this process into a guard or a role process when guardEnv or
// RoleEnv is set: it runs that and exits, before main or the tests start.
// This is the package's one side effect at import; without those variables
// it does nothing. guardEnv is checked first: a guarded command may itself
// be a role (its RoleEnv is then for the command, not for the guard).
func init() {
	if parent := os.Getenv(guardEnv); parent != "" {
		os.Exit(runGuard(parent, os.Args[1:]))
	}
	if role := os.Getenv(RoleEnv); role != "" {
		os.Exit(runRole(role))
	}
}

// runRole runs a role until SIGTERM, SIGINT or the parent's death and
// returns the exit code.
func runRole(role string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go watchParent(ctx, cancel)

	var err error
	switch role {
	case roleDemo:
		cfg := demo.Config{
			Addr:       os.Getenv(DemoAddrEnv),
			Downstream: os.Getenv(DemoDownstreamEnv),
			LogWriter:  os.Stderr,
		}
		if cfg.Listener, err = inheritedListener(); err == nil {
			err = demo.Serve(ctx, cfg)
		}
	case roleCPU:
		err = burnCPU(ctx, envInt(coresEnv, 1), envFloat(percentEnv, 100))
	case roleMemory:
		err = holdMemory(ctx, envInt(bytesEnv, 0))
	default:
		err = fmt.Errorf("unknown role %q (want %s, %s or %s)", role, roleDemo, roleCPU, roleMemory)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "chaoslab %s role: %v\n", role, err)
		return 1
	}
	return 0
}

// inheritedListener returns the listener whose descriptor demoListenerEnv
// names, or nil when it is not set.
func inheritedListener() (net.Listener, error) {
	s := os.Getenv(demoListenerEnv)
	if s == "" {
		return nil, nil
	}
	fd, err := strconv.Atoi(s)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q is not an inherited file descriptor", demoListenerEnv, s)
	}
	f := os.NewFile(uintptr(fd), "listener")
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("inherited listener: %w", err)
	}
	return ln, nil
}

// watchParent cancels the role when its parent process is gone. It is told
// at once by deathSignal, which the kernel sends when the parent dies
// (Linux), and polls otherwise. The signal is also sent when the thread
// that started the role exits while the parent lives on (golang/go#27505),
// so it only prompts a check. If the role has not ended a few seconds after
// the cancel, the process exits anyway.
func watchParent(ctx context.Context, cancel context.CancelFunc) {
	parent := os.Getppid()
	if p, err := strconv.Atoi(os.Getenv(parentEnv)); err == nil && p > 0 {
		parent = p
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, deathSignal)
	defer signal.Stop(sigs)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-sigs:
		}
		if os.Getppid() != parent {
			cancel()
			time.AfterFunc(3*time.Second, func() { os.Exit(1) })
			return
		}
	}
}

// handshakeFD is the descriptor on which a guard tells its parent how the
// start of its command went: "pid <n>\n" or "error <text>\n".
const handshakeFD = 3

// runGuard is the guard role: it runs argv as its child, in its own process
// group (which the guard leads), and
//
//   - exits as the command does: with its exit code, or killed by the same
//     signal (SIGKILL, SIGTERM, SIGINT, SIGHUP; 128+n for the others),
//     leaving the group's other processes to its parent;
//   - when its parent (the pid in guardEnv) is gone, SIGKILLs its whole
//     group, itself included: the command's children die with chaoslab
//     even when chaoslab was SIGKILLed.
//
// Every catchable signal the guard gets (Signal sends to the whole group)
// only makes it check its parent; SIGSTOP and SIGCONT stop and continue it
// with the rest of the group. The command gets the guard's environment
// without guardEnv.
func runGuard(parentPid string, argv []string) int {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	hs := os.NewFile(handshakeFD, "handshake")
	parent, err := strconv.Atoi(parentPid)
	switch {
	case err != nil:
		err = fmt.Errorf("%s=%q is not a pid", guardEnv, parentPid)
	case len(argv) == 0:
		err = errors.New("no command to guard")
	case os.Getppid() != parent:
		err = errors.New("the parent is gone")
	}
	if err != nil {
		fmt.Fprintf(hs, "error %v\n", err)
		return 127
	}
	os.Unsetenv(guardEnv)
	cmd := newGuardedCommand(argv)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(hs, "error %v\n", err)
		return 127
	}
	fmt.Fprintf(hs, "pid %d\n", cmd.Process.Pid)
	hs.Close()

	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-waitc:
			return exitLike(err)
		case <-sigs:
		case <-tick.C:
		}
		if os.Getppid() != parent {
			_ = syscall.Kill(0, syscall.SIGKILL) // 0: this process's group
			return 1
		}
	}
}

// exitLike returns the exit code of a process that ended with err, after
// killing this process with the signal that killed it, for the signals
// whose default action is to end a process quietly.
func exitLike(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return 1
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return ee.ExitCode()
	}
	sig := ws.Signal()
	switch sig {
	case syscall.SIGKILL, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP:
		signal.Reset()
		_ = syscall.Kill(os.Getpid(), sig)
		// Delivery is asynchronous; it ends the process within moments.
		time.Sleep(time.Second)
	}
	return 128 + int(sig)
}

// burnCPU keeps cores goroutines busy percent of each 100ms period until ctx
// is done.
func burnCPU(ctx context.Context, cores int, percent float64) error {
	cores = max(cores, 1)
	percent = min(max(percent, 1), 100)
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
						t.Stop()
					case <-t.C:
					}
				}
			}
		})
	}
	fmt.Println(readyLine)
	wg.Wait()
	return nil
}

// holdMemory allocates n bytes, touches every page so that they are
// resident, and holds them until ctx is done.
func holdMemory(ctx context.Context, n int) error {
	if n <= 0 {
		return fmt.Errorf("%s must be a positive number of bytes", bytesEnv)
	}
	buf := make([]byte, n)
	page := os.Getpagesize()
	for i := 0; i < len(buf); i += page {
		buf[i] = 1
	}
	fmt.Println(readyLine)
	<-ctx.Done()
	runtime.KeepAlive(buf)
	return nil
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

func envFloat(name string, def float64) float64 {
	if f, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil {
		return f
	}
	return def
}
