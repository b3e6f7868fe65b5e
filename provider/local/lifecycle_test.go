package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// helperEnv makes the test binary run testHelper instead of the tests (see
// TestMain).
const helperEnv = "CHAOSLAB_LOCAL_TEST_HELPER"

// alive reports whether process pid exists and has not exited (a zombie
// waiting to be reaped has).
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return syscall.Kill(pid, 0) == nil // no /proc: zombies count as alive
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// health returns the pid the demo behind endpoint says it has.
func health(t *testing.T, endpoint string) int {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get(endpoint + "/health")
	if err != nil {
		t.Fatalf("GET /health: %v", err)
	}
	defer resp.Body.Close()
	var body struct{ PID int }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /health = %d, %v", resp.StatusCode, err)
	}
	return body.PID
}

// TestDemosAnswerForThemselves provisions demo targets two at a time and
// checks that each Endpoint reaches its own demo process: the port of one
// is never free for the other (or anything else) to take.
func TestDemosAnswerForThemselves(t *testing.T) {
	p := New(WithDir(t.TempDir()))
	for round := range 10 {
		var wg sync.WaitGroup
		tgts := make([]*Target, 2)
		for i := range tgts {
			wg.Go(func() {
				tgt, err := p.Provision(context.Background(), chaoslab.TargetSpec{Kind: chaoslab.TargetDemo})
				if err != nil {
					t.Errorf("round %d: Provision: %v", round, err)
					return
				}
				tgts[i] = tgt.(*Target)
			})
		}
		wg.Wait()
		for _, tgt := range tgts {
			if tgt == nil {
				continue
			}
			if got, want := health(t, tgt.Endpoint()), tgt.PID(); got != want {
				t.Errorf("round %d: %s's endpoint reached pid %d, its demo is %d", round, tgt.ID(), got, want)
			}
			if err := tgt.Close(context.Background()); err != nil {
				t.Error(err)
			}
		}
	}
}

// TestPortHeldAcrossRestart checks that the demo's port stays taken while
// the demo is down, and that the restarted demo serves on it.
func TestPortHeldAcrossRestart(t *testing.T) {
	tgt := provision(t, chaoslab.TargetSpec{Kind: chaoslab.TargetDemo})
	addr := tgt.sup.ln.Addr().String()
	old := tgt.PID()
	if err := tgt.Signal(context.Background(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Errorf("could listen on %s while the demo was down: anything could take its port", addr)
	}
	waitFor(t, 10*time.Second, "a new process", func() bool {
		pid := tgt.PID()
		return pid != 0 && pid != old
	})
	if got, want := health(t, tgt.Endpoint()), tgt.PID(); got != want {
		t.Errorf("after the restart the endpoint reached pid %d, the demo is %d", got, want)
	}
}

// TestExecEndsAtClose checks that Close kills an Exec that is still
// running, and that the Exec then fails with ErrClosed.
func TestExecEndsAtClose(t *testing.T) {
	root := t.TempDir()
	tgt, err := New(WithDir(root)).Provision(context.Background(), chaoslab.TargetSpec{Kind: chaoslab.TargetDemo})
	if err != nil {
		t.Fatal(err)
	}
	lt := tgt.(*Target)
	pidFile := filepath.Join(t.TempDir(), "pid")
	done := make(chan error, 1)
	go func() {
		_, err := lt.Exec(context.Background(), []string{"sh", "-c", `echo $$ >` + pidFile + `.tmp; mv ` + pidFile + `.tmp ` + pidFile + `; exec sleep 30`})
		done <- err
	}()
	var pid int
	waitFor(t, 10*time.Second, "the Exec to start", func() bool {
		b, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return pid > 0
	})
	if err := lt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("the Exec'd process %d is alive after Close", pid)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Exec cut short by Close: %v, want ErrClosed", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("state left after Close: %v", entries)
	}
}

// TestExecKillsLeftovers checks that what an Exec'd command leaves running
// in the background is killed when it returns.
func TestExecKillsLeftovers(t *testing.T) {
	tgt := provision(t, chaoslab.TargetSpec{Kind: chaoslab.TargetDemo})
	start := time.Now()
	out, err := tgt.Exec(context.Background(), []string{"sh", "-c", "sleep 30 & echo $!"})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Exec took %s: it waited for the background process", took)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("output %q", out)
	}
	waitFor(t, 5*time.Second, "the background process to be killed", func() bool { return !alive(pid) })
}

