package providertest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/provider/providertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serverProvider is the least a provider can be: each target is an
// in-process HTTP server with no optional capability.
type serverProvider struct {
	live atomic.Int64
	next atomic.Int64
}

func (*serverProvider) Name() string { return "servers" }

func (p *serverProvider) Provision(ctx context.Context, spec chaoslab.TargetSpec) (chaoslab.Target, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("servers: %w", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	p.live.Add(1)
	return &serverTarget{p: p, srv: srv, id: fmt.Sprint("server-", p.next.Add(1))}, nil
}

type serverTarget struct {
	p    *serverProvider
	srv  *httptest.Server
	id   string
	once sync.Once
}

func (t *serverTarget) ID() string       { return t.id }
func (t *serverTarget) Endpoint() string { return t.srv.URL }
func (t *serverTarget) Close(context.Context) error {
	t.once.Do(func() {
		t.srv.Close()
		t.p.live.Add(-1)
	})
	return nil
}

// TestMinimalProvider runs the suite on a provider whose targets have no
// optional capability: everything beyond the core contract is skipped.
func TestMinimalProvider(t *testing.T) {
	p := &serverProvider{}
	providertest.Run(t, providertest.Harness{
		Provider: p,
		Targets:  []providertest.Case{{Name: "server", Spec: chaoslab.TargetSpec{Kind: chaoslab.TargetAddress, Address: "127.0.0.1:1"}}},
		Live:     func(context.Context) (int, error) { return int(p.live.Load()), nil },
	})
}
