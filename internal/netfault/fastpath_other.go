//go:build !linux

package netfault

import "time"

// newRawPath returns nil: outside Linux every direction reads with a pooled
// buffer.
func newRawPath(*direction) rawPath { return nil }

// pipePool is empty outside Linux.
type pipePool struct{}

func (*pipePool) close() {}

// preciseSleep sleeps for d with a Go timer.
func preciseSleep(d time.Duration) { time.Sleep(d) }
