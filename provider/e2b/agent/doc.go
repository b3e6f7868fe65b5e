// Package agent is the helper that chaoslab's E2B provider runs inside a
// sandbox: one static Linux executable that serves the demo service and its
// downstream dependency, chaoslab's fault proxy behind Toxiproxy's HTTP API
// (the same API as `chaoslab proxy --api`), resource pressure, and signals
// that envd's process service cannot send (SIGSTOP, SIGCONT and the rest).
//
// The provider builds it from this module's source with the Go toolchain
// (package chaoslab-e2b-agent below) for the sandbox's architecture and
// uploads it; a program can also serve it as a subcommand of its own by
// calling Main, so that a prebuilt chaoslab binary can be uploaded instead
// (see e2b.WithAgent).
//
// Subcommands, one per process:
//
//	proxy --api ADDR [--seed N]                 Toxiproxy's API over chaoslab's fault proxy
//	downstream --listen ADDR                    the demo's dependency
//	demo --listen ADDR --downstream HOST:PORT   the demo service
//	cpu [--cores N] [--percent P]               keep cores busy
//	memory --bytes N                            hold N bytes resident
//	fill --path FILE --bytes N                  write N bytes to FILE, then exit
//	signal --pid PID --signal NAME              signal a process (its group when it leads one)
//	version                                     print the agent's version
//
// The serving subcommands (proxy, downstream, demo) print one line,
// "chaoslab-agent: listening on HOST:PORT", on standard output once they
// accept connections; cpu and memory print "ready" once the pressure is
// applied. They run until their context is done (SIGTERM or SIGINT in the
// executable) or they are killed. Listen addresses take port 0 for a port
// the system picks.
package agent
