package e2b

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// This file is a client of E2B's control plane, written from spec/openapi.yml
// of e2b-dev/E2B: the sandbox operations chaoslab needs.

// userAgent identifies chaoslab's requests.
const userAgent = "chaoslab-e2b/1"

// apiClient calls the control plane.
type apiClient struct {
	base    string
	key     string
	hc      *http.Client
	timeout time.Duration // per request
	log     *slog.Logger
}

func (p *Provider) api() *apiClient {
	return &apiClient{base: p.cfg.apiURL, key: p.cfg.apiKey, hc: p.cfg.client, timeout: p.cfg.requestTimeout, log: p.cfg.logger}
}

// newSandbox is the spec's NewSandbox, with the fields chaoslab sets.
// Timeout is always sent: without it E2B gives a sandbox 15 seconds.
type newSandbox struct {
	TemplateID string            `json:"templateID"`
	Timeout    int32             `json:"timeout"`
	Secure     bool              `json:"secure"`
	Metadata   map[string]string `json:"metadata,omitempty"`
}

// sandboxInfo is the spec's Sandbox, as answered to a creation.
type sandboxInfo struct {
	TemplateID         string  `json:"templateID"`
	SandboxID          string  `json:"sandboxID"`
	ClientID           string  `json:"clientID"`
	EnvdVersion        string  `json:"envdVersion"`
	EnvdAccessToken    string  `json:"envdAccessToken"`
	TrafficAccessToken *string `json:"trafficAccessToken"`
	Domain             *string `json:"domain"`
}

// listedSandbox is the spec's ListedSandbox.
type listedSandbox struct {
	TemplateID string            `json:"templateID"`
	Alias      string            `json:"alias"`
	SandboxID  string            `json:"sandboxID"`
	StartedAt  time.Time         `json:"startedAt"`
	EndAt      time.Time         `json:"endAt"`
	Metadata   map[string]string `json:"metadata"`
	State      string            `json:"state"`
}

// apiErrorBody is the spec's Error.
type apiErrorBody struct {
	Code      int    `json:"code"`
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}

// do sends one request and decodes a 2xx answer into out (unless nil). An
// error answer is an *APIError. The answer's headers come back with either.
func (c *apiClient) do(ctx context.Context, method, path string, query url.Values, in, out any) (http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-API-Key", c.key)
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("read the answer to %s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &APIError{Status: resp.StatusCode}
		var b apiErrorBody
		if json.Unmarshal(data, &b) == nil && b.Message != "" {
			e.Code, e.Message = b.ErrorCode, b.Message
		} else {
			e.Message = strings.TrimSpace(string(data))
		}
		return resp.Header, e
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.Header, fmt.Errorf("decode the answer to %s %s: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

// retryAfter reads a Retry-After header in seconds (or an HTTP date).
func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// seconds rounds d up to whole seconds, at least 1, as the spec's int32.
func seconds(d time.Duration) int32 {
	s := math.Ceil(d.Seconds())
	return int32(min(max(s, 1), math.MaxInt32))
}

// errUncertain marks a creation whose outcome is not known: the request may
// have made a sandbox whose answer was lost.
var errUncertain = errors.New("the outcome of the creation is unknown")

// create makes a sandbox. It tries again after 429 and 503 (the sandbox was
// not made), up to attempts times, waiting backoff and then twice as long
// each time, or what Retry-After says. A transport error or ctx ending
// while a request is under way makes an error that wraps errUncertain.
func (c *apiClient) create(ctx context.Context, req newSandbox, attempts int, backoff time.Duration) (sandboxInfo, error) {
	var last error
	for i := range attempts {
		var sb sandboxInfo
		hdr, err := c.do(ctx, http.MethodPost, "/sandboxes", nil, req, &sb)
		if err == nil {
			if sb.SandboxID == "" {
				return sb, fmt.Errorf("create sandbox: the answer names no sandboxID: %w", errUncertain)
			}
			return sb, nil
		}
		var ae *APIError
		if !errors.As(err, &ae) {
			return sb, fmt.Errorf("create sandbox: %w (%w)", err, errUncertain)
		}
		if ae.Status != http.StatusTooManyRequests && ae.Status != http.StatusServiceUnavailable {
			return sb, fmt.Errorf("create sandbox from template %q: %w", req.TemplateID, err)
		}
		last = err
		if i == attempts-1 {
			break
		}
		wait := backoff << i
		if ra := retryAfter(hdr.Get("Retry-After")); ra > 0 {
			wait = ra
		}
		wait = min(wait, time.Minute)
		c.log.Info("e2b: sandbox creation refused, trying again", "status", ae.Status, "wait", wait, "attempt", i+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return sandboxInfo{}, fmt.Errorf("create sandbox: %w (last answer: %w)", ctx.Err(), last)
		case <-t.C:
		}
	}
	return sandboxInfo{}, fmt.Errorf("create sandbox: %d tries: %w", attempts, last)
}

// kill kills a sandbox. One that is already gone (404) counts as killed.
func (c *apiClient) kill(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/sandboxes/"+url.PathEscape(id), nil, nil, nil)
	if err != nil && !errors.Is(err, ErrSandboxNotFound) {
		return fmt.Errorf("kill sandbox %s: %w", id, err)
	}
	return nil
}

// setTimeout makes the sandbox expire d from now.
func (c *apiClient) setTimeout(ctx context.Context, id string, d time.Duration) error {
	in := struct {
		Timeout int32 `json:"timeout"`
	}{seconds(d)}
	if _, err := c.do(ctx, http.MethodPost, "/sandboxes/"+url.PathEscape(id)+"/timeout", nil, in, nil); err != nil {
		return fmt.Errorf("set the timeout of sandbox %s: %w", id, err)
	}
	return nil
}

// list lists the running and paused sandboxes whose metadata has every
// key and value of md, following the pages.
func (c *apiClient) list(ctx context.Context, md map[string]string) ([]listedSandbox, error) {
	filter := url.Values{}
	for k, v := range md {
		filter.Set(k, v)
	}
	var all []listedSandbox
	next := ""
	for {
		q := url.Values{"state": {"running,paused"}, "limit": {"100"}}
		if len(filter) > 0 {
			q.Set("metadata", filter.Encode())
		}
		if next != "" {
			q.Set("nextToken", next)
		}
		var page []listedSandbox
		hdr, err := c.do(ctx, http.MethodGet, "/v2/sandboxes", q, nil, &page)
		if err != nil {
			return nil, fmt.Errorf("list sandboxes: %w", err)
		}
		all = append(all, page...)
		next = hdr.Get("X-Next-Token")
		if next == "" || len(page) == 0 {
			return all, nil
		}
	}
}
