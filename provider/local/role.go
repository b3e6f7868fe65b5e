package local

import (
	"context"
	"fmt"
	"os"
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
	// DemoAddrEnv is the host:port the demo role listens on.
	DemoAddrEnv = "CHAOSLAB_DEMO_ADDR"
	// DemoDownstreamEnv is the host:port of the demo role's downstream.
	DemoDownstreamEnv = "CHAOSLAB_DEMO_DOWNSTREAM"

	// parentEnv is the pid of the process that started the role; the role
	// exits when its parent changes.
	parentEnv = "CHAOSLAB_LOCAL_PARENT"
	// Stress role parameters.
	coresEnv   = "CHAOSLAB_STRESS_CORES"
	percentEnv = "CHAOSLAB_STRESS_PERCENT"
	bytesEnv   = "CHAOSLAB_STRESS_BYTES"
)

// Roles a child process runs.
const (
	roleDemo   = "demo"
	roleCPU    = "cpu"
	roleMemory = "memory"
)

// readyLine is what a stress role writes to its stdout once the pressure is
// applied.
const readyLine = "ready"

// init turns this process into a role process when RoleEnv is set: it runs
// the role and exits, before main or the tests start. This is the package's
// one side effect at import; without RoleEnv it does nothing.
func init() {
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
		err = demo.Serve(ctx, demo.Config{
			Addr:       os.Getenv(DemoAddrEnv),
			Downstream: os.Getenv(DemoDownstreamEnv),
			LogWriter:  os.Stderr,
		})
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

// watchParent cancels the role when its parent process is gone: the
// kernel's parent-death signal covers Linux, this covers the rest (and a
// parent that died before the role could notice). If the role has not
// ended a few seconds after the cancel, the process exits anyway.
func watchParent(ctx context.Context, cancel context.CancelFunc) {
	parent := os.Getppid()
	if p, err := strconv.Atoi(os.Getenv(parentEnv)); err == nil && p > 0 {
		parent = p
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if os.Getppid() != parent {
			cancel()
			time.AfterFunc(3*time.Second, func() { os.Exit(1) })
			return
		}
	}
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
