package toxiproxyapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
)

// proxyInput is the body of a request that creates or updates a proxy.
type proxyInput struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
	Enabled  *bool  `json:"enabled"` // true when left out of a new proxy
}

// toxicInput is the body of a request that creates or updates a toxic.
type toxicInput struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Stream     string          `json:"stream"`
	Toxicity   *float32        `json:"toxicity"` // 1 when left out of a new toxic
	Attributes json.RawMessage `json:"attributes"`
}

// GET /proxies: every proxy by name, with its toxics.
func (s *Server) proxyIndex(_ *http.Request) (int, any, error) {
	if err := s.lock(); err != nil {
		return 0, nil, err
	}
	out := make(map[string]proxyJSON, len(s.proxies))
	for name, p := range s.proxies {
		out[name] = p.json()
	}
	s.mu.Unlock()
	return http.StatusOK, out, nil
}

// POST /proxies: create a proxy, started unless enabled is false; 201.
func (s *Server) proxyCreate(r *http.Request) (int, any, error) {
	body, err := readBody(r)
	if err != nil {
		return 0, nil, err
	}
	var in proxyInput
	if err := decode(body, &in); err != nil {
		return 0, nil, err
	}
	switch {
	case in.Name == "":
		return 0, nil, missingField("name")
	case in.Upstream == "":
		return 0, nil, missingField("upstream")
	}
	if err := s.lock(); err != nil {
		return 0, nil, err
	}
	defer s.mu.Unlock()
	if _, ok := s.proxies[in.Name]; ok {
		return 0, nil, errProxyExists
	}
	p := newProxy(s.cfg.log, in.Name, in.Listen, in.Upstream)
	if in.Enabled == nil || *in.Enabled {
		if err := p.start(r.Context()); err != nil {
			_ = p.close()
			return 0, nil, err
		}
	}
	s.proxies[in.Name] = p
	s.cfg.log.Info("toxiproxyapi: proxy created", "proxy", p.name, "listen", p.listen, "upstream", p.upstream, "enabled", p.enabled)
	return http.StatusCreated, p.json(), nil
}

// POST /populate: create or replace a list of proxies; 201 with them, or
// the error that stopped the list with the proxies made before it.
func (s *Server) populate(r *http.Request) (int, any, error) {
	var (
		out  = []proxyJSON{}
		perr *apiError
	)
	err := s.populateList(r, &out)
	if err != nil && !errors.As(err, &perr) {
		s.cfg.log.Warn("toxiproxyapi: populate failed", "err", err)
		perr = &apiError{Message: err.Error(), Status: http.StatusInternalServerError}
	}
	if perr == nil {
		return http.StatusCreated, map[string]any{"proxies": out}, nil
	}
	return perr.Status, map[string]any{"error": perr.Message, "status": perr.Status, "proxies": out}, nil
}

func (s *Server) populateList(r *http.Request, out *[]proxyJSON) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var in []proxyInput
	if err := json.Unmarshal(body, &in); err != nil {
		return badBody(err)
	}
	for i, pi := range in {
		switch {
		case pi.Name == "":
			return missingField(fmt.Sprintf("name at proxy %d", i+1))
		case pi.Upstream == "":
			return missingField(fmt.Sprintf("upstream at proxy %d", i+1))
		}
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, pi := range in {
		p, err := s.addOrReplace(r, pi)
		if err != nil {
			return err
		}
		*out = append(*out, p.json())
	}
	return nil
}

// addOrReplace keeps an existing proxy of the same name, listen address and
// upstream as it is, toxics and all; it replaces one that differs.
func (s *Server) addOrReplace(r *http.Request, in proxyInput) (*proxy, error) {
	old, exists := s.proxies[in.Name]
	if exists {
		differs, err := old.differs(in)
		if err != nil {
			return nil, err
		}
		if !differs {
			return old, nil
		}
		if err := old.stop(); err != nil {
			s.cfg.log.Warn("toxiproxyapi: stop replaced proxy", "proxy", old.name, "err", err)
		}
	}
	p := newProxy(s.cfg.log, in.Name, in.Listen, in.Upstream)
	if in.Enabled == nil || *in.Enabled {
		if err := p.start(r.Context()); err != nil {
			_ = p.close()
			return nil, err
		}
	}
	if exists {
		if err := old.close(); err != nil {
			s.cfg.log.Warn("toxiproxyapi: close replaced proxy", "proxy", old.name, "err", err)
		}
	}
	s.proxies[in.Name] = p
	s.cfg.log.Info("toxiproxyapi: proxy populated", "proxy", p.name, "listen", p.listen, "upstream", p.upstream, "enabled", p.enabled)
	return p, nil
}

