package e2b

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// TestEnvironment: the provider reads the variables the SDKs read, and
// options win over them.
func TestEnvironment(t *testing.T) {
	t.Setenv(EnvAPIKey, "e2b_key")
	t.Setenv(EnvDomain, "example.test")
	t.Setenv(EnvAPIURL, "")
	t.Setenv(EnvSandboxURL, "")
	p := New()
	if p.cfg.apiKey != "e2b_key" || p.cfg.apiURL != "https://api.example.test" || p.cfg.sandboxURL != "" {
		t.Errorf("from the environment: %+v", p.cfg)
	}
	sb := &sandboxConn{id: "sbx", domain: p.cfg.domain}
	if u := sb.portURL(EnvdPort); u != "https://49983-sbx.example.test" {
		t.Errorf("envd URL %s", u)
	}
	t.Setenv(EnvAPIURL, "http://127.0.0.1:1/")
	t.Setenv(EnvSandboxURL, "http://127.0.0.1:2")
	p = New(WithAPIKey("other"))
	if p.cfg.apiKey != "other" || p.cfg.apiURL != "http://127.0.0.1:1" || p.cfg.sandboxURL != "http://127.0.0.1:2" {
		t.Errorf("options and URLs: %+v", p.cfg)
	}
	sb = &sandboxConn{id: "sbx", shared: p.cfg.sandboxURL, token: "tok"}
	req, _ := sb.newRequest(context.Background(), EnvdPort, http.MethodGet, "/health", nil)
	if req.URL.String() != "http://127.0.0.1:2/health" || req.Header.Get(headerSandboxID) != "sbx" ||
		req.Header.Get(headerSandboxPort) != "49983" || req.Header.Get(headerAccessToken) != "tok" {
		t.Errorf("request %s %v", req.URL, req.Header)
	}
	if hc := New(WithHTTPClient(&http.Client{Timeout: time.Second})).cfg.client; hc.Timeout != 0 {
		t.Error("a client with a Timeout would cut streams")
	}
	t.Setenv(EnvAPIKey, "")
	if _, err := New().Provision(context.Background(), chaoslab.TargetSpec{}); !errors.Is(err, ErrNoAPIKey) {
		t.Errorf("no key: %v", err)
	}
}

// TestAgentCache: callers share one build; a build nobody waits for any
// more is cancelled; a failed build is tried again.
func TestAgentCache(t *testing.T) {
	c := newAgentCache()
	release := make(chan struct{})
	var builds int
	var mu sync.Mutex
	build := func(ctx context.Context) (string, error) {
		mu.Lock()
		builds++
		mu.Unlock()
		select {
		case <-release:
			return "/agent", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	var wg sync.WaitGroup
	paths := make([]string, 3)
	for i := range paths {
		wg.Go(func() { paths[i], _ = c.get(context.Background(), "amd64", build) })
	}
	if err := poll(10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if builds == 0 {
			return errors.New("not started")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// One more caller gives up; the others still get the build.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.get(gone, "amd64", build); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled caller: %v", err)
	}
	close(release)
	wg.Wait()
	for _, p := range paths {
		if p != "/agent" {
			t.Errorf("paths %q", paths)
		}
	}
	if builds != 1 {
		t.Errorf("%d builds, want 1", builds)
	}

	// Every caller leaves: the build is cancelled, and the next call
	// builds again.
	c2 := newAgentCache()
	cancelled := make(chan struct{})
	ctx2, cancel2 := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c2.get(ctx2, "arm64", func(ctx context.Context) (string, error) {
			<-ctx.Done()
			close(cancelled)
			return "", ctx.Err()
		})
		errc <- err
	}()
	cancel2()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("the only caller left: %v", err)
	}
	<-cancelled
	path, err := c2.get(context.Background(), "arm64", func(context.Context) (string, error) { return "/again", nil })
	if err != nil || path != "/again" {
		t.Errorf("after a cancelled build: %q, %v", path, err)
	}
}
