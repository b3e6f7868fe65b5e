package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"github.com/chaoslab-dev/chaoslab/internal/netfault"
)

// proxyUnderTest is one fault proxy forwarding a loopback listener to one
// upstream. Close ends it; it is called once.
type proxyUnderTest interface {
	// Addr is the address clients dial.
	Addr() string
	// AddLatency delays the downstream direction (server to client) by d.
	// The fault is never removed: Toxiproxy v2.12.0's RemoveToxic was seen
	// to hang once the connections that used the toxic had closed, so every
	// latency measurement uses a freshly started proxy instead.
	AddLatency(d time.Duration) error
	Close() error
}

// Names of the implementations, as printed.
const (
	implChaoslab  = "chaoslab"
	implToxiproxy = "toxiproxy"
)

var impls = []string{implChaoslab, implToxiproxy}

// startProxy starts the implementation impl in this process, forwarding to
// upstream.
func startProxy(ctx context.Context, impl, upstream string) (proxyUnderTest, error) {
	switch impl {
	case implChaoslab:
		p := netfault.New(upstream)
		if err := p.Start(ctx); err != nil {
			return nil, fmt.Errorf("start chaoslab proxy: %w", err)
		}
		return chaoslabProxy{p}, nil
	case implToxiproxy:
		srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
		p := toxiproxy.NewProxy(srv, "bench", "127.0.0.1:0", upstream)
		if err := p.Start(); err != nil {
			return nil, fmt.Errorf("start toxiproxy proxy: %w", err)
		}
		return toxiProxy{p}, nil
	}
	return nil, fmt.Errorf("unknown proxy implementation %q", impl)
}

type chaoslabProxy struct{ p *netfault.Proxy }

func (c chaoslabProxy) Addr() string { return c.p.Addr() }
func (c chaoslabProxy) Close() error { return c.p.Close() }

func (c chaoslabProxy) AddLatency(d time.Duration) error {
	_, err := c.p.Apply(netfault.Latency{Latency: d, Direction: netfault.Downstream})
	return err
}

type toxiProxy struct{ p *toxiproxy.Proxy }

func (t toxiProxy) Addr() string { return t.p.Listen }
func (t toxiProxy) Close() error { t.p.Stop(); return nil }

func (t toxiProxy) AddLatency(d time.Duration) error {
	body := fmt.Sprintf(`{"name":"bench_latency","type":"latency","stream":"downstream","toxicity":1,"attributes":{"latency":%d}}`,
		d.Milliseconds())
	if _, err := t.p.Toxics.AddToxicJson(strings.NewReader(body)); err != nil {
		return fmt.Errorf("add toxiproxy latency: %w", err)
	}
	return nil
}
