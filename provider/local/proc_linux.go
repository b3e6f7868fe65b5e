package local

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
)

// deathSignal is what the kernel sends a child of this process when the
// thread that started it exits: at this process's death, and also when a
// thread of a live process exits (golang/go#27505). So it is a signal the
// children catch and answer by checking their parent, not SIGKILL.
const deathSignal = syscall.SIGHUP

// sysProcAttr puts a child in its own process group, so that it and its
// children can be signalled together, and has the kernel send it
// deathSignal if this process dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSignal}
}

// newGuardedCommand returns the command a guard runs: in the guard's
// process group, with the guard's standard files, killed by the kernel if
// the guard dies. (The guard's threads never exit, so the parent-death
// signal cannot come early.)
func newGuardedCommand(argv []string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// groupAlive reports whether process group pgid has a process that has not
// exited. Zombies, which wait for their parent (or init) to reap them, are
// not counted.
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	alive, _ := groupStates(pgid)
	return alive > 0
}

// groupStopped reports whether every live process of group pgid is stopped
// (by SIGSTOP): signals are delivered asynchronously, so a process can still
// run for a moment after kill(2) returns.
func groupStopped(pgid int) bool {
	alive, stopped := groupStates(pgid)
	return alive > 0 && stopped == alive
}

// groupStates counts the processes of group pgid that have not exited, and
// those of them that are stopped, from /proc. It counts a process it cannot
// read as alive.
func groupStates(pgid int) (alive, stopped int) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 1, 0
	}
	want := strconv.Itoa(pgid)
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
		f := bytes.Fields(b[bytes.LastIndexByte(b, ')')+1:])
		if len(f) < 3 || string(f[2]) != want || string(f[0]) == "Z" {
			continue
		}
		alive++
		if string(f[0]) == "T" || string(f[0]) == "t" {
			stopped++
		}
	}
	return alive, stopped
}
