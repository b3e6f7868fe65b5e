//go:build unix && !linux

package local

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// deathSignal is the signal role processes treat as "check your parent".
// Without a parent-death signal on this system nothing sends it; children
// notice a dead parent by polling.
const deathSignal = syscall.SIGHUP

// sysProcAttr puts a child in its own process group, so that it and its
// children can be signalled together.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// newGuardedCommand returns the command a guard runs: in the guard's
// process group, with the guard's standard files.
func newGuardedCommand(argv []string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return cmd
}

// groupAlive reports whether process group pgid has a process left
// (zombies included: this system offers no portable way to tell them).
func groupAlive(pgid int) bool {
	return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

// groupStopped cannot tell here; it reports true, so Signal does not wait.
func groupStopped(pgid int) bool { return true }
