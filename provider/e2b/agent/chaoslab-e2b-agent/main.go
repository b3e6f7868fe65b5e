//go:build unix

// Command chaoslab-e2b-agent is the helper chaoslab's E2B provider uploads
// into each sandbox; see package agent for what it does. The provider builds
// it for linux with CGO_ENABLED=0, so that it runs in any template.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/chaoslab-dev/chaoslab/provider/e2b/agent"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := agent.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
