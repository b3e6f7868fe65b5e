//go:build unix

package agent

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serveMain runs Main with args until the test ends and returns the first
// line it prints.
func serveMain(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, args, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("%v: no line: %v (exit %d)", args, err, <-done)
	}
	t.Cleanup(func() {
		cancel()
		go io.Copy(io.Discard, pr)
		if code := <-done; code != 0 {
			t.Errorf("%v exited %d", args, code)
		}
	})
	return strings.TrimSpace(line)
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDemoAndDownstream(t *testing.T) {
	ds := serveMain(t, "downstream", "--listen", "127.0.0.1:0")
	if !strings.HasPrefix(ds, ListeningPrefix) {
		t.Fatalf("downstream said %q", ds)
	}
	line := serveMain(t, "demo", "--listen", "127.0.0.1:0", "--downstream", strings.TrimPrefix(ds, ListeningPrefix))
	addr := strings.TrimPrefix(line, ListeningPrefix)
	if code, body := get(t, "http://"+addr+"/"); code != 200 || !strings.Contains(body, `"ok":true`) {
		t.Errorf("demo: %d %s", code, body)
	}
}

func TestProxyAPI(t *testing.T) {
	addr := strings.TrimPrefix(serveMain(t, "proxy", "--api", "127.0.0.1:0"), ListeningPrefix)
	if code, body := get(t, "http://"+addr+"/version"); code != 200 || !strings.Contains(body, "chaoslab") {
		t.Errorf("GET /version: %d %s", code, body)
	}
}

func TestPressure(t *testing.T) {
	if line := serveMain(t, "cpu", "--cores", "1", "--percent", "10"); line != ReadyLine {
		t.Errorf("cpu said %q", line)
	}
	if line := serveMain(t, "memory", "--bytes", "1048576"); line != ReadyLine {
		t.Errorf("memory said %q", line)
	}
	path := filepath.Join(t.TempDir(), "fill")
	var out strings.Builder
	if code := Main(context.Background(), []string{"fill", "--path", path, "--bytes", "3000000"}, &out, io.Discard); code != 0 {
		t.Fatalf("fill exited %d", code)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 3000000 || out.String() != "wrote 3000000 bytes\n" {
		t.Errorf("fill: %v, %v, %q", fi, err, out.String())
	}
}

func TestSignal(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	pid := cmd.Process.Pid
	if code := Main(context.Background(), []string{"signal", "--pid", strconv.Itoa(pid), "--signal", "STOP"}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("signal STOP exited %d", code)
	}
	if stopped, known := processStopped(pid); known && !stopped {
		t.Error("the process is not stopped after signal STOP returned")
	}
	if code := Main(context.Background(), []string{"signal", "--pid", strconv.Itoa(pid), "--signal", "SIGCONT"}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("signal CONT exited %d", code)
	}
	if code := Main(context.Background(), []string{"signal", "--pid", strconv.Itoa(pid), "--signal", "9"}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("signal 9 exited %d", code)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("after signal 9: %v", err)
	}
}

func TestUsage(t *testing.T) {
	var out strings.Builder
	if code := Main(context.Background(), []string{"version"}, &out, io.Discard); code != 0 || strings.TrimSpace(out.String()) != Version {
		t.Errorf("version: %d %q", code, out.String())
	}
	for _, args := range [][]string{nil, {"nope"}, {"demo", "--listen", "127.0.0.1:0"}, {"signal", "--pid", "1", "--signal", "BOGUS"}, {"version", "extra"}} {
		if code := Main(context.Background(), args, io.Discard, io.Discard); code == 0 {
			t.Errorf("%q exited 0", args)
		}
	}
	if _, err := ParseSignal("usr1"); err != nil {
		t.Error(err)
	}
}