// differs reports whether in names another listen address or upstream,
// comparing the listen address once resolved, as Toxiproxy does.
func (p *proxy) differs(in proxyInput) (bool, error) {
	a, err := net.ResolveTCPAddr("tcp", listenAddr(in.Listen))
	if err != nil {
		return false, badRequest("listen %q: %v", in.Listen, err)
	}
	return a.String() != p.listen || in.Upstream != p.upstream, nil
}

// GET /proxies/{proxy}.
func (s *Server) proxyShow(r *http.Request) (int, any, error) {
	if err := s.lock(); err != nil {
		return 0, nil, err
	}
	p, err := s.get(r.PathValue("proxy"))
	if err != nil {
		s.mu.Unlock()
		return 0, nil, err
	}
	out := p.json()
	s.mu.Unlock()
	return http.StatusOK, out, nil
}

// POST or PATCH /proxies/{proxy}: change listen, upstream or enabled.
// Another listen address or upstream restarts the proxy, closing its
// connections; enabled false closes its listener and connections.
func (s *Server) proxyUpdate(r *http.Request) (int, any, error) {
	body, err := readBody(r)
	if err != nil {
		return 0, nil, err
	}
	if err := s.lock(); err != nil {
		return 0, nil, err
	}
	defer s.mu.Unlock()
	p, err := s.get(r.PathValue("proxy"))
	if err != nil {
		return 0, nil, err
	}
	enabled := p.enabled
	in := proxyInput{Listen: p.listen, Upstream: p.upstream, Enabled: &enabled}
	if err := decode(body, &in); err != nil {
		return 0, nil, err
	}
	if in.Enabled == nil { // "enabled": null
		in.Enabled = &enabled
	}
	if in.Upstream == "" {
		return 0, nil, missingField("upstream")
	}
	differs, err := p.differs(in)
	if err != nil {
		return 0, nil, err
	}
	if differs {
		wasEnabled := p.enabled
		if err := p.stop(); err != nil {
			s.cfg.log.Warn("toxiproxyapi: stop proxy", "proxy", p.name, "err", err)
		}
		p.listen, p.upstream = in.Listen, in.Upstream
		if err := p.rebuild(); err != nil {
			s.cfg.log.Warn("toxiproxyapi: rebuild proxy", "proxy", p.name, "err", err)
		}
		s.cfg.log.Info("toxiproxyapi: proxy changed", "proxy", p.name, "listen", p.listen, "upstream", p.upstream, "was_enabled", wasEnabled)
	}
	if *in.Enabled != p.enabled {
		if *in.Enabled {
			err = p.start(r.Context())
		} else {
			err = p.stop()
		}
		if err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, p.json(), nil
}

// DELETE /proxies/{proxy}: close it and its connections; 204.
func (s *Server) proxyDelete(r *http.Request) (int, any, error) {
	if err := s.lock(); err != nil {
		return 0, nil, err
	}
	defer s.mu.Unlock()
	p, err := s.get(r.PathValue("proxy"))
	if err != nil {
		return 0, nil, err
	}
	delete(s.proxies, p.name)
	if err := p.close(); err != nil {
		s.cfg.log.Warn("toxiproxyapi: close deleted proxy", "proxy", p.name, "err", err)
	}
	s.cfg.log.Info("toxiproxyapi: proxy deleted", "proxy", p.name)
	return http.StatusNoContent, nil, nil
}

// POST /reset: enable every proxy and remove every toxic; 204.
func (s *Server) reset(r *http.Request) (int, any, error) {
	if err := s.lock(); err != nil {
		return 0, nil, err
	}
	defer s.mu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(s.proxies)) {
		p := s.proxies[name]
		if err := p.start(r.Context()); err != nil && !errors.Is(err, errAlreadyStarted) {
			return 0, nil, err
		}
		p.removeToxics()
	}
	return http.StatusNoContent, nil, nil
}

// GET /proxies/{proxy}/toxics.
func (s *Server) toxicIndex(r *http.Request) (int, any, error) {
	if err := s.lock(); err != nil {
		return 0, nil, err
	}
	p, err := s.get(r.PathValue("proxy"))
	if err != nil {
		s.mu.Unlock()
		return 0, nil, err
	}
	out := p.toxicsJSON()
	s.mu.Unlock()
	return http.StatusOK, out, nil
}

