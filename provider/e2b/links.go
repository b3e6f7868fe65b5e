package e2b

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/internal/netfault"
)

// This file routes the target's traffic through chaoslab's fault proxy in
// the sandbox, driven through the Toxiproxy-compatible API that the agent
// serves (as `chaoslab proxy --api` does), which the sandbox host reaches.

// link is a fault proxy on one route of the target's traffic.
type link struct {
	t    *Target
	name string
	port int  // where the proxy listens in the sandbox
	http bool // the dependency speaks HTTP
	// local is the ingress's HTTP-aware proxy on this machine, where the
	// ingress's HTTP faults act; nil for the other links.
	local *netfault.Proxy
}

// streamKinds are the link faults the in-sandbox proxy takes: the stream
// scenarios that the Toxiproxy API accepts as toxic types.
var streamKinds = []string{"network_delay", "bandwidth_limit", "network_loss", "network_partition", "timeout", "limit_data", "slicer"}

// httpKinds are the link faults that need an HTTP-aware proxy.
var httpKinds = []string{"http_errors", "http_delay"}

// addLink creates a proxy named name in the sandbox, listening on a port
// the system picks, before upstream.
func (t *Target) addLink(ctx context.Context, name, upstream string, httpLink bool) (*link, error) {
	in := map[string]any{"name": name, "listen": t.listenAddr(0), "upstream": upstream, "enabled": true}
	var out struct {
		Listen string `json:"listen"`
	}
	if err := t.proxyAPI(ctx, http.MethodPost, "/proxies", in, &out); err != nil {
		return nil, fmt.Errorf("link %s: create its proxy to %s: %w", name, upstream, err)
	}
	port, err := portOf(out.Listen)
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", name, err)
	}
	l := &link{t: t, name: name, port: port, http: httpLink}
	t.links = append(t.links, l)
	return l, nil
}

// proxyAPIError is an error answer of the Toxiproxy API.
type proxyAPIError struct {
	Status  int    `json:"status"`
	Message string `json:"error"`
}

func (e *proxyAPIError) Error() string {
	return fmt.Sprintf("fault proxy API: %d: %s", e.Status, e.Message)
}

// proxyAPI calls the fault proxies' API in the sandbox.
func (t *Target) proxyAPI(ctx context.Context, method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.requestTimeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := t.sb.newRequest(ctx, t.apiPort, method, path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.sb.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e proxyAPIError
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			e.Status = resp.StatusCode
			return &e
		}
		err := answerError(resp.StatusCode, data)
		t.noteGone(err)
		return err
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Links lists "ingress" first, then the dependencies ("downstream" for the
// demo).
func (t *Target) Links() []string {
	names := []string{IngressLink}
	for _, l := range t.links {
		if l.name != IngressLink {
			names = append(names, l.name)
		}
	}
	return names
}

// Link returns the named link, or an error wrapping ErrUnsupported.
func (t *Target) Link(name string) (chaoslab.Link, error) {
	for _, l := range t.links {
		if l.name == name {
			return l, nil
		}
	}
	return nil, fmt.Errorf("e2b: no link %q (links: %s): %w", name, strings.Join(t.Links(), ", "), chaoslab.ErrUnsupported)
}

// Apply adds the fault to the link. Stream faults (network_delay,
// bandwidth_limit, network_loss, network_partition, timeout, limit_data,
// slicer) go on the link's proxy in the sandbox, as a toxic; HTTP faults
// (http_errors, http_delay) on the ingress's HTTP-aware proxy on this
// machine. An HTTP fault on another link, or an unknown kind, is an error
// wrapping ErrUnsupported; invalid parameters wrap ErrInvalid. Undo removes
// the fault without closing connections; it is idempotent.
func (l *link) Apply(ctx context.Context, lf chaoslab.LinkFault) (chaoslab.Undo, error) {
	if err := l.t.check("link " + l.name); err != nil {
		return nil, err
	}
	// Check the kind and parameters here, as the proxy would.
	f, err := netfault.FromLinkFault(lf)
	if err != nil {
		return nil, fmt.Errorf("e2b: link %s: %w", l.name, err)
	}
	if slices.Contains(httpKinds, lf.Kind) {
		if l.local == nil {
			return nil, fmt.Errorf("e2b: %s on link %s: the fault proxies in the sandbox forward TCP (the Toxiproxy API has no HTTP mode); HTTP faults act on the ingress link: %w",
				lf.Kind, l.name, chaoslab.ErrUnsupported)
		}
		remove, err := l.local.Apply(f)
		if err != nil {
			return nil, fmt.Errorf("e2b: link %s: %w", l.name, err)
		}
		var once sync.Once
		return func(context.Context) error { once.Do(remove); return nil }, nil
	}
	if !slices.Contains(streamKinds, lf.Kind) {
		return nil, fmt.Errorf("e2b: %s on link %s: not a fault the sandbox's proxy takes (%s): %w",
			lf.Kind, l.name, strings.Join(streamKinds, ", "), chaoslab.ErrUnsupported)
	}
	name := fmt.Sprintf("chaoslab-%d", l.t.seq.Add(1))
	attrs := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(lf.Params)) {
		if k != "link" {
			attrs[k] = lf.Params[k]
		}
	}
	in := map[string]any{"name": name, "type": lf.Kind, "attributes": attrs}
	path := "/proxies/" + url.PathEscape(l.name) + "/toxics"
	if err := l.t.proxyAPI(ctx, http.MethodPost, path, in, nil); err != nil {
		var pe *proxyAPIError
		if errors.As(err, &pe) && pe.Status == http.StatusBadRequest {
			err = fmt.Errorf("%w: %w", err, chaoslab.ErrInvalid)
		}
		return nil, fmt.Errorf("e2b: %s on link %s: %w", lf.Kind, l.name, err)
	}
	var once sync.Once
	var undoErr error
	return func(ctx context.Context) error {
		once.Do(func() { undoErr = l.removeToxic(ctx, path+"/"+url.PathEscape(name)) })
		return undoErr
	}, nil
}

// removeToxic removes a toxic. One that is gone, or a target that is
// closed (its sandbox with it), counts as removed.
func (l *link) removeToxic(ctx context.Context, path string) error {
	if l.t.check("") != nil {
		return nil
	}
	err := l.t.proxyAPI(ctx, http.MethodDelete, path, nil, nil)
	var pe *proxyAPIError
	if err == nil || errors.As(err, &pe) && pe.Status == http.StatusNotFound {
		return nil
	}
	if errors.Is(err, ErrSandboxNotFound) {
		return nil
	}
	return fmt.Errorf("e2b: link %s: remove a fault: %w", l.name, err)
}
