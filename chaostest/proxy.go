package chaostest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/internal/netfault"
)

// FaultProxy is a fault proxy on 127.0.0.1 in front of one dependency,
// made by Proxy and closed when the test ends.
type FaultProxy struct {
	p *netfault.Proxy
}

type proxyConfig struct {
	http bool
}

// ProxyOption configures Proxy.
type ProxyOption func(*proxyConfig)

// HTTP makes the proxy parse HTTP/1.1, so that HTTP faults (http_errors, http_delay)
// apply; the default is plain TCP.
func HTTP() ProxyOption { return func(c *proxyConfig) { c.http = true } }

// Proxy starts a fault proxy to upstream (a host:port) and closes it, with
// every connection through it, when the test ends. Point the code under test
// at Addr.
func Proxy(t testing.TB, upstream string, opts ...ProxyOption) *FaultProxy {
	t.Helper()
	var cfg proxyConfig
	for _, o := range opts {
		o(&cfg)
	}
	var nopts []netfault.Option
	if cfg.http {
		nopts = append(nopts, netfault.WithHTTP())
	}
	p := netfault.New(upstream, nopts...)
	if err := p.Start(t.Context()); err != nil {
		t.Fatalf("chaostest: fault proxy to %s: %v", upstream, err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("chaostest: closing fault proxy to %s: %v", upstream, err)
		}
	})
	return &FaultProxy{p: p}
}

// Addr is the proxy's host:port.
func (p *FaultProxy) Addr() string { return p.p.Addr() }

// Inject adds a network fault, by scenario name and key=value parameters
// (see chaoslab scenarios), and returns a function that removes it; it is
// removed when the test ends in any case. Invalid names or parameters fail
// the test.
//
//	p.Inject(t, "network_delay", "latency=200ms", "jitter=20ms")
func (p *FaultProxy) Inject(t testing.TB, scenario string, params ...string) (remove func()) {
	t.Helper()
	s, ps := lookup(t, scenario, params)
	f, err := netfault.FromLinkFault(chaoslab.LinkFault{Kind: scenario, Params: s.WithDefaults(ps)})
	if err != nil {
		t.Fatalf("chaostest: %s: %v", scenario, err)
	}
	remove, err = p.p.Apply(f)
	if err != nil {
		t.Fatalf("chaostest: %s: %v", scenario, err)
	}
	t.Cleanup(remove)
	return remove
}

// String describes the proxy.
func (p *FaultProxy) String() string {
	return fmt.Sprintf("fault proxy %s → %s", p.p.Addr(), p.p.Upstream())
}

// lookup finds a scenario and checks key=value parameters against it,
// failing the test on a bad name or value.
func lookup(t testing.TB, scenario string, params []string) (chaoslab.Scenario, chaoslab.Params) {
	t.Helper()
	s, ok := chaoslab.LookupScenario(scenario)
	if !ok {
		t.Fatalf("chaostest: unknown scenario %q", scenario)
	}
	ps := chaoslab.Params{}
	for _, kv := range params {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("chaostest: %s parameter %q: want key=value", scenario, kv)
		}
		ps[k] = v
	}
	exp := chaoslab.Experiment{Faults: []chaoslab.Fault{{Scenario: scenario, Params: ps}}}
	if err := exp.Validate(); err != nil {
		t.Fatalf("chaostest: %v", err)
	}
	return s, ps
}
