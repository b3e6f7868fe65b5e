package local

import "syscall"

// sysProcAttr puts a child in its own process group, so that it and its
// children can be signalled together, and has the kernel kill it if this
// process dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