// TestClosedErrors checks the errors of a target's methods after Close and
// between restarts.
func TestClosedErrors(t *testing.T) {
	tgt := provision(t, chaoslab.TargetSpec{Kind: chaoslab.TargetDemo, Restart: chaoslab.RestartNever})
	ctx := context.Background()
	if err := tgt.Signal(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-tgt.sup.done
	if err := tgt.Signal(ctx, syscall.SIGKILL); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Signal with no process: %v, want ErrNotRunning", err)
	}
	if err := tgt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, stressErr := tgt.Stress(ctx, chaoslab.Stress{Kind: chaoslab.StressDisk, Bytes: 1})
	_, execErr := tgt.Exec(ctx, []string{"true"})
	for name, err := range map[string]error{
		"Signal": tgt.Signal(ctx, syscall.SIGKILL),
		"Stress": stressErr,
		"Exec":   execErr,
	} {
		if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), tgt.ID()) {
			t.Errorf("%s after Close: %v, want ErrClosed naming %s", name, err, tgt.ID())
		}
	}
}

// TestProvisionPanicReleases checks that a panic in the middle of
// Provision releases what was made so far.
func TestProvisionPanicReleases(t *testing.T) {
	for _, point := range []string{"links", "started", "ingress", "ready"} {
		t.Run(point, func(t *testing.T) {
			root := t.TempDir()
			p := New(WithDir(root))
			p.hook = func(at string) {
				if at == point {
					panic("test panic at " + at)
				}
			}
			func() {
				defer func() {
					if r := recover(); r == nil {
						t.Error("Provision did not panic")
					}
				}()
				_, _ = p.Provision(context.Background(), chaoslab.TargetSpec{Kind: chaoslab.TargetDemo})
			}()
			if pids := children(t); len(pids) != 0 {
				t.Errorf("child processes left: %v", pids)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("state left: %v", entries)
			}
		})
	}
}

// TestRoleEnvironment checks that the demo gets a minimal environment,
// not this process's secrets, and that a command gets all of it.
func TestRoleEnvironment(t *testing.T) {
	t.Setenv("CHAOSLAB_TEST_SECRET", "s3cret")
	environ := func(pid int) string {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
		if err != nil {
			t.Skipf("no /proc to read environments: %v", err)
		}
		return "\x00" + string(b)
	}
	d := provision(t, chaoslab.TargetSpec{Kind: chaoslab.TargetDemo, Env: map[string]string{"CHAOSLAB_TEST_VAR": "x1"}})
	env := environ(d.PID())
	if strings.Contains(env, "s3cret") {
		t.Error("the demo inherited CHAOSLAB_TEST_SECRET")
	}
	for _, want := range []string{"\x00PATH=", "\x00CHAOSLAB_TEST_VAR=x1\x00"} {
		if !strings.Contains(env, want) {
			t.Errorf("the demo's environment lacks %q", want)
		}
	}
	c := provision(t, demoCommand(t))
	if env := environ(c.PID()); !strings.Contains(env, "\x00CHAOSLAB_TEST_SECRET=s3cret\x00") || strings.Contains(env, guardEnv) {
		t.Errorf("a command's environment should be this process's, without %s", guardEnv)
	}
}

// TestGuardKillsGroupWhenParentDies starts a helper process (this test
// binary) that provisions a command target whose command starts a
// background process, then SIGKILLs the helper: the command and its
// background process must die with it. A later Provision removes the
// helper's state directory.
func TestGuardKillsGroupWhenParentDies(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+root)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	var bg, main int
	if _, err := fmt.Sscanf(line, "ready %d %d", &bg, &main); err != nil {
		t.Fatalf("helper said %q: %v", line, err)
	}
	if !alive(bg) || !alive(main) {
		t.Fatalf("the command (%d) or its background process (%d) is not running", main, bg)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	killed = true
	waitFor(t, 10*time.Second, "the command and its background process to die with the helper", func() bool {
		return !alive(bg) && !alive(main)
	})

	stale, _ := filepath.Glob(filepath.Join(root, fmt.Sprintf("chaoslab-%d-*", cmd.Process.Pid)))
	if len(stale) != 1 {
		t.Fatalf("the helper's state directory: %q, want one", stale)
	}
	p := New(WithDir(root))
	again, err := p.Provision(context.Background(), chaoslab.TargetSpec{Kind: chaoslab.TargetDemo})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close(context.Background())
	if _, err := os.Stat(stale[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dead helper's state directory is still there: %v", err)
	}
}

// testHelper is the helper of TestGuardKillsGroupWhenParentDies: it
// provisions the command target in root, prints "ready <background pid>
// <command pid>" and waits to be killed.
func testHelper(root string) {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tgt, err := New(WithDir(root)).Provision(context.Background(), chaoslab.TargetSpec{
		Kind:       chaoslab.TargetCommand,
		Command:    []string{"sh", "-c", `sleep 300 & echo $! >bg.pid; exec "$0"`, exe},
		Env:        map[string]string{RoleEnv: roleDemo, DemoAddrEnv: addr, DemoDownstreamEnv: "127.0.0.1:1"},
		Address:    addr,
		HealthPath: "/health",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	lt := tgt.(*Target)
	b, err := os.ReadFile(filepath.Join(lt.Dir(), "bg.pid"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	fmt.Printf("ready %s %d\n", strings.TrimSpace(string(b)), lt.PID())
	select {} // until killed
}