// POST /proxies/{proxy}/toxics: add a toxic; 200 with it, as Toxiproxy
// answers.
func (s *Server) toxicCreate(r *http.Request) (int, any, error) {
	body, err := readBody(r)
	if err != nil {
		return 0, nil, err
	}
	if err := s.lock(); err != nil {
		return 0, nil, err
	}
	defer s.mu.Unlock()
	p, err := s.get(r.PathValue("proxy"))
	if err != nil {
		return 0, nil, err
	}
	var in toxicInput
	if err := decode(body, &in); err != nil {
		return 0, nil, err
	}
	k, ok := lookupKind(in.Type, in.Attributes)
	if !ok {
		if why, known := unsupportedKinds[in.Type]; known {
			return 0, nil, badRequest("unsupported toxic type %q: %s", in.Type, why)
		}
		return 0, nil, badRequest("invalid toxic type %q; valid types: %s", in.Type, strings.Join(validTypes(), ", "))
	}
	attrs, err := k.decode(nil, in.Attributes)
	if err != nil {
		return 0, nil, err
	}
	stream, err := streamOf(k, in.Stream, attrs)
	if err != nil {
		return 0, nil, err
	}
	if in.Name == "" {
		in.Name = in.Type + "_" + stream
	}
	if t, _ := p.findToxic(in.Name); t != nil {
		return 0, nil, errToxicExists
	}
	toxicity := float32(1)
	if in.Toxicity != nil {
		toxicity = *in.Toxicity
	}
	seed := s.cfg.seed + s.toxics
	e, undo, err := p.build(in.Type, attrs, stream, toxicity, seed)
	if err != nil {
		return 0, nil, err
	}
	s.toxics++
	t := &toxic{name: in.Name, typ: in.Type, stream: stream, toxicity: toxicity, kind: k, attrs: attrs, seed: seed, effect: e, undo: undo}
	p.toxics = append(p.toxics, t)
	p.log.Info("toxiproxyapi: toxic added", "toxic", t.name, "type", t.typ, "stream", t.stream, "toxicity", t.toxicity)
	return http.StatusOK, t.json(), nil
}

// validTypes lists the toxic types the API accepts.
func validTypes() []string {
	names := slices.Collect(maps.Keys(toxiproxyKinds))
	for name := range scenarioKinds() {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// GET /proxies/{proxy}/toxics/{toxic}.
func (s *Server) toxicShow(r *http.Request) (int, any, error) {
	if err := s.lock(); err != nil {
		return 0, nil, err
	}
	p, err := s.get(r.PathValue("proxy"))
	if err != nil {
		s.mu.Unlock()
		return 0, nil, err
	}
	t, _ := p.findToxic(r.PathValue("toxic"))
	if t == nil {
		s.mu.Unlock()
		return 0, nil, errToxicNotFound
	}
	out := t.json()
	s.mu.Unlock()
	return http.StatusOK, out, nil
}

// POST or PATCH /proxies/{proxy}/toxics/{toxic}: change a toxic's
// attributes (those left out keep their values) or toxicity. The new
// effect is applied before the old one is removed, and no connection is
// closed by the change itself.
func (s *Server) toxicUpdate(r *http.Request) (int, any, error) {
	body, err := readBody(r)
	if err != nil {
		return 0, nil, err
	}
	if err := s.lock(); err != nil {
		return 0, nil, err
	}
	defer s.mu.Unlock()
	p, err := s.get(r.PathValue("proxy"))
	if err != nil {
		return 0, nil, err
	}
	t, _ := p.findToxic(r.PathValue("toxic"))
	if t == nil {
		return 0, nil, errToxicNotFound
	}
	var in toxicInput
	if err := decode(body, &in); err != nil {
		return 0, nil, err
	}
	attrs, err := t.kind.decode(t.attrs, in.Attributes)
	if err != nil {
		return 0, nil, err
	}
	stream := t.stream
	if t.kind.scenario != nil {
		if stream, err = streamOf(t.kind, t.stream, attrs); err != nil {
			return 0, nil, err
		}
	}
	toxicity := t.toxicity
	if in.Toxicity != nil {
		toxicity = *in.Toxicity
	}
	e, undo, err := p.build(t.typ, attrs, stream, toxicity, t.seed)
	if err != nil {
		return 0, nil, err
	}
	if t.undo != nil {
		t.undo()
	}
	t.attrs, t.stream, t.toxicity, t.effect, t.undo = attrs, stream, toxicity, e, undo
	p.log.Info("toxiproxyapi: toxic updated", "toxic", t.name, "type", t.typ, "stream", t.stream, "toxicity", t.toxicity)
	return http.StatusOK, t.json(), nil
}

// DELETE /proxies/{proxy}/toxics/{toxic}: 204.
func (s *Server) toxicDelete(r *http.Request) (int, any, error) {
	if err := s.lock(); err != nil {
		return 0, nil, err
	}
	defer s.mu.Unlock()
	p, err := s.get(r.PathValue("proxy"))
	if err != nil {
		return 0, nil, err
	}
	t, i := p.findToxic(r.PathValue("toxic"))
	if t == nil {
		return 0, nil, errToxicNotFound
	}
	if t.undo != nil {
		t.undo()
	}
	p.toxics = slices.Delete(p.toxics, i, i+1)
	p.log.Info("toxiproxyapi: toxic removed", "toxic", t.name)
	return http.StatusNoContent, nil, nil
}
