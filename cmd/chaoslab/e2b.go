package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/chaoslab-dev/chaoslab/provider/e2b"
)

// agentCommand is the hidden subcommand that serves the E2B provider's
// agent from this executable.
const agentCommand = "agent"

// e2bAgent says how the E2B provider gets its in-sandbox agent. With the Go
// toolchain at hand it builds a static one from the module source (the
// provider's default). Without it, this executable serves as the agent
// (`chaoslab agent ...`) when it can run in the sandbox: a Linux build of a
// static executable.
func e2bAgent() []e2b.Option {
	if _, err := exec.LookPath("go"); err == nil || runtime.GOOS != "linux" {
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil
	}
	return []e2b.Option{e2b.WithAgent(runtime.GOARCH, self, agentCommand)}
}

// cleanup kills the sandboxes chaoslab made whose run is gone: made on this
// host by a process that no longer runs.
func (c *cli) cleanup(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("chaoslab cleanup", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	provider := fs.String("provider", "", "the provider whose leftovers to remove: e2b")
	dryRun := fs.Bool("dry-run", false, "list what would be removed, and remove nothing")
	fs.Usage = func() {
		fmt.Fprint(c.stderr, "Usage: chaoslab cleanup --provider e2b [--dry-run]\n\n"+
			"Lists the sandboxes chaoslab made (those with its metadata) and kills those whose\n"+
			"run is gone: made on this host by a chaoslab process that no longer runs.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitPass
		}
		return exitError
	}
	if fs.NArg() > 0 {
		return c.fail("cleanup takes no arguments besides its flags, got %s", strings.Join(fs.Args(), " "))
	}
	if *provider != e2b.Name {
		return c.fail("cleanup needs --provider %s (the only provider that can leave things behind when chaoslab is killed)", e2b.Name)
	}
	p := e2b.New()
	all, err := p.Sandboxes(ctx)
	if err != nil {
		return c.fail("cleanup: %v", err)
	}
	var orphans []e2b.Sandbox
	for _, s := range all {
		if e2b.OwnerGone(s) {
			orphans = append(orphans, s)
		}
	}
	fmt.Fprintf(c.stdout, "%d sandboxes made by chaoslab, %d of them orphaned\n", len(all), len(orphans))
	for _, s := range orphans {
		fmt.Fprintf(c.stdout, "  %s  run %s  target %s  made by pid %d on %s\n", s.ID, s.RunID, s.TargetID, s.PID, s.Host)
	}
	if *dryRun || len(orphans) == 0 {
		return exitPass
	}
	killed, err := p.Cleanup(ctx, func(s e2b.Sandbox) bool {
		for _, o := range orphans {
			if o.ID == s.ID {
				return true
			}
		}
		return false
	})
	fmt.Fprintf(c.stdout, "killed %d: %s\n", len(killed), strings.Join(killed, " "))
	if err != nil {
		return c.fail("cleanup: %v", err)
	}
	return exitPass
}
