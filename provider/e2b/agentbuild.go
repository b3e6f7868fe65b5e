package e2b

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/chaoslab-dev/chaoslab"
)

// This file finds the agent executable for a sandbox's architecture: one
// given with WithAgent, or one built from this module's source with the Go
// toolchain, once per Provider and architecture.

// agentPackage is the main package of the agent, relative to the module.
const agentPackage = "./provider/e2b/agent/chaoslab-e2b-agent"

// modulePath is this module's path.
const modulePath = "github.com/chaoslab-dev/chaoslab"

// agentCache holds the agents built by a Provider.
type agentCache struct {
	mu     sync.Mutex
	builds map[string]*agentBuild // by GOARCH
}

// agentBuild is one build, shared by every Provision that needs it. It
// runs on its own context, cancelled when every caller waiting for it has
// left, so that no build outlives its callers.
type agentBuild struct {
	done    chan struct{}
	path    string
	err     error
	waiters int
	cancel  context.CancelFunc
}

func newAgentCache() *agentCache { return &agentCache{builds: map[string]*agentBuild{}} }

// goarchOf maps `uname -m` to a GOARCH.
func goarchOf(machine string) (string, bool) {
	switch strings.TrimSpace(machine) {
	case "x86_64", "amd64":
		return "amd64", true
	case "aarch64", "arm64":
		return "arm64", true
	}
	return "", false
}

// agentFor returns the agent's executable on this machine, and the
// arguments to put before its own, for sandboxes of architecture goarch.
func (p *Provider) agentFor(ctx context.Context, goarch string) (string, []string, error) {
	if a, ok := p.cfg.agents[goarch]; ok {
		return a.path, a.args, nil
	}
	if !p.cfg.build {
		return "", nil, fmt.Errorf("no agent for linux/%s (WithAgent) and building is off: %w", goarch, chaoslab.ErrUnsupported)
	}
	path, err := p.agents.get(ctx, goarch, func(bctx context.Context) (string, error) {
		return buildAgent(bctx, p.cfg.cacheDir, goarch)
	})
	return path, nil, err
}

// get returns the build for goarch, starting it if none succeeded yet.
func (c *agentCache) get(ctx context.Context, goarch string, build func(context.Context) (string, error)) (string, error) {
	c.mu.Lock()
	b := c.builds[goarch]
	if b != nil {
		select {
		case <-b.done:
			if b.err != nil { // try again: it may have been cancelled
				b = nil
			}
		default:
		}
	}
	if b == nil {
		bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		b = &agentBuild{done: make(chan struct{}), cancel: cancel}
		c.builds[goarch] = b
		go func() {
			path, err := build(bctx)
			c.mu.Lock()
			b.path, b.err = path, err
			c.mu.Unlock()
			cancel()
			close(b.done)
		}()
	}
	b.waiters++
	c.mu.Unlock()

	select {
	case <-b.done:
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b.waiters--
	select {
	case <-b.done:
		return b.path, b.err
	default:
	}
	if b.waiters == 0 {
		// Nobody waits for it any more: stop it, and let the next caller
		// start afresh.
		b.cancel()
		if c.builds[goarch] == b {
			delete(c.builds, goarch)
		}
	}
	return "", ctx.Err()
}

// buildAgent builds the agent for linux/goarch into the cache directory and
// returns its path. The build goes through a temporary file renamed into
// place, so that other processes never see half a file.
func buildAgent(ctx context.Context, cacheDir, goarch string) (string, error) {
	src, err := moduleDir(ctx)
	if err != nil {
		return "", err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build the sandbox agent: the Go toolchain is needed (or pass e2b.WithAgent): %w", err)
	}
	if cacheDir == "" {
		if cacheDir, err = os.UserCacheDir(); err != nil {
			return "", fmt.Errorf("build the sandbox agent: no cache directory (use WithCacheDir): %w", err)
		}
		cacheDir = filepath.Join(cacheDir, "chaoslab")
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("build the sandbox agent: %w", err)
	}
	final := filepath.Join(cacheDir, "e2b-agent-linux-"+goarch)
	tmp, err := os.CreateTemp(cacheDir, ".e2b-agent-*")
	if err != nil {
		return "", fmt.Errorf("build the sandbox agent: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // gone after the rename, or on failure
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", tmp.Name(), agentPackage)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
	if goarch == "amd64" {
		cmd.Env = append(cmd.Env, "GOAMD64=v1")
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("build the sandbox agent for linux/%s in %s: %w\n%s", goarch, src, err, strings.TrimSpace(out.String()))
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", fmt.Errorf("build the sandbox agent: %w", err)
	}
	return final, nil
}

// moduleDir finds this module's source: where this file was compiled from
// (unless built with -trimpath), else the module the current directory
// belongs to or requires.
func moduleDir(ctx context.Context) (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Dir(filepath.Dir(filepath.Dir(file))) // provider/e2b/x.go → module
		if isModule(dir) {
			return dir, nil
		}
	}
	if goBin, err := exec.LookPath("go"); err == nil {
		out, err := exec.CommandContext(ctx, goBin, "list", "-m", "-f", "{{.Dir}}", modulePath).Output()
		if dir := strings.TrimSpace(string(out)); err == nil && dir != "" && isModule(dir) {
			return dir, nil
		}
	}
	return "", errors.New("build the sandbox agent: the source of " + modulePath +
		" was not found (run from within the module, or pass e2b.WithAgent with a prebuilt agent)")
}

// isModule reports whether dir holds this module's go.mod and the agent.
func isModule(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || !bytes.Contains(b, []byte("module "+modulePath+"\n")) {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, filepath.FromSlash(agentPackage), "main.go"))
	return err == nil
}
