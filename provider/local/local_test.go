package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/internal/demo"
	"github.com/chaoslab-dev/chaoslab/internal/observe"
	"github.com/chaoslab-dev/chaoslab/provider/providertest"
)

// TestMain runs after init: when this test binary is started as a role
// (RoleEnv set), init has already run the role and exited.
func TestMain(m *testing.M) {
	// Under -race every process sleeps a second at exit by default; the
	// role processes this test starts need not.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	if root := os.Getenv(helperEnv); root != "" {
		testHelper(root)
		return
	}
	goleak.VerifyTestMain(m)
}

// procs returns the processes for which keep(state, ppid, pgrp) is true,
// from /proc.
func procs(t testing.TB, keep func(state string, ppid, pgrp int) bool) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc to count processes: %v", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 3 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		pgrp, _ := strconv.Atoi(f[2])
		if keep(f[0], ppid, pgrp) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// children returns the pids of this process's child processes.
func children(t testing.TB) []int {
	me := os.Getpid()
	return procs(t, func(_ string, ppid, _ int) bool { return ppid == me })
}

// groupAlive returns the processes of group pgid that have not exited.
// Exited grandchildren can linger as zombies until init reaps them; they
// are dead and not counted.
func groupPids(t testing.TB, pgid int) []int {
	return procs(t, func(state string, _, pgrp int) bool { return pgrp == pgid && state != "Z" })
}

