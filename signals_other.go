//go:build !unix

package chaoslab

import "syscall"

// signals are the signal names ParseSignal knows; the platform has no
// SIGUSR1 or SIGUSR2.
var signals = map[string]syscall.Signal{
	"KILL": syscall.SIGKILL, "TERM": syscall.SIGTERM, "INT": syscall.SIGINT,
	"HUP": syscall.SIGHUP, "QUIT": syscall.SIGQUIT,
}
