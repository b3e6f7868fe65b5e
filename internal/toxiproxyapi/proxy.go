package toxiproxyapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"

	"github.com/chaoslab-dev/chaoslab/internal/netfault"
)

// proxy is one named proxy of the API. Its methods are called with the
// server's lock held.
//
// Its engine, a netfault.Proxy, always exists and always carries the
// faults of every toxic, so that a toxic is checked against it even while
// the proxy is disabled; it listens only while the proxy is enabled. A
// netfault.Proxy cannot start again once closed, so disabling the proxy
// closes the engine and makes a fresh one, started when the proxy is
// enabled again.
type proxy struct {
	name     string
	listen   string // as given, then the address bound on start
	upstream string
	enabled  bool
	log      *slog.Logger

	nf     *netfault.Proxy
	toxics []*toxic // in the order they were added
}

// toxic is a toxic of a proxy, with its effect on the engine.
type toxic struct {
	name, typ, stream string
	toxicity          float32
	kind              toxicKind
	attrs             toxicAttrs
	seed              int64
	effect            effect
	undo              func() // takes the effect off the current engine
}

// errAlreadyStarted is returned by start on an enabled proxy.
var errAlreadyStarted = errors.New("proxy already started")

func newProxy(log *slog.Logger, name, listen, upstream string) *proxy {
	p := &proxy{name: name, listen: listen, upstream: upstream, log: log.With("proxy", name)}
	p.nf = p.engine()
	return p
}

// listenAddr is where a proxy listens: the address given, or a loopback
// port picked by the system.
func listenAddr(listen string) string {
	if listen == "" {
		return "127.0.0.1:0"
	}
	return listen
}

func (p *proxy) engine() *netfault.Proxy {
	return netfault.New(p.upstream, netfault.WithListen(listenAddr(p.listen)), netfault.WithLogger(p.log))
}

// applyAll puts the effects of every toxic afresh on the engine (which
// restarts their clocks).
func (p *proxy) applyAll() error {
	var errs []error
	for _, t := range p.toxics {
		if t.undo != nil {
			t.undo()
			t.undo = nil
		}
		undo, err := t.effect.apply(p.nf)
		if err != nil {
			// Not reached: the engine accepted the same effect before.
			errs = append(errs, fmt.Errorf("toxic %s: %w", t.name, err))
			continue
		}
		t.undo = undo
	}
	return errors.Join(errs...)
}

// start makes the proxy listen and forward.
func (p *proxy) start(ctx context.Context) error {
	if p.enabled {
		return errAlreadyStarted
	}
	if err := p.applyAll(); err != nil {
		return err
	}
	if err := p.nf.Start(ctx); err != nil {
		return fmt.Errorf("proxy %s: %w", p.name, err)
	}
	p.listen, p.enabled = p.nf.Addr(), true
	p.log.Info("toxiproxyapi: proxy enabled", "listen", p.listen, "upstream", p.upstream)
	return nil
}

// rebuild closes the engine, with its listener and connections, and makes
// a fresh one that carries every toxic, for the current listen address and
// upstream.
func (p *proxy) rebuild() error {
	err := p.closeEngine()
	p.nf = p.engine()
	return errors.Join(err, p.applyAll())
}

// stop closes the listener and every connection; the proxy keeps its
// address and toxics.
func (p *proxy) stop() error {
	if !p.enabled {
		return nil
	}
	p.enabled = false
	err := p.rebuild()
	p.log.Info("toxiproxyapi: proxy disabled", "listen", p.listen)
	return err
}

// close ends the proxy for good.
func (p *proxy) close() error {
	p.enabled = false
	return p.closeEngine()
}

func (p *proxy) closeEngine() error {
	for _, t := range p.toxics {
		if t.undo != nil {
			t.undo()
			t.undo = nil
		}
	}
	return p.nf.Close()
}

// findToxic returns the named toxic and its index, or -1.
func (p *proxy) findToxic(name string) (*toxic, int) {
	i := slices.IndexFunc(p.toxics, func(t *toxic) bool { return t.name == name })
	if i < 0 {
		return nil, -1
	}
	return p.toxics[i], i
}

// build returns the effect of a toxic's values, checked against the
// engine: it applies the effect, and the caller keeps or undoes it.
func (p *proxy) build(typ string, attrs toxicAttrs, stream string, toxicity float32, seed int64) (effect, func(), error) {
	if toxicity < 0 || toxicity > 1 {
		return nil, nil, badRequest("toxicity %g must be from 0 to 1", toxicity)
	}
	dir, err := netfault.ParseDirection(stream)
	if err != nil {
		return nil, nil, badRequest("stream: %v", err)
	}
	e, err := attrs.effect(toxicCommon{typ: typ, dir: dir, toxicity: exact(toxicity), seed: seed})
	if err != nil {
		return nil, nil, err
	}
	undo, err := e.apply(p.nf)
	if err != nil {
		return nil, nil, faultError(err)
	}
	return e, undo, nil
}

// exact returns the float64 whose shortest decimal is that of f (so 0.3 is
// 0.3, not 0.30000001192092896).
func exact(f float32) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	return v
}

// removeToxics takes every toxic off.
func (p *proxy) removeToxics() {
	for _, t := range p.toxics {
		if t.undo != nil {
			t.undo()
		}
	}
	p.toxics = nil
	p.log.Info("toxiproxyapi: toxics reset")
}

// proxyJSON is a proxy as the API shows it.
type proxyJSON struct {
	Name     string      `json:"name"`
	Listen   string      `json:"listen"`
	Upstream string      `json:"upstream"`
	Enabled  bool        `json:"enabled"`
	Toxics   []toxicJSON `json:"toxics"`
}

// toxicJSON is a toxic as the API shows it.
type toxicJSON struct {
	Attributes toxicAttrs `json:"attributes"`
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	Stream     string     `json:"stream"`
	Toxicity   float32    `json:"toxicity"`
}

func (p *proxy) json() proxyJSON {
	return proxyJSON{Name: p.name, Listen: p.listen, Upstream: p.upstream, Enabled: p.enabled, Toxics: p.toxicsJSON()}
}

// toxicsJSON lists the toxics as Toxiproxy does: upstream ones first, then
// downstream ones (then, for chaoslab's types, those acting both ways),
// each in the order they were added.
func (p *proxy) toxicsJSON() []toxicJSON {
	out := make([]toxicJSON, 0, len(p.toxics))
	for _, stream := range []string{streamUpstream, streamDownstream, streamBoth} {
		for _, t := range p.toxics {
			if t.stream == stream {
				out = append(out, t.json())
			}
		}
	}
	return out
}

func (t *toxic) json() toxicJSON {
	return toxicJSON{Attributes: t.attrs, Name: t.name, Type: t.typ, Stream: t.stream, Toxicity: t.toxicity}
}