// live counts child processes and entries of the state root: what the
// provider must release.
func live(t testing.TB, root string) func(context.Context) (int, error) {
	return func(context.Context) (int, error) {
		entries, err := os.ReadDir(root)
		if err != nil {
			return 0, err
		}
		return len(children(t)) + len(entries), nil
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond) // polling; not synchronisation
	}
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before the test uses it; the loopback range makes that rare.
func freePort(ctx context.Context) (int, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// serveDownstream serves demo.Downstream for the test.
func serveDownstream(t testing.TB) string {
	srv := httptest.NewServer(demo.Downstream{})
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// demoCommand is a command spec that runs this test binary as the demo
// service on a free port, its downstream routed as the link "downstream".
func demoCommand(t testing.TB) chaoslab.TargetSpec {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	port, err := freePort(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	return chaoslab.TargetSpec{
		Kind:       chaoslab.TargetCommand,
		Command:    []string{exe},
		Env:        map[string]string{RoleEnv: roleDemo, DemoAddrEnv: addr},
		Address:    addr,
		HealthPath: "/health",
		Dependencies: []chaoslab.Dependency{{
			Name: "downstream", Upstream: serveDownstream(t), Env: DemoDownstreamEnv, Protocol: "http",
		}},
	}
}

func TestConformance(t *testing.T) {
	root := t.TempDir()
	addressUpstream := httptest.NewServer(demo.Downstream{})
	defer addressUpstream.Close()
	providertest.Run(t, providertest.Harness{
		Provider: New(WithDir(root)),
		Targets: []providertest.Case{
			{Name: "demo", Spec: chaoslab.TargetSpec{Kind: chaoslab.TargetDemo}},
			{Name: "command", Spec: demoCommand(t)},
			{Name: "address", Spec: chaoslab.TargetSpec{
				Kind:         chaoslab.TargetAddress,
				Address:      addressUpstream.URL,
				Dependencies: []chaoslab.Dependency{{Name: "db", Upstream: "127.0.0.1:5432"}},
			}},
		},
		Live:    live(t, root),
		Timeout: 20 * time.Second,
	})
}

// provision provisions spec with a provider whose state lives in a test
// directory, and closes the target at cleanup.
func provision(t *testing.T, spec chaoslab.TargetSpec) *Target {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tgt, err := New(WithDir(t.TempDir())).Provision(ctx, spec)
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	t.Cleanup(func() {
		if err := tgt.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return tgt.(*Target)
}

// request sends GET endpoint+path and returns the status, the JSON body and
// how long it took.
func request(t *testing.T, url string) (int, map[string]any, time.Duration) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	return resp.StatusCode, body, took
}

func apply(t *testing.T, tgt *Target, link string, lf chaoslab.LinkFault) chaoslab.Undo {
	t.Helper()
	l, err := tgt.Link(link)
	if err != nil {
		t.Fatal(err)
	}
	undo, err := l.Apply(context.Background(), lf)
	if err != nil {
		t.Fatalf("Apply %s on %s: %v", lf.Kind, link, err)
	}
	t.Cleanup(func() { _ = undo(context.Background()) })
	return undo
}

func TestDemoDownstreamDelay(t *testing.T) {
	tgt := provision(t, chaoslab.TargetSpec{})
	if got := tgt.Links(); strings.Join(got, ",") != "ingress,downstream" {
		t.Errorf("Links() = %q, want [ingress downstream]", got)
	}
	if code, body, _ := request(t, tgt.Endpoint()+"/"); code != 200 || body["ok"] != true {
		t.Fatalf("GET / = %d %v", code, body)
	}

	const delay = 100 * time.Millisecond
	undo := apply(t, tgt, DownstreamLink, chaoslab.LinkFault{
		Kind: "network_delay", Params: chaoslab.Params{"latency": delay.String()},
	})
	for range 3 {
		code, body, took := request(t, tgt.Endpoint()+"/")
		if code != 200 {
			t.Errorf("GET / under delay = %d %v", code, body)
		}
		if took < delay*9/10 {
			t.Errorf("GET / under a %s downstream delay took %s", delay, took)
		}
		if ms, _ := body["downstream_ms"].(float64); ms < 90 {
			t.Errorf("downstream_ms under a %s delay = %v", delay, body["downstream_ms"])
		}
	}
	if err := undo(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Only the fastest of a few requests is checked, so a loaded machine
	// does not make this flaky.
	fastest := time.Hour
	for range 5 {
		_, _, took := request(t, tgt.Endpoint()+"/")
		fastest = min(fastest, took)
	}
	if fastest >= delay*8/10 {
		t.Errorf("after Undo the fastest GET / took %s; the %s delay is still there", fastest, delay)
	}
}

func TestIngressHTTPErrors(t *testing.T) {
	tgt := provision(t, chaoslab.TargetSpec{Kind: chaoslab.TargetDemo})
	undo := apply(t, tgt, IngressLink, chaoslab.LinkFault{Kind: "http_errors", Params: chaoslab.Params{"rate": "1"}})
	for range 3 {
		if code, _, _ := request(t, tgt.Endpoint()+"/"); code != http.StatusServiceUnavailable {
			t.Errorf("GET / under http_errors rate 1 = %d, want 503", code)
		}
	}
	if err := undo(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := request(t, tgt.Endpoint()+"/"); code != 200 {
		t.Errorf("GET / after Undo = %d", code)
	}
}

// TestKillRestarts checks that a killed demo is restarted, and that the
// kill shows to clients: until the restart, requests through the Endpoint
// fail (the runner measures recovery from that).
func TestKillRestarts(t *testing.T) {
	tgt := provision(t, chaoslab.TargetSpec{Kind: chaoslab.TargetDemo})
	old := tgt.PID()
	if old == 0 {
		t.Fatal("no pid")
	}
	// A keep-alive client, as the load generator is: its connection to
	// the ingress proxy outlives the demo.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	get := func() (int, error) {
		resp, err := c.Get(tgt.Endpoint() + "/")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	if code, err := get(); err != nil || code != 200 {
		t.Fatalf("GET / before the kill = %d, %v", code, err)
	}
	if err := tgt.Signal(context.Background(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The restart waits 200ms, then the demo starts: only a machine too
	// slow to send one request in that time sees the new process already.
	before := tgt.PID()
	code, err := get()
	switch {
	case before != 0 && before != old:
		t.Logf("the demo was back (pid %d) before the request after the kill was sent", before)
	case err == nil && code < 500:
		t.Errorf("GET / sent while the demo was down = %d; want a failure, not a wait for the restart", code)
	}
	waitFor(t, 10*time.Second, "a new process", func() bool {
		pid := tgt.PID()
		return pid != 0 && pid != old
	})
	waitFor(t, 10*time.Second, "serving again", func() bool {
		code, err := get()
		return err == nil && code == 200
	})
	if err := syscall.Kill(old, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the killed process %d still exists: %v", old, err)
	}
}

func TestRestartNever(t *testing.T) {
	tgt := provision(t, chaoslab.TargetSpec{Kind: chaoslab.TargetDemo, Restart: chaoslab.RestartNever})
	if err := tgt.Signal(context.Background(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tgt.sup.done:
	case <-time.After(10 * time.Second):
		t.Fatal("supervision did not end after a kill under restart never")
	}
	if pid := tgt.PID(); pid != 0 {
		t.Errorf("restarted (pid %d) under restart never", pid)
	}
	if err := tgt.Signal(context.Background(), syscall.SIGKILL); err == nil {
		t.Error("Signal with no process running returned no error")
	}
}

func TestStopThenCloseLeavesNothing(t *testing.T) {
	root := t.TempDir()
	tgt, err := New(WithDir(root)).Provision(context.Background(), chaoslab.TargetSpec{Kind: chaoslab.TargetDemo})
	if err != nil {
		t.Fatal(err)
	}
	lt := tgt.(*Target)
	pid := lt.PID()
	undo, err := lt.Stress(context.Background(), chaoslab.Stress{Kind: chaoslab.StressCPU, Cores: 1, Percent: 10})
	if err != nil {
		t.Fatal(err)
	}
	_ = undo // Close lifts it
	if err := lt.Signal(context.Background(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Close must work on a dead context too
	if err := lt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("after Close, kill(%d, 0) = %v, want ESRCH", pid, err)
	}
	if pids := children(t); len(pids) != 0 {
		t.Errorf("child processes left after Close: %v", pids)
	}
	if pids := groupPids(t, pid); len(pids) != 0 {
		t.Errorf("processes of the demo's group left after Close: %v", pids)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("state left after Close: %v", entries)
	}
}

func TestCPUStress(t *testing.T) {
	tgt := provision(t, chaoslab.TargetSpec{Kind: chaoslab.TargetDemo})
	before := len(children(t))
	undo, err := tgt.Stress(context.Background(), chaoslab.Stress{Kind: chaoslab.StressCPU, Cores: 1, Percent: 100})
	if err != nil {
		t.Fatal(err)
	}
	var stressPid int
	for _, pid := range children(t) {
		if pid != tgt.PID() {
			stressPid = pid
		}
	}
	if stressPid == 0 {
		t.Fatal("no stress child process")
	}
	// The stress child's own CPU, not the host's, which a CPU-limited
	// container may not let reach any given level. It is a delta between
	// two readings: let some time pass.
	s := observe.NewSampler()
	if _, err := s.Sample(context.Background(), stressPid, ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // a measurement window, not synchronisation
	r, err := s.Sample(context.Background(), stressPid, "")
	if err != nil {
		t.Fatal(err)
	}
	// One core busy is 100%; a loaded machine gives it less, not 80% less.
	if r.ProcessCPUPercent < 20 {
		t.Errorf("CPU of the stress child keeping one core busy = %.1f%%, want at least 20%%", r.ProcessCPUPercent)
	}
	if err := undo(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := undo(context.Background()); err != nil {
		t.Errorf("second Undo: %v", err)
	}
	if after := len(children(t)); after != before {
		t.Errorf("%d child processes after Undo, %d before the stress", after, before)
	}
}

func TestMemoryStress(t *testing.T) {
	tgt := provision(t, chaoslab.TargetSpec{Kind: chaoslab.TargetDemo})
	const size = 64 << 20
	undo, err := tgt.Stress(context.Background(), chaoslab.Stress{Kind: chaoslab.StressMemory, Bytes: size})
	if err != nil {
		t.Fatal(err)
	}
	var held bool
	for _, pid := range children(t) {
		if pid == tgt.PID() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "statm"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if rss, _ := strconv.Atoi(f[1]); rss*os.Getpagesize() >= size {
			held = true
		}
	}
	if !held {
		t.Errorf("no child process holds %d resident bytes", size)
	}
	if err := undo(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(children(t)); n != 1 {
		t.Errorf("%d child processes after Undo, want only the demo", n)
	}
}

func TestDiskFill(t *testing.T) {
	tgt := provision(t, chaoslab.TargetSpec{Kind: chaoslab.TargetDemo})
	const size = 3<<20 + 5
	undo, err := tgt.Stress(context.Background(), chaoslab.Stress{Kind: chaoslab.StressDisk, Bytes: size})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(tgt.Dir(), "chaoslab-disk-fill-*"))
	if len(files) != 1 {
		t.Fatalf("disk fill files = %q, want one", files)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Size() != size {
		t.Errorf("disk fill file: %v, %v; want %d bytes", fi, err, size)
	}
	if err := undo(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := undo(context.Background()); err != nil {
		t.Errorf("second Undo: %v", err)
	}
	if _, err := os.Stat(files[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("disk fill file still there after Undo: %v", err)
	}
}

func TestFollowLogs(t *testing.T) {
	tgt := provision(t, chaoslab.TargetSpec{Kind: chaoslab.TargetDemo})
	lines := make(chan string, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tgt.FollowLogs(ctx, func(line string) {
			select {
			case lines <- line:
			default:
			}
		})
	}()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("FollowLogs returned %v, want context.Canceled", err)
		}
	}()
	waitLine := func(what string, match func(string) bool, poke func()) {
		t.Helper()
		deadline := time.After(15 * time.Second)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case l := <-lines:
				if match(l) {
					return
				}
			case <-tick.C:
				poke()
			case <-deadline:
				t.Fatalf("no log line %s", what)
			}
		}
	}

	// Requests that fail downstream are logged at level ERROR. FollowLogs
	// starts from now, so keep provoking until a line shows up.
	apply(t, tgt, DownstreamLink, chaoslab.LinkFault{Kind: "network_partition", Params: chaoslab.Params{"mode": "refuse", "toxicity": "1"}})
	waitLine("with ERROR", func(l string) bool { return strings.Contains(l, "ERROR") }, func() {
		if code, _, _ := request(t, tgt.Endpoint()+"/"); code != http.StatusBadGateway {
			t.Errorf("GET / with a failing downstream = %d, want 502", code)
		}
	})

	// Across a restart: the new process's startup line.
	if err := tgt.Signal(context.Background(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitLine("of the restarted demo", func(l string) bool { return strings.Contains(l, "demo service listening") }, func() {})
}

func TestExec(t *testing.T) {
	tgt := provision(t, chaoslab.TargetSpec{Kind: chaoslab.TargetDemo, Env: map[string]string{"CHAOSLAB_TEST_VAR": "x1"}})
	out, err := tgt.Exec(context.Background(), []string{"sh", "-c", `pwd; echo "var=$CHAOSLAB_TEST_VAR role=$` + RoleEnv + `"`})
	if err != nil {
		t.Fatalf("Exec: %v: %s", err, out)
	}
	want := tgt.Dir() + "\nvar=x1 role=\n"
	if string(out) != want {
		t.Errorf("Exec output = %q, want %q", out, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := tgt.Exec(ctx, []string{"sleep", "30"}); err == nil {
		t.Error("Exec past its deadline returned no error")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Exec took %s after its context ended", took)
	}
}

func TestAddressTarget(t *testing.T) {
	svc := httptest.NewServer(demo.Downstream{})
	defer svc.Close()
	tgt := provision(t, chaoslab.TargetSpec{
		Kind:         chaoslab.TargetAddress,
		Address:      svc.URL,
		Dependencies: []chaoslab.Dependency{{Name: "db", Upstream: "127.0.0.1:5432"}},
	})
	if code, _, _ := request(t, tgt.Endpoint()+"/"); code != 200 {
		t.Errorf("GET / = %d", code)
	}
	if got := tgt.Links(); len(got) != 1 || got[0] != IngressLink {
		t.Errorf("Links() = %q, want [ingress]", got)
	}
	ctx := context.Background()
	_, linkErr := tgt.Link("db")
	_, stressErr := tgt.Stress(ctx, chaoslab.Stress{Kind: chaoslab.StressCPU})
	_, execErr := tgt.Exec(ctx, []string{"true"})
	for name, err := range map[string]error{
		"Link(db)":   linkErr,
		"Signal":     tgt.Signal(ctx, syscall.SIGKILL),
		"Stress":     stressErr,
		"Exec":       execErr,
		"FollowLogs": tgt.FollowLogs(ctx, func(string) {}),
	} {
		if !errors.Is(err, chaoslab.ErrUnsupported) {
			t.Errorf("%s on an address target: %v, want ErrUnsupported", name, err)
		}
	}
	s, err := tgt.Sample(ctx)
	if err != nil || s.HostMemoryBytes == 0 || s.MemoryBytes != 0 {
		t.Errorf("Sample = %+v, %v; want host readings only", s, err)
	}
	undo := apply(t, tgt, IngressLink, chaoslab.LinkFault{Kind: "http_errors", Params: chaoslab.Params{"rate": "1", "status": "500"}})
	if code, _, _ := request(t, tgt.Endpoint()+"/"); code != 500 {
		t.Errorf("GET / under http_errors status 500 = %d", code)
	}
	_ = undo(ctx)
}

func TestNotReady(t *testing.T) {
	port, err := freePort(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	root := t.TempDir()
	p := New(WithDir(root))

	// Never listens.
	start := time.Now()
	_, err = p.Provision(context.Background(), chaoslab.TargetSpec{
		Kind: chaoslab.TargetCommand, Command: []string{"sleep", "30"}, Address: addr, ReadyTimeout: 500 * time.Millisecond,
	})
	if !errors.Is(err, chaoslab.ErrNotReady) {
		t.Errorf("Provision of a command that never listens: %v, want ErrNotReady", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Provision took %s with a 500ms ready timeout", took)
	}

	// Exits at once and is not restarted: fails fast.
	_, err = p.Provision(context.Background(), chaoslab.TargetSpec{
		Kind: chaoslab.TargetCommand, Command: []string{"sh", "-c", "echo bye; exit 3"}, Address: addr, Restart: chaoslab.RestartNever,
	})
	if !errors.Is(err, chaoslab.ErrNotReady) || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "bye") {
		t.Errorf("Provision of a command that exits: %v, want ErrNotReady with the exit and log", err)
	}

	// Cannot start.
	_, err = p.Provision(context.Background(), chaoslab.TargetSpec{
		Kind: chaoslab.TargetCommand, Command: []string{"/nonexistent/chaoslab-test"}, Address: addr,
	})
	if err == nil {
		t.Error("Provision of a missing command returned no error")
	}

	if pids := children(t); len(pids) != 0 {
		t.Errorf("child processes left: %v", pids)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("state left: %v", entries)
	}
}

func TestInvalidSpec(t *testing.T) {
	p := New()
	dep := func(name, env string) chaoslab.Dependency {
		return chaoslab.Dependency{Name: name, Upstream: "127.0.0.1:1", Env: env}
	}
	cmd := func(deps ...chaoslab.Dependency) chaoslab.TargetSpec {
		return chaoslab.TargetSpec{Kind: chaoslab.TargetCommand, Command: []string{"true"}, Address: "127.0.0.1:1", Dependencies: deps}
	}
	for _, c := range []struct {
		spec chaoslab.TargetSpec
		want string // in the error
	}{
		{chaoslab.TargetSpec{Kind: chaoslab.TargetCommand, Address: "127.0.0.1:1"}, "target.command"},
		{chaoslab.TargetSpec{Kind: chaoslab.TargetCommand, Command: []string{"true"}}, "target.address"},
		{chaoslab.TargetSpec{Kind: chaoslab.TargetAddress}, "target.address"},
		{chaoslab.TargetSpec{Kind: "vm"}, "target.kind"},
		{chaoslab.TargetSpec{Kind: chaoslab.TargetDemo, Dependencies: []chaoslab.Dependency{dep("downstream", "X")}}, "target.dependencies[0].name"},
		{chaoslab.TargetSpec{Kind: chaoslab.TargetDemo, Restart: "sometimes"}, "target.restart"},
		// Environment variables.
		{chaoslab.TargetSpec{Kind: chaoslab.TargetDemo, Dependencies: []chaoslab.Dependency{dep("db", RoleEnv)}}, "target.dependencies[0].env: " + RoleEnv + " is reserved"},
		{chaoslab.TargetSpec{Kind: chaoslab.TargetDemo, Dependencies: []chaoslab.Dependency{dep("db", DemoDownstreamEnv)}}, "target.dependencies[0].env"},
		{chaoslab.TargetSpec{Kind: chaoslab.TargetDemo, Env: map[string]string{RoleEnv: "cpu"}}, "target.env: " + RoleEnv},
		{cmd(dep("db", "")), "target.dependencies[0].env is required"},
		{cmd(dep("db", "A=B")), "target.dependencies[0].env"},
		{cmd(dep("db", "DB"), dep("cache", "DB")), "target.dependencies[1].env: DB is also target.dependencies[0].env"},
		{cmd(dep("db", guardEnv)), "target.dependencies[0].env"},
		{chaoslab.TargetSpec{Kind: chaoslab.TargetCommand, Command: []string{"true"}, Address: "127.0.0.1:1",
			Env: map[string]string{"DB": "x"}, Dependencies: []chaoslab.Dependency{dep("db", "DB")}}, "target.dependencies[0].env: DB is also set in target.env"},
		{chaoslab.TargetSpec{Kind: chaoslab.TargetCommand, Command: []string{"true"}, Address: "127.0.0.1:1", Env: map[string]string{"": "x"}}, "target.env"},
		// Addresses and the ready URL.
		{chaoslab.TargetSpec{Kind: chaoslab.TargetDemo, ReadyURL: "localhost:1/health"}, "target.ready_url"},
		{chaoslab.TargetSpec{Kind: chaoslab.TargetDemo, ReadyURL: "/health"}, "target.ready_url"},
		{chaoslab.TargetSpec{Kind: chaoslab.TargetDemo, Address: "https://127.0.0.1:8443"}, "target.address"},
		{chaoslab.TargetSpec{Kind: chaoslab.TargetAddress, Address: "ftp://example"}, "target.address"},
	} {
		start := time.Now()
		_, err := p.Provision(context.Background(), c.spec)
		if !errors.Is(err, chaoslab.ErrInvalid) || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("Provision(%+v): %v, want ErrInvalid naming %q", c.spec, err, c.want)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Provision(%+v) took %s to say the spec is invalid", c.spec, took)
		}
	}
}

func TestLogDir(t *testing.T) {
	logs := t.TempDir()
	tgt, err := New(WithDir(t.TempDir()), WithLogDir(logs)).Provision(context.Background(), chaoslab.TargetSpec{})
	if err != nil {
		t.Fatal(err)
	}
	path := tgt.(*Target).LogPath()
	if err := tgt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), "demo service listening") {
		t.Errorf("kept log %s: %v\n%s", path, err, b)
	}
	if filepath.Dir(path) != logs {
		t.Errorf("log at %s, want it in %s", path, logs)
	}
}

// TestRoleExitsWithParent checks the roles' own watch on their parent,
// which covers systems without a parent-death signal: a role whose parent
// (a shell here) exits must exit too.
func TestRoleExitsWithParent(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `CHAOSLAB_LOCAL_PARENT=$$ "$0" >/dev/null 2>&1 & echo $!`, exe)
	cmd.Env = append(os.Environ(), RoleEnv+"="+roleCPU, coresEnv+"=1", percentEnv+"=5")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("shell printed %q", out)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	waitFor(t, 10*time.Second, "the orphaned role exits", func() bool {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			return true // gone
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		return len(f) > 0 && f[0] == "Z" // exited, not reaped by a minimal init
	})
}
