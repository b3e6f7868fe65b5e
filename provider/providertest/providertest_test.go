package providertest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
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

// fleetProvider's targets are fleets in memory with no endpoint: a
// controller replaces a terminated instance on the next look.
type fleetProvider struct{ next atomic.Int64 }

func (*fleetProvider) Name() string { return "fleets" }

func (p *fleetProvider) Provision(ctx context.Context, spec chaoslab.TargetSpec) (chaoslab.Target, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fleets: %w", err)
	}
	f := &fleetTarget{id: fmt.Sprint("fleet-", p.next.Add(1)), desired: 3}
	f.reconcile()
	return f, nil
}

type fleetTarget struct {
	id      string
	mu      sync.Mutex
	desired int
	members []chaoslab.Instance
	seq     int
	kills   int
}

func (f *fleetTarget) ID() string                  { return f.id }
func (f *fleetTarget) Endpoint() string            { return "" }
func (f *fleetTarget) Close(context.Context) error { return nil }

// reconcile launches instances up to the desired capacity; f.mu held or
// not yet shared.
func (f *fleetTarget) reconcile() {
	for len(f.members) < f.desired {
		f.seq++
		f.members = append(f.members, chaoslab.Instance{ID: fmt.Sprintf("i-%d", f.seq), Zone: "z", State: "InService", Healthy: true})
	}
}

func (f *fleetTarget) Instances(context.Context) ([]chaoslab.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconcile()
	return append([]chaoslab.Instance(nil), f.members...), nil
}

func (f *fleetTarget) Terminate(_ context.Context, ids []string, decrement bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		if !slices.ContainsFunc(f.members, func(in chaoslab.Instance) bool { return in.ID == id }) {
			return fmt.Errorf("no instance %s", id)
		}
	}
	for _, id := range ids {
		f.members = slices.DeleteFunc(f.members, func(in chaoslab.Instance) bool { return in.ID == id })
		f.kills++
		if decrement {
			f.desired--
		}
	}
	return nil
}

func (f *fleetTarget) Sample(context.Context) (chaoslab.Sample, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconcile()
	return chaoslab.Sample{DesiredCapacity: f.desired, HealthyCapacity: len(f.members)}, nil
}

// TestFleetProvider runs the suite, disruptive checks included, on fleets
// without an endpoint.
func TestFleetProvider(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		Provider:   &fleetProvider{},
		Targets:    []providertest.Case{{Name: "fleet", Spec: chaoslab.TargetSpec{Kind: "fleet"}, NoEndpoint: true}},
		Disruptive: true,
	})
}
