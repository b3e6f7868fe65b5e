package e2b

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/provider/providertest"
)

// freePort returns a loopback port free at the time of the call: the
// fake's sandboxes share this machine's ports.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// upstream serves HTTP on a loopback port of this machine, which the fake's
// sandboxes reach, until the test ends.
func upstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("up\n")) })}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String()
}

func TestConformance(t *testing.T) {
	e := start(t)
	live := func(context.Context) (int, error) { return e.fake.Live(), nil }
	t.Run("demo", func(t *testing.T) {
		providertest.Run(t, providertest.Harness{
			Provider: e.p,
			Targets:  []providertest.Case{{Name: "demo", Spec: chaoslab.TargetSpec{Kind: chaoslab.TargetDemo}}},
			Live:     live,
			Timeout:  30 * time.Second,
			Parallel: 10,
		})
	})
	// The fake's sandboxes share this machine's ports: a command on a
	// fixed port runs one at a time.
	port := freePort(t)
	t.Run("command", func(t *testing.T) {
		providertest.Run(t, providertest.Harness{
			Provider: e.p,
			Targets: []providertest.Case{{Name: "command", Spec: chaoslab.TargetSpec{
				Kind:    chaoslab.TargetCommand,
				Command: []string{agentExec, "downstream", "--listen", "127.0.0.1:" + strconv.Itoa(port)},
				Address: "127.0.0.1:" + strconv.Itoa(port),
				Dependencies: []chaoslab.Dependency{
					{Name: "db", Upstream: upstream(t), Env: "DB_ADDR"},
				},
			}}},
			Live:    live,
			Timeout: 30 * time.Second,
		})
	})
}
