//go:build unix

package e2b

import (
	"errors"
	"syscall"
)

// processGone reports whether no process has pid on this machine.
func processGone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }
