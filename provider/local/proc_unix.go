//go:build unix && !linux

package local

import "syscall"

// sysProcAttr puts a child in its own process group, so that it and its
// children can be signalled together. Without a parent-death signal on this
// system, role processes notice a dead parent by polling.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
