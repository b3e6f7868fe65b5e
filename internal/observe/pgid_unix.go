//go:build unix

package observe

import "syscall"

// processGroup returns pid's process group id, or -1 if it cannot be read.
func processGroup(pid int32) int32 {
	g, err := syscall.Getpgid(int(pid))
	if err != nil {
		return -1
	}
	return int32(g)
}
